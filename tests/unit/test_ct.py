"""Certificate Transparency (issue 20): lab leaves carrying SCTs signed by the lab's own logs
(ECDSA P-256 and RSA), raw SCT lists as the TLS extension and OCSP carry them, the log list
(lab and a real excerpt), and Chrome's CT policy over a table of scenarios. Every signature
the scanner judges is also verified here with cryptography directly, over signed data built
in this file from RFC 6962."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import struct
from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.errors import TrustStoreError
from scanner.model.types import Revocation
from scanner.testing import ctlab, der, pki
from scanner.testing.responders import ocsp_response, unsuccessful
from scanner.x509 import ct
from scanner.x509.revocation.ocsp import check_ocsp

DATA = Path(__file__).resolve().parents[1] / "data"
AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
REVOKED = ocsp.OCSPCertStatus.REVOKED
DAY = dt.timedelta(days=1)
S = dt.timedelta(seconds=1)


# --- independent verification -------------------------------------------------------------


def spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def verify_directly(
    *,
    public_key: object,
    signature: bytes,
    timestamp_ms: int,
    entry_type: int,
    entry: bytes,
    extensions: bytes = b"",
) -> bool:
    """RFC 6962 3.2's digitally-signed struct, verified with cryptography."""
    data = (
        struct.pack(">BBQH", 0, 0, timestamp_ms, entry_type)
        + entry
        + struct.pack(">H", len(extensions))
        + extensions
    )
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise AssertionError(type(public_key))
    except InvalidSignature:
        return False
    return True


def embedded_directly(
    leaf: x509.Certificate, issuer: x509.Certificate, logs: Sequence[ctlab.LabLog]
) -> list[tuple[bytes, int, bool]]:
    """(log_id, timestamp ms, signature verified) of each embedded SCT, read and checked
    with cryptography's own objects."""
    ext = leaf.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps)
    keys = {log.log_id: log.key.public_key() for log in logs}
    tbs = leaf.tbs_precertificate_bytes
    entry = hashlib.sha256(spki(issuer)).digest() + len(tbs).to_bytes(3, "big") + tbs
    out = []
    for s in ext.value:
        when_ms = (s.timestamp.replace(tzinfo=dt.UTC) - ct.EPOCH) // dt.timedelta(milliseconds=1)
        key = keys.get(s.log_id)
        ok = key is not None and verify_directly(
            public_key=key,
            signature=s.signature,
            timestamp_ms=when_ms,
            entry_type=1,
            entry=entry,
            extensions=s.extension_bytes,
        )
        out.append((s.log_id, when_ms, ok))
    return out


# --- the lab -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def logs() -> tuple[ctlab.LabLog, ...]:
    return ctlab.lab_logs()


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    root = pki.make_ca("CT Root", not_before=AS_OF - 900 * DAY, not_after=AS_OF + 900 * DAY)
    return pki.make_ca(
        "CT Issuing CA", issuer=root, not_before=AS_OF - 900 * DAY, not_after=AS_OF + 900 * DAY
    )


def log_list(logs: Sequence[ctlab.LabLog]) -> ct.LogList:
    return ct.read_log_list(ctlab.log_list_json(logs, timestamp=AS_OF), source="lab-logs.json")


