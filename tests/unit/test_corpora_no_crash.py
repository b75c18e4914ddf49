"""Nothing odd crashes `check`: every certificate of every corpus the suite uses (x509-limbo's
peer, intermediate and trusted certificates; every certificate of every X.509 file of pyca's
`cryptography_vectors`), each given alone as the chain, gets a diagnosis: no exception, no
internal error, a one-line message per finding, and a JSON row. Two limbo certificates carry
name constraints whose IPAddress is not a network: cryptography 50 and 51 raise TypeError when
their extensions are read, which was a traceback. In-process (one diagnosis per certificate);
a handful go through the real `scanner check` command."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import certifi
import cryptography_vectors
import pytest

from scanner.errors import ChainFileError, TrustStoreError
from scanner.run.check import check, json_row, load_chain
from scanner.testing.hostile import pem
from scanner.x509 import certs

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
HOST = "corpus.test"
LIMBO = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "x509-limbo" / "limbo.json"
VECTORS = Path(cryptography_vectors.__file__).parent / "x509"
# The limbo cases whose certificates broke `check` (name constraints: IPAddress 10.0.0.0 with
# a malformed mask), given to the real command below.
NC_CASES = ("rfc5280::nc::invalid-ipv4-address", "rfc5280::nc::invalid-ipv6-address")


@cache
def mozilla() -> certs.TrustStore:
    with open(certifi.where(), "rb") as f:
        return certs.load_trust_store(f.read(), "certifi")


@cache
def limbo_cases() -> tuple[dict[str, Any], ...]:
    if not LIMBO.is_file():
        pytest.fail(f"the x509-limbo corpus is not at {LIMBO}", pytrace=False)
    with open(LIMBO, encoding="utf-8") as f:
        return tuple(json.load(f)["testcases"])


def limbo_certificates() -> Iterator[tuple[str, bytes, certs.TrustStore]]:
    """(label, DER, the case's trust store or Mozilla's when it will not load)."""
    for case in limbo_cases():
        roots = "".join(case["trusted_certs"])
        try:
            trust = certs.load_trust_store(roots.encode(), str(case["id"]))
        except TrustStoreError:
            trust = mozilla()
        texts = [case["peer_certificate"], *case["untrusted_intermediates"]]
        texts += list(case["trusted_certs"])
        for i, text in enumerate(texts):
            for der in load_chain(str(text).encode(), f"{case['id']}#{i}"):
                yield f"{case['id']}#{i}", der, trust


def vector_certificates() -> Iterator[tuple[str, bytes, certs.TrustStore]]:
    for path in sorted(p for p in VECTORS.rglob("*") if p.is_file()):
        try:
            chain = load_chain(path.read_bytes(), path.name)
        except ChainFileError:
            continue  # not a certificate file: test_vectors checks its one-line error
        for i, der in enumerate(chain):
            yield f"{path.relative_to(VECTORS)}#{i}", der, mozilla()


def diagnose_alone(label: str, der: bytes, trust: certs.TrustStore) -> str:
    """'parsed' or 'unparseable'; any exception fails the test with the certificate's label."""
    try:
        report = check([der], host=HOST, trust=trust, as_of=FIXED, checked_at=FIXED)
        row = json_row(report.row)
        json.dumps(row)
    except Exception as e:  # noqa: BLE001 - the test is that nothing escapes
        pytest.fail(f"{label}: {type(e).__name__}: {e}")
    assert row["status"] == "ok" and isinstance(row["trusted"], bool), label
    for f in report.diagnosis.findings:
        assert f.message and "\n" not in f.message, (label, f)
        assert "internal error" not in f.message, (label, f)
    return "unparseable" if "unparseable_certificate" in row["findings"] else "parsed"


def test_every_limbo_certificate_alone_as_the_chain() -> None:
    outcome = {label: diagnose_alone(label, der, t) for label, der, t in limbo_certificates()}
    kinds = Counter(outcome.values())
    assert len(outcome) > 900 and kinds["parsed"] > 900  # peers, intermediates and roots
    # Among the few that do not parse: the name-constraint certificates cryptography cannot
    # represent (each case's root, given here as the chain).
    broken = {label.split("#")[0] for label, kind in outcome.items() if kind == "unparseable"}
    assert set(NC_CASES) <= broken and kinds["unparseable"] == 11


def test_every_vectors_certificate_alone_as_the_chain() -> None:
    kinds = Counter(diagnose_alone(*c) for c in vector_certificates())
    assert sum(kinds.values()) > 1000 and kinds["parsed"] > 400


def test_the_name_constraint_certificates_through_the_command(tmp_path: Path) -> None:
    cases = {c["id"]: c for c in limbo_cases() if c["id"] in NC_CASES}
    assert sorted(cases) == sorted(NC_CASES)
    for case_id, case in cases.items():
        for text in case["trusted_certs"]:
            chain = tmp_path / "chain.pem"
            chain.write_text(str(text))
            done = subprocess.run(
                [sys.executable, "-m", "scanner", "check", str(chain), "--host", HOST]
                + ["--as-of", FIXED.isoformat(), "--json"],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert "Traceback" not in done.stderr and done.returncode in (0, 1), (
                case_id,
                done.stderr,
            )
            row = json.loads(done.stdout)
            assert row["findings"] == ["unparseable_certificate"], case_id
            # And the human output too.
            human = subprocess.run(
                [sys.executable, "-m", "scanner", "check", str(chain), "--host", HOST]
                + ["--as-of", FIXED.isoformat()],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert "Traceback" not in human.stderr and human.returncode in (0, 1), human.stderr
            assert "unparseable_certificate" in human.stdout


def test_the_command_reads_a_der_file_of_the_corpus(tmp_path: Path) -> None:
    """One certificate of each limbo name-constraint case as DER, and as PEM from DER."""
    case = next(c for c in limbo_cases() if c["id"] == NC_CASES[0])
    der = load_chain(str(case["trusted_certs"][0]).encode(), "root")[0]
    for suffix, data in ((".der", der), (".pem", pem(der))):
        path = tmp_path / f"nc{suffix}"
        path.write_bytes(data)
        done = subprocess.run(
            [sys.executable, "-m", "scanner", "check", str(path), "--host", HOST, "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "Traceback" not in done.stderr and done.returncode in (0, 1), done.stderr
        assert json.loads(done.stdout)["findings"] == ["unparseable_certificate"]
