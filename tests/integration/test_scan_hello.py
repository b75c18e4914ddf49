"""`--protocols` and `--ciphers` through `scanner.scan` and `scanner scan` against real servers
on 127.0.0.1: `openssl s_server` at security level 0 (CBC, NULL, anonymous, static RSA, TLS
1.0/1.1) with and without its own cipher order, stapling (`-status_file`, good and revoked), a
must-staple leaf, the post-quantum server (pyOpenSSL on cryptography's bundled OpenSSL), a
relay that resets hellos longer than one segment, and hostile peers behind a real server (the
main handshake reaches the server, every probe after it the hostile peer). Columns, findings,
grade and ciphers.parquet are checked against what each server was configured to do."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from cryptography.x509 import ocsp
from typer.testing import Result

import scanner
from scanner.testing import ctlab, der
from scanner.testing.openssl_server import (
    OPENSSL,
    pyopenssl_server,
    s_server,
    serverinfo_scts,
    small_hello_shim,
)
from scanner.testing.pki import Issued, rsa_ca, rsa_leaf
from scanner.testing.raw_peers import HRR, behind_real, server_hello
from scanner.testing.responders import ocsp_response

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
NAME = "hello.scan.test"
ALL_CIPHERS = "ALL:eNULL:@SECLEVEL=0"

pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl (s_server) is not installed")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    ca = rsa_ca("Hello Scan CA", FIXED)

    def leaf(must_staple: bool = False) -> Issued:
        return rsa_leaf(ca, NAME, FIXED, must_staple=must_staple)

    folder = tmp_path_factory.mktemp("hello-pki")
    (folder / "ca.pem").write_bytes(ca.pem)
    return {"ca": ca, "leaf": leaf(), "staple": leaf(True), "ca_file": folder / "ca.pem"}


def _scan(pki: dict[str, Any], port: int, **options: Any) -> dict[str, Any]:
    tables = scanner.scan(
        [{"host": NAME, "port": port, "ip": "127.0.0.1"}],
        as_of=FIXED,
        ca_bundle=pki["ca_file"],
        timeout=20,
        revocation=False,
        **({"protocols": True} | options),
    )
    row: dict[str, Any] = {k: _plain(v) for k, v in tables.hosts.iloc[0].to_dict().items()}
    row["_ciphers"] = tables.ciphers
    return row


def _plain(value: Any) -> Any:
    """A cell as Python: pandas' missing values (NA, NaN, None) as None, lists as lists."""
    if isinstance(value, list | tuple | np.ndarray):
        return list(value)
    return None if pd.isna(value) else value


def _ocsp(pki: dict[str, Any], leaf: Issued, status: ocsp.OCSPCertStatus) -> bytes:
    ca: Issued = pki["ca"]
    revoked = status is ocsp.OCSPCertStatus.REVOKED
    return ocsp_response(
        leaf.cert,
        ca.cert,
        ca.cert,
        ca.key,
        status,
        this_update=FIXED - dt.timedelta(hours=1),
        next_update=FIXED + dt.timedelta(days=7),
        revoked_at=FIXED - dt.timedelta(days=1) if revoked else None,
    )


def _two_operators_scts(pki: dict[str, Any], tmp_path: Path) -> bytes:
    """An SCT list over the leaf from two operators' lab logs, whose log list (--ct-logs) is
    written to tmp_path/logs.json."""
    logs = ctlab.lab_logs()
    (tmp_path / "logs.json").write_bytes(
        ctlab.log_list_json(logs, timestamp=FIXED - dt.timedelta(days=1))
    )
    when = FIXED - dt.timedelta(hours=12)
    return ctlab.x509_scts(pki["leaf"].cert, [(logs[0], when), (logs[2], when)])


# --- openssl s_server at security level 0 -------------------------------------------------


