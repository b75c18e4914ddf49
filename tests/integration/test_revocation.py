"""Revocation for real: CRLs (DER and PEM) and OCSP responders on 127.0.0.1, well-behaved and
not (bad signature, stale, over the size cap, served slowly; a responder that never answers,
answers `unauthorized`, signs with a key the issuer never authorised, or answers for another
serial). Each host ends in the finding the rules give, keeps its other findings, and
`scanner check --crl` gives the same verdicts offline."""

from __future__ import annotations

import csv
import datetime as dt
import json
import select
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID
from typer.testing import Result

from scanner.testing.lab import DAY, LOOPBACK, Issued, Pki, make_ca
from scanner.testing.responders import RevocationServer, ocsp_response, unsuccessful
from tests.conftest import scan_args

Cli = Callable[[Sequence[str]], Result]
TIMEOUT = 3.0
FETCH_TIMEOUT = 1.0
CRL_MAX_BYTES = 4096
SLACK = 1.5


@dataclass(frozen=True)
class Case:
    name: str
    revocation: str  # hosts.parquet `revocation`
    source: str | None  # hosts.parquet `revocation_source`
    findings: frozenset[str]
    phrase: str | None = None  # in the revocation finding's message


CASES = [
    Case("crl_good", "good", "crl", frozenset()),
    Case("crl_pem_revoked", "revoked", "crl", frozenset({"revoked"}), "reason key_compromise"),
    Case("crl_bad_signature", "unknown", None, frozenset({"revocation_unknown"}), "bad signature"),
    Case("crl_stale", "unknown", None, frozenset({"revocation_unknown"}), "stale CRL"),
    Case(
        "crl_too_big",
        "unknown",
        None,
        frozenset({"revocation_unknown"}),
        f"larger than {CRL_MAX_BYTES} bytes (--crl-max-bytes)",
    ),
    Case("crl_slow", "unknown", None, frozenset({"revocation_unknown"}), "no complete answer"),
    Case("crl_high_serial", "revoked", "crl", frozenset({"revoked"}), "serial 80"),
    Case(
        "revoked_intermediate",
        "revoked",
        "crl",
        frozenset({"revoked"}),
        "Scanner Lab Revoked Intermediate CA",
    ),
    Case("ocsp_good", "good", "ocsp", frozenset()),
    Case("ocsp_delegated", "good", "ocsp", frozenset()),
    Case(
        "ocsp_revoked_expiring",
        "revoked",
        "ocsp",
        frozenset({"revoked", "expiring_soon", "renewal_overdue"}),  # 30 of its 40 days
        "reason superseded",
    ),
    Case("ocsp_unknown", "unknown", None, frozenset({"revocation_unknown"}), "does not know"),
    Case("ocsp_timeout", "unknown", None, frozenset({"revocation_unknown"}), "no complete answer"),
    Case(
        "ocsp_unauthorized",
        "unknown",
        None,
        frozenset({"revocation_unknown"}),
        "answered unauthorized",
    ),
    Case(
        "ocsp_rogue_signer",
        "unknown",
        None,
        frozenset({"revocation_unknown"}),
        "neither the issuer's nor an OCSP responder",
    ),
    Case(
        "ocsp_other_serial",
        "unknown",
        None,
        frozenset({"revocation_unknown"}),
        "does not name serial",
    ),
]
OFFLINE = ["crl_good", "crl_pem_revoked", "crl_bad_signature", "crl_stale", "crl_high_serial"]


def host(case: str) -> str:
    return f"{case.replace('_', '-')}.rev.test"


def responder_cert(issuer: Issued, as_of: dt.datetime, cn: str) -> Issued:
    """A delegated OCSP responder certificate (RFC 6960 4.2.2.2) issued by `issuer`."""
    from scanner.testing.lab import ec_key, name

    key = ec_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(as_of - DAY)
        .not_valid_after(as_of + 30 * DAY)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .sign(issuer.key, hashes.SHA256())
    )
    return Issued(cert, key)


@dataclass(frozen=True)
class Scan:
    rows: dict[str, dict[str, Any]]
    findings: list[dict[str, Any]]
    files: dict[str, Path]  # chains and CRLs written for `scanner check`
    server: RevocationServer
    pki: Pki
    leaves: dict[str, Issued]
    revoked_at: dt.datetime
    started: dt.datetime

    def findings_of(self, case: str) -> list[dict[str, Any]]:
        line = self.rows[case]["input_line"]
        return [f for f in self.findings if f["input_line"] == line]