def test_embedded_scts_from_ecdsa_and_rsa_logs(
    logs: tuple[ctlab.LabLog, ...], ca: pki.Issued
) -> None:
    times = [(logs[0], AS_OF - 3 * DAY), (logs[2], AS_OF - 2 * DAY), (logs[3], AS_OF - DAY)]
    leaf = ctlab.issue(
        ca, times, dns_names=["ct.test"], not_before=AS_OF - 3 * DAY, not_after=AS_OF + 87 * DAY
    )
    # The lab did what RFC 6962 says: a poisoned precertificate whose TBS (poison removed) is
    # the final certificate's TBS without the SCT list, as cryptography computes it.
    poison = leaf.precert.extensions.get_extension_for_class(x509.PrecertPoison)
    assert poison.critical
    assert leaf.cert.tbs_precertificate_bytes == leaf.tbs
    direct = embedded_directly(leaf.cert, ca.cert, logs)
    assert [ok for *_, ok in direct] == [True, True, True]
    assert isinstance(logs[0].key, ec.EllipticCurvePrivateKey)
    assert isinstance(logs[2].key, rsa.RSAPrivateKey)

    scts = ct.embedded_scts(leaf.cert)
    assert [(s.log_id, s.timestamp_ms) for s in scts] == [(i, t) for i, t, _ in direct]
    assert [s.timestamp for s in scts] == [when for _, when in times]
    assert [s.sig_alg for s in scts] == [3, 1, 3]  # ECDSA, RSA, ECDSA
    assert all(s.source is ct.SctSource.EMBEDDED for s in scts)
    checked = ct.check_scts(scts, leaf=leaf.cert, issuer=ca.cert, logs=log_list(logs), as_of=AS_OF)
    assert [c.status for c in checked] == [ct.SctStatus.VALID] * 3
    assert [c.log.operator for c in checked if c.log] == [
        "Lab Operator A",
        "Lab Operator B",
        "Lab Operator C",
    ]


def test_a_forged_sct_is_an_invalid_claim(logs: tuple[ctlab.LabLog, ...], ca: pki.Issued) -> None:
    leaf = ctlab.issue(
        ca,
        [(logs[0], AS_OF - DAY), (logs[2], AS_OF - DAY)],
        dns_names=["forged.test"],
        not_before=AS_OF - DAY,
        not_after=AS_OF + 89 * DAY,
        forge=True,
    )
    direct = embedded_directly(leaf.cert, ca.cert, logs)
    assert [ok for *_, ok in direct] == [False, False]
    scts = ct.embedded_scts(leaf.cert)
    checked = ct.check_scts(scts, leaf=leaf.cert, issuer=ca.cert, logs=log_list(logs), as_of=AS_OF)
    assert [c.status for c in checked] == [ct.SctStatus.INVALID_SIGNATURE] * 2
    summary = ct.summarize(checked, lifetime=90 * DAY, have_log_list=True)
    assert summary.sct_count == 2 and summary.sct_valid == 0 and summary.sct_operators == 0
    assert summary.ct_compliant is False
    assert [c.sct.log_id for c in summary.invalid] == [logs[0].log_id, logs[2].log_id]


def test_wrong_issuer_fails_the_signature(logs: tuple[ctlab.LabLog, ...], ca: pki.Issued) -> None:
    leaf = ctlab.issue(
        ca, [(logs[0], AS_OF - DAY)], dns_names=["x.test"], not_before=AS_OF, not_after=AS_OF
    )
    stranger = pki.make_ca("Stranger", not_before=AS_OF - DAY, not_after=AS_OF + DAY)
    scts = ct.embedded_scts(leaf.cert)
    lst = log_list(logs)
    (wrong,) = ct.check_scts(scts, leaf=leaf.cert, issuer=stranger.cert, logs=lst, as_of=AS_OF)
    assert wrong.status is ct.SctStatus.INVALID_SIGNATURE
    assert embedded_directly(leaf.cert, stranger.cert, logs)[0][2] is False
    (none,) = ct.check_scts(scts, leaf=leaf.cert, issuer=None, logs=lst, as_of=AS_OF)
    assert none.status is ct.SctStatus.NO_ISSUER


