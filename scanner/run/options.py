"""What a scan is asked to do: every option of `scanner scan` and `scanner.scan` declared once,
as a field of `ScanOptions` carrying an `Option` (help, validation, whether it changes verdicts,
how the CLI spells it, how scan.json records it). The CLI's parameters, the Python API's
signature, the resume record and the run's config are derived from the declarations. Light to
import: the CLI builds its parameters from it before loading the scan machinery."""

from __future__ import annotations

import datetime as dt
import inspect
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypedDict

from scanner.errors import UsageError
from scanner.inputs import options as values
from scanner.inputs.targets import Shard
from scanner.model.types import STARTTLS_CHOICES, Addresses
from scanner.store.location import path_or_url

ProgressFn = Callable[[int, int, int], None]  # (done, total, failed)
NotifyFn = Callable[[str], None]  # a message for the person running the scan, at once
Surface = Literal["cli", "api"]  # the command line, or keyword arguments from Python
Parse = Callable[[Any], Any]  # a value as a surface gives it -> the field's; UsageError(reason)


def _same(value: Any) -> Any:
    return value


_BY_DEFAULT: Any = object()  # `Option.given` when the field's default decides


@dataclass(frozen=True, slots=True, kw_only=True)
class Option:
    """One option's declaration, carried in its field's metadata (see `option`)."""

    help: str
    # Changes what a host is judged (or which hosts are scanned): a resume refuses a change, and
    # the shards of one run must agree on it. False: only how fast or by which route hosts are
    # reached (or not recorded at all).
    verdict: bool
    parse: Parse = _same  # validation and conversion, for every surface alike
    # Where a surface leaves it out: the field's default unless that is not a plain value (then
    # None, which `parse` reads as the default); `given` overrides that.
    given: Any = _BY_DEFAULT
    cli: bool = True  # a parameter of `scanner scan`
    flags: tuple[str, ...] = ()  # as typed; default `--field-name` (`--name/--no-name` for a bool)
    cli_type: Any = None  # what typer parses when not the default's type (the item when repeatable)
    repeatable: bool = False  # the CLI takes it many times (a list)
    negatable: bool = True  # a bool has its `--no-` form too
    metavar: str | None = None
    hidden: bool = False
    argument: bool = False  # positional on the command line
    api: bool = True  # a keyword of `scanner.scan` / `scan_async`
    record: str | None = ""  # its key in scan.json's options ("" the field's name, None: none)
    to_record: Callable[[Any], object] = _same  # its value there (JSON)
    refused_as: str | None = None  # how a refused resume names it, when not `--record-key`


def option(default: Any = MISSING, **declared: Any) -> Any:
    """A field of an options dataclass with its declaration (`Option`'s fields as keywords)."""
    return field(default=default, metadata={"option": Option(**declared)})


def declared(cls: type) -> tuple[tuple[Field[Any], Option], ...]:
    """The declared fields of an options dataclass, in order, with their declarations."""
    return tuple((f, f.metadata["option"]) for f in fields(cls) if "option" in f.metadata)


def flag_name(f: Field[Any], o: Option) -> str:
    """The option as the command line spells it (`--aia/--no-aia` for a negatable bool)."""
    if o.flags:
        return o.flags[0]
    name = "--" + f.name.replace("_", "-")
    return f"{name}/--no-{name[2:]}" if isinstance(f.default, bool) and o.negatable else name


def surface_default(f: Field[Any], o: Option) -> Any:
    """What a surface that leaves the option out passes to `parse` (MISSING: it is required)."""
    if o.given is not _BY_DEFAULT:
        return o.given
    if f.default is MISSING or isinstance(f.default, bool | int | float | str):
        return f.default
    return None


def label(f: Field[Any], o: Option, surface: Surface) -> str:
    return flag_name(f, o).split("/")[0] if surface == "cli" else f.name


