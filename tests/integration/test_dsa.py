"""A DSA key is a finding with a remedy (`dsa_key`), never a library warning: cryptography 51
warns "DSA is deprecated" on every DSA key it reads, and the suite runs with
filterwarnings=error. Minted DSA certificates go through `scanner check` (in-process and as a
real command) and through a real TLS scan of a loopback server that serves a DSA leaf (TLS 1.2,
DHE-DSS: OpenSSL 3 still serves DSA when the server has DH parameters)."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import ssl
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric import dsa

from scanner.run.check import check, load_chain
from scanner.testing.lab import DAY, Issued, Pki, make_ca, make_leaf
from scanner.testing.servers import accepting
from scanner.x509 import certs

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
HOST = "dsa.lab.test"
# RFC 7919 ffdhe2048 (a published group): the server's DHE parameters for the DHE-DSS suites.
FFDHE2048 = b"""-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
"""


def dsa_key(bits: int = 2048) -> dsa.DSAPrivateKey:
    with warnings.catch_warnings():  # cryptography 51: "DSA is deprecated"
        warnings.simplefilter("ignore")
        return dsa.generate_private_key(bits)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki.create(FIXED)


@pytest.fixture(scope="module")
def dsa_leaf(pki: Pki) -> Issued:
    """A DSA 2048 leaf, signed by the lab's intermediate."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_leaf(
            pki.intermediate,
            dns_names=[HOST],
            not_before=FIXED - DAY,
            not_after=FIXED + 90 * DAY,
            key=dsa_key(),  # type: ignore[arg-type]
        )