@pytest.mark.parametrize("serverpref", [False, True], ids=["client-order", "server-order"])
def test_level_0_openssl_with_ciphers(
    pki: dict[str, Any], tmp_path: Path, serverpref: bool
) -> None:
    options = ["-cipher", ALL_CIPHERS] + (["-serverpref"] if serverpref else [])
    with s_server(pki["leaf"], options, tmp_path) as port:
        row = _scan(pki, port, ciphers=True, protocols=False)  # --ciphers implies --protocols
    assert row["status"] == "ok", row["error_detail"]
    assert [row[v] for v in ("ssl2", "ssl3", "tls1_0", "tls1_1", "tls1_2", "tls1_3")] == [
        False,
        False,
        True,
        True,
        True,
        True,
    ]
    assert row["cipher_classes"] == ["null", "anon", "cbc", "no_fs"]
    assert row["forward_secrecy_only"] is False and row["server_preference"] is serverpref
    assert row["pq_kex"] is False and row["large_hello_ok"] is True
    assert row["groups"][0] == "x25519" and "X25519MLKEM768" not in row["groups"]
    assert row["nosni_leaf_sha256"] == row["leaf_sha256"]
    assert row["ocsp_stapled"] is False and row["ocsp_stapled_status"] is None
    assert row["sct_tls_count"] == 0
    codes = set(row["findings"])
    assert {"null_cipher", "anon_cipher", "legacy_protocol", "rsa_key_exchange"} <= codes
    assert ("no_server_preference" in codes) is not serverpref
    assert not {"ssl2", "ssl3", "rc4_cipher", "3des_cipher", "export_cipher"} & codes
    assert (row["grade"], row["grade_basis"]) == ("F", "certificate+protocols+ciphers")
    ciphers = row["_ciphers"]
    tls12 = ciphers[ciphers["version"] == "tls1_2"]
    assert len(tls12) > 20 and set(ciphers["version"]) == {"tls1_0", "tls1_1", "tls1_2", "tls1_3"}
    assert set(ciphers[ciphers["version"] == "tls1_3"]["code"]) == {0x1301, 0x1302, 0x1303}
    assert "TLS_ECDH_anon_WITH_AES_256_CBC_SHA" in set(tls12["suite"])
    assert any("null" in c for c in tls12["class"])
    if serverpref:
        assert list(tls12["order"]) == list(range(1, len(tls12) + 1))
    else:
        assert tls12["order"].isna().all()


def test_modern_openssl_without_ciphers(pki: dict[str, Any], tmp_path: Path) -> None:
    options = ["-cipher", "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384", "-no_tls1"]
    with s_server(pki["leaf"], [*options, "-no_tls1_1"], tmp_path) as port:
        row = _scan(pki, port)
    assert row["status"] == "ok" and row["error_detail"] is None
    assert row["cipher_classes"] == [] and row["forward_secrecy_only"] is True
    assert row["tls1_0"] is False and row["tls1_3"] is True and row["ssl3"] is False
    assert set(row["findings"]) == {"no_pq_kex"}
    assert row["grade"] == "A" and row["_ciphers"] is None


# --- stapling -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [(ocsp.OCSPCertStatus.GOOD, "good"), (ocsp.OCSPCertStatus.REVOKED, "revoked")],
)
def test_stapled_ocsp_is_verified(
    pki: dict[str, Any], tmp_path: Path, status: ocsp.OCSPCertStatus, expected: str
) -> None:
    (tmp_path / "ocsp.der").write_bytes(_ocsp(pki, pki["staple"], status))
    options = ["-no_tls1_3", "-status_file", str(tmp_path / "ocsp.der")]
    with s_server(pki["staple"], options, tmp_path) as port:
        row = _scan(pki, port)
    assert row["ocsp_stapled"] is True and row["ocsp_stapled_status"] == expected
    assert "must_staple_not_stapled" not in row["findings"]
    if expected == "revoked":  # revocation evidence, as a fetched response would be
        assert "revoked" in row["findings"] and row["revoked"] is True
        assert (row["revocation"], row["revocation_source"]) == ("revoked", "ocsp")
        assert row["trusted"] is False and row["grade"] == "T"
    else:
        assert "revoked" not in row["findings"] and row["trusted"] is True


def test_a_staple_for_another_certificate_is_invalid(pki: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "ocsp.der").write_bytes(_ocsp(pki, pki["leaf"], ocsp.OCSPCertStatus.REVOKED))
    options = ["-no_tls1_3", "-status_file", str(tmp_path / "ocsp.der")]
    with s_server(pki["staple"], options, tmp_path) as port:
        row = _scan(pki, port)
    assert row["ocsp_stapled_status"] == "invalid" and "revoked" not in row["findings"]


def test_must_staple_without_a_staple(pki: dict[str, Any], tmp_path: Path) -> None:
    with s_server(pki["staple"], ["-no_tls1_3"], tmp_path) as port:
        row = _scan(pki, port)
    assert row["ocsp_stapled"] is False and "must_staple_not_stapled" in row["findings"]
    assert row["severity"] == "high"


def test_scts_in_the_tls_extension_are_counted(pki: dict[str, Any], tmp_path: Path) -> None:
    """s_server -serverinfo answers signed_certificate_timestamp (RFC 6962 3.3) with the
    list it is given: two SCTs."""
    scts = (b"\x00" + bytes(range(1, 60)), b"\x00" + bytes(range(100, 170)))
    options = ["-no_tls1_3", *serverinfo_scts(ctlab.sct_list(scts), tmp_path)]
    with s_server(pki["leaf"], options, tmp_path) as port:
        row = _scan(pki, port)
    assert row["sct_tls_count"] == 2 and row["tls1_3"] is False


