"""The lab's rows for how browsers decide (issue 20), as data: leaves of the program root on
both sides of the lab root programs' cutoff, a leaf with too few SCTs, one with a forged SCT,
one that lives too long. `scenarios.SCENARIOS` makes them `Host`s (`Host(**host,
leaf=Leaf(**leaf))`); apart, to keep that module small."""

from __future__ import annotations

from typing import Any

# The lab's root programs (--root-program), in option order: they list only the program root,
# and distrust its leaves after a cutoff (`PROGRAM_CUTOFF_DAYS` before as-of).
PROGRAMS = ("chrome", "mozilla")
PROGRAM_CUTOFF_DAYS = 60

Keywords = dict[str, Any]

# (the Host's keywords, its Leaf's keywords), in the lab's order.
BROWSER_ROWS: tuple[tuple[Keywords, Keywords], ...] = (
    (
        {
            "name": "program_trusted",
            "host": "early.prog.lab.test",
            "chain": (),
            "grade": "A",
            "programs": PROGRAMS,
            "note": "issued (and logged) before the root programs' cutoff",
        },
        {
            "dns_names": ("early.prog.lab.test",),
            "issuer": "program_root",
            "not_before": -90,
            "not_after": 90,
        },
    ),
    (
        {
            "name": "distrusted_by_program",
            "host": "late.prog.lab.test",
            "chain": (),
            "findings": ("distrusted_by_program",),
            "grade": "A",  # the grade is the default store's
            "distrusted_by": PROGRAMS,
            "note": "issued (and logged) after the root programs' cutoff",
        },
        {"dns_names": ("late.prog.lab.test",), "issuer": "program_root", "not_before": -20},
    ),
    (
        {
            "name": "ct_noncompliant",
            "host": "unlogged.lab.test",
            "findings": ("ct_noncompliant",),
            "grade": "A",
            "note": "one SCT where Chrome asks for three",
        },
        {"dns_names": ("unlogged.lab.test",), "scts": 1},
    ),
    (
        {
            "name": "invalid_sct",
            "host": "forged-sct.lab.test",
            "findings": ("invalid_sct",),
            "grade": "A",
            "note": "a fourth SCT claims a lab log and fails its signature",
        },
        {"dns_names": ("forged-sct.lab.test",), "scts": 4, "forged_scts": 1},
    ),
    (
        {
            "name": "lifetime_over_limit",
            "host": "longlived.lab.test",
            "findings": ("lifetime_over_limit",),
            "grade": "A",
            "note": "230 days, over SC-081's 200",
        },
        {"dns_names": ("longlived.lab.test",), "not_after": 200},
    ),
)
