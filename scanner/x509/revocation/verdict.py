"""What the evidence says about one certificate of the path (shared by the CRL and OCSP
checks and the path judgement)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from scanner.model.types import Revocation, RevocationSource

Status = Revocation
Source = RevocationSource


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """What the evidence says about one certificate."""

    status: Status
    source: Source | None = None
    url: str | None = None
    why: str | None = None  # for unknown
    revoked_at: dt.datetime | None = None
    reason: str | None = None


def ts(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
