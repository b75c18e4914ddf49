"""`scanner.scan(df.to_dict("records"))`: a pandas frame's records, where a column with a
missing value is a float column (8443.0) and the missing cell is NaN, scan like the CSV they
came from; and two rows that differ only in their `starttls` cell are two targets. Real
handshakes with the lab on loopback."""

from __future__ import annotations

from typing import Any

import pandas as pd

import scanner
from scanner.inputs.targets import Deduper, cell_text
from scanner.model.types import Target
from scanner.testing.lab import Lab
from tests.conftest import FIXED


def options(lab: Lab, lab_files: Any) -> dict[str, Any]:
    return {
        "as_of": FIXED,
        "ca_bundle": lab_files.ca,
        "timeout": 1.5,
        "nameservers": [lab.dns_address],
        "allow_private_fetch": True,
    }


def test_records_of_a_frame_with_missing_ports_scan(lab: Lab, lab_files: Any) -> None:
    valid, expired = lab.scenario("valid"), lab.scenario("expired")
    frame = pd.DataFrame(
        [
            {"host": valid.host, "port": valid.port, "ip": valid.ip, "owner": "web"},
            # The port given in the host cell; the port column is missing (NaN) here.
            {"host": f"{expired.host}:{expired.port}", "port": None, "ip": expired.ip},
        ]
    )
    assert frame["port"].dtype == "float64" and frame["owner"].isna().iloc[1]
    tables = scanner.scan(frame.to_dict("records"), **options(lab, lab_files))
    hosts = tables.hosts.sort_values("input_line")
    assert list(hosts["status"]) == ["ok", "ok"], list(hosts["error_detail"])
    assert list(hosts["port"]) == [valid.port, expired.port]
    assert list(hosts["host"]) == [valid.host, expired.host]
    assert "expired" in list(hosts["findings"].iloc[1])
    assert hosts["owner"].iloc[0] == "web" and hosts["owner"].iloc[1] in ("", None)


def test_rows_differing_only_in_starttls_are_two_targets(lab: Lab, lab_files: Any) -> None:
    smtp = lab.scenario("starttls_smtp")
    row = {"host": smtp.host, "port": smtp.port, "ip": smtp.ip}
    tables = scanner.scan(
        [{**row, "starttls": "smtp"}, {**row, "starttls": "none"}], **options(lab, lab_files)
    )
    hosts = tables.hosts.sort_values("input_line")
    assert len(hosts) == 2
    # Upgraded by STARTTLS it is a TLS server; spoken to in TLS from the first byte it is not.
    assert list(hosts["status"]) == ["ok", "error"]


def test_cell_text_reads_pandas_values_as_csv_cells() -> None:
    values = (None, float("nan"), pd.NA, pd.NaT, 8443.0, 1.5, 7, "x")
    assert [cell_text(v) for v in values] == ["", "", "", "", "8443", "1.5", "7", "x"]


def test_the_deduper_keys_on_the_starttls_cell() -> None:
    dedupe = Deduper(track=True)
    base = {"host": "mail.example", "port": 25, "ip": None, "is_ip": False}
    rows = [
        Target(row=2, starttls="smtp", **base),
        Target(row=3, starttls="none", **base),
        Target(row=4, starttls=None, **base),
        Target(row=5, starttls="smtp", **base),
    ]
    assert [dedupe.is_new(r) for r in rows] == [True, True, True, False]
    assert [(d.line, d.kept) for d in dedupe.dropped] == [(5, 2)]
