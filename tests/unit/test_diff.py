"""`diff` between two nights, without the network: each night's results come from real
certificates (the lab's PKI) judged by the pure `diagnose` at that night's instant."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from collections.abc import Sequence

import pandas as pd
import pyarrow.parquet as pq
import pytest

from scanner.analysis.diff import (
    BASE_COLUMNS,
    Change,
    changes_table,
    counts,
    diff,
    match_note,
    new_at_or_above,
)
from scanner.model.types import (
    ErrorCode,
    Handshake,
    ScanFailed,
    ScanOk,
    ScanResult,
    Severity,
    Target,
)
from scanner.run.api import from_results
from scanner.run.assemble import Answer, assemble
from scanner.store.load import ScanTables
from scanner.testing import lab
from scanner.x509 import certs
from scanner.x509.context import DiagnosisContext
from scanner.x509.diagnose import diagnose

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
# Carried columns with names that are not Python identifiers.
EXTRA = ("owner", "team name", "1st")


@pytest.fixture(scope="module")
def pki() -> lab.Pki:
    return lab.Pki.create(FIXED)


@pytest.fixture(scope="module")
def trust(pki: lab.Pki) -> certs.TrustStore:
    return certs.load_trust_store(pki.root.pem, "lab-root.pem")


class Night:
    def __init__(self, trust: certs.TrustStore, as_of: dt.datetime) -> None:
        self.trust, self.as_of = trust, as_of
        self.results: list[ScanResult] = []

    def _target(self, host: str, port: int, ip: str | None, owner: str) -> Target:
        return Target(
            row=len(self.results) + 2,
            host=host,
            port=port,
            ip=ip,
            is_ip=False,
            extra=(owner, f"team of {owner}", "x"),
        )

    def ok(
        self,
        host: str,
        chain: Sequence[lab.Issued],
        *,
        port: int = 443,
        ip: str | None = None,
        owner: str = "web",
        address: str = "127.0.0.1",
    ) -> None:
        der = [c.der for c in chain]
        d = diagnose(
            der,
            host=host,
            is_ip=False,
            ctx=DiagnosisContext(trust=self.trust, as_of=self.as_of, warn_days=30),
        )
        hs = Handshake(chain=tuple(der), tls_version="TLSv1.3", cipher="X", address=address)
        self.results.append(
            assemble(Answer(target=self._target(host, port, ip, owner), handshake=hs, diagnosis=d))
        )

    def failed(self, host: str, error: ErrorCode, *, port: int = 443, owner: str = "web") -> None:
        self.results.append(
            ScanFailed(
                target=self._target(host, port, None, owner), error=error, detail=f"{error} detail"
            )
        )

    def tables(self) -> ScanTables:
        return from_results(
            [(r, self.as_of) for r in self.results], as_of=self.as_of, extra_names=EXTRA
        )


@pytest.fixture(scope="module")
def nights(pki: lab.Pki, trust: certs.TrustStore) -> tuple[ScanTables, ScanTables]:
    """Two nights a fortnight apart, with one host per kind of change (and steady ones)."""
    inter = pki.intermediate
    old, new = Night(trust, FIXED), Night(trust, FIXED + 14 * DAY)
    steady = pki.leaf(["steady.example.test"])
    soon = pki.leaf(["soon.example.test"], not_after=FIXED + 10 * DAY)
    future = pki.leaf(
        ["future.example.test"], not_before=FIXED + 5 * DAY, not_after=FIXED + 300 * DAY
    )
    before, after = pki.leaf(["rotate.example.test"]), pki.leaf(["rotate.example.test"])
    flaky = pki.leaf(["flaky.example.test"])
    for night in (old, new):
        night.ok("steady.example.test", [steady, inter])
        night.ok("soon.example.test", [soon, inter], owner="payments")  # expires in between
        night.ok("future.example.test", [future, inter])  # becomes valid in between
        night.failed("dead.example.test", ErrorCode.DNS)  # failing both nights: no change
    old.ok("rotate.example.test", [before, inter])
    new.ok("rotate.example.test", [after, inter])
    old.ok("flaky.example.test", [flaky, inter])
    new.failed("flaky.example.test", ErrorCode.TIMEOUT)
    old.failed("back.example.test", ErrorCode.REFUSED)
    new.ok("back.example.test", [pki.leaf(["other.example.test"]), inter])
    old.ok("gone.example.test", [pki.leaf(["gone.example.test"]), inter])
    new.ok("new.example.test", [pki.leaf(["new.example.test"]), inter])
    # The same name behind another address is another target.
    new.ok("steady.example.test", [steady, inter], ip="127.0.0.2")
    return old.tables(), new.tables()


@pytest.fixture(scope="module")
def changes(nights: tuple[ScanTables, ScanTables]) -> pd.DataFrame:
    old, new = nights
    return diff(old.hosts, old.findings, new.hosts, new.findings)


def of(changes: pd.DataFrame, host: str) -> set[tuple[str, str | None]]:
    rows = changes[changes["host"] == host]
    return {(r.change, None if pd.isna(r.code) else r.code) for r in rows.itertuples()}


def test_each_kind_of_change(changes: pd.DataFrame) -> None:
    assert of(changes, "steady.example.test") == {("added", None)}  # only the new 127.0.0.2 row
    assert of(changes, "soon.example.test") == {
        ("new_finding", "expired"),
        ("resolved_finding", "expiring_soon"),
        ("resolved_finding", "renewal_overdue"),  # 30 of its 40 days had passed
        ("regressed", None),
    }
    assert of(changes, "future.example.test") == {
        ("resolved_finding", "not_yet_valid"),
        ("recovered", None),
    }
    assert of(changes, "dead.example.test") == set()
    assert of(changes, "rotate.example.test") == {("rotated", None)}
    # A host failing now has unknown findings: nothing is "resolved".
    assert of(changes, "flaky.example.test") == {("unreachable", None)}
    # Back from an error: OLD saw none of its findings, so none is new (issue 17 item 8).
    assert of(changes, "back.example.test") == {("back", None)}
    assert of(changes, "gone.example.test") == {("removed", None)}
    assert of(changes, "new.example.test") == {("added", None)}


def test_change_rows_carry_details_and_input_columns(changes: pd.DataFrame, pki: lab.Pki) -> None:
    assert list(changes.columns) == BASE_COLUMNS + list(EXTRA)
    regressed = changes[changes["change"] == "regressed"].iloc[0]
    assert (regressed["old"], regressed["new"], regressed["severity"]) == (
        "trusted",
        "not trusted",
        "critical",
    )
    assert regressed["owner"] == "payments" and regressed["team name"] == "team of payments"
    expired = changes[(changes["change"] == "new_finding") & (changes["code"] == "expired")]
    assert expired.iloc[0]["severity"] == "critical"
    assert "expired 2026-06-11T00:00:00Z" in expired.iloc[0]["detail"]
    rotated = changes[changes["change"] == "rotated"].iloc[0]
    assert rotated["old"] != rotated["new"] and len(rotated["new"]) == 64
    unreachable = changes[changes["change"] == "unreachable"].iloc[0]
    assert (unreachable["old"], unreachable["new"]) == ("ok", "timeout")
    back = changes[changes["change"] == "back"].iloc[0]
    assert (back["old"], back["new"]) == ("refused", "ok")
    assert (back["severity"], back["detail"]) == ("critical", "hostname_mismatch")
    added = changes[(changes["change"] == "added") & (changes["host"] == "steady.example.test")]
    assert added.iloc[0]["ip"] == "127.0.0.2" and added.iloc[0]["port"] == 443


def test_changes_are_ordered_by_kind_then_severity(changes: pd.DataFrame) -> None:
    order = [c.value for c in Change]
    positions = [order.index(c) for c in changes["change"]]
    assert positions == sorted(positions)
    new = changes[changes["change"] == "new_finding"]
    assert list(new["host"]) == ["soon.example.test"]


def test_counts_list_every_kind(changes: pd.DataFrame) -> None:
    c = dict(zip(counts(changes)["change"], counts(changes)["targets"], strict=True))
    assert list(c) == [k.value for k in Change]
    assert c == {
        "new_finding": 1,
        "regressed": 1,
        "unreachable": 1,
        "rotated": 1,
        "added": 2,
        "removed": 1,
        "back": 1,
        "recovered": 1,
        "resolved_finding": 3,
    }


def test_breaks_on_moving_earlier_is_a_regression(pki: lab.Pki, trust: certs.TrustStore) -> None:
    """A leaf replaced by one ending sooner (still trusted, same grade): the host breaks
    earlier than it did, which `diff` reports as `regressed` with both dates."""
    inter = pki.intermediate
    long_leaf = pki.leaf(["shorter.example.test"], not_after=FIXED + 300 * DAY)
    short_leaf = pki.leaf(["shorter.example.test"], not_after=FIXED + 90 * DAY)
    later = pki.leaf(["later.example.test"], not_after=FIXED + 400 * DAY)
    old, new = Night(trust, FIXED), Night(trust, FIXED + DAY)
    old.ok("shorter.example.test", [long_leaf, inter])
    new.ok("shorter.example.test", [short_leaf, inter])
    old.ok("later.example.test", [pki.leaf(["later.example.test"]), inter])
    new.ok("later.example.test", [later, inter])  # renewed: breaks later, no regression
    a, b = old.tables(), new.tables()
    changes = diff(a.hosts, a.findings, b.hosts, b.findings)
    regressed = changes[changes["change"] == "regressed"]
    assert list(regressed["host"]) == ["shorter.example.test"]
    row = regressed.iloc[0]
    assert row["old"].startswith(str((FIXED + 300 * DAY).date()))
    assert row["new"].startswith(str((FIXED + 90 * DAY).date()))
    assert row["detail"] == "breaks_on moved earlier (leaf_expires)"
    assert set(changes[changes["host"] == "later.example.test"]["change"]) == {"rotated"}


FAIL_ON = {
    Severity.CRITICAL: True,  # expired is new
    Severity.INFO: True,
}


def test_fail_on_looks_at_new_findings_only(
    changes: pd.DataFrame, nights: tuple[ScanTables, ScanTables]
) -> None:
    assert new_at_or_above(changes, Severity.CRITICAL)
    # Only resolved findings (and other changes) never fail.
    only_resolved = changes[changes["change"] != "new_finding"]
    assert not new_at_or_above(only_resolved, Severity.INFO)
    old, _ = nights
    same = diff(old.hosts, old.findings, old.hosts, old.findings)
    assert same.empty and not new_at_or_above(same, Severity.INFO)


def test_new_medium_finding_fails_at_medium_not_at_high(
    pki: lab.Pki, trust: certs.TrustStore
) -> None:
    inter = pki.intermediate
    cert = pki.leaf(["m.example.test"], not_after=FIXED + 40 * DAY)
    old, new = Night(trust, FIXED), Night(trust, FIXED + 20 * DAY)
    old.ok("m.example.test", [cert, inter])
    new.ok("m.example.test", [cert, inter])
    a, b = old.tables(), new.tables()
    changes = diff(a.hosts, a.findings, b.hosts, b.findings)
    # (on the second night 50 of its 70 days have passed: its renewal is overdue too)
    assert list(changes["code"]) == ["expiring_soon", "renewal_overdue"]
    assert new_at_or_above(changes, Severity.MEDIUM)
    assert not new_at_or_above(changes, Severity.HIGH)


def test_changes_table_round_trips_through_parquet(changes: pd.DataFrame) -> None:
    table = changes_table(changes)
    assert table.schema.field("port").type == "int32"
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    back = pq.read_table(io.BytesIO(buffer.getvalue())).to_pylist()
    assert len(back) == len(changes)
    assert {r["team name"] for r in back} >= {"team of web", "team of payments"}
    removed = next(r for r in back if r["change"] == "removed")
    assert removed == {
        "change": "removed",
        "host": "gone.example.test",
        "port": 443,
        "ip": None,
        "connected_ip": None,
        "code": None,
        "severity": None,
        "old": "ok",
        "new": None,
        "detail": None,
        "owner": "web",
        "team name": "team of web",
        "1st": "x",
    }


def test_a_newly_revoked_host_has_regressed_even_if_already_untrusted(
    pki: lab.Pki, trust: certs.TrustStore
) -> None:
    """Issue 11: `diff` reports a host revoked since OLD as `regressed` with the finding, also
    when OLD already distrusted it for another reason (here a name mismatch)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from scanner.x509 import revocation as rv

    inter = pki.intermediate
    trusted = pki.leaf(["was-fine.example.test"])
    mismatched = pki.leaf(["elsewhere.example.test"])
    crl = rv.parse_crl(
        pki.crl(
            inter,
            [
                (c.cert.serial_number, FIXED, x509.ReasonFlags.key_compromise)
                for c in (trusted, mismatched)
            ],
        ).public_bytes(Encoding.DER)
    )
    root_crl = rv.parse_crl(pki.crl(pki.root).public_bytes(Encoding.DER))
    old, new = Night(trust, FIXED), Night(trust, FIXED + DAY)
    for night in (old, new):
        night.ok("was-fine.example.test", [trusted, inter])
        night.ok("mismatch.example.test", [mismatched, inter])
    for i, r in enumerate(new.results):  # the next night, both are on their CA's CRL
        assert isinstance(r, ScanOk)
        evidence = rv.Evidence(files=[crl, root_crl], online=False)
        judged = rv.judge(
            r.diagnosis.path,
            evidence=evidence,
            ctx=DiagnosisContext(trust=new.trust, as_of=new.as_of),
        )
        revoked = rv.apply(r.diagnosis, judged)
        new.results[i] = assemble(Answer(target=r.target, handshake=r.handshake, diagnosis=revoked))
    o, n = old.tables(), new.tables()
    changes = diff(o.hosts, o.findings, n.hosts, n.findings)
    assert of(changes, "was-fine.example.test") == {("new_finding", "revoked"), ("regressed", None)}
    assert of(changes, "mismatch.example.test") == {("new_finding", "revoked"), ("regressed", None)}
    regressed = changes[changes["change"] == "regressed"].set_index("host")
    assert regressed.loc["was-fine.example.test", "old"] == "trusted"
    assert regressed.loc["mismatch.example.test", "old"] == "not trusted"
    assert set(regressed["new"]) == {"revoked"} and set(regressed["severity"]) == {"critical"}
    assert all("revoked" in d for d in regressed["detail"])