def test_scts_of_the_tls_extension_count_for_ct(pki: dict[str, Any], tmp_path: Path) -> None:
    """Two SCTs from two operators' logs, delivered only in the TLS extension (the leaf has
    none embedded): with --ct-logs they meet Chrome's policy for a 91-day certificate."""
    scts = _two_operators_scts(pki, tmp_path)
    options = ["-no_tls1_3", *serverinfo_scts(scts, tmp_path)]
    with s_server(pki["leaf"], options, tmp_path) as port:
        row = _scan(pki, port, ct_logs=tmp_path / "logs.json")
        plain = _scan(pki, port, ct_logs=tmp_path / "logs.json", protocols=False)
    assert row["sct_tls_count"] == 2
    assert (row["sct_count"], row["sct_valid"], row["sct_operators"]) == (2, 2, 2)
    assert row["ct_compliant"] is True and "ct_noncompliant" not in row["findings"]
    # Without the prober only the embedded SCTs are known: none.
    assert (plain["sct_count"], plain["ct_compliant"]) == (0, False)
    assert "ct_noncompliant" in plain["findings"]


def test_scts_of_a_stapled_ocsp_response_count_for_ct(
    pki: dict[str, Any], tmp_path: Path, cli: Callable[[Any], Result]
) -> None:
    """`scanner scan --protocols --ct-logs` against three s_servers stapling (-status_file) a
    response about the same leaf (no SCTs embedded, none in the TLS extension): with two SCTs
    from two operators' logs in its SingleResponse extensions (RFC 6962 3.3) the host meets
    Chrome's policy; the same response without the extension, and the one with the SCTs signed
    by a stranger instead of the CA (the staple is invalid), leave it non-compliant."""
    scts = _two_operators_scts(pki, tmp_path)
    plain = _ocsp(pki, pki["leaf"], ocsp.OCSPCertStatus.GOOD)
    stapled = {
        "with-scts": der.ocsp_with_scts(plain, pki["ca"].key, scts),
        "without": plain,
        "stranger": der.ocsp_with_scts(plain, rsa_ca("Stranger", FIXED).key, scts),
    }
    src, out = tmp_path / "in.csv", tmp_path / "out"
    ports: dict[int, str] = {}
    with contextlib.ExitStack() as stack:
        for case, response in stapled.items():
            folder = tmp_path / case
            folder.mkdir()
            (folder / "ocsp.der").write_bytes(response)
            options = ["-no_tls1_3", "-status_file", str(folder / "ocsp.der")]
            ports[stack.enter_context(s_server(pki["leaf"], options, folder))] = case
        src.write_text("host,port,ip\n" + "".join(f"{NAME},{p},127.0.0.1\n" for p in ports))
        args = ["--as-of", FIXED.isoformat(), "--ca-bundle", str(pki["ca_file"]), "--quiet"]
        args += ["--protocols", "--ct-logs", str(tmp_path / "logs.json"), "--no-revocation"]
        result = cli(["scan", src, "--out", out, *args])
    assert result.exit_code in (0, 1), result.output
    rows = {ports[r["port"]]: r for r in pq.read_table(out / "hosts.parquet").to_pylist()}
    assert sorted(rows) == ["stranger", "with-scts", "without"]
    for row in rows.values():
        assert row["sct_tls_count"] == 0 and row["ocsp_stapled"] is True
    good = rows["with-scts"]
    assert good["ocsp_stapled_status"] == "good"
    assert (good["sct_count"], good["sct_valid"], good["sct_operators"]) == (2, 2, 2)
    assert good["ct_compliant"] is True and "ct_noncompliant" not in good["findings"]
    bare = rows["without"]
    assert bare["ocsp_stapled_status"] == "good"
    assert (bare["sct_count"], bare["ct_compliant"]) == (0, False)
    assert "ct_noncompliant" in bare["findings"]
    forged = rows["stranger"]
    assert forged["ocsp_stapled_status"] == "invalid"
    assert (forged["sct_count"], forged["ct_compliant"]) == (0, False)
    assert "ct_noncompliant" in forged["findings"]