def test_without_a_log_list_scts_are_counted_not_judged(
    logs: tuple[ctlab.LabLog, ...], ca: pki.Issued
) -> None:
    leaf = ctlab.issue(
        ca,
        [(logs[0], AS_OF - DAY), (logs[2], AS_OF - DAY)],
        dns_names=["a.test"],
        not_before=AS_OF - DAY,
        not_after=AS_OF + 89 * DAY,
    )
    checked = ct.check_scts(
        ct.embedded_scts(leaf.cert), leaf=leaf.cert, issuer=ca.cert, logs=None, as_of=AS_OF
    )
    assert [c.status for c in checked] == [ct.SctStatus.NOT_CHECKED] * 2
    summary = ct.summarize(checked, lifetime=90 * DAY, have_log_list=False)
    assert (summary.sct_count, summary.sct_valid, summary.sct_operators) == (2, 0, 0)
    assert summary.ct_compliant is None and summary.invalid == ()


def test_a_leaf_without_scts(ca: pki.Issued) -> None:
    leaf = pki.make_leaf(ca, dns_names=["a.test"], not_before=AS_OF, not_after=AS_OF + DAY)
    assert ct.embedded_scts(leaf.cert) == ()
    verdict = ct.chrome_ct_policy([], lifetime=DAY)
    assert not verdict.compliant and verdict.reason == "no SCT"


def test_tls_and_ocsp_sct_lists(logs: tuple[ctlab.LabLog, ...], ca: pki.Issued) -> None:
    # A leaf without embedded SCTs, logged by the server's own submission (x509_entry).
    leaf = pki.make_leaf(
        ca, dns_names=["tls.test"], not_before=AS_OF - DAY, not_after=AS_OF + 399 * DAY
    )
    raw = ctlab.x509_scts(leaf.cert, [(logs[0], AS_OF - DAY), (logs[2], AS_OF - DAY)])
    der = leaf.cert.public_bytes(serialization.Encoding.DER)
    lst = log_list(logs)
    for source in (ct.SctSource.TLS, ct.SctSource.OCSP):
        scts = ct.parse_sct_list(raw, source)
        assert ct.serialize_sct_list(scts) == raw
        for s, log in zip(scts, (logs[0], logs[2]), strict=True):
            assert s.log_id == log.log_id and s.entry_type is ct.EntryType.X509
            assert verify_directly(
                public_key=log.key.public_key(),
                signature=s.signature,
                timestamp_ms=s.timestamp_ms,
                entry_type=0,
                entry=len(der).to_bytes(3, "big") + der,
            )
        checked = ct.check_scts(scts, leaf=leaf.cert, issuer=None, logs=lst, as_of=AS_OF)
        assert [c.status for c in checked] == [ct.SctStatus.VALID] * 2
        verdict = ct.chrome_ct_policy(checked, lifetime=400 * DAY)
        assert verdict.compliant and "TLS or OCSP" in verdict.reason
    # The same SCTs presented for another certificate do not verify.
    other = pki.make_leaf(ca, dns_names=["tls.test"], not_before=AS_OF, not_after=AS_OF + DAY)
    checked = ct.check_scts(
        ct.parse_sct_list(raw, ct.SctSource.TLS),
        leaf=other.cert,
        issuer=None,
        logs=lst,
        as_of=AS_OF,
    )
    assert [c.status for c in checked] == [ct.SctStatus.INVALID_SIGNATURE] * 2


# --- SCTs in a stapled OCSP response's single extension (RFC 6962 3.3) ----------------------


def _staple(
    leaf: x509.Certificate, ca: pki.Issued, status: ocsp.OCSPCertStatus = ocsp.OCSPCertStatus.GOOD
) -> bytes:
    return ocsp_response(
        leaf,
        ca.cert,
        ca.cert,
        ca.key,
        status,
        this_update=AS_OF - DAY,
        next_update=AS_OF + 6 * DAY,
        revoked_at=AS_OF - DAY if status is ocsp.OCSPCertStatus.REVOKED else None,
    )


