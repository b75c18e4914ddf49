"""Several trust stores, without the network: a leaf trusted by one of two stores, the
`not_trusted_by` finding naming the store and why, `trusted_by` in option order, and the same
through `scanner check --trust-store`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from typer.testing import Result

from scanner.errors import UsageError
from scanner.model.catalogue import Code
from scanner.model.grade import Grade, GradeBasis
from scanner.model.types import Handshake, StoreVerdict, Target
from scanner.run.assemble import Answer, assemble
from scanner.store import rows
from scanner.store.rows import trusted_by
from scanner.store.trust import load_named, parse_trust_store
from scanner.testing import lab
from scanner.x509 import certs
from scanner.x509 import findings as F
from scanner.x509 import revocation as rv
from scanner.x509.context import DiagnosisContext
from scanner.x509.diagnose import diagnose
from scanner.x509.stores import NamedStore, judge, store_findings

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
HOST = "two.example.test"


@pytest.fixture(scope="module")
def pki() -> lab.Pki:
    return lab.Pki.create(FIXED)


@pytest.fixture(scope="module")
def chain(pki: lab.Pki) -> list[bytes]:
    """A leaf under the newer root's intermediate, sent with the intermediate."""
    leaf = pki.leaf([HOST], issuer=pki.new_intermediate)
    return [leaf.der, pki.new_intermediate.der]


def store(name: str, *roots: lab.Issued) -> NamedStore:
    return NamedStore(name, certs.load_trust_store(b"".join(r.pem for r in roots), f"{name}.pem"))


def test_a_leaf_trusted_by_one_of_two_stores(pki: lab.Pki, chain: list[bytes]) -> None:
    both = store("both", pki.root, pki.new_root)
    old = store("old", pki.root)
    verdicts = judge(
        chain,
        host=HOST,
        is_ip=False,
        stores=[old, both],
        ctx=DiagnosisContext(trust=old.trust, as_of=FIXED, warn_days=30),
    )
    assert [(v.name, v.trusted) for v in verdicts] == [("old", False), ("both", True)]
    (rejected,) = [v for v in verdicts if not v.trusted]
    assert rejected.reason is not None
    assert "root absent" in rejected.reason
    assert "Scanner Lab New Intermediate CA" in rejected.reason  # what the path reached
    assert "Scanner Lab New Root CA" in rejected.reason  # the issuer the store lacks
    assert trusted_by(True, verdicts) == ["default", "both"]
    assert trusted_by(False, verdicts) == ["both"]


def test_not_trusted_by_only_when_the_default_trusts(pki: lab.Pki) -> None:
    verdicts = (
        StoreVerdict(name="java", trusted=False, reason="root absent: X"),
        StoreVerdict(name="windows", trusted=True),
        StoreVerdict(name="android", trusted=False, reason="root absent: Y"),
    )
    (finding,) = store_findings(True, verdicts)
    assert (finding.code, finding.severity.value) == ("not_trusted_by", "medium")
    assert "not by java, android" in finding.message
    assert (
        "java: root absent: X" in finding.message and "android: root absent: Y" in finding.message
    )
    assert "java, android" in finding.remedy
    assert store_findings(False, verdicts) == ()  # the default's own findings say why
    assert store_findings(True, verdicts[1:2]) == ()


def test_untrusted_root_reached_is_named(pki: lab.Pki) -> None:
    rogue = pki.leaf([HOST], issuer=pki.rogue_root)
    chain = [rogue.der, pki.rogue_root.der]
    (v,) = judge(
        chain,
        host=HOST,
        is_ip=False,
        stores=[store("s", pki.root)],
        ctx=DiagnosisContext(trust=store("d", pki.root).trust, as_of=FIXED, warn_days=30),
    )
    assert not v.trusted and v.reason is not None
    assert "Untrusted Root CA" in v.reason and "not in s" in v.reason