@pytest.fixture(scope="module")
def scan(cli: Cli, fixed: dt.datetime, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scan]:
    folder = tmp_path_factory.mktemp("revocation")
    a = fixed
    revoked_at = a - 3 * DAY
    with RevocationServer.start() as server:
        pki = Pki.create(a, crl_base=server.url("/crl"))
        inter, root = pki.intermediate, pki.root
        revoked_inter = make_ca(
            "Scanner Lab Revoked Intermediate CA",
            issuer=root,
            not_before=a - 100 * DAY,
            not_after=a + 900 * DAY,
            crl_url=server.url("/crl/root.crl"),
        )
        crl_leaf = {
            name: pki.leaf([host(name)], crl_url=server.url(f"/{name}.crl"))
            for name in ("crl_good", "crl_pem_revoked", "crl_bad_signature", "crl_stale")
        }
        crl_leaf["crl_too_big"] = pki.leaf([host("crl_too_big")], crl_url=server.url("/big.crl"))
        crl_leaf["crl_slow"] = pki.leaf([host("crl_slow")], crl_url=server.url("/slow.crl"))
        # A serial with its high bit set: DER writes a leading zero byte (RFC 5280 4.1.2.2).
        crl_leaf["crl_high_serial"] = pki.leaf(
            [host("crl_high_serial")], crl_url=server.url("/high.crl"), serial=0x80 << 144 | 1
        )
        crl_leaf["revoked_intermediate"] = pki.leaf(
            [host("revoked_intermediate")],
            issuer=revoked_inter,
            crl_url=server.url("/crl/revoked-inter.crl"),
        )
        ocsp_leaf = {
            name: pki.leaf([host(name)], ocsp_url=server.url(path))
            for name, path in (
                ("ocsp_good", "/ocsp"),
                ("ocsp_delegated", "/ocsp-delegated"),
                ("ocsp_unknown", "/ocsp"),
                ("ocsp_timeout", "/ocsp-silent"),
                ("ocsp_unauthorized", "/ocsp-unauthorized"),
                ("ocsp_rogue_signer", "/ocsp-rogue"),
                ("ocsp_other_serial", "/ocsp-other"),
            )
        }
        ocsp_leaf["ocsp_revoked_expiring"] = pki.leaf(
            [host("ocsp_revoked_expiring")],
            ocsp_url=server.url("/ocsp"),
            not_after=a + 10 * DAY,
        )
        leaves = {**crl_leaf, **ocsp_leaf}

        def crl(issuer: Issued, revoked: Sequence[Issued] = (), **kw: Any) -> bytes:
            listed = [
                (c.cert.serial_number, revoked_at, x509.ReasonFlags.key_compromise) for c in revoked
            ]
            return pki.crl(issuer, listed, **kw).public_bytes(Encoding.DER)

        rogue_key = pki.rogue_root.key
        many = [pki.leaf([f"filler{i}.rev.test"]) for i in range(120)]
        server.files.update(
            {
                "/crl/root.crl": crl(root, [revoked_inter]),
                "/crl/intermediate.crl": crl(inter),
                "/crl/revoked-inter.crl": crl(revoked_inter),
                "/crl_good.crl": crl(inter),
                "/crl_pem_revoked.crl": pki.crl(
                    inter,
                    [
                        (
                            crl_leaf["crl_pem_revoked"].cert.serial_number,
                            revoked_at,
                            x509.ReasonFlags.key_compromise,
                        )
                    ],
                ).public_bytes(Encoding.PEM),
                "/crl_bad_signature.crl": crl(inter, signer=rogue_key),
                "/crl_stale.crl": crl(inter, this_update=a - 10 * DAY, next_update=a - DAY),
                "/big.crl": crl(inter, many),
                "/slow.crl": crl(inter),
                "/high.crl": crl(inter, [crl_leaf["crl_high_serial"]]),
            }
        )
        assert len(server.files["/big.crl"]) > CRL_MAX_BYTES
        server.slow.add("/slow.crl")

        by_serial = {c.cert.serial_number: c for c in leaves.values()}
        delegate = responder_cert(inter, a, "Scanner Lab OCSP Responder")
        rogue_delegate = responder_cert(pki.rogue_root, a, "Rogue OCSP Responder")

        def answer(
            signer: Issued, include: Sequence[Issued] = (), other: bool = False
        ) -> Callable[[ocsp.OCSPRequest], bytes | None]:
            def respond(request: ocsp.OCSPRequest) -> bytes | None:
                leaf = by_serial[request.serial_number]
                if other:  # about a certificate nobody asked for
                    leaf = ocsp_leaf["ocsp_good"]
                status, when, reason = ocsp.OCSPCertStatus.GOOD, None, None
                if leaf is ocsp_leaf["ocsp_revoked_expiring"]:
                    status, when, reason = (
                        ocsp.OCSPCertStatus.REVOKED,
                        revoked_at,
                        x509.ReasonFlags.superseded,
                    )
                elif leaf is ocsp_leaf["ocsp_unknown"]:
                    status = ocsp.OCSPCertStatus.UNKNOWN
                return ocsp_response(
                    leaf.cert,
                    inter.cert,
                    signer.cert,
                    signer.key,
                    status,
                    this_update=a - DAY,
                    next_update=a + 3 * DAY,
                    revoked_at=when,
                    reason=reason,
                    include=[c.cert for c in include],
                )

            return respond

        server.responders.update(
            {
                "/ocsp": answer(inter),
                "/ocsp-delegated": answer(delegate, [delegate]),
                "/ocsp-silent": lambda _request: None,
                "/ocsp-unauthorized": lambda _request: unsuccessful(
                    ocsp.OCSPResponseStatus.UNAUTHORIZED
                ),
                "/ocsp-rogue": answer(rogue_delegate, [rogue_delegate]),
                "/ocsp-other": answer(inter, other=True),
            }
        )
        rows = []
        files: dict[str, Path] = {}
        for case in CASES:
            leaf = leaves[case.name]
            issuer = revoked_inter if case.name == "revoked_intermediate" else inter
            port = server.tls([leaf, issuer], str(folder))
            rows.append({"host": host(case.name), "port": port, "ip": LOOPBACK, "case": case.name})
            chain = folder / f"{case.name}.pem"
            chain.write_bytes(leaf.pem + issuer.pem)
            files[case.name] = chain
        for path in ("/crl/root.crl", *(f"/{c}.crl" for c in OFFLINE if c != "crl_high_serial")):
            files[path] = folder / path.strip("/").replace("/", "-")
            files[path].write_bytes(server.files[path])
        files["/high.crl"] = folder / "high.crl"
        files["/high.crl"].write_bytes(server.files["/high.crl"])
        inp, ca, out = folder / "in.csv", folder / "ca.pem", folder / "out"
        with open(inp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["host", "port", "ip", "case"])
            w.writeheader()
            w.writerows(rows)
        ca.write_bytes(root.pem)
        started = dt.datetime.now(dt.UTC)
        result = cli(
            [
                "scan",
                *scan_args(inp, out, a.isoformat(), ca),
                "--timeout",
                str(TIMEOUT),
                "--aia-timeout",
                str(FETCH_TIMEOUT),
                "--crl-max-bytes",
                str(CRL_MAX_BYTES),
                "--allow-private-fetch",
                "--quiet",
            ]
        )
        assert result.exit_code == 0, result.output
        hosts = pq.read_table(out / "hosts.parquet").to_pylist()
        yield Scan(
            rows={h["case"]: h for h in hosts},
            findings=pq.read_table(out / "findings.parquet").to_pylist(),
            files=files,
            server=server,
            pki=pki,
            leaves=leaves,
            revoked_at=revoked_at,
            started=started,
        )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_each_case_ends_in_the_finding_the_rules_give(scan: Scan, case: Case) -> None:
    row = scan.rows[case.name]
    assert row["status"] == "ok"
    assert (row["revocation"], row["revocation_source"]) == (case.revocation, case.source)
    # revoked is known only for good and revoked; null when the status is unknown.
    assert row["revoked"] is {"good": False, "revoked": True}.get(case.revocation)
    assert set(row["findings"]) == case.findings  # the others kept: expiring_soon stays
    # A revoked certificate anywhere in the path makes the chain untrusted; unknown does not.
    assert row["trusted"] is (
        case.revocation != "revoked" and case.findings <= {"revocation_unknown"}
    )
    found = [
        f for f in scan.findings_of(case.name) if f["code"] in ("revoked", "revocation_unknown")
    ]
    if case.phrase is None:
        assert found == []
        return
    (f,) = found
    assert case.phrase in f["message"], f["message"]
    assert f["severity"] == ("critical" if f["code"] == "revoked" else "info")
    assert f["certificate_sha256"] and f["certificate_subject"]
    if case.name not in ("crl_slow", "ocsp_timeout"):
        assert f["url"] and f["url"].startswith(f"http://{LOOPBACK}:{scan.server.port}/")