def test_scts_of_a_stapled_ocsp_response(logs: tuple[ctlab.LabLog, ...], ca: pki.Issued) -> None:
    leaf = pki.make_leaf(ca, dns_names=["ocsp.test"], not_before=AS_OF - DAY, not_after=AS_OF + DAY)
    raw = ctlab.x509_scts(leaf.cert, [(logs[0], AS_OF - DAY), (logs[2], AS_OF - DAY)])
    plain = _staple(leaf.cert, ca)
    stapled = der.ocsp_with_scts(plain, ca.key, raw)
    # The crafted response still verifies as the issuer's answer about this leaf.
    verdict = check_ocsp(stapled, leaf.cert, ca.cert, AS_OF, url="stapled")
    assert verdict.status is Revocation.GOOD
    scts = ct.ocsp_scts(stapled, leaf.cert, ca.cert)
    assert [s.log_id for s in scts] == [logs[0].log_id, logs[2].log_id]
    assert all(s.source is ct.SctSource.OCSP and s.entry_type is ct.EntryType.X509 for s in scts)
    assert ct.serialize_sct_list(scts) == raw
    checked = ct.check_scts(scts, leaf=leaf.cert, issuer=None, logs=log_list(logs), as_of=AS_OF)
    assert [c.status for c in checked] == [ct.SctStatus.VALID] * 2
    # A revoked answer carries them as well (the reader does not judge the status).
    revoked = der.ocsp_with_scts(_staple(leaf.cert, ca, REVOKED), ca.key, raw)
    assert len(ct.ocsp_scts(revoked, leaf.cert, ca.cert)) == 2
    # Without the extension: none.
    assert ct.ocsp_scts(plain, leaf.cert, ca.cert) == ()
    # A response about another certificate, or read against another issuer: none.
    other = pki.make_leaf(ca, dns_names=["ocsp.test"], not_before=AS_OF, not_after=AS_OF + DAY)
    assert ct.ocsp_scts(stapled, other.cert, ca.cert) == ()
    assert ct.ocsp_scts(stapled, leaf.cert, leaf.cert) == ()


@pytest.mark.parametrize(
    "case", ["empty", "not DER", "truncated", "bad SCT list", "empty SCT list", "unsuccessful"]
)
def test_unreadable_stapled_responses_give_no_scts(
    logs: tuple[ctlab.LabLog, ...], ca: pki.Issued, case: str
) -> None:
    leaf = pki.make_leaf(ca, dns_names=["ocsp.test"], not_before=AS_OF - DAY, not_after=AS_OF + DAY)
    raw = ctlab.x509_scts(leaf.cert, [(logs[0], AS_OF - DAY)])
    good = der.ocsp_with_scts(_staple(leaf.cert, ca), ca.key, raw)
    data = {
        "empty": b"",
        "not DER": b"\x30\x03abc",
        "truncated": good[:-40],
        "bad SCT list": der.ocsp_with_scts(_staple(leaf.cert, ca), ca.key, b"\x00\x05junk"),
        "empty SCT list": der.ocsp_with_scts(_staple(leaf.cert, ca), ca.key, b"\x00\x00"),
        "unsuccessful": unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER),
    }[case]
    assert ct.ocsp_scts(data, leaf.cert, ca.cert) == ()


# --- raw SCT lists: every malformation is an SctError ----------------------------------------


def _one_sct(version: int = 0) -> bytes:
    return bytes([version]) + bytes(32) + struct.pack(">QH", 5, 0) + b"\x04\x03\x00\x02ab"


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "bytes wanted"),
        (b"\x00", "bytes wanted"),
        (b"\x00\x00", "empty"),
        (b"\x00\x05\x00\x04abc", "bytes wanted"),
        (struct.pack(">HH", 2, 0), "empty SerializedSCT"),
        (struct.pack(">HH", len(_one_sct()) + 2, len(_one_sct())) + _one_sct() + b"x", "after"),
        (
            struct.pack(">HH", len(_one_sct()) + 3, len(_one_sct()) + 1) + _one_sct() + b"x",
            "after the signature",
        ),
        (
            struct.pack(">H", 65 * (len(_one_sct()) + 2))
            + (struct.pack(">H", len(_one_sct())) + _one_sct()) * 65,
            "more than 64",
        ),
    ],
)
def test_malformed_sct_lists(data: bytes, why: str) -> None:
    with pytest.raises(ct.SctError, match=why):
        ct.parse_sct_list(data, ct.SctSource.TLS)


