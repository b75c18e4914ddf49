"""What the evidence says about one certificate of the path (shared by the CRL and OCSP
checks and the path judgement)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from scanner.model.timefmt import utc_z as ts
from scanner.model.types import Revocation, RevocationSource

__all__ = ["Source", "Status", "Verdict", "ts"]

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
