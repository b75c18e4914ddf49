"""Every X.509 file of pyca's `cryptography_vectors` through the diagnosis `scan` and `check`
use: each gives a diagnosis or a clear one-line error, never a traceback. And path building
stays bounded on a chain built to make it explode."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from functools import cache
from pathlib import Path

import certifi
import cryptography_vectors
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from scanner.run.check import ChainFileError, CheckReport, check, load_chain
from scanner.testing.lab import DAY, Issued, Pki, make_leaf, name
from scanner.x509 import certs
from scanner.x509 import diagnose as dx
from scanner.x509.context import DiagnosisContext
from scanner.x509.memo import Memo

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
VECTORS = Path(cryptography_vectors.__file__).parent / "x509"


@cache
def mozilla() -> certs.TrustStore:
    with open(certifi.where(), "rb") as f:
        return certs.load_trust_store(f.read(), "certifi")


def files() -> list[Path]:
    return sorted(p for p in VECTORS.rglob("*") if p.is_file())


def diagnose_file(path: Path) -> CheckReport | ChainFileError:
    try:
        chain = load_chain(path.read_bytes(), path.name)
    except ChainFileError as e:
        return e
    return check(chain, host="cryptography.io", trust=mozilla(), as_of=FIXED, checked_at=FIXED)


@pytest.fixture(scope="module")
def outcomes() -> dict[Path, CheckReport | ChainFileError]:
    return {p: diagnose_file(p) for p in files()}


def test_every_file_gives_a_diagnosis_or_a_one_line_error(
    outcomes: dict[Path, CheckReport | ChainFileError],
) -> None:
    assert len(outcomes) > 1500  # the whole x509 folder, PKITS included
    kinds: Counter[str] = Counter()
    for path, outcome in outcomes.items():
        if isinstance(outcome, ChainFileError):
            message = str(outcome)
            assert message.startswith(path.name) and "\n" not in message, message
            kinds["error"] += 1
            continue
        row = outcome.row
        assert row["status"] == "ok" and isinstance(row["trusted"], bool), path
        assert row["leaf_sha256"] and isinstance(row["findings"], list)
        for f in outcome.diagnosis.findings:
            assert f.message and "\n" not in f.message, (path, f)
        kinds["unparseable" if "unparseable_certificate" in row["findings"] else "parsed"] += 1
    # Most files are certificates that parse; CRLs, CSRs and keys in DER read as unparseable.
    assert kinds["parsed"] > 400 and kinds["unparseable"] > 400 and kinds["error"] > 100


def test_known_files(outcomes: dict[Path, CheckReport | ChainFileError]) -> None:
    site = outcomes[VECTORS / "cryptography.io.pem"]
    assert isinstance(site, CheckReport)
    assert site.row["subject"] and "cryptography.io" in site.row["san_dns"]
    assert site.row["expired"] is True and "expired" in site.row["findings"]
    negative = outcomes[VECTORS / "custom" / "negative_serial.pem"]
    assert isinstance(negative, CheckReport) and negative.row["subject"] is not None
    bad_time = outcomes[VECTORS / "badasn1time.pem"]
    assert isinstance(bad_time, CheckReport)
    assert bad_time.row["findings"] == ["unparseable_certificate"]
    assert bad_time.diagnosis.certificates[0].parse_error
    crl = outcomes[VECTORS / "custom" / "crl_empty.pem"]
    assert isinstance(crl, ChainFileError) and "no certificate found" in str(crl)


def _mesh_ca(
    subject: str, issuer: str, key: ec.EllipticCurvePrivateKey, signer: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(FIXED - 10 * DAY)
        .not_valid_after(FIXED + 10 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(signer, hashes.SHA256())
    )


def test_path_building_is_bounded_on_a_cross_signed_mesh() -> None:
    # Ten "A" certificates issued by "B" and ten "B" issued by "A": a depth-first search of
    # every path would try 10^8 of them. Ours follows one issuer per step (at most MAX_DEPTH
    # steps over the sent certificates); cryptography's verifier has a signature budget.
    key_a, key_b = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    mesh = [_mesh_ca("A", "B", key_a, key_b) for _ in range(10)]
    mesh += [_mesh_ca("B", "A", key_b, key_a) for _ in range(10)]
    pki = Pki.create(FIXED)
    leaf = make_leaf(
        Issued(mesh[0], key_a),
        dns_names=["mesh.test"],
        not_before=FIXED - DAY,
        not_after=FIXED + DAY,
    )
    chain = [leaf.der] + [c.public_bytes(Encoding.DER) for c in mesh]
    trust = certs.load_trust_store(pki.root.pem, "lab")
    memo = Memo()
    d = dx.diagnose(
        chain,
        host="mesh.test",
        is_ip=False,
        ctx=DiagnosisContext(trust=trust, as_of=FIXED, warn_days=0, memo=memo),
    )
    assert d.verdicts.trusted is False and d.verdicts.untrusted_root is True
    assert [f.code for f in d.findings] == ["issuer_not_found"]
    assert memo.signatures.stats.misses <= dx.MAX_DEPTH * len(chain)
