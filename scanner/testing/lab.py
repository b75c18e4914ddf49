"""A local lab: a private PKI and TLS servers with known faults on 127.0.0.1, ephemeral ports,
plus an AIA web server and a DNS server, for `scanner demo` and the tests.

Everything runs on one asyncio loop in a background thread; `Lab.start()` is a context
manager that tears it all down. Certificates are dated relative to the `as_of` it is given.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import csv
import dataclasses
import datetime as dt
import ipaddress
import logging
import socket
import ssl
import tempfile
import threading
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from scanner.model.types import StartTls
from scanner.testing import starttls as lab_starttls

DAY = dt.timedelta(days=1)
LOOPBACK = "127.0.0.1"
# The one address that is never on loopback: TCP to a multicast group fails locally with
# ENETUNREACH before any packet leaves, which is how the lab shows `unreachable`.
UNREACHABLE_IP = "224.0.0.1"
JAVA_STORE = "java"  # the lab's named trust store: an older client's roots
TLS = ssl.TLSVersion

_log = logging.getLogger(__name__)
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


# --- PKI ----------------------------------------------------------------------------------


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
) -> Issued:
    """A server certificate. `issuer=None` makes it self-signed."""
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
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


_SHA256_RSA = bytes.fromhex("06092a864886f70d01010b")
_SHA1_RSA = bytes.fromhex("06092a864886f70d010105")
_MD5_RSA = bytes.fromhex("06092a864886f70d010104")


def resign_sha1(issued: Issued, issuer: Issued) -> Issued:
    """The same certificate signed with SHA-1, which cryptography refuses to produce: swap the
    signature algorithm OID (same length) in the TBS and outside it, then sign the new TBS."""
    return _resign(issued, issuer, _SHA1_RSA, hashes.SHA1())  # noqa: S303


def resign_md5(issued: Issued, issuer: Issued) -> Issued:
    """The same certificate signed with MD5 (md5WithRSAEncryption), as `resign_sha1`."""
    return _resign(issued, issuer, _MD5_RSA, hashes.MD5())  # noqa: S303


def _resign(issued: Issued, issuer: Issued, oid: bytes, algorithm: hashes.HashAlgorithm) -> Issued:
    assert isinstance(issuer.key, rsa.RSAPrivateKey), "re-signing needs an RSA issuer"
    der = issued.der
    assert der.count(_SHA256_RSA) == 2, "expected a sha256WithRSAEncryption certificate"
    patched = der.replace(_SHA256_RSA, oid)
    tbs = issued.cert.tbs_certificate_bytes.replace(_SHA256_RSA, oid)
    signature = issuer.key.sign(tbs, padding.PKCS1v15(), algorithm)
    old = issued.cert.signature
    assert len(signature) == len(old) and patched.endswith(old)
    return Issued(x509.load_der_x509_certificate(patched[: -len(old)] + signature), issued.key)


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
        return cls(
            as_of=as_of,
            root=root,
            intermediate=make_ca(
                "Scanner Lab Intermediate CA",
                issuer=root,
                key=rsa_key(2048),
                not_before=as_of - 1000 * DAY,
                not_after=as_of + 1000 * DAY,
                crl_url=crl("root"),
            ),
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
            crl_base=crl_base,
        )

    def crl_url(self, issuer: Issued) -> str | None:
        """Where `issuer` publishes its CRL in the lab (None without `crl_base`)."""
        if self.crl_base is None:
            return None
        slug = {
            id(self.root): "root",
            id(self.intermediate): "intermediate",
            id(self.expired_intermediate): "retired",
            id(self.rogue_root): "rogue",
            id(self.new_root): "new-root",
            id(self.new_intermediate): "new-intermediate",
        }.get(id(issuer))
        return f"{self.crl_base}/{slug}.crl" if slug else None

    def leaf(self, dns_names: Sequence[str] = (), **kw: Any) -> Issued:
        kw.setdefault("not_before", self.as_of - 30 * DAY)
        kw.setdefault("not_after", self.as_of + 200 * DAY)
        issuer = kw.pop("issuer", self.intermediate)
        if "ocsp_url" not in kw:
            kw.setdefault("crl_url", self.crl_url(issuer))
        return make_leaf(issuer, dns_names=dns_names, **kw)

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


# --- servers ------------------------------------------------------------------------------

# What a lab server speaks unless told otherwise: TLS 1.2 and 1.3, forward secrecy only. The
# scenarios' tls1_0, tls1_1, tls1_2, tls1_3, forward_secrecy_only under --protocols.
MODERN = (False, False, True, True, True)
# Findings that leave the default store's verdict `trusted`.
_STILL_TRUSTED = frozenset(
    {
        "expiring_soon",
        "not_trusted_by",
        "legacy_protocol",
        "no_modern_protocol",
        "no_tls13",
        "rsa_key_exchange",
    }
)
# The grade of each answering scenario under the lab's scan options, by the caps of the rating
# (worst wins: T/M, F, C, B, A-), applied by hand: T not trusted, M name mismatch, F MD5, C no
# TLS 1.2 or 1.3, B legacy versions, incomplete chain, weak key, static RSA, A- no TLS 1.3.
GRADES = {
    "valid": "A",
    "revoked": "T",  # SSL Labs: revoked is not trusted
    "expired": "T",
    "not_yet_valid": "T",
    "expiring_soon": "A",
    "wrong_host": "M",
    "www_vs_apex": "M",
    "wildcard": "A",
    "wildcard_apex": "M",
    "wildcard_deep": "M",
    "no_san": "M",
    "self_signed": "T",
    "untrusted_root": "T",
    "incomplete_chain": "B",
    "issuer_not_found": "T",
    "weak_key": "B",  # RSA 1024: under 2048 (B), not under 1024 (F)
    "weak_signature": "T",  # SHA-1: not trusted
    "intermediate_expired": "T",
    "ip_san": "A",
    "ip_as_dns_name": "M",
    "tls1_0_only": "C",
    "tls1_1_only": "C",
    "static_rsa": "B",
    "tls1_2_only": "A-",
    "md5_signature": "F",
    "one_store": "A",  # the grade is the default store's
    "resolved_by_dns": "A",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """One lab host and what a correct scan says about it."""

    name: str
    host: str
    port: int
    ip: str | None
    findings: frozenset[str] = frozenset()
    error: str | None = None
    trusted: bool | None = None
    owner: str = "platform"
    note: str = ""
    # With the lab's scan options (--protocols, --trust-store java=...): the expected grade,
    # stores that trust the chain, and tls1_0..tls1_3 then forward_secrecy_only.
    grade: str | None = None
    trusted_by: tuple[str, ...] = ()
    protocols: tuple[bool | None, ...] = (None, None, None, None, None)
    starttls: str = ""  # the row's `starttls` cell
    # The name's addresses when it has several (`--addresses all` scans each as its own row),
    # with the findings of each address's row.
    addresses: tuple[str, ...] = ()


def server_context(chain_pem: bytes, key: PrivateKey, tmp: Path) -> ssl.SSLContext:
    """A server context sending the PEM certificates of `chain_pem` (leaf first) exactly;
    security level 0 so that the lab can serve weak keys and SHA-1 signatures."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    stem = tmp / f"chain-{uuid.uuid4().hex}"
    cert_file, key_file = stem.with_suffix(".crt"), stem.with_suffix(".key")
    cert_file.write_bytes(chain_pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _hold_open(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Keep the connection until the client goes away (TLS servers after the handshake, and
    the server that never speaks)."""
    try:
        while await reader.read(65536):
            pass
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        writer.close()


def _tls_handler(ctx: ssl.SSLContext) -> Handler:
    """TLS from the first byte with `ctx`, on a plain listener (for several per port)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await writer.start_tls(ctx, ssl_handshake_timeout=30)
            while await reader.read(65536):
                pass
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            writer.close()

    return handler


def _reply_then_close(payload: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read(1024)
            writer.write(payload)
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    return handler


class _DnsProtocol(asyncio.DatagramProtocol):
    """A tiny authoritative server: A and AAAA records from a table (one address or several
    per name), NXDOMAIN for anything else."""

    def __init__(self, records: dict[str, Any], log: list[tuple[str, str]]) -> None:
        self.records = records
        self.transport: Any = None
        self.log = log  # (name, type) of every question, for tests

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            query = dns.message.from_wire(data)
            question = query.question[0]
        except Exception:  # noqa: BLE001 - garbage in: no answer, like a real server
            return
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        qname = question.name.to_text(omit_final_dot=True).lower()
        self.log.append((qname, dns.rdatatype.to_text(question.rdtype)))
        value = self.records.get(qname)
        if value is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        else:
            addresses = [value] if isinstance(value, str) else list(value)
            rdtype = {dns.rdatatype.A: ("A", 4), dns.rdatatype.AAAA: ("AAAA", 6)}.get(
                question.rdtype
            )
            wanted = [
                a for a in addresses if rdtype and ipaddress.ip_address(a).version == rdtype[1]
            ]
            if wanted and rdtype:
                response.answer.append(
                    dns.rrset.from_text_list(question.name, 60, "IN", rdtype[0], wanted)
                )
        self.transport.sendto(response.to_wire(), addr)


@dataclass
class _Loop:
    """One asyncio loop in a daemon thread, serving on 127.0.0.1 (the lab's and hostile's)."""

    name: str = "lab"
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    thread: threading.Thread | None = None
    servers: list[asyncio.AbstractServer] = field(default_factory=list)
    transports: list[asyncio.BaseTransport] = field(default_factory=list)

    def start(self) -> None:
        # Faulty peers are the point of the lab: their errors are logged at debug level only.
        self.loop.set_exception_handler(lambda _loop, ctx: _log.debug("%s: %s", self.name, ctx))
        self.thread = threading.Thread(target=self.loop.run_forever, name=self.name, daemon=True)
        self.thread.start()

    def run(self, coro: Awaitable[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)  # type: ignore[arg-type]

    async def serve(
        self,
        handler: Handler,
        ctx: ssl.SSLContext | None = None,
        *,
        host: str = LOOPBACK,
        port: int = 0,
    ) -> int:
        server = await asyncio.start_server(
            handler,
            host,
            port,
            ssl=ctx,
            ssl_handshake_timeout=30 if ctx else None,
            backlog=2048,  # hundreds of scanner connections arrive at once
        )
        self.servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def serve_dns(self, records: dict[str, Any], log: list[tuple[str, str]]) -> int:
        transport, _ = await self.loop.create_datagram_endpoint(
            lambda: _DnsProtocol(records, log), local_addr=(LOOPBACK, 0)
        )
        self.transports.append(transport)
        return int(transport.get_extra_info("sockname")[1])

    async def _close(self) -> None:
        for s in self.servers:
            s.close()
        for transport in self.transports:
            transport.close()
        # Connections still held by handlers (a silent server's peer that never hung up).
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for s in self.servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(s.wait_closed(), 2)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.run(self._close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        if self.thread:
            self.thread.join(5)
        self.loop.close()


# Sockets bound and never listening, kept for the life of the process: their ports refuse
# connections, and no server started later on port 0 can be given one of them.
_PARKED: list[socket.socket] = []


@atexit.register
def _close_parked() -> None:
    for s in _PARKED:
        s.close()


def free_port() -> int:
    """A loopback port where nothing listens and nothing will (connections are refused)."""
    s = socket.socket()
    s.bind((LOOPBACK, 0))
    _PARKED.append(s)
    return int(s.getsockname()[1])


def _http_handler(files: dict[str, bytes]) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            path = request.split(b" ", 2)[1].decode("ascii", "replace")
            body = files.get(path)
            if body is None:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            else:
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/pkix-cert\r\n"
                    + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )
            await writer.drain()
        except (ConnectionError, OSError, asyncio.IncompleteReadError, IndexError):
            pass
        finally:
            writer.close()

    return handler


class Lab:
    """The running lab: `scenarios`, the CA to trust, and the DNS server's address."""

    def __init__(self, as_of: dt.datetime, timeout: float) -> None:
        self.as_of = as_of
        self.timeout = timeout
        self.pki: Pki  # created once the CRL server has its port
        self.scenarios: list[Scenario] = []
        self.revoked_at: dt.datetime | None = None  # when the `revoked` leaf was revoked
        self.dns_address: tuple[str, int] = (LOOPBACK, 0)
        # name -> its address, or several (A and AAAA records the lab's DNS server answers)
        self.dns_records: dict[str, str | tuple[str, ...]] = {}
        self.dns_queries: list[tuple[str, str]] = []  # (name, type) the DNS server was asked
        self._loop = _Loop()
        self._tmp = tempfile.TemporaryDirectory(prefix="scanner-lab-")

    @classmethod
    @contextlib.contextmanager
    def start(cls, as_of: dt.datetime, timeout: float = 2.0) -> Iterator[Lab]:
        lab = cls(as_of, timeout)
        lab._loop.start()
        try:
            lab._loop.run(lab._build())
            yield lab
        finally:
            lab._loop.stop()
            lab._tmp.cleanup()

    @property
    def ca_pem(self) -> bytes:
        """The default store of lab scans: the lab root and the newer root."""
        return self.pki.root.pem + self.pki.new_root.pem

    @property
    def store_pems(self) -> dict[str, bytes]:
        """The named stores of lab scans (--trust-store): `java` lacks the newer root."""
        return {JAVA_STORE: self.pki.root.pem}

    def scenario(self, name: str) -> Scenario:
        for s in self.scenarios:
            if s.name == name:
                return s
        raise KeyError(name)

    async def tls(
        self,
        chain: Sequence[Issued],
        key: PrivateKey | None = None,
        *,
        versions: tuple[ssl.TLSVersion, ssl.TLSVersion] | None = None,
        static_rsa: bool = False,
    ) -> int:
        """A TLS server sending `chain`: TLS 1.2 and 1.3 unless `versions` (min, max) says
        otherwise; static-RSA key exchange only when asked (an RSA leaf could do it)."""
        ctx = server_context(
            b"".join(c.pem for c in chain), key or chain[0].key, Path(self._tmp.name)
        )
        ctx.set_ciphers("ALL:@SECLEVEL=0" if static_rsa else "ALL:!kRSA:@SECLEVEL=0")
        if versions is not None:
            with warnings.catch_warnings():  # TLS 1.0/1.1 bounds are deprecated in Python
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version, ctx.maximum_version = versions
        return await self._loop.serve(_hold_open, ctx)

    def serve_chain(self, chain: Sequence[Issued], key: PrivateKey | None = None) -> int:
        """Another TLS server on 127.0.0.1 sending `chain` exactly (for tests); its port."""
        return int(self._loop.run(self.tls(chain, key)))

    def context(self, chain: Sequence[Issued]) -> ssl.SSLContext:
        return server_context(b"".join(c.pem for c in chain), chain[0].key, Path(self._tmp.name))

    def serve_handler(self, handler: Handler, *, host: str = LOOPBACK, port: int = 0) -> int:
        """Another server on `host` running `handler` per connection (for tests); its port."""
        return int(self._loop.run(self._loop.serve(handler, host=host, port=port)))

    def serve_starttls(
        self,
        protocol: StartTls,
        chain: Sequence[Issued],
        upgrade: lab_starttls.Upgrade = lab_starttls.AGREES,
        *,
        host: str = LOOPBACK,
        port: int = 0,
    ) -> int:
        """A server speaking `protocol` that upgrades to TLS sending `chain`; its port."""
        return self.serve_handler(
            lab_starttls.server(protocol, self.context(chain), upgrade), host=host, port=port
        )

    def serve_same_port(self, handlers: Sequence[tuple[str, Handler]]) -> int:
        """`same_port` from outside the lab's loop (for tests and the bench)."""
        return int(self._loop.run(self.same_port(handlers)))

    async def same_port(self, handlers: Sequence[tuple[str, Handler]]) -> int:
        """Servers on one port of several loopback addresses (a name's backends): the first
        on a port the system picks, the others on that port."""
        (first_host, first), rest = handlers[0], handlers[1:]
        for _ in range(20):
            started = len(self._loop.servers)
            port = await self._loop.serve(first, host=first_host)
            try:
                for host, handler in rest:
                    await self._loop.serve(handler, host=host, port=port)
            except OSError:  # taken on another address: close these and try another port
                for server in self._loop.servers[started:]:
                    server.close()
                del self._loop.servers[started:]
                continue
            return port
        raise OSError("no port free on every address")

    async def _build(self) -> None:
        a = self.as_of
        add = self.scenarios.append
        loop = self._loop

        # One web server for caIssuers and the CAs' CRLs (every lab certificate names its
        # issuer's CRL, RFC 5280 4.2.1.13); the files are filled in once the PKI exists.
        web: dict[str, bytes] = {}
        web_port = await loop.serve(_http_handler(web))
        base = f"http://{LOOPBACK}:{web_port}"
        self.pki = pki = Pki.create(a, crl_base=f"{base}/crl")
        inter = pki.intermediate
        web["/intermediate.der"] = inter.der
        aia_url = f"{base}/intermediate.der"
        revoked = pki.leaf(["revoked.lab.test"])
        self.revoked_at = a - 2 * DAY
        for issuer, listed in (
            (pki.root, ()),
            (
                inter,
                [(revoked.cert.serial_number, self.revoked_at, x509.ReasonFlags.key_compromise)],
            ),
            (pki.expired_intermediate, ()),
            (pki.rogue_root, ()),
            (pki.new_root, ()),
            (pki.new_intermediate, ()),
        ):
            url = pki.crl_url(issuer)
            assert url is not None
            web[url.removeprefix(base)] = pki.crl(issuer, listed).public_bytes(
                serialization.Encoding.DER
            )

        async def host(
            scenario: str,
            hostname: str,
            chain: Sequence[Issued],
            findings: Sequence[str] = (),
            *,
            ip: str | None = LOOPBACK,
            owner: str = "platform",
            note: str = "",
            versions: tuple[ssl.TLSVersion, ssl.TLSVersion] | None = None,
            static_rsa: bool = False,
            protocols: tuple[bool | None, ...] = MODERN,
        ) -> None:
            port = await self.tls(chain, versions=versions, static_rsa=static_rsa)
            trusted = not any(f not in _STILL_TRUSTED for f in findings)
            stores = ("default", JAVA_STORE) if "not_trusted_by" not in findings else ("default",)
            add(
                Scenario(
                    name=scenario,
                    host=hostname,
                    port=port,
                    ip=ip,
                    findings=frozenset(findings),
                    trusted=trusted,
                    owner=owner,
                    note=note,
                    grade=GRADES[scenario],
                    trusted_by=stores if trusted else (),
                    protocols=protocols,
                )
            )

        good = pki.leaf(["valid.lab.test"])
        await host("valid", "valid.lab.test", [good, inter], note="trusted chain")
        await host(
            "revoked",
            "revoked.lab.test",
            [revoked, inter],
            ["revoked"],
            note="on its CA's CRL (keyCompromise)",
        )
        await host(
            "expired",
            "expired.lab.test",
            [
                pki.leaf(["expired.lab.test"], not_before=a - 100 * DAY, not_after=a - 10 * DAY),
                inter,
            ],
            ["expired"],
            owner="payments",
        )
        await host(
            "not_yet_valid",
            "future.lab.test",
            [pki.leaf(["future.lab.test"], not_before=a + 2 * DAY, not_after=a + 300 * DAY), inter],
            ["not_yet_valid"],
        )
        await host(
            "expiring_soon",
            "soon.lab.test",
            [pki.leaf(["soon.lab.test"], not_after=a + 10 * DAY), inter],
            ["expiring_soon"],
            owner="00123",
        )
        await host(
            "wrong_host",
            "wrong.lab.test",
            [pki.leaf(["other.lab.test"]), inter],
            ["hostname_mismatch"],
        )
        await host(
            "www_vs_apex",
            "www.shop.lab.test",
            [pki.leaf(["shop.lab.test"]), inter],
            ["hostname_mismatch"],
            owner='=HYPERLINK("http://example.invalid","click")',
        )
        wildcard = [pki.leaf(["*.wild.lab.test"]), inter]
        await host("wildcard", "api.wild.lab.test", wildcard, note="one label under *")
        await host(
            "wildcard_apex",
            "wild.lab.test",
            wildcard,
            ["hostname_mismatch"],
            note="* never covers the parent",
        )
        await host(
            "wildcard_deep",
            "a.b.wild.lab.test",
            wildcard,
            ["hostname_mismatch"],
            note="* covers exactly one label",
        )
        await host(
            "no_san",
            "nosan.lab.test",
            [pki.leaf(cn="nosan.lab.test", san=False), inter],
            ["no_san"],
            note="CN only",
        )
        self_signed = make_leaf(
            None, dns_names=["selfsigned.lab.test"], not_before=a - DAY, not_after=a + 300 * DAY
        )
        await host("self_signed", "selfsigned.lab.test", [self_signed], ["self_signed"])
        await host(
            "untrusted_root",
            "untrusted.lab.test",
            [pki.leaf(["untrusted.lab.test"], issuer=pki.rogue_root), pki.rogue_root],
            ["untrusted_root"],
        )
        await host(
            "incomplete_chain",
            "incomplete.lab.test",
            [pki.leaf(["incomplete.lab.test"], aia_url=aia_url)],
            ["incomplete_chain"],
            note="intermediate only via AIA",
        )
        await host(
            "issuer_not_found",
            "orphan.lab.test",
            [pki.leaf(["orphan.lab.test"])],
            ["issuer_not_found"],
            note="intermediate missing, no AIA",
        )
        await host(
            "weak_key",
            "weakkey.lab.test",
            [pki.leaf(["weakkey.lab.test"], key=rsa_key(1024)), inter],
            ["weak_key"],
        )
        await host(
            "weak_signature",
            "sha1.lab.test",
            [resign_sha1(pki.leaf(["sha1.lab.test"]), inter), inter],
            ["weak_signature"],
        )
        await host(
            "intermediate_expired",
            "oldchain.lab.test",
            [
                pki.leaf(["oldchain.lab.test"], issuer=pki.expired_intermediate),
                pki.expired_intermediate,
            ],
            ["intermediate_expired"],
        )
        await host(
            "ip_san",
            LOOPBACK,
            [pki.leaf(ip_addresses=[LOOPBACK], cn=LOOPBACK), inter],
            ip=None,
            note="IP literal matched by an iPAddress SAN",
        )
        await host(
            "ip_as_dns_name",
            LOOPBACK,
            [pki.leaf([LOOPBACK]), inter],
            ["hostname_mismatch"],
            ip=None,
            note="an IP written as a dNSName does not count",
        )
        # As each client sees it: protocol versions and a second trust store.
        await host(
            "tls1_0_only",
            "tls10.lab.test",
            [pki.leaf(["tls10.lab.test"]), inter],
            ["legacy_protocol", "no_modern_protocol", "no_tls13"],
            versions=(TLS.TLSv1, TLS.TLSv1),
            protocols=(True, False, False, False, True),
            note="TLS 1.0 only",
        )
        await host(
            "tls1_1_only",
            "tls11.lab.test",
            [pki.leaf(["tls11.lab.test"]), inter],
            ["legacy_protocol", "no_modern_protocol", "no_tls13"],
            versions=(TLS.TLSv1_1, TLS.TLSv1_1),
            protocols=(False, True, False, False, True),
            note="TLS 1.1 only",
        )
        await host(
            "static_rsa",
            "rsa.lab.test",
            [pki.leaf(["rsa.lab.test"], key=rsa_key(2048)), inter],
            ["no_tls13", "rsa_key_exchange"],
            versions=(TLS.TLSv1_2, TLS.TLSv1_2),
            static_rsa=True,
            protocols=(False, False, True, False, False),
            note="TLS 1.2 only, static RSA key exchange allowed",
        )
        await host(
            "tls1_2_only",
            "tls12.lab.test",
            [pki.leaf(["tls12.lab.test"]), inter],
            ["no_tls13"],
            versions=(TLS.TLSv1_2, TLS.TLSv1_2),
            protocols=(False, False, True, False, True),
            note="TLS 1.2 only, forward secrecy only",
        )
        await host(
            "md5_signature",
            "md5.lab.test",
            [resign_md5(pki.leaf(["md5.lab.test"]), inter), inter],
            ["weak_signature"],
            note="leaf signed with MD5",
        )
        await host(
            "one_store",
            "newroot.lab.test",
            [pki.leaf(["newroot.lab.test"], issuer=pki.new_intermediate), pki.new_intermediate],
            ["not_trusted_by"],
            note="under a root the java store lacks",
        )
        self.dns_records["dns.lab.test"] = LOOPBACK
        dns_port = await loop.serve_dns(self.dns_records, self.dns_queries)
        self.dns_address = (LOOPBACK, dns_port)
        await host(
            "resolved_by_dns",
            "dns.lab.test",
            [pki.leaf(["dns.lab.test"]), inter],
            ip=None,
            note="no ip column: resolved by the lab's DNS server",
        )

        mail_port = await loop.serve(
            lab_starttls.server(StartTls.SMTP, self.context([pki.leaf(["mail.lab.test"]), inter]))
        )
        add(
            Scenario(
                name="starttls_smtp",
                host="mail.lab.test",
                port=mail_port,
                ip=LOOPBACK,
                trusted=True,
                starttls="smtp",
                note="SMTP upgraded by STARTTLS (RFC 3207)",
                grade="A",  # on the certificate alone: --protocols does not probe STARTTLS
                trusted_by=("default", JAVA_STORE),
                protocols=(None, None, None, None, None),
            )
        )
        # Round-robin DNS over three backends of which one still serves an older certificate.
        current = self.context([pki.leaf(["pool.lab.test"]), inter])
        stale = self.context([pki.leaf(["pool.lab.test"], not_after=a + 100 * DAY), inter])
        backends = {"127.0.0.1": current, "127.0.0.2": current, "127.0.0.3": stale}
        pool_port = await self.same_port(
            [(ip_, _tls_handler(ctx)) for ip_, ctx in backends.items()]
        )
        self.dns_records["pool.lab.test"] = tuple(backends)
        add(
            Scenario(
                name="inconsistent_backends",
                host="pool.lab.test",
                port=pool_port,
                ip=None,
                findings=frozenset({"inconsistent_backends"}),
                trusted=True,
                addresses=tuple(backends),
                note="127.0.0.3 serves another certificate",
                grade="A",
                trusted_by=("default", JAVA_STORE),
                protocols=MODERN,
            )
        )

        def failing(name_: str, hostname: str, port: int, error: str, ip: str | None) -> None:
            add(Scenario(name=name_, host=hostname, port=port, ip=ip, error=error))

        failing("refused", "refused.lab.test", free_port(), "refused", LOOPBACK)
        failing("timeout", "silent.lab.test", await loop.serve(_hold_open), "timeout", LOOPBACK)
        failing(
            "not_tls",
            "http.lab.test",
            await loop.serve(_reply_then_close(b"HTTP/1.1 400 Bad Request\r\n\r\n")),
            "tls",
            LOOPBACK,
        )
        failing(
            "starttls_not_offered",
            "relay.lab.test",
            await loop.serve(
                lab_starttls.server(
                    StartTls.SMTP, self.context([good, inter]), lab_starttls.Upgrade(offer=False)
                )
            ),
            "starttls",
            LOOPBACK,
        )
        self.scenarios[-1] = dataclasses.replace(self.scenarios[-1], starttls="smtp")
        failing("dns", "missing.lab.test", 443, "dns", None)
        failing("unreachable", "unreachable.lab.test", 443, "unreachable", UNREACHABLE_IP)

    def rows(self) -> list[dict[str, str]]:
        """The lab as input rows, with two deliberately invalid ones at the end."""
        out = [
            {
                "host": s.host,
                "port": str(s.port),
                "ip": s.ip or "",
                "owner": s.owner,
                "scenario": s.name,
                "starttls": s.starttls,
            }
            for s in self.scenarios
        ]
        out.append(
            {
                "host": "bad host!",
                "port": "443",
                "ip": "",
                "owner": "platform",
                "scenario": "invalid_host",
                "starttls": "",
            }
        )
        out.append(
            {
                "host": "valid.lab.test",
                "port": "70000",
                "ip": LOOPBACK,
                "owner": "platform",
                "scenario": "invalid_port",
                "starttls": "",
            }
        )
        return out

    def write_stores(self, folder: Path) -> tuple[tuple[str, Path], ...]:
        """The named stores as PEM files beside the inputs: (name, path) for --trust-store."""
        folder.mkdir(parents=True, exist_ok=True)
        out = []
        for store, pem in self.store_pems.items():
            path = folder / f"demo-store-{store}.pem"
            path.write_bytes(pem)
            out.append((store, path))
        return tuple(out)

    def write_inputs(self, folder: Path) -> tuple[Path, Path]:
        """inputs/demo.csv and the lab's root CAs as a PEM bundle, for a scan with --ca-bundle
        (and the named stores, `write_stores`)."""
        self.write_stores(folder)
        csv_path, ca_path = folder / "demo.csv", folder / "demo-ca.pem"
        with open(csv_path, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(
                f, fieldnames=["host", "port", "ip", "owner", "scenario", "starttls"]
            )
            w.writeheader()
            w.writerows(self.rows())
        ca_path.write_bytes(self.ca_pem)
        return csv_path, ca_path


def patch_and_resign(issued: Issued, issuer: Issued, old: bytes, new: bytes) -> Issued:
    """The same certificate with `old` bytes of its TBS replaced by `new` (same length) and
    signed again by `issuer` (RSA): for fields cryptography refuses to produce, such as a
    validity in year 0."""
    assert isinstance(issuer.key, rsa.RSAPrivateKey), "re-signing needs an RSA issuer"
    assert len(old) == len(new)
    tbs = issued.cert.tbs_certificate_bytes
    assert tbs.count(old) == 1, "the bytes to patch must appear once in the TBS"
    patched_tbs = tbs.replace(old, new)
    signature = issuer.key.sign(patched_tbs, padding.PKCS1v15(), hashes.SHA256())
    der = issued.der
    assert len(signature) == len(issued.cert.signature) and der.endswith(issued.cert.signature)
    body = der[: -len(signature)].replace(tbs, patched_tbs)
    return Issued(x509.load_der_x509_certificate(body + signature), issued.key)


def year_zero_leaf(pki: Pki, dns_name: str) -> Issued:
    """A leaf whose notBefore is 0000-01-01 (GeneralizedTime), as in BoringSSL's test data:
    valid DER that Python's datetime cannot hold."""
    leaf = pki.leaf(
        [dns_name],
        not_before=dt.datetime(2099, 1, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2100, 1, 1, tzinfo=dt.UTC),
    )
    return patch_and_resign(leaf, pki.intermediate, b"20990101000000Z", b"00000101000000Z")