def test_unknown_sct_versions_are_ignored() -> None:
    v1, v2 = _one_sct(0), _one_sct(1)
    body = struct.pack(">H", len(v2)) + v2 + struct.pack(">H", len(v1)) + v1
    (only,) = ct.parse_sct_list(struct.pack(">H", len(body)) + body, ct.SctSource.TLS)
    assert only.timestamp_ms == 5 and only.signature == b"ab"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_sct_error(data: bytes) -> None:
    try:
        scts = ct.parse_sct_list(data, ct.SctSource.OCSP)
    except ct.SctError:
        return
    assert all(len(s.log_id) == 32 and s.source is ct.SctSource.OCSP for s in scts)
    # What was read re-encodes within the input (SCTs of unknown versions are dropped).
    assert len(ct.serialize_sct_list(scts)) <= len(data)


# --- the log list ---------------------------------------------------------------------------


def test_real_log_list_excerpt() -> None:
    data = (DATA / "log_list-excerpt.json").read_bytes()
    lst = ct.read_log_list(data, source="log_list.json")
    assert lst.sha256 == hashlib.sha256(data).hexdigest()
    assert lst.timestamp == dt.datetime(2026, 5, 10, 13, 43, 35, tzinfo=dt.UTC)
    assert lst.version == "85.72"
    doc = json.loads(data)
    for op in doc["operators"]:
        for raw in op["logs"]:
            log_id = base64.b64decode(raw["log_id"])
            # log_id is the SHA-256 of the key (RFC 6962 3.2), computed here on our own.
            assert hashlib.sha256(base64.b64decode(raw["key"])).digest() == log_id
            log = lst.logs[log_id]
            assert log.operator == op["name"] and log.description == raw["description"]
            assert log.state is ct.LogState.USABLE
            assert isinstance(log.key, ec.EllipticCurvePublicKey)
    argon = lst.logs[base64.b64decode("DleUvPOuqT4zGyyZB7P3kN+bwj1xMiXdIaklrGHFTiE=")]
    assert argon.state_since == dt.datetime(2024, 9, 30, 22, 19, 27, tzinfo=dt.UTC)
    assert argon.interval_start == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert argon.interval_end == dt.datetime(2026, 7, 1, tzinfo=dt.UTC)


def test_lab_log_list_with_every_state(logs: tuple[ctlab.LabLog, ...]) -> None:
    states = ["usable", "readonly", "retired", "qualified"]
    varied = [dataclasses.replace(log, state=s) for log, s in zip(logs, states, strict=True)]
    lst = log_list(varied)
    assert [lst.logs[log.log_id].state for log in varied] == [ct.LogState(s) for s in states]
    assert isinstance(lst.logs[logs[2].log_id].key, rsa.RSAPublicKey)


def _doc(**log: object) -> bytes:
    key = base64.b64encode(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()
    entry: dict[str, object] = {
        "log_id": base64.b64encode(hashlib.sha256(base64.b64decode(key)).digest()).decode(),
        "key": key,
        "state": {"usable": {"timestamp": "2024-01-01T00:00:00Z"}},
    }
    entry.update(log)
    return json.dumps({"operators": [{"name": "Op", "logs": [entry]}]}).encode()


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "no operators"),
        (b'{"operators": []}', "no logs"),
        (b'{"operators": [{"logs": []}]}', "needs a name"),
        (_doc(log_id="!!"), "not base64"),
        (_doc(log_id=base64.b64encode(bytes(32)).decode()), "not the SHA-256 of its key"),
        (_doc(log_id=base64.b64encode(bytes(31)).decode()), "not 32"),
        (_doc(state={"sleeping": {"timestamp": "2024-01-01T00:00:00Z"}}), "unknown state"),
        (_doc(state={"usable": {"timestamp": "2024-01-01T00:00:00"}}), "no time zone"),
        (_doc(state={"usable": {"timestamp": "yesterday"}}), "not an RFC 3339"),
        (_doc(state={"usable": {}, "retired": {}}), "exactly one state"),
        (_doc(temporal_interval={"start_inclusive": "2024-01-01T00:00:00Z"}), "temporal"),
    ],
)
def test_log_list_errors_name_the_file(data: bytes, why: str) -> None:
    with pytest.raises(ct.LogListError, match=why) as e:
        ct.read_log_list(data, source="/srv/ct/list.json")
    assert isinstance(e.value, TrustStoreError)
    assert str(e.value).startswith("/srv/ct/list.json: ")