def test_revoked_names_certificate_serial_time_and_reason(scan: Scan) -> None:
    (f,) = [x for x in scan.findings_of("crl_pem_revoked") if x["code"] == "revoked"]
    leaf = scan.leaves["crl_pem_revoked"].cert
    assert f"serial {leaf.serial_number:x}" in f["message"]
    assert scan.revoked_at.strftime("%Y-%m-%dT%H:%M:%SZ") in f["message"]
    assert "key_compromise" in f["message"]
    assert f["certificate_subject"] == "CN=crl-pem-revoked.rev.test,O=Scanner Lab"
    assert f["url"] == scan.server.url("/crl_pem_revoked.crl")
    assert "Replace" in f["remedy"] and "now" in f["remedy"]
    (inter,) = [x for x in scan.findings_of("revoked_intermediate") if x["code"] == "revoked"]
    assert inter["certificate_subject"] == "CN=Scanner Lab Revoked Intermediate CA,O=Scanner Lab"
    assert inter["url"] == scan.server.url("/crl/root.crl")


def test_one_fetch_per_url_shared_by_all_hosts(scan: Scan) -> None:
    # Every lab leaf's intermediate names /crl/root.crl: fetched once for all of them.
    assert scan.server.hits["/crl/root.crl"] == 1
    assert scan.server.hits["/ocsp"] == 3  # one request per certificate asked about
    assert scan.server.hits["/slow.crl"] == 1