@pytest.fixture(scope="module")
def files(pki: Pki, dsa_leaf: Issued, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("dsa")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dsa_ca = make_ca(
            "Lab DSA Intermediate CA",
            issuer=pki.root,
            key=dsa_key(),  # type: ignore[arg-type]
            not_before=FIXED - 100 * DAY,
            not_after=FIXED + 100 * DAY,
        )
        ec_leaf = make_leaf(
            dsa_ca, dns_names=[HOST], not_before=FIXED - DAY, not_after=FIXED + 90 * DAY
        )
    content = {
        "dsa-leaf.pem": dsa_leaf.pem + pki.intermediate.pem,
        "dsa-ca.pem": ec_leaf.pem + dsa_ca.pem,
        "ca.pem": pki.root.pem,
    }
    for file_name, data in content.items():
        (folder / file_name).write_bytes(data)
    return {n: folder / n for n in content}


def scanner_command(*args: object, tmp: Path) -> subprocess.CompletedProcess[str]:
    """The real `scanner` entry point in a child, with every warning turned on as a user's
    environment might (PYTHONWARNINGS=always)."""
    env = {**os.environ, "PYTHONWARNINGS": "always", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "scanner", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp,
    )


def test_a_dsa_leaf_is_a_finding_with_a_remedy(files: dict[str, Path]) -> None:
    trust = certs.load_trust_store(files["ca.pem"].read_bytes(), "lab")
    chain = load_chain(files["dsa-leaf.pem"].read_bytes(), "dsa-leaf.pem")
    report = check(chain, host=HOST, trust=trust, as_of=FIXED, checked_at=FIXED)
    (finding,) = [f for f in report.diagnosis.findings if f.code == "dsa_key"]
    assert finding.severity.value == "high" and finding.remedy
    assert finding.message == "the leaf has a DSA 2048 bits key"
    assert report.row["trusted"] is False
    leaf = report.diagnosis.leaf
    assert leaf is not None and (leaf.key_type, leaf.key_size) == ("DSA", 2048)
    # A DSA 2048 key is not weak by size: the only objection is the algorithm.
    assert [f.code for f in report.diagnosis.findings] == ["dsa_key"]


def test_a_dsa_intermediate_in_the_path_is_named(files: dict[str, Path]) -> None:
    trust = certs.load_trust_store(files["ca.pem"].read_bytes(), "lab")
    chain = load_chain(files["dsa-ca.pem"].read_bytes(), "dsa-ca.pem")
    report = check(chain, host=HOST, trust=trust, as_of=FIXED, checked_at=FIXED)
    (finding,) = [f for f in report.diagnosis.findings if f.code == "dsa_key"]
    assert "Lab DSA Intermediate CA" in finding.message and "DSA 2048 bits" in finding.message
    assert report.row["trusted"] is False


def test_check_command_shows_the_finding_and_no_warning(
    files: dict[str, Path], tmp_path: Path
) -> None:
    done = scanner_command(
        "check",
        files["dsa-leaf.pem"],
        "--host",
        HOST,
        "--ca-bundle",
        files["ca.pem"],
        "--as-of",
        FIXED.isoformat(),
        "--json",
        tmp=tmp_path,
    )
    assert "Warning" not in done.stderr and "deprecated" not in done.stderr, done.stderr
    assert done.stderr == ""
    row = json.loads(done.stdout)
    assert row["findings"] == ["dsa_key"] and row["trusted"] is False


def test_the_entry_point_silences_any_library_warning(
    files: dict[str, Path], tmp_path: Path
) -> None:
    """Warnings raised inside a command, attributed to libraries (as pandas', pyarrow's or
    anyio's would be), never reach stderr, even with PYTHONWARNINGS=always."""
    program = f"""
import sys, warnings
from scanner.x509 import certs
real = certs.sha256_hex
def noisy(der):
    warnings.warn_explicit("pandas says: a FutureWarning", FutureWarning, "pandas/core.py", 1)
    warnings.warn("pyarrow says: a DeprecationWarning", DeprecationWarning)
    warnings.warn("anyio says: a UserWarning", UserWarning)
    return real(der)
certs.sha256_hex = noisy
sys.argv = ["scanner", "check", {str(files["dsa-leaf.pem"])!r}, "--host", {HOST!r},
            "--ca-bundle", {str(files["ca.pem"])!r}, "--as-of", {FIXED.isoformat()!r}, "--json"]
from scanner.cli.main import main
main()
"""
    env = {**os.environ, "PYTHONWARNINGS": "always"}
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.stderr == "", done.stderr
    assert json.loads(done.stdout)["findings"] == ["dsa_key"]
    # The same injection without the entry point's filter does print: the test can fail.
    bare = program.replace("from scanner.cli.main import main\nmain()", "")
    bare += "from scanner.cli.app import app\napp()\n"
    shown = subprocess.run(
        [sys.executable, "-c", bare], capture_output=True, text=True, timeout=120, env=env
    )
    assert "pandas says" in shown.stderr and "anyio says" in shown.stderr


@pytest.fixture
def dsa_server(dsa_leaf: Issued, pki: Pki, tmp_path: Path) -> Iterator[int]:
    """A TLS 1.2 server on loopback sending the DSA leaf and the intermediate (DHE-DSS)."""
    chain, key, dh = tmp_path / "chain.pem", tmp_path / "key.pem", tmp_path / "dh.pem"
    chain.write_bytes(dsa_leaf.pem + pki.intermediate.pem)
    key.write_bytes(dsa_leaf.key_pem())
    dh.write_bytes(FFDHE2048)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers("DHE-DSS-AES256-GCM-SHA384:DHE-DSS-AES128-GCM-SHA256:@SECLEVEL=0")
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # TLS 1.3 has no DSA
    ctx.load_dh_params(str(dh))
    ctx.load_cert_chain(chain, key)

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)  # until the client closes
            except (OSError, ssl.SSLError):
                pass

    with accepting(serve) as port:
        yield port


def test_a_scan_of_a_dsa_server_reports_dsa_key(
    dsa_server: int, files: dict[str, Path], tmp_path: Path
) -> None:
    hosts = tmp_path / "hosts.csv"
    hosts.write_text(f"host,port,ip,owner\n{HOST},{dsa_server},127.0.0.1,web\n")
    out = tmp_path / "out"
    done = scanner_command(
        "scan",
        hosts,
        "--out",
        out,
        "--ca-bundle",
        files["ca.pem"],
        "--as-of",
        FIXED.isoformat(),
        "--no-revocation",
        "--timeout",
        "20",
        tmp=tmp_path,
    )
    assert "Warning" not in done.stderr and "deprecated" not in done.stderr, done.stderr
    host = pd.read_parquet(out / "hosts.parquet").iloc[0]
    assert host["status"] == "ok", host["error_detail"]
    assert bool(host["trusted"]) is False
    served = pd.read_parquet(out / "certificates.parquet").set_index("sha256")
    assert served.loc[host["leaf_sha256"], "key_type"] == "DSA"
    findings = pd.read_parquet(out / "findings.parquet")
    assert list(findings["code"]) == ["dsa_key"]
    assert findings.iloc[0]["severity"] == "high" and findings.iloc[0]["remedy"]