def parse_options(cls: type, given: Mapping[str, Any], surface: Surface) -> dict[str, Any]:
    """The field values of `cls` from what `surface` gave (keyed by field name), each
    validated by its declaration; fields not on the surface keep their defaults. Raises
    UsageError naming the option as the surface spells it."""
    on_surface = {f.name: (f, o) for f, o in declared(cls) if getattr(o, surface)}
    unknown = sorted(set(given) - set(on_surface))
    if unknown:
        raise UsageError(
            f"unknown option(s) {', '.join(unknown)}; expected {', '.join(sorted(on_surface))}"
        )
    parsed: dict[str, Any] = {}
    for name, (f, o) in on_surface.items():
        raw = given.get(name, surface_default(f, o))
        if raw is MISSING:
            raise UsageError(f"{label(f, o, surface)}: required")
        try:
            parsed[name] = o.parse(raw)
        except UsageError as e:
            reason = str(e).removeprefix(f"{f.name}: ")
            flag = label(f, o, "cli")
            message = reason if reason.startswith(flag) else f"{label(f, o, surface)}: {reason}"
            raise UsageError(message) from None
    return parsed


# --- parsers: a value as the CLI or Python gives it -> the field's value ----------------------


def _number(value: Any, whole: bool) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) if whole else isinstance(value, int | float)


def whole(low: int, high: int | None = None, *, optional: bool = False) -> Parse:
    """A whole number from `low` (to `high`); None too when `optional`."""
    span = f"from {low} to {high}" if high is not None else f">= {low}"
    bounds = f"{low}<=x<={high}" if high is not None else f"x>={low}"

    def parse(value: Any) -> int | None:
        if value is None and optional:
            return None
        if not _number(value, True) or value < low or (high is not None and value > high):
            raise UsageError(f"expected a whole number {span}, not {value!r}")
        return int(value)

    parse.bounds = bounds  # type: ignore[attr-defined]
    return parse


def seconds(low: float) -> Parse:
    def parse(value: Any) -> float:
        if not _number(value, False) or value < low:
            raise UsageError(f"expected a number of seconds >= {low:g}, not {value!r}")
        return float(value)

    parse.bounds = f"x>={low:g}"  # type: ignore[attr-defined]
    return parse


def switch(value: Any) -> bool:
    if not isinstance(value, bool):
        raise UsageError(f"expected True or False, not {value!r}")
    return value


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise UsageError(f"expected text, not {value!r}")
    return value


def choice(choices: Sequence[str]) -> Parse:
    """One of `choices`, in any case."""

    def parse(value: Any) -> str:
        if not isinstance(value, str) or value.lower() not in choices:
            raise UsageError(f"{value!r} is not one of {', '.join(choices)}")
        return value.lower()

    return parse


def to_location(value: Any) -> Path | str:
    """A local path, or a URL kept as text."""
    if isinstance(value, Path):
        return value
    return path_or_url(text(value))


def _path(value: Any) -> Path:
    if not isinstance(value, str | os.PathLike):
        raise UsageError(f"expected a file path, not {value!r}")
    return Path(value)


def to_path_or_none(value: Any) -> Path | None:
    return None if value is None else _path(value)


def _many(value: Any) -> Iterable[Any]:
    """A repeatable option's values: None none, one text one, else an iterable of them."""
    if value is None:
        return ()
    if isinstance(value, str | os.PathLike | tuple):
        return (value,)
    if isinstance(value, Mapping) or not isinstance(value, Iterable):
        raise UsageError(f"expected a list, not {value!r}")
    return value


def to_paths(value: Any) -> tuple[Path, ...]:
    return tuple(_path(v) for v in _many(value))


