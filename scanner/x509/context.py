"""What a diagnosis is judged against, in one frozen value: the trust store, the as-of instant,
the warning window, the renewal fraction, the AIA answers fetched for the host, the scan's
memo, whether the chain was read from a file, and the root programs and CT log list. Made once
per scan (per check); per host only when AIA fetched."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from scanner.errors import UsageError
from scanner.model.types import AiaResult
from scanner.x509.certs import TrustStore
from scanner.x509.memo import Memo

if TYPE_CHECKING:  # (loaded with --root-program and --ct-logs: a scan without them skips them)
    from scanner.x509.ct.logs import LogList
    from scanner.x509.programs.named import NamedProgram

NOTHING_FETCHED: Mapping[str, AiaResult] = MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class DiagnosisContext:
    trust: TrustStore
    # Timezone-aware; kept to the second: validity has one-second granularity (RFC 5280
    # 4.1.2.5, notAfter 00:00:00Z covers all of that second, as cryptography's verifier reads
    # it: x509-limbo notafter-fractional), and so do CRL and OCSP times.
    as_of: dt.datetime
    warn_days: int = 30
    renew_at: float = 2 / 3  # --renew-at: the fraction of the leaf's lifetime to renew at
    # AIA results for the URLs an earlier diagnosis's `aia_wanted` asked for (missing ones
    # count as not fetched). The run fills one host's dict between diagnoses.
    fetched: Mapping[str, AiaResult] = field(default_factory=lambda: NOTHING_FETCHED)
    memo: Memo = field(default_factory=Memo)  # the scan's memory of repeated work
    offline: bool = False  # a chain read from a file, not sent by a server (`scanner check`)
    # How browsers decide (issue 20): --root-program programs in option order, --ct-logs.
    programs: tuple[NamedProgram, ...] = ()
    log_list: LogList | None = None

    def __post_init__(self) -> None:
        if self.as_of.tzinfo is None:
            raise UsageError("as_of must be timezone-aware")
        if self.as_of.microsecond:
            object.__setattr__(self, "as_of", self.as_of.replace(microsecond=0))

    def with_trust(self, trust: TrustStore) -> DiagnosisContext:
        """The same judgement against another store (--trust-store)."""
        return dataclasses.replace(self, trust=trust)

    def with_fetched(self, fetched: Mapping[str, AiaResult]) -> DiagnosisContext:
        return dataclasses.replace(self, fetched=fetched)
