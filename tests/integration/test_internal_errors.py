"""A bug of ours is never dressed up as a finding about the server: an exception the
certificate code does not expect (here a TypeError injected where cryptography is called)
becomes the host's `internal` row and counts in internal_errors, instead of turning the
certificate into `unparseable_certificate` or the chain into `issuer_not_found`."""

from __future__ import annotations

import datetime as dt
import types
from typing import Any

import pytest
from cryptography import x509

import scanner
from scanner.testing.lab import Lab
from scanner.x509 import certs

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def _rows(lab: Lab, lab_files: Any) -> list[dict[str, str]]:
    return [r for r in lab_files.rows if r["scenario"] in {"valid", "refused"}]


def _scan(lab: Lab, lab_files: Any) -> Any:
    return scanner.scan(
        _rows(lab, lab_files),
        as_of=FIXED,
        ca_bundle=lab_files.ca,
        timeout=1.5,
        nameservers=[lab.dns_address],
    )


def test_a_bug_in_certificate_parsing_is_an_internal_row(
    lab: Lab, lab_files: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def buggy(der: bytes) -> x509.Certificate:
        raise TypeError("a bug of ours")

    broken = types.SimpleNamespace(**vars(x509))
    broken.load_der_x509_certificate = buggy
    monkeypatch.setattr(certs, "x509", broken)
    tables = _scan(lab, lab_files)
    hosts = tables.hosts.set_index("scenario")
    valid = hosts.loc["valid"]
    assert (valid["status"], valid["error"]) == ("error", "internal")
    assert "TypeError: a bug of ours" in valid["error_detail"]
    assert hosts.loc["refused"]["error"] == "refused"  # other hosts are scanned as usual
    assert tables.meta[0]["internal_errors"] == 1
    assert "unparseable_certificate" not in set(tables.findings["code"])


def test_without_the_bug_the_same_hosts_are_fine(lab: Lab, lab_files: Any) -> None:
    tables = _scan(lab, lab_files)
    hosts = tables.hosts.set_index("scenario")
    assert hosts.loc["valid"]["status"] == "ok" and bool(hosts.loc["valid"]["trusted"])
    assert tables.meta[0]["internal_errors"] == 0
