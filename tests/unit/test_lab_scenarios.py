"""The lab's scenario table is consistent on its own terms: unique names, real finding and
error codes, and the shared leaves it relies on (no sockets; the scans of the lab check the
expectations against the scanner)."""

from __future__ import annotations

from scanner.model.catalogue import Code
from scanner.model.types import ErrorCode
from scanner.testing import scenarios
from scanner.testing.hostile import EXPECTED, Kind
from scanner.testing.scenarios import SCENARIOS, Failing, Host, Pool, StartTlsHost


def test_names_are_unique_and_grades_cover_the_direct_hosts() -> None:
    names = [row.name for row in SCENARIOS]
    assert len(names) == len(set(names))
    assert set(scenarios.GRADES) == {r.name for r in SCENARIOS if isinstance(r, Host)}
    assert all(isinstance(r, Host | StartTlsHost | Pool | Failing) for r in SCENARIOS)


def test_expected_codes_exist() -> None:
    codes = {c.value for c in Code}
    for row in SCENARIOS:
        expected = row.scenario(port=1)
        assert expected.findings <= codes, row.name
        assert expected.error is None or expected.error in {e.value for e in ErrorCode}
    for expect in EXPECTED.values():
        assert expect.finding is None or expect.finding in codes
        assert expect.error is None or expect.error in {e.value for e in ErrorCode}
    assert set(EXPECTED) == set(Kind)


def test_wildcard_rows_share_one_leaf_and_one_leaf_is_revoked() -> None:
    wild = {r.leaf for r in SCENARIOS if isinstance(r, Host) and r.name.startswith("wildcard")}
    assert len(wild) == 1
    revoked = [r for r in SCENARIOS if isinstance(r, Host) and r.leaf.revoked]
    assert [r.name for r in revoked] == ["revoked"]
    assert all(
        ("revoked" in r.findings) == r.leaf.revoked for r in SCENARIOS if isinstance(r, Host)
    )
