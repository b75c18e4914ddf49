"""The lab's PKI factory: keys, names, CA and leaf certificates, CRLs, and the private CA
(`Pki`) every lab certificate chains to. Certificates are dated relative to an `as_of`."""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DAY = dt.timedelta(days=1)
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
# The lab's CAs by their `Pki` attribute, for tables that name an issuer.
CaName = Literal[
    "root",
    "intermediate",
    "expired_intermediate",
    "rogue_root",
    "new_root",
    "new_intermediate",
    "program_root",
    # Issue 21: a CA below the intermediate, one ending before its leaves, an expired
    # cross-sign of the intermediate (its name and key, by the newer root), an ACME CA.
    "sub_intermediate",
    "short_intermediate",
    "old_cross",
    "acme_intermediate",
]
# Where each CA publishes its CRL: `crl_base`/<slug>.crl.
CRL_SLUGS: dict[CaName, str] = {
    "root": "root",
    "intermediate": "intermediate",
    "expired_intermediate": "retired",
    "rogue_root": "rogue",
    "new_root": "new-root",
    "new_intermediate": "new-intermediate",
    "program_root": "program-root",
    "sub_intermediate": "sub",
    "short_intermediate": "short",
    "acme_intermediate": "acme",
}


class _Unset(enum.Enum):
    UNSET = enum.auto()


UNSET = _Unset.UNSET


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def rsa_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def name(cn: str, org: str = "Scanner Lab") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


@dataclass(frozen=True, slots=True)
class Issued:
    cert: x509.Certificate
    key: PrivateKey

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def make_ca(
    cn: str,
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    issuer: Issued | None = None,
    key: PrivateKey | None = None,
    aia_url: str | None = None,
    crl_url: str | None = None,
) -> Issued:
    """A CA certificate: self-signed root when `issuer` is None, else an intermediate."""
    key = key or ec_key()
    subject = name(cn)
    signer = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    if aia_url:
        builder = builder.add_extension(_aia(aia_url), critical=False)
    if crl_url:
        builder = builder.add_extension(crl_points(crl_url), critical=False)
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def _aia(url: str | None, ocsp_url: str | None = None) -> x509.AuthorityInformationAccess:
    oid = x509.oid.AuthorityInformationAccessOID
    return x509.AuthorityInformationAccess(
        [
            x509.AccessDescription(method, x509.UniformResourceIdentifier(u))
            for method, u in ((oid.CA_ISSUERS, url), (oid.OCSP, ocsp_url))
            if u
        ]
    )


def crl_points(url: str) -> x509.CRLDistributionPoints:
    """A CRL distribution point with one URL (RFC 5280 4.2.1.13)."""
    return x509.CRLDistributionPoints(
        [
            x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(url)],
                relative_name=None,
                reasons=None,
                crl_issuer=None,
            )
        ]
    )


def make_leaf(
    issuer: Issued | None,
    *,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    cn: str | None = None,
    not_before: dt.datetime,
    not_after: dt.datetime,
    key: PrivateKey | None = None,
    san: bool = True,
    aia_url: str | None = None,
    crl_url: str | None = None,
    ocsp_url: str | None = None,
    serial: int | None = None,
    must_staple: bool = False,
) -> Issued:
    """A server certificate. `issuer=None` makes it self-signed; `must_staple`: the TLS
    feature extension with status_request (RFC 7633)."""
    key = key or ec_key()
    subject = name(cn or (dns_names[0] if dns_names else "lab leaf"))
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number() if serial is None else serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                (issuer.key if issuer else key).public_key()
            ),
            critical=False,
        )
    )
    if san:
        general: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        general += [x509.IPAddress(ipaddress.ip_address(i)) for i in ip_addresses]
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    if aia_url or ocsp_url:
        builder = builder.add_extension(_aia(aia_url, ocsp_url), critical=False)
    if crl_url:
        builder = builder.add_extension(crl_points(crl_url), critical=False)
    if must_staple:
        builder = builder.add_extension(
            x509.TLSFeature([x509.TLSFeatureType.status_request]), critical=False
        )
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def rsa_hierarchy(ca_name: str, dns_name: str, as_of: dt.datetime) -> tuple[Issued, Issued]:
    """`rsa_ca` and an `rsa_leaf` for `dns_name` under it: the prober's tests, whose servers
    need RSA suites too."""
    ca = rsa_ca(ca_name, as_of)
    return ca, rsa_leaf(ca, dns_name, as_of)