def to_instant(value: Any) -> dt.datetime:
    """ISO 8601 text (UTC unless given) or an aware datetime; None is now (read here, the edge)."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        raise UsageError("a datetime must be timezone-aware (or ISO 8601 text, read as UTC)")
    return values.parse_as_of(value, now=dt.datetime.now(dt.UTC))


def to_nameservers(value: Any) -> tuple[tuple[str, int], ...]:
    """`IP[:PORT]` texts or (ip, port) pairs."""
    many = (value,) if isinstance(value, tuple) and len(value) == 2 else _many(value)
    return tuple(values.parse_nameserver(v) for v in many)


def to_trust_stores(value: Any) -> tuple[tuple[str, Path], ...]:
    """`NAME=PEM` texts, or a mapping of name to PEM path, in order."""
    from scanner.store.trust import parse_trust_store

    items = value.items() if isinstance(value, Mapping) else None
    texts = [f"{n}={p}" for n, p in items] if items is not None else _many(value)
    return tuple(parse_trust_store(text(t)) for t in texts)


def to_addresses(value: Any) -> Addresses:
    return Addresses(choice([a.value for a in Addresses])(value))


def to_shard(value: Any) -> Shard:
    if value is None:
        return Shard(1, 1)
    return value if isinstance(value, Shard) else Shard.parse(text(value))


def _resolved(path: Path | None) -> str | None:
    return str(path.resolve()) if path is not None else None


# --- the options -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanOptions:
    """The options of a scan, in the order `scanner scan --help` lists them."""

    input: Path | str = field(  # a local path, or a URL (s3://, https://...)
        metadata={
            "option": Option(
                help="CSV with a 'host' column (optional 'port', 'ip', 'starttls'): a path or a "
                "URL (s3://bucket/hosts.csv, https://...).",
                verdict=False,  # its contents are compared by SHA-256 on resume
                parse=to_location,
                argument=True,
                cli_type=str,
                api=False,
                record=None,
            )
        }
    )
    out: Path | str = field(  # a local folder, or a URL of object storage (s3://bucket/prefix)
        metadata={
            "option": Option(
                help="Output folder for the tables: a path, or object storage (s3://bucket/prefix "
                "with the s3 extra; other fsspec URLs such as gs://).",
                verdict=False,
                parse=to_location,
                flags=("--out", "-o"),
                cli_type=str,
                api=False,
                record=None,
            )
        }
    )
    concurrency: int = option(100, help="Hosts in flight.", verdict=False, parse=whole(1, 10000))
    timeout: float = option(
        10.0,
        help="Seconds per host (per address with --addresses all) for DNS, connect, STARTTLS, "
        "handshake and AIA fetching.",
        verdict=False,
        parse=seconds(0.1),
    )
    as_of: dt.datetime = field(
        metadata={
            "option": Option(
                help="Judge validity at this ISO 8601 instant (UTC unless given); default now.",
                verdict=True,  # recorded beside the options, as scan.json's `as_of`
                parse=to_instant,
                given=None,
                cli_type=str | None,
                record=None,
            )
        }
    )
    ca_bundle: Path | None = option(
        None,
        help="PEM trust store; default Mozilla's roots (certifi).",
        verdict=False,  # its contents decide verdicts: recorded by SHA-256 beside the options
        parse=to_path_or_none,
        cli_type=Path | None,
        to_record=_resolved,
    )
    warn_days: int = option(
        30,
        help="Days before notAfter that count as expiring soon.",
        verdict=True,
        parse=whole(0),
        flags=("--expiry-warn-days",),
        record="expiry_warn_days",
    )
    aia: bool = option(
        True,
        help="Fetch missing intermediates from caIssuers URLs.",
        verdict=True,
        parse=switch,
        refused_as="--aia/--no-aia",
    )
    aia_timeout: float = option(
        5.0, help="Seconds per AIA, CRL or OCSP fetch.", verdict=False, parse=seconds(0.1)
    )
    revocation: bool = option(
        True,
        help="Check every certificate of the path below the root against its CA's CRL, or OCSP "
        "when it has no usable CRL.",
        verdict=True,
        parse=switch,
    )
    crl_files: tuple[Path, ...] = option(
        (),
        help="A CRL file (DER or PEM), used before any fetch (repeatable).",
        verdict=True,
        parse=to_paths,
        flags=("--crl",),
        cli_type=Path,
        repeatable=True,
        record="crl",
        to_record=lambda v: [str(p.resolve()) for p in v],
    )
    crl_max_bytes: int = option(
        20 * 1024 * 1024,
        help="Largest CRL to fetch, in bytes; a bigger one leaves revocation unknown.",
        verdict=True,
        parse=whole(1),
    )
    allow_private_fetch: bool = option(
        False,
        help="Let AIA, CRL and OCSP URLs reach loopback, link-local, multicast, unspecified, "
        "CGNAT (100.64.0.0/10) or IPv6 unique local (fc00::/7) addresses, or IPv6 forms "
        "carrying such an IPv4 address (private RFC 1918 ranges are always allowed).",
        verdict=True,
        parse=switch,
        negatable=False,
    )
    nameservers: tuple[tuple[str, int], ...] = option(
        (),
        help="Resolve through this DNS server IP[:PORT] (repeatable) instead of the system "
        "resolver; /etc/hosts then does not apply.",
        verdict=False,
        parse=to_nameservers,
        flags=("--nameserver",),
        cli_type=str,
        repeatable=True,
        to_record=lambda v: [f"{h}:{p}" for h, p in v],
    )
    per_ip: int | None = option(
        None,
        help="At most this many connections in flight to one address.",
        verdict=False,
        parse=whole(1, optional=True),
        cli_type=int | None,
        api=False,
    )
    protocols: bool = option(
        False,
        help="Also probe each answering host for TLS 1.0, 1.1, 1.2 and 1.3 and static-RSA key "
        "exchange (one handshake after another, within a --timeout of their own, counted by "
        "--per-ip).",
        verdict=True,
        parse=switch,
        negatable=False,
    )
    trust_stores: tuple[tuple[str, Path], ...] = option(
        (),
        help="Also judge trust with this PEM root store, named NAME in trusted_by (repeatable; "
        "the --ca-bundle store is 'default').",
        verdict=False,  # their contents decide verdicts: recorded by SHA-256 beside the options
        parse=to_trust_stores,
        given=None,
        flags=("--trust-store",),
        cli_type=str,
        repeatable=True,
        metavar="NAME=PEM",
        to_record=lambda v: {name: str(path.resolve()) for name, path in v},
    )
    addresses: Addresses = option(
        Addresses.FIRST,
        help="first: one row per target, from the first address that connects. all: every "
        "address of a name (A and AAAA) is its own row, and a name whose addresses serve "
        "different leaves gets the finding inconsistent_backends.",
        verdict=True,
        parse=to_addresses,
        cli_type=str,
        metavar="<first|all>",
        to_record=lambda v: v.value,
    )
    starttls: str = option(  # `auto`, `none` or a StartTls value (scanner.net.starttls.CHOICES)
        "auto",
        help="Speak this protocol before TLS: auto (by port: 25/587 smtp, 143 imap, 110 pop3, "
        "21 ftp, 389 ldap, 5222 xmpp, 5432 postgres; others direct TLS), none (always direct "
        "TLS), or smtp|imap|pop3|ftp|ldap|xmpp|postgres. A row's 'starttls' cell overrides it.",
        verdict=True,
        parse=choice(STARTTLS_CHOICES),
        metavar="auto|none|PROTO",
    )
    shard: Shard = option(
        Shard(1, 1),
        help="Scan only the K-th of N slices (K/N, K from 1), by a stable hash of host and "
        "port; each shard writes its own --out.",
        verdict=True,  # (which hosts are scanned)
        parse=to_shard,
        cli_type=str | None,
        api=False,
        to_record=str,
    )
    resume: bool = option(
        False,
        help="Continue the interrupted or killed scan in --out (at the as-of it started with, "
        "unless --as-of is given).",
        verdict=False,
        parse=switch,
        negatable=False,
        api=False,
        record=None,
    )
    overwrite: bool = option(
        False,
        help="Replace the scan already in --out (only a folder holding a scan is cleared, and "
        "only of the files a scan writes).",
        verdict=False,
        parse=switch,
        negatable=False,
        api=False,
        record=None,
    )
    encoding: str = option(  # of the input file
        "utf-8",
        help="The input file's text encoding (cp1252, latin-1...).",
        verdict=True,  # (how the input's rows are read)
        parse=text,
        api=False,
    )
    checkpoint_rows: int = option(
        2000,
        help="Hosts per checkpoint written to --out.",
        verdict=False,
        parse=whole(1),
        hidden=True,
        api=False,
        record=None,
    )
    checkpoint_seconds: float = 5.0  # (not an option: tests and benchmarks set it)
    # False when as_of is the default ("now"): a resume then judges at the instant recorded
    # when the scan started, and only an as_of given on purpose must equal it.
    as_of_given: bool = True

    def __post_init__(self) -> None:
        if self.resume and self.overwrite:
            raise UsageError("--resume and --overwrite exclude each other")

    @classmethod
    def parse(cls, given: Mapping[str, Any], surface: Surface = "cli") -> ScanOptions:
        """Options from what `surface` gave, keyed by field name; UsageError when one is wrong."""
        as_of_given = given.get("as_of") is not None
        return cls(**parse_options(cls, given, surface), as_of_given=as_of_given)


class ScanKeywords(TypedDict, total=False):
    """The options of `scanner.scan` and `scan_async` as Python passes them, for type checkers
    (`**options: Unpack[ScanKeywords]`). The declarations above decide what each keyword means;
    a test holds these keys to the options declared with `api=True`, both ways."""

    concurrency: int
    timeout: float
    as_of: dt.datetime | str | None
    ca_bundle: Path | str | None
    warn_days: int
    aia: bool
    aia_timeout: float
    revocation: bool
    crl_files: Sequence[Path | str]
    crl_max_bytes: int
    allow_private_fetch: bool
    nameservers: Sequence[str | tuple[str, int]] | str
    protocols: bool
    trust_stores: Mapping[str, Path | str] | None
    addresses: Addresses | str
    starttls: str


def api_parameters() -> list[inspect.Parameter]:
    """The keyword-only parameters of `scanner.scan` and `scan_async`, from the declarations,
    annotated with `ScanKeywords`' types (for IDEs and Jupyter's signature help)."""
    import typing

    types = typing.get_type_hints(ScanKeywords)
    return [
        inspect.Parameter(
            f.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=o.given if o.given is not _BY_DEFAULT else f.default,
            annotation=types[f.name],
        )
        for f, o in declared(ScanOptions)
        if o.api
    ]


def options_record(o: ScanOptions) -> dict[str, Any]:
    """The options as scan.json records them (`options`): every option with a record key."""
    return {
        d.record or f.name: d.to_record(getattr(o, f.name))
        for f, d in declared(ScanOptions)
        if d.record is not None
    }


def resume_may_change() -> frozenset[str]:
    """The record keys a resume (and the shards of one run) may differ in: the options declared
    `verdict=False`. Every other key must be equal, or the tables would mix two scans."""
    return frozenset(
        d.record or f.name
        for f, d in declared(ScanOptions)
        if d.record is not None and not d.verdict
    )


def refused_names() -> dict[str, str]:
    """How a refused resume names a record key, where not `--` + the key with dashes."""
    return {d.record or f.name: d.refused_as for f, d in declared(ScanOptions) if d.refused_as}


def settings(o: ScanOptions) -> dict[str, Any]:
    """Every option by field name, as the pipeline's `ScanConfig.load` takes them."""
    return {f.name: getattr(o, f.name) for f in fields(o)}


def api_settings(given: Mapping[str, Any]) -> dict[str, Any]:
    """The options of a Python call by field name: those given, validated as the CLI's are,
    and every other at its default."""
    defaults = {f.name: f.default for f in fields(ScanOptions) if f.default is not MISSING}
    return {**defaults, **parse_options(ScanOptions, given, "api")}
