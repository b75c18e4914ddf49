"""The lab's rows for how browsers decide (issue 20): leaves of the program root on both sides
of the lab root programs' cutoff, a leaf with too few SCTs, one with a forged SCT, one that
lives too long. Apart from `scenarios`, to keep that module small."""

from __future__ import annotations

from scanner.testing.labrows import Host, Leaf

# The lab's root programs (--root-program), in option order: they list only the program root,
# and distrust its leaves after a cutoff (`PROGRAM_CUTOFF_DAYS` before as-of).
PROGRAMS = ("chrome", "mozilla")
PROGRAM_CUTOFF_DAYS = 60

# In the lab's order.
BROWSER_ROWS: tuple[Host, ...] = (
    Host(
        name="program_trusted",
        host="early.prog.lab.test",
        leaf=Leaf(
            dns_names=("early.prog.lab.test",),
            issuer="program_root",
            not_before=-90,
            not_after=90,
        ),
        chain=(),
        grade="A",
        programs=PROGRAMS,
        note="issued (and logged) before the root programs' cutoff",
    ),
    Host(
        name="distrusted_by_program",
        host="late.prog.lab.test",
        leaf=Leaf(dns_names=("late.prog.lab.test",), issuer="program_root", not_before=-20),
        chain=(),
        findings=("distrusted_by_program",),
        grade="A",  # the grade is the default store's
        distrusted_by=PROGRAMS,
        note="issued (and logged) after the root programs' cutoff",
    ),
    Host(
        name="ct_noncompliant",
        host="unlogged.lab.test",
        leaf=Leaf(dns_names=("unlogged.lab.test",), scts=1),
        findings=("ct_noncompliant",),
        grade="A",
        note="one SCT where Chrome asks for three",
    ),
    Host(
        name="invalid_sct",
        host="forged-sct.lab.test",
        leaf=Leaf(dns_names=("forged-sct.lab.test",), scts=4, forged_scts=1),
        findings=("invalid_sct",),
        grade="A",
        note="a fourth SCT claims a lab log and fails its signature",
    ),
    Host(
        name="lifetime_over_limit",
        host="longlived.lab.test",
        leaf=Leaf(dns_names=("longlived.lab.test",), not_after=200),
        findings=("lifetime_over_limit",),
        grade="A",
        note="230 days, over SC-081's 200",
    ),
)