def rsa_ca(name: str, as_of: dt.datetime) -> Issued:
    """An RSA-2048 root CA, 30 days before `as_of` to 365 after."""
    return make_ca(
        name,
        not_before=as_of - dt.timedelta(days=30),
        not_after=as_of + dt.timedelta(days=365),
        key=rsa_key(2048),
    )


def rsa_leaf(ca: Issued, dns_name: str, as_of: dt.datetime, *, must_staple: bool = False) -> Issued:
    """An RSA-2048 leaf for `dns_name` under `ca`, one day before `as_of` to 90 after."""
    return make_leaf(
        ca,
        dns_names=[dns_name],
        not_before=as_of - dt.timedelta(days=1),
        not_after=as_of + dt.timedelta(days=90),
        key=rsa_key(2048),
        must_staple=must_staple,
    )


def ca_ladder(
    top: Issued, n: int, cn: str, *, not_before: dt.datetime, not_after: dt.datetime
) -> list[Issued]:
    """`n` intermediates named `cn` 1..n, each issued by the one before, the first by `top`."""
    cas: list[Issued] = []
    issuer = top
    for i in range(n):
        issuer = make_ca(f"{cn} {i + 1}", issuer=issuer, not_before=not_before, not_after=not_after)
        cas.append(issuer)
    return cas


def huge_leaf(issuer: Issued, cn: str, size: int, *, as_of: dt.datetime) -> Issued:
    """A leaf carrying an unrecognised, non-critical extension of `size` zero bytes and
    nothing else: a certificate of about `size` bytes."""
    key = ec_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(as_of - DAY)
        .not_valid_after(as_of + 100 * DAY)
        .add_extension(
            x509.UnrecognizedExtension(
                x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x00" * size
            ),
            critical=False,
        )
        .sign(issuer.key, hashes.SHA256())
    )
    return Issued(cert, key)


