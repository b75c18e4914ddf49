"""What a root program says, whatever its published format: the trust anchors by SHA-256, each
with the constraints (Chrome) or distrust date (Mozilla) the program puts on it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from scanner.errors import TrustStoreError


class RootProgramError(TrustStoreError):
    """A --root-program file that is neither format, or a malformed one: the message names the
    file and says why."""


class ProgramKind(StrEnum):
    CHROME = "chrome_root_store"  # root_store.textproto
    MOZILLA = "mozilla_certdata"  # certdata.txt


@dataclass(frozen=True, slots=True, kw_only=True)
class ConstraintSet:
    """One of Chrome's `ConstraintSet`s: every constraint that is set must hold (AND).
    Field meanings are those of chrome_root_store's root_store.proto."""

    # At least one (verified) SCT of the leaf at or before this instant.
    sct_not_after: dt.datetime | None = None
    # Every SCT of the leaf strictly after this instant.
    sct_all_after: dt.datetime | None = None
    # The judging Chrome's version is >= min_version / < max_version_exclusive (Chrome's
    # browser version, "127.0.6533.0", not a TLS version).
    min_version: tuple[int, ...] | None = None
    max_version_exclusive: tuple[int, ...] | None = None
    # Every DNS name of the leaf lies within one of these.
    permitted_dns_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Anchor:
    sha256: str  # lower-case hex of the certificate's DER
    label: str  # Mozilla's CKA_LABEL; Chrome's display_name when given, else ""
    # Chrome: the anchor is trusted when ANY set holds (OR); empty: unconstrained.
    constraints: tuple[ConstraintSet, ...] = ()
    # Mozilla's CKA_NSS_SERVER_DISTRUST_AFTER: leaves whose notBefore is after it are distrusted.
    server_distrust_after: dt.datetime | None = None
    der: bytes | None = None  # certdata.txt carries the certificate; the textproto does not


@dataclass(frozen=True, slots=True, kw_only=True)
class RootProgram:
    kind: ProgramKind
    source: str  # the file as the user named it, for messages
    sha256: str  # of the file's bytes, for scan.json
    anchors: Mapping[str, Anchor] = field(default_factory=dict)  # by SHA-256 hex
    # The newest date the file states (a constraint's cutoff, a distrust date, an anchor's
    # notBefore): a stale file shows here. None when it states none.
    newest_date: dt.datetime | None = None
    version: int | None = None  # Chrome's version_major

    @property
    def anchor_count(self) -> int:
        return len(self.anchors)
