"""The ClientHello prober and testssl.sh (Debian's, installed by scripts/ensure-testssl, run
by `make test`) on the same `openssl s_server` at security level 0: the same versions accepted
and the same cipher suites (testssl's `--each-cipher` list is per host, so the prober's
suites of every version are compared as one set). One testssl run, bounded by a timeout."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

import scanner
from scanner.testing.openssl_server import OPENSSL, s_server
from scanner.testing.pki import rsa_hierarchy

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
NAME = "testssl.lab.test"
TESTSSL = shutil.which("testssl") or shutil.which("testssl.sh")
TESTSSL_SECONDS = 600  # about a minute alone; a loaded 2-core machine takes longer
# testssl's protocol ids -> the hosts.parquet columns.
VERSIONS = {
    "SSLv2": "ssl2",
    "SSLv3": "ssl3",
    "TLS1": "tls1_0",
    "TLS1_1": "tls1_1",
    "TLS1_2": "tls1_2",
    "TLS1_3": "tls1_3",
}

pytestmark = [
    pytest.mark.skipif(OPENSSL is None, reason="openssl (s_server) is not installed"),
    pytest.mark.skipif(
        TESTSSL is None, reason="testssl.sh is not installed (scripts/ensure-testssl)"
    ),
]


def test_prober_and_testssl_agree(tmp_path: Path) -> None:
    ca, leaf = rsa_hierarchy("testssl CA", NAME, FIXED)
    (tmp_path / "ca.pem").write_bytes(ca.pem)
    report = tmp_path / "testssl.json"
    options = ["-cipher", "ALL:eNULL:@SECLEVEL=0", "-serverpref"]
    with s_server(leaf, options, tmp_path) as port:
        tables = scanner.scan(
            [{"host": NAME, "port": port, "ip": "127.0.0.1"}],
            as_of=FIXED,
            ca_bundle=tmp_path / "ca.pem",
            revocation=False,
            timeout=30,
            ciphers=True,
        )
        subprocess.run(
            [
                str(TESTSSL),
                "--quiet",
                "--warnings",
                "off",
                "--color",
                "0",
                "--protocols",
                "--each-cipher",
                "--jsonfile",
                str(report),
                "--ip",
                "127.0.0.1",
                f"127.0.0.1:{port}",
            ],
            check=True,
            capture_output=True,
            timeout=TESTSSL_SECONDS,
        )
    found = json.loads(report.read_text())
    theirs_versions = {
        VERSIONS[f["id"]]: f["finding"].startswith("offered") for f in found if f["id"] in VERSIONS
    }
    theirs_suites = {
        int(f["id"][len("cipher_x") :], 16) for f in found if f["id"].startswith("cipher_x")
    }
    host = tables.hosts.iloc[0]
    assert host["status"] == "ok"
    assert pd.isna(host["error_detail"]), host["error_detail"]
    ours_versions = {column: bool(host[column]) for column in VERSIONS.values()}
    assert tables.ciphers is not None
    ours_suites = {int(c) for c in tables.ciphers["code"].dropna()}
    assert theirs_versions == ours_versions
    assert len(theirs_suites) > 50
    assert ours_suites == theirs_suites, (
        f"only ours: {sorted(map(hex, ours_suites - theirs_suites))}; "
        f"only testssl's: {sorted(map(hex, theirs_suites - ours_suites))}"
    )
