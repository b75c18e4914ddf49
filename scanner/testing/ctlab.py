"""The lab's Certificate Transparency: CT logs with their own keys (ECDSA P-256 and RSA), a
log_list.json (v3 schema) naming them, and leaves issued the way public CAs do it: a
precertificate with the poison extension, SCTs signed by the logs over its TBS, then the final
certificate carrying the SCT list. Also SCTs over a final certificate, for the TLS extension
and stapled OCSP. Encodings written here from RFC 6962, not taken from scanner.x509.ct."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from scanner.model.timefmt import utc_z as _iso
from scanner.testing.pki import Issued, PrivateKey, ec_key, name

SCT_LIST_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")  # RFC 6962 3.3
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class LabLog:
    description: str
    operator: str
    key: PrivateKey
    state: str = "usable"  # a log_list.json v3 state name
    state_since: dt.datetime = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)

    @property
    def spki(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def log_id(self) -> bytes:
        return hashlib.sha256(self.spki).digest()

    def sign(self, data: bytes) -> tuple[int, bytes]:
        """(SignatureAlgorithm, signature) over `data` with SHA-256 (RFC 6962 2.1.4)."""
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            return 3, self.key.sign(data, ec.ECDSA(hashes.SHA256()))
        return 1, self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def entry(self) -> dict[str, object]:
        state: dict[str, object] = {"timestamp": _iso(self.state_since)}
        if self.state == "readonly":
            state["final_tree_head"] = {
                "sha256_root_hash": base64.b64encode(bytes(32)).decode(),
                "tree_size": 1000,
            }
        slug = self.description.lower().replace(" ", "-")
        return {
            "description": self.description,
            "log_id": base64.b64encode(self.log_id).decode(),
            "key": base64.b64encode(self.spki).decode(),
            "url": f"https://ct.lab.test/{slug}/",
            "mmd": 86400,
            "state": {self.state: state},
            "temporal_interval": {
                "start_inclusive": "2020-01-01T00:00:00Z",
                "end_exclusive": "2040-01-01T00:00:00Z",
            },
        }


def log_list_json(logs: Sequence[LabLog], *, timestamp: dt.datetime) -> bytes:
    """A log list in the published v3 schema, logs grouped by operator."""
    operators: dict[str, list[dict[str, object]]] = {}
    for log in logs:
        operators.setdefault(log.operator, []).append(log.entry())
    doc = {
        "version": "1.0",
        "log_list_timestamp": _iso(timestamp),
        "operators": [
            {
                "name": op,
                "email": [f"ct@{op.lower().replace(' ', '-')}.test"],
                "logs": entries,
                "tiled_logs": [],
            }
            for op, entries in operators.items()
        ],
    }
    return json.dumps(doc, indent=2).encode()


def ms(when: dt.datetime) -> int:
    return (when - EPOCH) // dt.timedelta(milliseconds=1)


def sct_bytes(log: LabLog, when: dt.datetime, entry_type: int, entry: bytes) -> bytes:
    """A serialized SCT v1 by `log` at `when`: RFC 6962 3.2's digitally-signed struct (version
    0, signature_type 0, timestamp, entry_type, signed_entry, empty extensions), signed."""
    signed = struct.pack(">BBQH", 0, 0, ms(when), entry_type) + entry + b"\x00\x00"
    sig_alg, signature = log.sign(signed)
    return (
        b"\x00"
        + log.log_id
        + struct.pack(">QH", ms(when), 0)
        + struct.pack(">BBH", 4, sig_alg, len(signature))
        + signature
    )


def sct_list(items: Sequence[bytes]) -> bytes:
    """SignedCertificateTimestampList (RFC 6962 3.3)."""
    body = b"".join(struct.pack(">H", len(i)) + i for i in items)
    return struct.pack(">H", len(body)) + body


def _octet_string(data: bytes) -> bytes:
    """DER OCTET STRING, minimal length encoding (X.690 10.1)."""
    n = len(data)
    assert n < 0x10000
    if n < 0x80:
        length = bytes([n])
    elif n < 0x100:
        length = bytes([0x81, n])
    else:
        length = bytes([0x82]) + n.to_bytes(2, "big")
    return b"\x04" + length + data


@dataclass(frozen=True, slots=True)
class CtLeaf:
    cert: x509.Certificate  # the final certificate, SCT list embedded
    key: PrivateKey
    precert: x509.Certificate  # the poisoned precertificate the logs saw
    tbs: bytes  # the precertificate's TBS without the poison: what the SCTs sign
    scts: tuple[bytes, ...]  # the serialized SCTs embedded

    @property
    def issued(self) -> Issued:
        return Issued(self.cert, self.key)


def issue(
    issuer: Issued,
    logs: Sequence[tuple[LabLog, dt.datetime]],
    *,
    dns_names: Sequence[str],
    not_before: dt.datetime,
    not_after: dt.datetime,
    forge: bool = False,
) -> CtLeaf:
    """A leaf with one embedded SCT per (log, time). `forge=True` signs every SCT with a
    stranger's key while naming the log: an SCT that claims a log and fails its signature."""
    key = ec_key()
    serial = x509.random_serial_number()

    def builder() -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(name(dns_names[0]))
            .issuer_name(issuer.cert.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
                critical=False,
            )
        )

    # RFC 6962 3.1: the precertificate is the final certificate with the critical poison
    # extension instead of the SCT list; the logs sign its TBS without the poison, which is
    # the TBS of the same certificate without either extension.
    precert = builder().add_extension(x509.PrecertPoison(), critical=True)
    precert_cert = precert.sign(issuer.key, hashes.SHA256())
    tbs = builder().sign(issuer.key, hashes.SHA256()).tbs_certificate_bytes
    spki = issuer.cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    entry = hashlib.sha256(spki).digest() + len(tbs).to_bytes(3, "big") + tbs
    scts = []
    for log, when in logs:
        signer = LabLog(description="forger", operator="forger", key=ec_key()) if forge else log
        raw = sct_bytes(signer, when, 1, entry)
        if forge:  # the forger's signature under the claimed log's id
            raw = raw[:1] + log.log_id + raw[33:]
        scts.append(raw)
    final = builder().add_extension(
        x509.UnrecognizedExtension(SCT_LIST_OID, _octet_string(sct_list(scts))), critical=False
    )
    return CtLeaf(
        cert=final.sign(issuer.key, hashes.SHA256()),
        key=key,
        precert=precert_cert,
        tbs=tbs,
        scts=tuple(scts),
    )


