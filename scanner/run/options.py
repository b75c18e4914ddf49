"""What a scan is asked to do: every option of `scanner scan` and `scanner.scan` declared once,
as a field of `ScanOptions` carrying an `Option` (help, validation, whether it changes verdicts,
how the CLI spells it, how scan.json records it). The CLI's parameters, the Python API's
signature, the resume record and the run's config are derived from the declarations. Light to
import: the CLI builds its parameters from it before loading the scan machinery."""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, TypedDict

from scanner.errors import UsageError
from scanner.inputs.targets import Shard
from scanner.model.types import STARTTLS_CHOICES, Addresses
from scanner.run.schema import (
    Option,
    Surface,
    api_default,
    choice,
    declared,
    option,
    parse_options,
    resolved,
    seconds,
    switch,
    text,
    to_addresses,
    to_instant,
    to_location,
    to_nameservers,
    to_path_or_none,
    to_paths,
    to_root_programs,
    to_shard,
    to_trust_stores,
    whole,
)

ProgressFn = Callable[[int, int, int], None]  # (done, total, failed)
NotifyFn = Callable[[str], None]  # a message for the person running the scan, at once


# --- parsers of issue 21's options ---------------------------------------------------------


def to_fraction(value: Any) -> float:
    """--renew-at: a number in (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise UsageError(f"expected a fraction in (0, 1], not {value!r}")
    return float(value)


def to_acme_directories(value: Any) -> tuple[tuple[str, str], ...]:
    """`ISSUER=URL` texts, or a mapping of issuer to URL, in order."""
    from scanner.x509.ari import parse_directory_rule

    texts = [f"{i}={u}" for i, u in value.items()] if isinstance(value, Mapping) else value
    if isinstance(texts, str):
        texts = [texts]
    out = []
    for t in texts or ():
        try:
            rule = parse_directory_rule(text(t))
        except ValueError as e:
            raise UsageError(str(e)) from None
        out.append((rule.issuer, rule.url))
    return tuple(out)


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
        to_record=resolved,
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
        help="Also probe each answering host with ClientHellos of our own: SSL 2.0 to TLS 1.3, "
        "weak cipher classes, named groups, post-quantum key exchange, large-hello tolerance, "
        "server cipher order, stapling (one hello after another, within 3 --timeouts of their "
        "own, 10 with --ciphers, counted by --per-ip).",
        verdict=True,
        parse=switch,
        negatable=False,
    )
    ciphers: bool = option(
        False,
        help="Also enumerate every accepted cipher suite per version into ciphers.parquet "
        "(implies --protocols).",
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
    # --- how browsers decide (issue 20): root programs and CT, from files given ---
    root_programs: tuple[tuple[str, Path], ...] = option(
        (),
        help="Also judge trust with this browser root program, named NAME in trusted_by and "
        "distrusted_by: Chrome's root_store.textproto or Mozilla's certdata.txt, detected from "
        "the content; its constraints (distrust dates) apply (repeatable).",
        verdict=False,  # their contents decide verdicts: recorded by SHA-256 beside the options
        parse=to_root_programs,
        given=None,
        flags=("--root-program",),
        cli_type=str,
        repeatable=True,
        metavar="NAME=FILE",
        to_record=lambda v: {name: str(path.resolve()) for name, path in v},
    )
    ct_logs: Path | None = option(
        None,
        help="Verify SCTs against this CT log list (Chrome's log_list.json, v3 schema) and "
        "judge Chrome's CT policy (ct_compliant); without it SCTs are only counted.",
        verdict=False,  # its contents decide verdicts: recorded by SHA-256 beside the options
        parse=to_path_or_none,
        cli_type=Path | None,
        metavar="FILE",
        to_record=resolved,
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
    # --- the date each host breaks (issue 21) ---
    renew_at: float = option(
        2 / 3,
        help="Fraction of the leaf's lifetime after which its renewal is overdue "
        "(renewal_overdue); ACME clients renew at two thirds.",
        verdict=True,
        parse=to_fraction,
        cli_type=float,
    )
    ari: bool = option(
        False,
        help="Ask each leaf's CA for its suggested renewal window (ACME Renewal Information, "
        "RFC 9773) at the directory --acme-directory names for its issuer.",
        verdict=True,
        parse=switch,
        negatable=False,
    )
    acme_directories: tuple[tuple[str, str], ...] = option(
        (),
        help="The ACME directory URL of the CA whose issuer CN (or authority key identifier in "
        "hex) is ISSUER, for --ari (repeatable).",
        verdict=True,
        parse=to_acme_directories,
        given=None,
        flags=("--acme-directory",),
        cli_type=str,
        repeatable=True,
        metavar="ISSUER=URL",
        record="acme_directory",
        to_record=lambda v: [f"{i}={u}" for i, u in v],
    )
    caa: bool = option(
        False,
        help="Look up each name's CAA records (RFC 8659, through --nameserver if given) and "
        "whether they permit the CA that issued its certificate (with --caa-identifiers).",
        verdict=True,
        parse=switch,
        negatable=False,
    )
    caa_identifiers: Path | None = option(
        None,
        help="CCADB's 'CAA Identifiers' report (V2, CSV): which CAA domains each CA answers "
        "to, matched by key identifier, for --caa.",
        verdict=False,  # its contents decide verdicts: recorded by SHA-256 beside the options
        parse=to_path_or_none,
        cli_type=Path | None,
        to_record=resolved,
    )
    # --- end issue 21 ---
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
        if self.ari and not self.acme_directories:
            raise UsageError("--ari needs --acme-directory ISSUER=URL for the CAs to ask")
        if self.caa_identifiers is not None and not self.caa:
            raise UsageError("--caa-identifiers is used by --caa only: give --caa too")
        if self.ciphers and not self.protocols:  # --ciphers implies --protocols
            object.__setattr__(self, "protocols", True)

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
    ciphers: bool
    trust_stores: Mapping[str, Path | str] | None
    root_programs: Mapping[str, Path | str] | None
    ct_logs: Path | str | None
    addresses: Addresses | str
    starttls: str
    # issue 21
    renew_at: float
    ari: bool
    acme_directories: Sequence[str] | Mapping[str, str]
    caa: bool
    caa_identifiers: Path | str | None


def api_parameters() -> list[inspect.Parameter]:
    """The keyword-only parameters of `scanner.scan` and `scan_async`, from the declarations,
    annotated with `ScanKeywords`' types (for IDEs and Jupyter's signature help)."""
    import typing

    types = typing.get_type_hints(ScanKeywords)
    return [
        inspect.Parameter(
            f.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=api_default(f, o),
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


def record_defaults() -> dict[str, Any]:
    """Each recorded option's default as scan.json records it: what a record written before
    the option existed stands for (a resume compares a missing key with it)."""
    return {
        d.record or f.name: d.to_record(f.default)
        for f, d in declared(ScanOptions)
        if d.record is not None and f.default is not MISSING
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