def test_log_list_key_must_be_a_key() -> None:
    junk = b"not a key"
    data = json.dumps(
        {
            "operators": [
                {
                    "name": "Op",
                    "logs": [
                        {
                            "log_id": base64.b64encode(hashlib.sha256(junk).digest()).decode(),
                            "key": base64.b64encode(junk).decode(),
                        }
                    ],
                }
            ]
        }
    ).encode()
    with pytest.raises(ct.LogListError, match="not a public key"):
        ct.read_log_list(data, source="x")


# --- Chrome's CT policy, scenario by scenario -----------------------------------------------

# (name, lifetime (notAfter - notBefore), embedded SCTs as (log index, age), TLS SCTs, log
# state changes {index: (state, days before as-of)}, compliant?) with the lab's logs
# 0 Ash (operator A, P-256), 1 Birch (A, P-256), 2 Cedar (B, RSA), 3 Dogwood (C, P-256).
# Ages are days before as-of; a negative age is in the future.
A20, A5 = 20.0, 5.0
POLICY = [
    ("two operators, 90 days", 90 * DAY, [(0, A5), (2, A5)], [], {}, True),
    ("one operator", 90 * DAY, [(0, A5), (1, A5)], [], {}, False),
    ("181 days needs three logs", 181 * DAY, [(0, A5), (2, A5)], [], {}, False),
    ("181 days with three logs", 181 * DAY, [(0, A5), (1, A5), (2, A5)], [], {}, True),
    ("exactly 180 days needs two", 180 * DAY, [(0, A5), (2, A5)], [], {}, True),
    ("180 days and a second", 180 * DAY + S, [(0, A5), (2, A5)], [], {}, False),
    ("one log twice is one log", 181 * DAY, [(0, A5), (0, A20), (2, A5)], [], {}, False),
    ("retired after the SCT", 90 * DAY, [(0, A5), (2, A20)], [], {2: ("retired", 10)}, True),
    ("retired before the SCT", 90 * DAY, [(0, A5), (2, A20)], [], {2: ("retired", 30)}, False),
    (
        "every log retired",
        90 * DAY,
        [(0, A20), (2, A20)],
        [],
        {0: ("retired", 10), 2: ("retired", 10)},
        False,
    ),
    ("readonly after the SCT", 90 * DAY, [(0, A5), (2, A20)], [], {2: ("readonly", 10)}, True),
    ("readonly before the SCT", 90 * DAY, [(0, A5), (2, A20)], [], {2: ("readonly", 30)}, False),
    (
        "only readonly logs",
        90 * DAY,
        [(0, A20), (2, A20)],
        [],
        {0: ("readonly", 10), 2: ("readonly", 10)},
        True,
    ),
    ("qualified counts", 90 * DAY, [(0, A5), (2, A5)], [], {2: ("qualified", 10)}, True),
    ("pending does not", 90 * DAY, [(0, A5), (2, A5)], [], {2: ("pending", 10)}, False),
    ("rejected does not", 90 * DAY, [(0, A5), (2, A5)], [], {2: ("rejected", 10)}, False),
    ("an SCT from the future", 90 * DAY, [(0, A5), (2, -1 / 86400)], [], {}, False),
    ("unknown log", 90 * DAY, [(0, A5), (4, A5)], [], {}, False),
    ("TLS, two operators, 400 days", 400 * DAY, [], [(0, A5), (3, A5)], {}, True),
    ("TLS, one operator", 400 * DAY, [], [(0, A5), (1, A5)], {}, False),
    ("TLS from a retired log", 90 * DAY, [], [(0, A5), (3, A20)], {3: ("retired", 10)}, False),
    ("embedded one, TLS one", 90 * DAY, [(0, A5)], [(2, A5)], {}, False),
]