def test_slow_fetches_cost_at_most_the_fetch_timeout(scan: Scan) -> None:
    slow = ("crl_slow", "ocsp_timeout")
    first = min(r["scanned_at"] for r in scan.rows.values())  # start-up costs excluded
    # What this run's machine costs the hosts whose fetches answer at once: the slow ones may
    # take that plus the fetch timeout, not the host's whole deadline (a loaded machine slows
    # both alike).
    fast = max(r["scanned_at"] for n, r in scan.rows.items() if n not in slow) - first
    for name in slow:
        took = (scan.rows[name]["scanned_at"] - first).total_seconds()
        assert took < fast.total_seconds() + FETCH_TIMEOUT + SLACK, name
        # ...and it was the fetch timeout that cut them, not the host's deadline.
        (f,) = [x for x in scan.findings_of(name) if x["code"] == "revocation_unknown"]
        assert f"no complete answer within {FETCH_TIMEOUT:g} s" in f["message"], f["message"]


@pytest.mark.parametrize("name", OFFLINE)
def test_check_with_crl_files_gives_the_same_verdict_offline(
    scan: Scan, cli: Cli, fixed: dt.datetime, tmp_path: Path, name: str
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(scan.pki.root.pem)
    crl_file = scan.files["/high.crl" if name == "crl_high_serial" else f"/{name}.crl"]
    result = cli(
        [
            "check",
            scan.files[name],
            "--host",
            host(name),
            "--ca-bundle",
            ca,
            "--as-of",
            fixed.isoformat(),
            "--crl",
            crl_file,
            "--crl",
            scan.files["/crl/root.crl"],
            "--json",
        ]
    )
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    online = scan.rows[name]
    assert row["revocation"] == online["revocation"]
    assert row["revocation_source"] == (None if online["revocation_source"] is None else "crl_file")
    assert row["revoked"] == online["revoked"] and row["trusted"] == online["trusted"]
    assert sorted(row["findings"]) == sorted(online["findings"])


def test_no_revocation_checks_nothing(
    scan: Scan, cli: Cli, fixed: dt.datetime, tmp_path: Path
) -> None:
    port = scan.rows["crl_pem_revoked"]["port"]
    inp, ca, out = tmp_path / "in.csv", tmp_path / "ca.pem", tmp_path / "out"
    inp.write_text(f"host,port,ip\n{host('crl_pem_revoked')},{port},{LOOPBACK}\n")
    ca.write_bytes(scan.pki.root.pem)
    hits = dict(scan.server.hits)
    result = cli(
        [
            "scan",
            *scan_args(inp, out, fixed.isoformat(), ca),
            "--no-revocation",
            "--allow-private-fetch",
            "--quiet",
        ]
    )
    assert result.exit_code == 0, result.output
    (row,) = pq.read_table(out / "hosts.parquet").to_pylist()
    assert (row["revocation"], row["revoked"], row["revocation_source"]) == (
        "not_checked",
        None,
        None,
    )
    assert row["findings"] == [] and row["trusted"] is True
    assert scan.server.hits == hits  # nothing fetched


def _wait_until_accepting(process: subprocess.Popen[bytes], seconds: float = 10.0) -> int:
    """The port `openssl ocsp -port 0` says it accepts on (`ACCEPT [::]:PORT PID=...`), once it
    does (a probing connection would block the single-threaded responder until it times out)."""
    assert process.stdout is not None
    deadline = time.monotonic() + seconds
    seen = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            line = process.stdout.readline()
            seen += line
            if line.startswith(b"ACCEPT"):
                return int(line.split()[1].rsplit(b":", 1)[1])
    raise AssertionError(f"openssl ocsp is not accepting: {seen!r}")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_a_real_responder_openssl_ocsp(cli: Cli, tmp_path: Path) -> None:
    """OpenSSL's own OCSP responder (`openssl ocsp -index`) answers for a good and a revoked
    leaf. It stamps responses with its clock, so this test's PKI and --as-of are dated from
    the clock rather than from the fixed instant."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    # The responder binds a port of its own choosing (-port 0); the leaves, made after, name
    # it, so their serials are chosen first for its index.
    good_serial, revoked_serial = x509.random_serial_number(), x509.random_serial_number()
    with RevocationServer.start() as server:
        pki = Pki.create(now, crl_base=server.url("/crl"))
        server.files["/crl/root.crl"] = pki.crl(pki.root).public_bytes(Encoding.DER)
        inter = pki.intermediate
        stamp = "%y%m%d%H%M%SZ"
        expiry = (now + 200 * DAY).strftime(stamp)
        when = (now - DAY).strftime(stamp)
        index = tmp_path / "index.txt"
        index.write_text(
            f"V\t{expiry}\t\t{good_serial:X}\tunknown\t/CN=good\n"
            f"R\t{expiry}\t{when},keyCompromise\t{revoked_serial:X}\tunknown\t/CN=revoked\n"
        )
        (tmp_path / "inter.pem").write_bytes(inter.pem)
        (tmp_path / "inter.key").write_bytes(inter.key_pem())
        responder = subprocess.Popen(
            [
                "openssl",
                "ocsp",
                "-index",
                index,
                "-port",
                "0",
                "-rsigner",
                tmp_path / "inter.pem",
                "-rkey",
                tmp_path / "inter.key",
                "-CA",
                tmp_path / "inter.pem",
                "-ndays",
                "1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://{LOOPBACK}:{_wait_until_accepting(responder)}/"
            good = pki.leaf([host("openssl_good")], ocsp_url=url, serial=good_serial)
            revoked = pki.leaf([host("openssl_revoked")], ocsp_url=url, serial=revoked_serial)
            rows = [
                f"{host(n)},{server.tls([leaf, inter], str(tmp_path))},{LOOPBACK}\n"
                for n, leaf in (("openssl_good", good), ("openssl_revoked", revoked))
            ]
            inp, ca, out = tmp_path / "in.csv", tmp_path / "ca.pem", tmp_path / "out"
            inp.write_text("host,port,ip\n" + "".join(rows))
            ca.write_bytes(pki.root.pem)
            result = cli(
                [
                    "scan",
                    *scan_args(inp, out, now.isoformat(), ca),
                    "--timeout",
                    "5",
                    "--allow-private-fetch",
                    "--quiet",
                ]
            )
            assert result.exit_code == 0, result.output
        finally:
            responder.kill()
            responder.communicate()
    by_host = {r["host"]: r for r in pq.read_table(out / "hosts.parquet").to_pylist()}
    ok, bad = by_host[host("openssl_good")], by_host[host("openssl_revoked")]
    assert (ok["revocation"], ok["revocation_source"], ok["findings"]) == ("good", "ocsp", [])
    assert (bad["revocation"], bad["revocation_source"]) == ("revoked", "ocsp")
    assert bad["findings"] == ["revoked"] and bad["trusted"] is False
    (f,) = [
        x for x in pq.read_table(out / "findings.parquet").to_pylist() if x["code"] == "revoked"
    ]
    assert "reason key_compromise" in f["message"] and f["url"] == url
    assert (now - DAY).strftime("%Y-%m-%dT%H:%M:%SZ") in f["message"]


def test_crl_files_are_used_before_any_fetch(
    scan: Scan, cli: Cli, fixed: dt.datetime, tmp_path: Path
) -> None:
    """`--crl` answers for the certificates its CRLs cover: the slow URL is never asked."""
    port = scan.rows["crl_slow"]["port"]
    inp, ca, out = tmp_path / "in.csv", tmp_path / "ca.pem", tmp_path / "out"
    inp.write_text(f"host,port,ip\n{host('crl_slow')},{port},{LOOPBACK}\n")
    ca.write_bytes(scan.pki.root.pem)
    crl_file, root_file = tmp_path / "slow.crl", tmp_path / "root.crl"
    crl_file.write_bytes(scan.server.files["/slow.crl"])
    root_file.write_bytes(scan.server.files["/crl/root.crl"])
    hits = dict(scan.server.hits)
    args = ["--as-of", fixed.isoformat(), "--ca-bundle", ca, "--allow-private-fetch", "--quiet"]
    result = cli(["scan", inp, "--out", out, "--crl", crl_file, "--crl", root_file, *args])
    assert result.exit_code == 0, result.output
    (row,) = pq.read_table(out / "hosts.parquet").to_pylist()
    assert (row["revocation"], row["revocation_source"]) == ("good", "crl_file")
    assert row["findings"] == [] and row["trusted"] is True
    assert scan.server.hits == hits  # nothing fetched


def test_an_unreadable_crl_file_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    chain, bogus = tmp_path / "chain.pem", tmp_path / "bogus.crl"
    pki = Pki.create(dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    chain.write_bytes(pki.leaf(["a.test"]).pem + pki.intermediate.pem)
    bogus.write_bytes(b"not a CRL")
    result = cli(["check", chain, "--host", "a.test", "--crl", bogus])
    assert result.exit_code == 2
    assert f"--crl {bogus}: not a DER or PEM CRL" in result.output
    missing = cli(["check", chain, "--host", "a.test", "--crl", tmp_path / "nope.crl"])
    assert missing.exit_code == 2 and "cannot read --crl" in missing.output


def test_a_revoked_chain_is_trusted_by_no_named_store_either(
    scan: Scan, cli: Cli, fixed: dt.datetime, tmp_path: Path
) -> None:
    """Issue 11 with issue 12's --trust-store: a store holding the root does not trust a chain
    with a revoked certificate, in `scan` and in `check --crl`."""
    port = scan.rows["crl_pem_revoked"]["port"]
    inp, ca, out = tmp_path / "in.csv", tmp_path / "ca.pem", tmp_path / "out"
    inp.write_text(f"host,port,ip\n{host('crl_pem_revoked')},{port},{LOOPBACK}\n")
    ca.write_bytes(scan.pki.root.pem)
    store = ["--trust-store", f"java={ca}"]
    args = ["--as-of", fixed.isoformat(), "--ca-bundle", ca, *store]
    result = cli(["scan", inp, "--out", out, *args, "--allow-private-fetch", "--quiet"])
    assert result.exit_code == 0, result.output
    (row,) = pq.read_table(out / "hosts.parquet").to_pylist()
    assert row["revoked"] is True and row["trusted"] is False
    assert row["trusted_by"] == [] and row["findings"] == ["revoked"]
    checked = cli(
        [
            "check",
            scan.files["crl_pem_revoked"],
            "--host",
            host("crl_pem_revoked"),
            *args,
            "--crl",
            scan.files["/crl_pem_revoked.crl"],
            "--crl",
            scan.files["/crl/root.crl"],
            "--json",
        ]
    )
    assert checked.exit_code == 0, checked.output
    offline = json.loads(checked.stdout)
    assert (offline["revoked"], offline["trusted"], offline["trusted_by"]) == (True, False, [])