def test_the_run_assembles_the_store_verdicts_and_finding(pki: lab.Pki, chain: list[bytes]) -> None:
    """x509 gives verdicts and findings; the run's assembly puts them, and the grade computed
    from the whole diagnosis, on the host's result."""
    default = certs.load_trust_store(pki.root.pem + pki.new_root.pem, "default.pem")
    ctx = DiagnosisContext(trust=default, as_of=FIXED, warn_days=30)
    d = diagnose(chain, host=HOST, is_ip=False, ctx=ctx)
    assert d.verdicts.trusted and d.codes == ()
    verdicts = judge(chain, host=HOST, is_ip=False, stores=[store("old", pki.root)], ctx=ctx)
    answer = Answer(
        target=Target(row=2, host=HOST, port=443, ip=None, is_ip=False),
        handshake=Handshake(chain=tuple(chain), tls_version="TLSv1.3", cipher="X", address="::1"),
        diagnosis=d,
        stores=verdicts,
    )
    judged = assemble(answer)
    assert judged.diagnosis.codes == ("not_trusted_by",)
    assert [(v.name, v.trusted) for v in judged.stores] == [("old", False)]
    assert (judged.grade, judged.grade_basis) == (Grade.A, GradeBasis.CERTIFICATE)
    assert rows.host_row(judged, (), FIXED)["trusted_by"] == ["default"]
    plain = assemble(dataclasses.replace(answer, stores=()))
    assert plain.diagnosis.codes == () and plain.stores == ()
    # Revoked is revoked whichever root a client trusts: every named store distrusts it, and
    # the grade (computed once, here) is T.
    both = judge(
        chain, host=HOST, is_ip=False, stores=[store("both", pki.root, pki.new_root)], ctx=ctx
    )
    assert both[0].trusted
    revoked = rv.apply(
        d, rv.Judgement(status=rv.Status.REVOKED, findings=(F.make(Code.REVOKED, "revoked"),))
    )
    result = assemble(dataclasses.replace(answer, diagnosis=revoked, stores=both))
    assert [(v.trusted, v.reason) for v in result.stores] == [
        (False, "a certificate of the path is revoked")
    ]
    assert result.diagnosis.codes == ("revoked",)  # no not_trusted_by: the default distrusts
    assert (result.grade, rows.host_row(result, (), FIXED)["grade"]) == (Grade.T, "T")
    assert rows.host_row(result, (), FIXED)["trusted_by"] == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("java", "expected NAME=PEM-FILE"),
        ("java=", "expected NAME=PEM-FILE"),
        ("default=x.pem", "the --ca-bundle store"),
        ("bad name=x.pem", "a name is"),
        ("=x.pem", "a name is"),
    ],
)
def test_trust_store_option_is_checked(text: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        parse_trust_store(text)


def test_each_store_is_loaded_once_and_names_are_unique(tmp_path: Path, pki: lab.Pki) -> None:
    path = tmp_path / "a.pem"
    path.write_bytes(pki.root.pem + pki.new_root.pem)
    (loaded,) = load_named([("a", path)])
    assert loaded.name == "a" and len(loaded.trust.roots) == 2
    with pytest.raises(UsageError, match="more than once"):
        load_named([("a", path), ("a", path)])


def test_check_with_a_second_store(
    tmp_path: Path, pki: lab.Pki, cli: Callable[[Sequence[str]], Result]
) -> None:
    chain_file = tmp_path / "chain.pem"
    leaf = pki.leaf([HOST], issuer=pki.new_intermediate)
    chain_file.write_bytes(leaf.pem + pki.new_intermediate.pem)
    default, old = tmp_path / "default.pem", tmp_path / "old.pem"
    default.write_bytes(pki.root.pem + pki.new_root.pem)
    old.write_bytes(pki.root.pem)
    args = [chain_file, "--host", HOST, "--ca-bundle", default, "--as-of", FIXED.isoformat()]
    result = cli(["check", *args, "--trust-store", f"old={old}", "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)
    assert (row["trusted"], row["trusted_by"], row["findings"]) == (
        True,
        ["default"],
        ["not_trusted_by"],
    )
    assert (row["grade"], row["grade_basis"]) == ("A", "certificate")
    both = cli(["check", *args, "--trust-store", f"both={default}", "--json"])
    assert json.loads(both.output)["trusted_by"] == ["default", "both"]
    text = cli(["check", *args, "--trust-store", f"old={old}"])
    assert "not_trusted_by" in text.output and "trusted by: default" in text.output
    bad = cli(["check", *args, "--trust-store", "default=x.pem"])
    assert bad.exit_code == 2