@pytest.fixture(scope="module")
def stranger() -> ctlab.LabLog:
    return ctlab.LabLog(description="Not Listed", operator="Lab Operator D", key=pki.ec_key())


@pytest.mark.parametrize(
    ("name", "lifetime", "embedded", "tls", "states", "compliant"),
    POLICY,
    ids=[p[0] for p in POLICY],
)
def test_chrome_ct_policy(
    logs: tuple[ctlab.LabLog, ...],
    stranger: ctlab.LabLog,
    ca: pki.Issued,
    name: str,
    lifetime: dt.timedelta,
    embedded: list[tuple[int, float]],
    tls: list[tuple[int, float]],
    states: dict[int, tuple[str, int]],
    compliant: bool,
) -> None:
    lab = list(logs)
    for i, (state, days) in states.items():
        lab[i] = dataclasses.replace(lab[i], state=state, state_since=AS_OF - days * DAY)
    everyone = [*lab, stranger]  # the stranger signs, but the list does not name it
    listed = log_list(lab)
    not_before = AS_OF - 30 * DAY
    leaf = ctlab.issue(
        ca,
        [(everyone[i], AS_OF - age * DAY) for i, age in embedded],
        dns_names=["policy.test"],
        not_before=not_before,
        not_after=not_before + lifetime,
    )
    scts = list(ct.embedded_scts(leaf.cert))
    if tls:
        raw = ctlab.x509_scts(leaf.cert, [(everyone[i], AS_OF - age * DAY) for i, age in tls])
        scts += ct.parse_sct_list(raw, ct.SctSource.TLS)
    checked = ct.check_scts(scts, leaf=leaf.cert, issuer=ca.cert, logs=listed, as_of=AS_OF)
    real_lifetime = leaf.cert.not_valid_after_utc - leaf.cert.not_valid_before_utc
    assert real_lifetime == lifetime
    summary = ct.summarize(checked, lifetime=real_lifetime, have_log_list=True)

    # Independently: each SCT's signature with cryptography, its log by id, its time.
    der = leaf.cert.public_bytes(serialization.Encoding.DER)
    tbs = leaf.cert.tbs_precertificate_bytes if embedded else b""
    precert = hashlib.sha256(spki(ca.cert)).digest() + len(tbs).to_bytes(3, "big") + tbs
    listed_ids = {log.log_id: log for log in lab}
    valid_ops = []
    for s, (i, age) in zip(scts, [*embedded, *tls], strict=True):
        log = everyone[i]
        signed = verify_directly(
            public_key=log.key.public_key(),
            signature=s.signature,
            timestamp_ms=ctlab.ms(AS_OF - age * DAY),
            entry_type=1 if s.source is ct.SctSource.EMBEDDED else 0,
            entry=precert
            if s.source is ct.SctSource.EMBEDDED
            else len(der).to_bytes(3, "big") + der,
        )
        assert signed
        if log.log_id in listed_ids and age >= 0:
            valid_ops.append(log.operator)
    assert summary.sct_count == len(embedded) + len(tls)
    assert summary.sct_valid == len(valid_ops)
    assert summary.sct_operators == len(set(valid_ops))
    assert summary.ct_compliant is compliant, summary.reason
    assert summary.invalid == ()


# --- hostile certificates -------------------------------------------------------------------