def test_tls13_only_leaves_the_cleartext_columns_null(pki: dict[str, Any], tmp_path: Path) -> None:
    with s_server(pki["leaf"], ["-tls1_3"], tmp_path) as port:
        row = _scan(pki, port)
    assert row["tls1_3"] is True and row["tls1_2"] is False and row["error_detail"] is None
    assert row["ocsp_stapled"] is row["sct_tls_count"] is row["nosni_leaf_sha256"] is None
    assert row["cipher_classes"] == [] and row["pq_kex"] is False


# --- post-quantum key exchange and large hellos --------------------------------------------


def test_post_quantum_server(pki: dict[str, Any]) -> None:
    with pyopenssl_server(pki["leaf"]) as port:
        row = _scan(pki, port)
    assert row["pq_kex"] is True and row["large_hello_ok"] is True
    assert "X25519MLKEM768" in row["groups"] and "no_pq_kex" not in row["findings"]


def test_a_middlebox_dropping_large_hellos(pki: dict[str, Any]) -> None:
    with pyopenssl_server(pki["leaf"]) as upstream, small_hello_shim(upstream) as port:
        row = _scan(pki, port)
    assert row["status"] == "ok"  # the main handshake's hello fits in one segment
    assert row["large_hello_ok"] is False and row["pq_kex"] is None
    assert "large_hello_intolerant" in row["findings"] and "no_pq_kex" not in row["findings"]


# --- hostile peers: the main handshake reaches a real server, the probes a hostile one ------


def _one_byte_writes(conn: socket.socket) -> None:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for b in server_hello(0xC02F):
        conn.sendall(bytes((b,)))
        time.sleep(0.0005)


HOSTILE: dict[str, tuple[Callable[[socket.socket], None], str]] = {
    "suite-never-offered": (lambda c: c.sendall(server_hello(0x0005)), "never offered"),
    "16-MiB-length": (
        lambda c: c.sendall(b"\x16\x03\x03\x00\x04\x02\xff\xff\xff" + bytes(1000)),
        "16777215",
    ),
    "hrr-loop": (lambda c: c.sendall(HRR), "never offered"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_probes_fail_and_say_which(pki: dict[str, Any], tmp_path: Path, case: str) -> None:
    behaviour, words = HOSTILE[case]
    with s_server(pki["leaf"], [], tmp_path) as real, behind_real(real, behaviour) as port:
        row = _scan(pki, port)
    assert row["status"] == "ok" and row["leaf_sha256"]  # the main handshake's row stands
    assert row["error_detail"].startswith("probes failed: ") and words in row["error_detail"]
    if case != "hrr-loop":  # what no probe established stays null
        assert row["tls1_3"] is None and row["ssl3"] is None
    assert row["grade_basis"] == "certificate+protocols+ciphers"


def test_one_byte_writes_are_read(pki: dict[str, Any], tmp_path: Path) -> None:
    with s_server(pki["leaf"], [], tmp_path) as real, behind_real(real, _one_byte_writes) as port:
        row = _scan(pki, port)
    # Every hello is answered with a TLS 1.2 ServerHello for ECDHE-RSA-AES128-GCM-SHA256, one
    # byte a write: read whole where it was offered (TLS 1.2), a failure where it was not.
    assert row["tls1_2"] is True and row["tls1_3"] is None and row["tls1_0"] is None
    assert "tls1_3: the server selected cipher suite 0xc02f, never offered" in row["error_detail"]


# --- the CLI: ciphers.parquet, its CSV copy, scanner.load --------------------------------


def test_cli_writes_the_ciphers_table(
    pki: dict[str, Any], tmp_path: Path, cli: Callable[[Any], Result]
) -> None:
    src = tmp_path / "in.csv"
    with s_server(pki["leaf"], ["-cipher", ALL_CIPHERS, "-serverpref"], tmp_path) as port:
        src.write_text(f"host,port,ip\n{NAME},{port},127.0.0.1\n")
        out = tmp_path / "out"
        args = ["--as-of", FIXED.isoformat(), "--ca-bundle", str(pki["ca_file"]), "--quiet"]
        result = cli(["scan", src, "--out", out, "--ciphers", "--no-revocation", *args])
    assert result.exit_code in (0, 1), result.output
    table = pq.read_table(out / "ciphers.parquet")
    assert table.schema.field("code").type == "uint16" and table.num_rows > 30
    assert (out / "ciphers.csv").read_text().count("\n") == table.num_rows + 1
    loaded = scanner.load(out)
    assert loaded.ciphers is not None and len(loaded.ciphers) == table.num_rows
    hosts = loaded.hosts
    assert bool(hosts["tls1_0"].iloc[0]) and "null_cipher" in hosts["findings"].iloc[0]
    assert set(loaded.ciphers["host"]) == {NAME}