@dataclass(frozen=True, slots=True)
class Pki:
    """The lab's private CA (root -> intermediate), a second root nobody trusts, and a newer
    root (-> intermediate) in the default store but not in the lab's `java` store."""

    as_of: dt.datetime
    root: Issued
    intermediate: Issued
    expired_intermediate: Issued
    rogue_root: Issued
    new_root: Issued
    new_intermediate: Issued
    # In the default store and the lab's root programs, which distrust its later leaves.
    program_root: Issued
    sub_intermediate: Issued
    short_intermediate: Issued
    old_cross: Issued
    acme_intermediate: Issued

    # Where each CA publishes its CRL (`crl_base` + CRL_FILES[slug]); certificates name their
    # issuer's CRL. None: no CRL distribution points at all.
    crl_base: str | None = None

    @classmethod
    def create(cls, as_of: dt.datetime, crl_base: str | None = None) -> Pki:
        def crl(slug: str) -> str | None:
            return f"{crl_base}/{slug}.crl" if crl_base else None

        root = make_ca(
            "Scanner Lab Root CA", not_before=as_of - 3650 * DAY, not_after=as_of + 3650 * DAY
        )
        new_root = make_ca(
            "Scanner Lab New Root CA", not_before=as_of - 300 * DAY, not_after=as_of + 3650 * DAY
        )
        intermediate = make_ca(
            "Scanner Lab Intermediate CA",
            issuer=root,
            key=rsa_key(2048),
            not_before=as_of - 1000 * DAY,
            not_after=as_of + 1000 * DAY,
            crl_url=crl("root"),
        )
        return cls(
            as_of=as_of,
            root=root,
            intermediate=intermediate,
            expired_intermediate=make_ca(
                "Scanner Lab Retired Intermediate CA",
                issuer=root,
                not_before=as_of - 1000 * DAY,
                not_after=as_of - 5 * DAY,
                crl_url=crl("root"),
            ),
            rogue_root=make_ca(
                "Untrusted Root CA", not_before=as_of - 3650 * DAY, not_after=as_of + 3650 * DAY
            ),
            new_root=new_root,
            new_intermediate=make_ca(
                "Scanner Lab New Intermediate CA",
                issuer=new_root,
                not_before=as_of - 300 * DAY,
                not_after=as_of + 1000 * DAY,
                crl_url=crl("new-root"),
            ),
            program_root=make_ca(
                "Scanner Lab Program Root CA",
                not_before=as_of - 3650 * DAY,
                not_after=as_of + 3650 * DAY,
            ),
            sub_intermediate=make_ca(
                "Scanner Lab Sub CA",
                issuer=intermediate,
                not_before=as_of - 300 * DAY,
                not_after=as_of + 900 * DAY,
                crl_url=crl("intermediate"),
            ),
            short_intermediate=make_ca(
                "Scanner Lab Ending Intermediate CA",
                issuer=root,
                not_before=as_of - 300 * DAY,
                not_after=as_of + 100 * DAY,
                crl_url=crl("root"),
            ),
            old_cross=make_ca(
                "Scanner Lab Intermediate CA",
                issuer=new_root,
                key=intermediate.key,
                not_before=as_of - 1000 * DAY,
                not_after=as_of - 20 * DAY,
                crl_url=crl("new-root"),
            ),
            acme_intermediate=make_ca(
                "Scanner Lab ACME CA",
                issuer=root,
                not_before=as_of - 300 * DAY,
                not_after=as_of + 1000 * DAY,
                crl_url=crl("root"),
            ),
            crl_base=crl_base,
        )

    def ca(self, which: CaName) -> Issued:
        issued: Issued = getattr(self, which)
        return issued

    def crl_url(self, issuer: Issued) -> str | None:
        """Where `issuer` publishes its CRL in the lab (None without `crl_base`)."""
        if self.crl_base is None:
            return None
        for which, slug in CRL_SLUGS.items():
            if self.ca(which) is issuer:
                return f"{self.crl_base}/{slug}.crl"
        return None

    def leaf(
        self,
        dns_names: Sequence[str] = (),
        *,
        issuer: Issued | None | _Unset = UNSET,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        crl_url: str | None | _Unset = UNSET,
        ocsp_url: str | None | _Unset = UNSET,
        ip_addresses: Sequence[str] = (),
        cn: str | None = None,
        key: PrivateKey | None = None,
        san: bool = True,
        aia_url: str | None = None,
        serial: int | None = None,
        must_staple: bool = False,
    ) -> Issued:
        """A leaf valid from 30 days before as-of to 160 after (190 days, within the 200 of
        CA/B ballot SC-081), issued by the intermediate
        (`issuer=None`: self-signed) and naming its issuer's CRL unless given `crl_url` or
        `ocsp_url`."""
        signer = self.intermediate if issuer is UNSET else issuer
        if crl_url is UNSET:
            crl_url = None if ocsp_url is not UNSET or signer is None else self.crl_url(signer)
        return make_leaf(
            signer,
            dns_names=dns_names,
            ip_addresses=ip_addresses,
            cn=cn,
            not_before=self.as_of - 30 * DAY if not_before is None else not_before,
            not_after=self.as_of + 160 * DAY if not_after is None else not_after,
            key=key,
            san=san,
            aia_url=aia_url,
            crl_url=crl_url,
            ocsp_url=None if ocsp_url is UNSET else ocsp_url,
            serial=serial,
            must_staple=must_staple,
        )

    def crl(
        self,
        issuer: Issued,
        revoked: Sequence[tuple[int, dt.datetime, x509.ReasonFlags]] = (),
        *,
        this_update: dt.datetime | None = None,
        next_update: dt.datetime | None = None,
        signer: PrivateKey | None = None,
    ) -> x509.CertificateRevocationList:
        """`issuer`'s CRL listing `revoked` (serial, time, reason). The lab's CRLs are current
        for ten years either side of as-of, so scans at other instants still find them current."""
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer.cert.subject)
            .last_update(this_update or self.as_of - 3650 * DAY)
            .next_update(next_update or self.as_of + 3650 * DAY)
            .add_extension(x509.CRLNumber(1), critical=False)
        )
        for serial, when, reason in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(when)
                .add_extension(x509.CRLReason(reason), critical=False)
                .build()
            )
        return builder.sign(signer or issuer.key, hashes.SHA256())
