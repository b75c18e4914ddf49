"""A local lab: a private PKI and TLS servers with known faults on 127.0.0.1, ephemeral ports,
plus an AIA web server and a DNS server, for `scanner demo` and the tests.

Everything runs on one asyncio loop in a background thread; `Lab.start()` is a context
manager that tears it all down. Certificates are dated relative to the `as_of` it is given.
The hosts are the rows of `scenarios.SCENARIOS`; certificates come from `pki`, servers from
`servers`. The names those modules export are re-exported here for the tests and the bench.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import ssl
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import assert_never

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from scanner.model.types import StartTls
from scanner.testing import ctlab, programlab
from scanner.testing import starttls as lab_starttls
from scanner.testing.arilab import AriServer
from scanner.testing.browser_rows import PROGRAM_CUTOFF_DAYS, PROGRAMS
from scanner.testing.der import patch_and_resign, resign_md5, resign_sha1, year_zero_leaf
from scanner.testing.fronts import legacy_front, one_segment_front
from scanner.testing.legacy_peer import LegacyPolicy
from scanner.testing.pki import (
    CRL_SLUGS,
    DAY,
    CaName,
    Issued,
    Pki,
    PrivateKey,
    crl_points,
    ec_key,
    make_ca,
    make_leaf,
    name,
    rsa_key,
)
from scanner.testing.scenarios import (
    GRADES,
    INPUT_COLUMNS,
    INVALID_ROWS,
    JAVA_STORE,
    LAB_CAA_ID,
    MODERN,
    REVOKED_DAYS_AGO,
    SCENARIOS,
    STILL_TRUSTED,
    TLS,
    VALID,
    Failing,
    Fault,
    Host,
    Leaf,
    Pool,
    Row,
    Scenario,
    StartTlsHost,
)
from scanner.testing.servers import (
    LOOPBACK,
    UNREACHABLE_IP,
    Handler,
    Loop,
    free_port,
    hold_open,
    http_handler,
    reply_then_close,
    server_context,
    tls_context,
    tls_handler,
)
from scanner.x509.ari import cert_identifier as ari_identifier

# The names of the servers' module as they were before the lab was split into modules.
_Loop = Loop
_hold_open = hold_open
_tls_handler = tls_handler
_STILL_TRUSTED = STILL_TRUSTED

__all__ = [
    "DAY",
    "GRADES",
    "JAVA_STORE",
    "LOOPBACK",
    "MODERN",
    "TLS",
    "UNREACHABLE_IP",
    "Handler",
    "Issued",
    "Lab",
    "Pki",
    "PrivateKey",
    "Scenario",
    "crl_points",
    "ec_key",
    "free_port",
    "make_ca",
    "make_leaf",
    "name",
    "patch_and_resign",
    "resign_md5",
    "resign_sha1",
    "rsa_key",
    "server_context",
    "year_zero_leaf",
]
_INTERMEDIATE: tuple[CaName, ...] = ("intermediate",)
CN = x509.NameOID.COMMON_NAME
CAA_REPORT_COLUMNS = [
    "CA Owner",
    "Subject",
    "Subject Key Identifier (Hex)",
    "Intermediate Certificate",
    "Recognized CAA Domains",
]
# The legacy peer's suites, in its order: RC4-SHA, DES-CBC3-SHA, DES-CBC-SHA, EXP-RC4-MD5; and
# its SSL 2.0 cipher kinds: RC4_128_WITH_MD5, DES_192_EDE3_CBC_WITH_MD5.
LEGACY_SUITES = (0x0005, 0x000A, 0x0009, 0x0003)
LEGACY_SSL2_KINDS = (0x010080, 0x0700C0)


class Lab:
    """The running lab: `scenarios`, the CA to trust, and the DNS server's address."""

    def __init__(self, as_of: dt.datetime, timeout: float) -> None:
        self.as_of = as_of
        self.timeout = timeout
        self.pki: Pki  # created once the CRL server has its port
        self.scenarios: list[Scenario] = []
        self.revoked_at: dt.datetime | None = None  # when the `revoked` leaf was revoked
        self.dns_address: tuple[str, int] = (LOOPBACK, 0)
        # name -> its address, or several (A and AAAA records the lab's DNS server answers),
        # or records by type ({"CAA": [...]}, {"CNAME": ...})
        self.dns_records: dict[str, object] = {}
        self.ari = AriServer()  # the ACME directory and renewalInfo of the lab's ACME CA
        self.dns_queries: list[tuple[str, str]] = []  # (name, type) the DNS server was asked
        self._loop = Loop()
        self._tmp = tempfile.TemporaryDirectory(prefix="scanner-lab-")
        self._minted: dict[Leaf, Issued] = {}  # each row's leaf, once (`_mint`)
        self._aia_url = ""  # where the web server has the intermediate
        # The lab's CT logs (ECDSA P-256 and RSA keys), in the order leaves use them.
        logs = ctlab.lab_logs()
        self.ct_logs = (logs[0], logs[2], logs[3], logs[1])

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
        return self.pki.root.pem + self.pki.new_root.pem + self.pki.program_root.pem

    @property
    def store_pems(self) -> dict[str, bytes]:
        """The named stores of lab scans (--trust-store): `java` lacks the newer root."""
        return {JAVA_STORE: self.pki.root.pem + self.pki.program_root.pem}

    @property
    def program_cutoff(self) -> dt.datetime:
        """The lab programs' cutoff: Chrome's sct_not_after_sec, Mozilla's distrust-after."""
        return self.as_of - PROGRAM_CUTOFF_DAYS * DAY

    def program_files(self) -> dict[str, tuple[str, bytes]]:
        """The lab's root programs in their published formats, by name: (file name, bytes).
        Each lists the program root only, with the cutoff."""
        root, cutoff = self.pki.program_root.cert, self.program_cutoff
        label = "Scanner Lab Program Root CA"
        chrome = programlab.ChromeRoot(cert=root, label=label, sct_not_after=cutoff)
        mozilla = programlab.MozillaRoot(cert=root, label=label, server_distrust_after=cutoff)
        files = {
            "chrome": ("root_store.textproto", programlab.root_store_textproto([chrome])),
            "mozilla": ("certdata.txt", programlab.certdata_txt([mozilla])),
        }
        assert tuple(files) == PROGRAMS
        return files

    def write_programs(self, folder: Path) -> tuple[tuple[tuple[str, Path], ...], Path]:
        """The root programs and the log list beside the inputs: ((name, path) for each
        --root-program, the --ct-logs file)."""
        folder.mkdir(parents=True, exist_ok=True)
        out = []
        for program, (file_name, data) in self.program_files().items():
            path = folder / f"demo-{file_name}"
            path.write_bytes(data)
            out.append((program, path))
        logs = folder / "demo-log_list.json"
        logs.write_bytes(ctlab.log_list_json(self.ct_logs, timestamp=self.as_of))
        return tuple(out), logs

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
        ciphers: str | None = None,
        server_order: bool = True,
    ) -> int:
        """A TLS server sending `chain` (see `servers.tls_context`); its port."""
        chain_pem = b"".join(c.pem for c in chain)
        tmp = Path(self._tmp.name)
        ctx = tls_context(
            chain_pem,
            key or chain[0].key,
            tmp,
            versions=versions,
            static_rsa=static_rsa,
            ciphers=ciphers,
            server_order=server_order,
        )
        return await self._loop.serve(hold_open, ctx)

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
        """Servers on one port of several loopback addresses (a name's backends)."""
        return await self._loop.serve_same_port(handlers)

    async def _build(self) -> None:
        # One web server for caIssuers and the CAs' CRLs (every lab certificate names its
        # issuer's CRL, RFC 5280 4.2.1.13).
        web: dict[str, bytes] = {}
        base = f"http://{LOOPBACK}:{await self._loop.serve(http_handler(web))}"
        self.pki = Pki.create(self.as_of, crl_base=f"{base}/crl")
        self._aia_url = f"{base}/intermediate.der"
        web["/intermediate.der"] = self.pki.intermediate.der
        web.update(self._crls())
        self.ari.directory(f"http://{LOOPBACK}:{await self._loop.serve(self.ari.handler())}")
        self.dns_address = (
            LOOPBACK,
            await self._loop.serve_dns(self.dns_records, self.dns_queries),
        )
        for row in SCENARIOS:
            self.scenarios.append(row.scenario(await self._serve(row)))

    def _crls(self) -> dict[str, bytes]:
        """Each CA's CRL by its path on the web server, listing the rows' revoked leaves."""
        self.revoked_at = when = self.as_of - REVOKED_DAYS_AGO * DAY
        reason = x509.ReasonFlags.key_compromise
        out = {}
        for which, slug in CRL_SLUGS.items():
            listed = [
                (self._mint(spec).cert.serial_number, when, reason)
                for spec in _leaves()
                if spec.revoked and spec.issuer == which
            ]
            crl = self.pki.crl(self.pki.ca(which), listed)
            out[f"/crl/{slug}.crl"] = crl.public_bytes(serialization.Encoding.DER)
        return out

    def _mint(self, spec: Leaf) -> Issued:
        """The certificate of `spec`, minted once per lab (rows with equal leaves share it)."""
        if spec not in self._minted:
            a, pki = self.as_of, self.pki
            issuer = None if spec.issuer is None else pki.ca(spec.issuer)
            key = {"ec": None, "rsa1024": 1024, "rsa2048": 2048}[spec.key]
            issued = pki.leaf(
                spec.dns_names,
                issuer=issuer,
                ip_addresses=spec.ip_addresses,
                cn=spec.cn,
                san=spec.san,
                not_before=a + spec.not_before * DAY,
                not_after=a + spec.not_after * DAY - dt.timedelta(seconds=spec.inclusive),
                key=None if key is None else rsa_key(key),
                aia_url=self._aia_url if spec.aia else None,
                must_staple=spec.must_staple,
            )
            if spec.signature != "sha256":
                assert issuer is not None, "only an issued leaf is re-signed"
                resign = resign_sha1 if spec.signature == "sha1" else resign_md5
                issued = resign(issued, issuer)
            elif issuer is not None and spec.scts:
                issued = self.logged(issued, issuer, scts=spec.scts, forged=spec.forged_scts)
            self._minted[spec] = issued
        return self._minted[spec]

    def logged(
        self, issued: Issued, issuer: Issued | None = None, *, scts: int = 3, forged: int = 0
    ) -> Issued:
        """`issued` again by `issuer` (default the intermediate), logged as public CAs do: `scts`
        SCTs (the last `forged` forged), an hour before notBefore (or as-of, for a leaf not yet
        valid), a second apart. By default the three good ones of a lab leaf: CT passes it."""
        signer = self.pki.intermediate if issuer is None else issuer
        when = min(self.as_of, issued.cert.not_valid_before_utc) - dt.timedelta(hours=1)
        logs = self.ct_logs[:scts]
        at = [(log, when + i * dt.timedelta(seconds=1)) for i, log in enumerate(logs)]
        return ctlab.embed(issued, signer, at, forged=forged)

    def leaf_of(self, name: str) -> Issued:
        """The leaf a Host scenario serves (for tests serving it again)."""
        row = next(r for r in SCENARIOS if r.name == name)
        assert isinstance(row, Host), name
        return self._mint(row.leaf)

    def _chain(self, spec: Leaf, cas: Sequence[CaName] = _INTERMEDIATE) -> list[Issued]:
        return [self._mint(spec), *(self.pki.ca(c) for c in cas)]

    async def _serve(self, row: Row) -> int:
        """Start the server(s) of `row`; the port it answers on."""
        match row:
            case Host():
                if row.in_dns:
                    self.dns_records[row.host] = LOOPBACK
                self.dns_records.update(row.dns)
                chain = self._chain(row.leaf, row.chain)
                if row.ari is not None:
                    cert_id = ari_identifier(chain[0].cert)
                    assert isinstance(cert_id, str), cert_id
                    self.ari.answer(cert_id, row.ari, self.as_of)
                port = await self.tls(
                    chain,
                    versions=row.versions,
                    static_rsa=row.static_rsa,
                    ciphers=row.ciphers,
                    server_order=row.server_order,
                )
                return await self._front(row, chain, port)
            case StartTlsHost():
                handler = lab_starttls.server(StartTls.SMTP, self.context(self._chain(row.leaf)))
                return await self._loop.serve(handler)
            case Pool():
                self.dns_records[row.host] = tuple(ip for ip, _ in row.backends)
                return await self.same_port(
                    [
                        (ip, tls_handler(self.context(self._chain(spec))))
                        for ip, spec in row.backends
                    ]
                )
            case Failing():
                return await self._fault(row.fault)
            case _:
                assert_never(row)

    async def _front(self, row: Host, chain: Sequence[Issued], port: int) -> int:
        """The port of the front before the server on `port` (that port without one)."""
        match row.front:
            case None:
                return port
            case "legacy":
                policy = LegacyPolicy(
                    certificate=chain[0].der,
                    versions=frozenset({0x0300, 0x0301, 0x0302, 0x0303}),
                    suites=LEGACY_SUITES,
                    ssl2_kinds=LEGACY_SSL2_KINDS,
                )
                return await self._loop.serve(legacy_front(policy, port))
            case "one_segment":
                return await self._loop.serve(one_segment_front(port))
            case _:
                assert_never(row.front)

    async def _fault(self, fault: Fault) -> int:
        match fault:
            case Fault.PARKED:
                return free_port()
            case Fault.SILENT:
                return await self._loop.serve(hold_open)
            case Fault.HTTP:
                return await self._loop.serve(reply_then_close(b"HTTP/1.1 400 Bad Request\r\n\r\n"))
            case Fault.NO_STARTTLS:
                ctx = self.context(self._chain(VALID))
                upgrade = lab_starttls.Upgrade(offer=False)
                return await self._loop.serve(lab_starttls.server(StartTls.SMTP, ctx, upgrade))
            case Fault.NOWHERE:
                return 443
            case _:
                assert_never(fault)

    def rows(self) -> list[dict[str, str]]:
        """The lab as input rows, with two deliberately invalid ones at the end."""
        lab = [
            (s.host, str(s.port), s.ip or "", s.owner, s.name, s.starttls) for s in self.scenarios
        ]
        invalid = [(host, port, ip, "platform", name, "") for host, port, ip, name in INVALID_ROWS]
        return [dict(zip(INPUT_COLUMNS, row, strict=True)) for row in lab + invalid]

    def write_stores(self, folder: Path) -> tuple[tuple[str, Path], ...]:
        """The named stores as PEM files beside the inputs: (name, path) for --trust-store."""
        folder.mkdir(parents=True, exist_ok=True)
        out = []
        for store, pem in self.store_pems.items():
            path = folder / f"demo-store-{store}.pem"
            path.write_bytes(pem)
            out.append((store, path))
        return tuple(out)

    @property
    def acme_rule(self) -> tuple[str, str]:
        """The lab's ACME CA by its CN, and its ACME directory (for --ari)."""
        (cn,) = self.pki.acme_intermediate.cert.subject.get_attributes_for_oid(CN)
        return str(cn.value), self.ari.directory_url

    @property
    def acme_directory(self) -> str:
        """`--acme-directory` of lab scans."""
        return "=".join(self.acme_rule)

    def write_caa_identifiers(self, folder: Path) -> Path:
        """An excerpt in the format of CCADB's "CAA Identifiers" report (V2): the lab's CAs
        answering to `LAB_CAA_ID`, and a CA of no lab certificate."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "demo-caa-identifiers.csv"
        rows = [
            (self.pki.intermediate, LAB_CAA_ID),
            (self.pki.root, LAB_CAA_ID),
            (self.pki.acme_intermediate, f"{LAB_CAA_ID}, acme.lab.test"),
        ]
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(CAA_REPORT_COLUMNS)
            for issued, domains in rows:
                ski = issued.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
                subject = issued.cert.subject.rfc4514_string()
                ski_hex = ski.value.digest.hex().upper()
                w.writerow(["Scanner Lab", subject, ski_hex, subject, domains])
            w.writerow(["Other CA", "CN=Other CA", "00" * 20, "CN=Other CA", "other-ca.example"])
        return path

    def write_inputs(self, folder: Path) -> tuple[Path, Path]:
        """inputs/demo.csv and the lab's root CAs as a PEM bundle, for a scan with --ca-bundle
        (and the named stores, `write_stores`)."""
        self.write_stores(folder)
        self.write_caa_identifiers(folder)
        csv_path, ca_path = folder / "demo.csv", folder / "demo-ca.pem"
        with open(csv_path, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=INPUT_COLUMNS)
            w.writeheader()
            w.writerows(self.rows())
        ca_path.write_bytes(self.ca_pem)
        return csv_path, ca_path


def _leaves() -> Iterator[Leaf]:
    for row in SCENARIOS:
        match row:
            case Host() | StartTlsHost():
                yield row.leaf
            case Pool():
                yield from (spec for _, spec in row.backends)
            case Failing():
                pass
