"""Chrome's root store in its published text form, `root_store.textproto` (chromium
net/data/ssl/chrome_root_store/, schema net/cert/root_store.proto): `trust_anchors` by
`sha256_hex` (or inline `der`), each with repeated `constraints` (ConstraintSet)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

from scanner.x509.programs import textproto as tp
from scanner.x509.programs.model import (
    Anchor,
    ConstraintSet,
    ProgramKind,
    RootProgram,
    RootProgramError,
)

_HEX64 = re.compile(r"[0-9a-f]{64}")
_VERSION = re.compile(r"[0-9]+(?:\.[0-9]+){0,3}")
# sct_*_sec beyond year 9999 cannot be a datetime: refuse rather than clamp.
_MAX_SEC = 253_402_300_799


def looks_like(text: str) -> bool:
    """A top-level `trust_anchors` field: the mark of root_store.textproto."""
    return re.search(r"(?m)^\s*trust_anchors\s*:?\s*[{<]", text) is not None


def _fail(source: str, line: int, why: str) -> RootProgramError:
    return RootProgramError(
        f"{source}: not a usable Chrome root_store.textproto: line {line}: {why}"
    )


def _seconds(f: tp.Field, source: str) -> dt.datetime:
    if not isinstance(f.value, int) or not 0 <= f.value <= _MAX_SEC:
        raise _fail(source, f.line, f"{f.name} must be seconds since 1970, not {f.value!r}")
    return dt.datetime.fromtimestamp(f.value, dt.UTC)


def _version(f: tp.Field, source: str) -> tuple[int, ...]:
    if not isinstance(f.value, str) or not _VERSION.fullmatch(f.value):
        raise _fail(source, f.line, f'{f.name} must be a Chrome version like "127.0.6533.0"')
    return tuple(int(p) for p in f.value.split("."))


def _constraint_set(msg: tp.Message, source: str) -> ConstraintSet:
    not_after: dt.datetime | None = None
    all_after: dt.datetime | None = None
    min_version: tuple[int, ...] | None = None
    max_version: tuple[int, ...] | None = None
    names: list[str] = []
    for f in msg.fields:
        match f.name:
            case "sct_not_after_sec":
                not_after = _seconds(f, source)
            case "sct_all_after_sec":
                all_after = _seconds(f, source)
            case "min_version":
                min_version = _version(f, source)
            case "max_version_exclusive":
                max_version = _version(f, source)
            case "permitted_dns_names":
                if not isinstance(f.value, str) or not f.value:
                    raise _fail(source, f.line, "permitted_dns_names must be a DNS name")
                names.append(f.value.lower().rstrip("."))
            case _:
                # A constraint this reader does not know cannot be judged: trusting the root
                # regardless would be wrong, so the file is refused rather than misread.
                raise _fail(source, f.line, f"unknown constraint {f.name}")
    return ConstraintSet(
        sct_not_after=not_after,
        sct_all_after=all_after,
        min_version=min_version,
        max_version_exclusive=max_version,
        permitted_dns_names=tuple(names),
    )


def _anchor(field: tp.Field, source: str) -> Anchor:
    msg = field.value
    if not isinstance(msg, tp.Message):
        raise _fail(source, field.line, "trust_anchors must be a message")
    sha256: str | None = None
    der: bytes | None = None
    label = ""
    sets: list[ConstraintSet] = []
    for f in msg.fields:
        match f.name:
            case "sha256_hex":
                if not isinstance(f.value, str) or not _HEX64.fullmatch(f.value.lower()):
                    raise _fail(source, f.line, "sha256_hex must be 64 hexadecimal digits")
                sha256 = f.value.lower()
            case "der":
                if not isinstance(f.value, str):
                    raise _fail(source, f.line, "der must be a string of bytes")
                der = f.value.encode("latin-1")
                sha256 = hashlib.sha256(der).hexdigest()
            case "constraints":
                if not isinstance(f.value, tp.Message):
                    raise _fail(source, f.line, "constraints must be a message")
                sets.append(_constraint_set(f.value, source))
            case "display_name":
                label = f.value if isinstance(f.value, str) else ""
            case _:
                pass  # ev_policy_oids, eutl, trust anchor ids...: not about TLS trust
    if sha256 is None:
        raise _fail(source, field.line, "a trust anchor without sha256_hex or der")
    return Anchor(sha256=sha256, label=label, constraints=tuple(sets), der=der)


def read(text: str, *, source: str, sha256: str) -> RootProgram:
    try:
        top = tp.parse(text)
    except tp.TextprotoError as e:
        raise RootProgramError(f"{source}: not a usable Chrome root_store.textproto: {e}") from e
    anchors: dict[str, Anchor] = {}
    version: int | None = None
    for f in top.fields:
        if f.name == "trust_anchors":
            a = _anchor(f, source)
            if a.sha256 in anchors:
                raise _fail(source, f.line, f"trust anchor {a.sha256} listed twice")
            anchors[a.sha256] = a
        elif f.name == "version_major" and isinstance(f.value, int):
            version = f.value
    if not anchors:
        raise RootProgramError(f"{source}: a Chrome root_store.textproto with no trust_anchors")
    dates = [
        d
        for a in anchors.values()
        for c in a.constraints
        for d in (c.sct_not_after, c.sct_all_after)
        if d is not None
    ]
    return RootProgram(
        kind=ProgramKind.CHROME,
        source=source,
        sha256=sha256,
        anchors=anchors,
        newest_date=max(dates, default=None),
        version=version,
    )
