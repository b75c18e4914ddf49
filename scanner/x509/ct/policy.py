"""Checking SCTs against a log list, and Chrome's CT policy as a pure function of the checked
SCTs, the leaf's lifetime and the logs' states. Time is an input (`as_of`), never read from the
clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from scanner.x509.ct.logs import Log, LogList, LogState
from scanner.x509.ct.sct import (
    EntryType,
    Sct,
    SctSource,
    precert_entry,
    signature_valid,
    uint24_vector,
)

# --- checking SCTs ------------------------------------------------------------------------


class SctStatus(StrEnum):
    VALID = "valid"  # a known log signed it and its time is not after as-of
    NOT_CHECKED = "not_checked"  # no log list given
    UNKNOWN_LOG = "unknown_log"  # the log list does not name its log
    NO_ISSUER = "no_issuer"  # embedded, but the issuer is not known: cannot be checked
    INVALID_SIGNATURE = "invalid_signature"  # claims a known log, the signature fails
    FUTURE = "future"  # signed, but dated after as-of


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckedSct:
    sct: Sct
    status: SctStatus
    log: Log | None


def check_scts(
    scts: Sequence[Sct],
    *,
    leaf: x509.Certificate,
    issuer: x509.Certificate | None,
    logs: LogList | None,
    as_of: dt.datetime,
) -> tuple[CheckedSct, ...]:
    """Each SCT's status: embedded SCTs are checked over the precertificate entry (issuer key
    hash + TBS without the SCT list), TLS and OCSP ones over the leaf's DER (x509 entry).
    `issuer` is the certificate that signed the leaf (the built path's second certificate);
    None when the path has none, and embedded SCTs are then NO_ISSUER."""
    entries: dict[EntryType, bytes | None] = {}

    def entry_for(kind: EntryType) -> bytes | None:
        # Computed once per leaf; None: this leaf has no such entry (an embedded SCT given
        # for a leaf without the SCT list cannot be for it).
        if kind not in entries:
            if kind is EntryType.X509:
                entries[kind] = uint24_vector(leaf.public_bytes(serialization.Encoding.DER))
            else:
                assert issuer is not None
                try:
                    entries[kind] = precert_entry(leaf, issuer)
                except ValueError:
                    entries[kind] = None
        return entries[kind]

    out: list[CheckedSct] = []
    for sct in scts:
        log = logs.logs.get(sct.log_id) if logs is not None else None
        status: SctStatus
        if logs is None:
            status = SctStatus.NOT_CHECKED
        elif log is None:
            status = SctStatus.UNKNOWN_LOG
        elif sct.entry_type is EntryType.PRECERT and issuer is None:
            status = SctStatus.NO_ISSUER
        else:
            entry = entry_for(sct.entry_type)
            if entry is None or not signature_valid(sct, entry, log.key):
                status = SctStatus.INVALID_SIGNATURE
            elif sct.timestamp > as_of:
                status = SctStatus.FUTURE
            else:
                status = SctStatus.VALID
        out.append(CheckedSct(sct=sct, status=status, log=log))
    return tuple(out)


def earliest_sct(checked: Sequence[CheckedSct]) -> dt.datetime | None:
    """The leaf's date for a root program's SCT constraints (Chrome's sct_not_after_sec):
    the earliest verified SCT. Without a log list nothing can be verified, and the earliest
    SCT found stands in for it; None when there is none to use (the caller falls back on
    the notBefore)."""
    valid = [c.sct.timestamp for c in checked if c.status is SctStatus.VALID]
    if valid:
        return min(valid)
    unverified = [c.sct.timestamp for c in checked if c.status is SctStatus.NOT_CHECKED]
    return min(unverified, default=None)


# --- Chrome's CT policy ---------------------------------------------------------------------

SHORT_LIFETIME = dt.timedelta(days=180)
_CURRENT = (LogState.QUALIFIED, LogState.USABLE, LogState.READONLY)


def _counts(c: CheckedSct, *, current_only: bool) -> bool:
    """Whether a valid SCT's log state lets it count towards the policy."""
    log = c.log
    if c.status is not SctStatus.VALID or log is None or log.state is None:
        return False
    if log.state in (LogState.QUALIFIED, LogState.USABLE):
        return True
    if log.state is LogState.READONLY or (log.state is LogState.RETIRED and not current_only):
        # A log that stopped (or was retired) counts for SCTs it issued before the change.
        return log.state_since is None or c.sct.timestamp < log.state_since
    return False


@dataclass(frozen=True, slots=True, kw_only=True)
class CtPolicyVerdict:
    compliant: bool
    reason: str  # why not, or which delivery satisfied the policy


def chrome_ct_policy(checked: Sequence[CheckedSct], *, lifetime: dt.timedelta) -> CtPolicyVerdict:
    """Chrome's CT policy (https://googlechrome.github.io/CertificateTransparency/ct_policy.html,
    the rules in force since 2022-04-15, wording of 2024-07-25), with log states as the log
    list gives them (the state at the time of check is the list's current state):

    Embedded SCTs comply when (1) at least one is from a log Qualified, Usable or ReadOnly,
    (2) SCTs from at least N distinct logs count, N = 2 for a lifetime of 180 days or less and
    3 beyond, where an SCT counts if its log is Qualified or Usable, or ReadOnly or Retired and
    the SCT is older than that state, and (3) among those, at least two log operators.
    SCTs delivered by TLS extension or stapled OCSP comply when at least two, from distinct
    logs Qualified, Usable or ReadOnly (ReadOnly: older than that state), come from at least
    two operators. `lifetime` is notAfter - notBefore, as Chrome computes it.

    Departures from the page: an SCT of a ReadOnly log counts only when older than the
    ReadOnly timestamp (issue 20's rule; a ReadOnly log issues no new SCTs), and "at the time
    of check" is the list's current state, as log_list.json keeps no history."""
    embedded = [c for c in checked if c.sct.source is SctSource.EMBEDDED]
    delivered = [c for c in checked if c.sct.source is not SctSource.EMBEDDED]
    required = 2 if lifetime <= SHORT_LIFETIME else 3

    counted = [c for c in embedded if _counts(c, current_only=False)]
    logs = {c.sct.log_id for c in counted}
    operators = {c.log.operator for c in counted if c.log is not None}
    current = [c for c in counted if c.log is not None and c.log.state in _CURRENT]
    if current and len(logs) >= required and len(operators) >= 2:
        return CtPolicyVerdict(compliant=True, reason="embedded SCTs")

    tls = [c for c in delivered if _counts(c, current_only=True)]
    tls_logs = {c.sct.log_id for c in tls}
    tls_operators = {c.log.operator for c in tls if c.log is not None}
    if len(tls_logs) >= 2 and len(tls_operators) >= 2:
        return CtPolicyVerdict(compliant=True, reason="SCTs delivered by TLS or OCSP")

    if not checked:
        return CtPolicyVerdict(compliant=False, reason="no SCT")
    if embedded and not delivered:
        why = (
            f"{len(logs)} distinct log(s) of {required} required "
            f"(lifetime {'<=' if required == 2 else '>'} 180 days), "
            f"{len(operators)} operator(s) of 2 required"
            + ("" if current else ", none from a qualified, usable or readonly log")
        )
    else:
        why = (
            f"embedded: {len(logs)} log(s) of {required}, {len(operators)} operator(s); "
            f"TLS/OCSP: {len(tls_logs)} log(s) of 2, {len(tls_operators)} operator(s) of 2"
        )
    return CtPolicyVerdict(compliant=False, reason=why)


@dataclass(frozen=True, slots=True, kw_only=True)
class CtSummary:
    """The host's CT columns."""

    sct_count: int  # every SCT found, from every source
    sct_valid: int  # signed by a known log, not dated after as-of
    sct_operators: int  # distinct operators of the valid SCTs
    ct_compliant: bool | None  # None without a log list
    reason: str
    invalid: tuple[CheckedSct, ...]  # SCTs naming a known log whose signature fails


def summarize(
    checked: Sequence[CheckedSct], *, lifetime: dt.timedelta, have_log_list: bool
) -> CtSummary:
    valid = [c for c in checked if c.status is SctStatus.VALID]
    if have_log_list:
        verdict = chrome_ct_policy(checked, lifetime=lifetime)
        compliant: bool | None = verdict.compliant
        reason = verdict.reason
    else:
        compliant, reason = None, "no log list (--ct-logs): SCTs counted, not verified"
    return CtSummary(
        sct_count=len(checked),
        sct_valid=len(valid),
        sct_operators=len({c.log.operator for c in valid if c.log is not None}),
        ct_compliant=compliant,
        reason=reason,
        invalid=tuple(c for c in checked if c.status is SctStatus.INVALID_SIGNATURE),
    )