def _with_sct_extension(ca: pki.Issued, value: bytes) -> x509.Certificate:
    key = pki.ec_key()
    return (
        x509.CertificateBuilder()
        .subject_name(pki.name("hostile.test"))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(AS_OF - DAY)
        .not_valid_after(AS_OF + DAY)
        .add_extension(x509.UnrecognizedExtension(ctlab.SCT_LIST_OID, value), critical=False)
        .sign(ca.key, hashes.SHA256())
    )


@pytest.mark.parametrize(
    "value",
    [
        b"\x05\x00",  # not an OCTET STRING
        b"\x04\x03\x00\x05\x00",  # an SCT list that ends early
    ],
    ids=["not-octet-string", "truncated"],
)
def test_a_malformed_embedded_list_is_an_sct_error(ca: pki.Issued, value: bytes) -> None:
    cert = _with_sct_extension(ca, value)
    with pytest.raises(ct.SctError):
        ct.embedded_scts(cert)


def test_an_empty_embedded_list_is_no_sct(ca: pki.Issued) -> None:
    # RFC 6962 wants at least one; cryptography reads an empty list, and so it counts none.
    assert ct.embedded_scts(_with_sct_extension(ca, b"\x04\x02\x00\x00")) == ()


def test_embedded_scts_checked_against_a_leaf_without_the_list(
    logs: tuple[ctlab.LabLog, ...], ca: pki.Issued
) -> None:
    leaf = ctlab.issue(
        ca, [(logs[0], AS_OF - DAY)], dns_names=["a.test"], not_before=AS_OF, not_after=AS_OF
    )
    plain = pki.make_leaf(ca, dns_names=["a.test"], not_before=AS_OF, not_after=AS_OF + DAY)
    (checked,) = ct.check_scts(
        ct.embedded_scts(leaf.cert),
        leaf=plain.cert,
        issuer=ca.cert,
        logs=log_list(logs),
        as_of=AS_OF,
    )
    assert checked.status is ct.SctStatus.INVALID_SIGNATURE


def test_earliest_sct_prefers_verified(logs: tuple[ctlab.LabLog, ...], ca: pki.Issued) -> None:
    early, late = AS_OF - 9 * DAY, AS_OF - 2 * DAY
    good = ctlab.issue(
        ca,
        [(logs[2], late), (logs[0], AS_OF - 4 * DAY)],
        dns_names=["a.test"],
        not_before=AS_OF - 10 * DAY,
        not_after=AS_OF + 80 * DAY,
    )
    scts = ct.embedded_scts(good.cert)
    lst = log_list(logs)
    checked = ct.check_scts(scts, leaf=good.cert, issuer=ca.cert, logs=lst, as_of=AS_OF)
    assert ct.earliest_sct(checked) == AS_OF - 4 * DAY
    unverified = ct.check_scts(scts, leaf=good.cert, issuer=ca.cert, logs=None, as_of=AS_OF)
    assert ct.earliest_sct(unverified) == AS_OF - 4 * DAY
    forged = ctlab.issue(
        ca,
        [(logs[0], early)],
        dns_names=["a.test"],
        not_before=early,
        not_after=AS_OF,
        forge=True,
    )
    checked = ct.check_scts(
        ct.embedded_scts(forged.cert), leaf=forged.cert, issuer=ca.cert, logs=lst, as_of=AS_OF
    )
    assert ct.earliest_sct(checked) is None  # a forged SCT's date is no evidence
    assert ct.earliest_sct([]) is None


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "operators",
                    "name",
                    "logs",
                    "tiled_logs",
                    "log_id",
                    "key",
                    "state",
                    "usable",
                    "timestamp",
                    "temporal_interval",
                    "start_inclusive",
                    "end_exclusive",
                    "x",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_any_json_reads_or_is_refused(doc: object) -> None:
    try:
        ct.read_log_list(json.dumps(doc).encode(), source="fuzz.json")
    except ct.LogListError as e:
        assert str(e).startswith("fuzz.json: ")
