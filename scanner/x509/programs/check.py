"""A root program's judgement of a built path: which anchor the path ends at, and whether the
constraints the program puts on that anchor hold for the leaf. Pure: the path, the leaf's
earliest verified SCT time and the Chrome version judged as are inputs."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from scanner.model.timefmt import utc_z as _iso
from scanner.x509.programs.model import Anchor, ConstraintSet, RootProgram


class Rule(StrEnum):
    """The program's rule a leaf broke, by the name the program's file gives it."""

    SCT_NOT_AFTER = "sct_not_after_sec"
    SCT_ALL_AFTER = "sct_all_after_sec"
    MIN_VERSION = "min_version"
    MAX_VERSION = "max_version_exclusive"
    PERMITTED_DNS_NAMES = "permitted_dns_names"
    SERVER_DISTRUST_AFTER = "CKA_NSS_SERVER_DISTRUST_AFTER"


class LeafDate(StrEnum):
    EARLIEST_SCT = "earliest_sct"  # the earliest verified SCT's timestamp
    NOT_BEFORE = "not_before"  # the leaf's notBefore (no SCT, or Mozilla's rule)


@dataclass(frozen=True, slots=True, kw_only=True)
class NotAnchored:
    """No certificate of the path is one of the program's anchors."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgramTrusted:
    root_sha256: str
    root_label: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgramDistrusted:
    root_sha256: str
    root_label: str
    rule: Rule
    cutoff: str  # an ISO 8601 instant (dates), a Chrome version, or the permitted names
    leaf_date: dt.datetime | None  # what the cutoff was compared with (date rules only)
    leaf_date_source: LeafDate | None
    detail: str  # one line for the finding's message

    @property
    def message(self) -> str:
        root = self.root_label or self.root_sha256
        return f"root {root}: {self.rule}: {self.detail}"


Verdict = NotAnchored | ProgramTrusted | ProgramDistrusted


def _sha256(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def _dns_names(leaf: x509.Certificate) -> list[str]:
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [n.lower().rstrip(".") for n in san.get_values_for_type(x509.DNSName)]


def _within(name: str, permitted: str) -> bool:
    return name == permitted or name.endswith("." + permitted)


def _version_text(v: tuple[int, ...]) -> str:
    return ".".join(map(str, v))


@dataclass(frozen=True, slots=True)
class _Failure:
    rule: Rule
    cutoff: str
    leaf_date: dt.datetime | None
    source: LeafDate | None
    detail: str


def _failures(
    cs: ConstraintSet,
    leaf: x509.Certificate,
    earliest_sct: dt.datetime | None,
    chrome_version: tuple[int, ...] | None,
) -> list[_Failure]:
    """Every constraint of the set that does not hold (empty: the set is satisfied)."""
    out: list[_Failure] = []
    # Chrome compares SCT timestamps; the rule: the notBefore where there is no SCT.
    when, source = (
        (earliest_sct, LeafDate.EARLIEST_SCT)
        if earliest_sct is not None
        else (leaf.not_valid_before_utc, LeafDate.NOT_BEFORE)
    )
    what = "earliest SCT" if source is LeafDate.EARLIEST_SCT else "notBefore (no SCT)"
    if cs.sct_not_after is not None and when > cs.sct_not_after:
        out.append(
            _Failure(
                Rule.SCT_NOT_AFTER,
                _iso(cs.sct_not_after),
                when,
                source,
                f"leaf's {what} {_iso(when)} is after the cutoff {_iso(cs.sct_not_after)}",
            )
        )
    if cs.sct_all_after is not None and when <= cs.sct_all_after:
        out.append(
            _Failure(
                Rule.SCT_ALL_AFTER,
                _iso(cs.sct_all_after),
                when,
                source,
                f"leaf's {what} {_iso(when)} is not after {_iso(cs.sct_all_after)}",
            )
        )
    # chrome_version None: judged as the newest Chrome (every min_version holds, no
    # max_version_exclusive does).
    if (
        cs.min_version is not None
        and chrome_version is not None
        and chrome_version < cs.min_version
    ):
        v = _version_text(cs.min_version)
        out.append(
            _Failure(Rule.MIN_VERSION, v, None, None, f"Chrome before {v} does not trust it")
        )
    if cs.max_version_exclusive is not None and (
        chrome_version is None or chrome_version >= cs.max_version_exclusive
    ):
        v = _version_text(cs.max_version_exclusive)
        out.append(
            _Failure(Rule.MAX_VERSION, v, None, None, f"Chrome {v} and later do not trust it")
        )
    if cs.permitted_dns_names:
        outside = [
            n for n in _dns_names(leaf) if not any(_within(n, p) for p in cs.permitted_dns_names)
        ]
        if outside:
            allowed = ", ".join(cs.permitted_dns_names)
            out.append(
                _Failure(
                    Rule.PERMITTED_DNS_NAMES,
                    allowed,
                    None,
                    None,
                    f"{outside[0]} is outside the permitted names {allowed}",
                )
            )
    return out


def _distrusted(anchor: Anchor, f: _Failure) -> ProgramDistrusted:
    return ProgramDistrusted(
        root_sha256=anchor.sha256,
        root_label=anchor.label,
        rule=f.rule,
        cutoff=f.cutoff,
        leaf_date=f.leaf_date,
        leaf_date_source=f.source,
        detail=f.detail,
    )


_VERSION_RULES = (Rule.MIN_VERSION, Rule.MAX_VERSION)


def check(
    program: RootProgram,
    path: Sequence[x509.Certificate],
    *,
    earliest_sct: dt.datetime | None,
    chrome_version: tuple[int, ...] | None = None,
) -> Verdict:
    """The program's verdict on `path` (leaf first). The anchor is the certificate nearest the
    root end of the path that the program lists. Chrome (root_store.proto): with constraint
    sets, the anchor is trusted when at least one set holds in full. Mozilla (NSS): a leaf whose
    notBefore is after the anchor's CKA_NSS_SERVER_DISTRUST_AFTER is distrusted.
    `earliest_sct` is the earliest timestamp among the leaf's verified SCTs (None: none)."""
    if not path:
        return NotAnchored()
    leaf = path[0]
    anchor = next(
        (a for a in (program.anchors.get(_sha256(c)) for c in reversed(path)) if a is not None),
        None,
    )
    if anchor is None:
        return NotAnchored()
    if anchor.server_distrust_after is not None:
        nb = leaf.not_valid_before_utc
        if nb > anchor.server_distrust_after:
            cutoff = _iso(anchor.server_distrust_after)
            return _distrusted(
                anchor,
                _Failure(
                    Rule.SERVER_DISTRUST_AFTER,
                    cutoff,
                    nb,
                    LeafDate.NOT_BEFORE,
                    f"leaf's notBefore {_iso(nb)} is after the distrust date {cutoff}",
                ),
            )
    if anchor.constraints:
        failed = [_failures(cs, leaf, earliest_sct, chrome_version) for cs in anchor.constraints]
        if any(not f for f in failed):
            return ProgramTrusted(root_sha256=anchor.sha256, root_label=anchor.label)
        # Name the rule that matters for this Chrome: from a set whose version bounds hold.
        for fs in failed:
            if not any(f.rule in _VERSION_RULES for f in fs):
                return _distrusted(anchor, fs[0])
        return _distrusted(anchor, failed[0][0])
    return ProgramTrusted(root_sha256=anchor.sha256, root_label=anchor.label)
