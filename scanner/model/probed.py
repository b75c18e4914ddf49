"""What `--protocols` (and `--ciphers`) concluded about one host beyond its versions: the
prober's facts (scanner.model.hello) with what the run judged of them (the stapled OCSP
response verified against the built path, the leaf's must-staple). Made by scanner.run.clients,
read by the findings, the grade and the rows."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from scanner.model.hello import HelloFacts


class Stapled(StrEnum):
    """A stapled OCSP response, verified exactly as a fetched one (RFC 6960 3.2)."""

    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"  # the responder does not know the certificate
    INVALID = "invalid"  # unparsable, wrong certificate, bad signature, stale


@dataclass(frozen=True, slots=True, kw_only=True)
class HelloReport:
    facts: HelloFacts
    ciphers: bool  # --ciphers: facts.suites holds every accepted suite (ciphers.parquet)
    stapled: Stapled | None  # None: nothing stapled, or the flight was not read
    must_staple: bool  # the leaf carries the TLS feature status_request (RFC 7633)
    sct_count: int | None  # SCTs in the TLS extension (None: the flight was not read)