def x509_scts(cert: x509.Certificate, logs: Sequence[tuple[LabLog, dt.datetime]]) -> bytes:
    """An SCT list over the final certificate (x509_entry: its DER, 24-bit length), as a
    server sends it in the TLS extension or a stapled OCSP response."""
    der = cert.public_bytes(serialization.Encoding.DER)
    entry = len(der).to_bytes(3, "big") + der
    return sct_list([sct_bytes(log, when, 0, entry) for log, when in logs])


def lab_logs() -> tuple[LabLog, ...]:
    """Four usable logs of three operators (A runs two), with P-256 and RSA keys."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return (
        LabLog(description="Ash 2026", operator="Lab Operator A", key=ec_key()),
        LabLog(description="Birch 2026", operator="Lab Operator A", key=ec_key()),
        LabLog(description="Cedar 2026", operator="Lab Operator B", key=rsa_key),
        LabLog(description="Dogwood 2026", operator="Lab Operator C", key=ec_key()),
    )


def embed(
    issued: Issued,
    issuer: Issued,
    logs: Sequence[tuple[LabLog, dt.datetime]],
    *,
    forged: int = 0,
) -> Issued:
    """`issued` issued again as a public CA does it: the same fields and extensions, logged as
    a precertificate, with the logs' SCTs embedded. The last `forged` SCTs are signed by a
    stranger under the named log's id (they claim the log and fail its signature)."""
    cert = issued.cert

    def builder() -> x509.CertificateBuilder:
        b = (
            x509.CertificateBuilder()
            .subject_name(cert.subject)
            .issuer_name(cert.issuer)
            .public_key(issued.key.public_key())
            .serial_number(cert.serial_number)
            .not_valid_before(cert.not_valid_before_utc)
            .not_valid_after(cert.not_valid_after_utc)
        )
        for ext in cert.extensions:
            b = b.add_extension(ext.value, ext.critical)
        return b

    # RFC 6962 3.2: the logs sign the issuer key's hash and the TBS without poison or SCTs.
    tbs = builder().sign(issuer.key, hashes.SHA256()).tbs_certificate_bytes
    spki = issuer.cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    entry = hashlib.sha256(spki).digest() + len(tbs).to_bytes(3, "big") + tbs
    scts = []
    for i, (log, when) in enumerate(logs):
        forge = i >= len(logs) - forged
        signer = LabLog(description="forger", operator="forger", key=ec_key()) if forge else log
        raw = sct_bytes(signer, when, 1, entry)
        scts.append(raw[:1] + log.log_id + raw[33:] if forge else raw)
    final = builder().add_extension(
        x509.UnrecognizedExtension(SCT_LIST_OID, _octet_string(sct_list(scts))), critical=False
    )
    return Issued(final.sign(issuer.key, hashes.SHA256()), issued.key)