# --- every address of a name (--addresses all) ----------------------------------------------


def test_rows_are_matched_per_address_when_both_scans_used_all(
    pki: lab.Pki, trust: certs.TrustStore
) -> None:
    """Three backends of one name; the third rotates to another leaf. Matched per address,
    exactly that row is `rotated`; matched per target, one address stands for the name."""
    inter = pki.intermediate
    current, stale = pki.leaf(["pool.example.test"]), pki.leaf(["pool.example.test"])
    old, new = Night(trust, FIXED), Night(trust, FIXED)
    addresses = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
    for night in (old, new):
        for a in addresses:
            leaf = stale if night is new and a == "127.0.0.3" else current
            night.ok("pool.example.test", [leaf, inter], address=a)
            night.results[-1] = dataclasses.replace(
                night.results[-1], target=dataclasses.replace(night.results[-1].target, row=2)
            )
    o, n = old.tables(), new.tables()
    by_address = diff(o.hosts, o.findings, n.hosts, n.findings, by_address=True)
    assert by_address[["change", "connected_ip"]].values.tolist() == [["rotated", "127.0.0.3"]]
    per_target = diff(o.hosts, o.findings, n.hosts, n.findings)
    assert per_target.empty  # the first row (127.0.0.1) stands for the name: unchanged


def test_match_note_says_when_one_side_did_not_scan_every_address() -> None:
    assert match_note("all", "all") == (True, None)
    assert match_note("first", "first") == (False, None)
    by_address, note = match_note("first", "all")
    assert not by_address
    assert note is not None and note.startswith("NEW scanned every address of a name")
    assert "OLD only the first" in note and "(host, port, ip)" in note
    by_address, note = match_note("all", "first")
    assert not by_address and note is not None and note.startswith("OLD scanned every address")
