"""The network steps of issue 21 for one answering host: the CA's suggested renewal window
(--ari, RFC 9773) and the name's CAA records judged against the issuing CA (--caa, RFC 8659),
each asked once per scan (per distinct leaf, per distinct name) within the host's deadline.
What they find becomes an `Outlook` and findings; `assemble` adds the date the host breaks."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import anyio

from scanner.errors import InputError
from scanner.model.types import Diagnosis, Finding, Outlook, Target
from scanner.x509.memo import Memo

if TYPE_CHECKING:  # ARI and CAA load with --ari and --caa, not with every scan
    from scanner.analysis import caa as caa_rules
    from scanner.net.ari import AriClient
    from scanner.net.caa import CaaLookup
    from scanner.net.fetch import HttpFetcher
    from scanner.x509 import ari
    from scanner.x509.ari import DirectoryRule


@dataclass(frozen=True, slots=True, kw_only=True)
class CaaReport:
    """--caa-identifiers, read: SKI hex -> the CA's CAA domains, and the file's SHA-256 (for
    the resume record; None without the option)."""

    entries: Mapping[str, caa_rules.CaEntry] = field(default_factory=dict)
    sha256: str | None = None


def load_caa_report(path: Path | str | None) -> CaaReport:
    """The report at `path` (InputError when it cannot be read or is not CCADB's)."""
    if path is None:
        return CaaReport()
    from scanner.analysis import caa as caa_rules

    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise InputError(f"cannot read --caa-identifiers {path}: {e.strerror or e}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"--caa-identifiers {path}: not UTF-8 text") from None
    try:
        entries = caa_rules.read_report(text)
    except caa_rules.ReportError as e:
        raise InputError(f"--caa-identifiers {path}: {e}") from None
    return CaaReport(entries=entries, sha256=hashlib.sha256(data).hexdigest())


@dataclass(frozen=True, slots=True, kw_only=True)
class Lookahead:
    """What the steps share for a scan: the ARI client and the directory rules (--ari), the
    CAA lookup and the report (--caa); None where the option is off."""

    ari: AriClient | None = None
    directories: tuple[DirectoryRule, ...] = ()
    caa: CaaLookup | None = None
    report: Mapping[str, caa_rules.CaEntry] = field(default_factory=dict)


class Asked(Protocol):
    """The options `lookahead` reads (the scan's ScanConfig)."""

    @property
    def ari(self) -> bool: ...
    @property
    def caa(self) -> bool: ...
    @property
    def acme_directories(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def nameservers(self) -> tuple[tuple[str, int], ...]: ...
    @property
    def aia_timeout(self) -> float: ...
    @property
    def caa_report(self) -> CaaReport: ...


def lookahead(config: Asked, http: HttpFetcher) -> Lookahead | None:
    """The ARI client and CAA lookup of a scan, for the options that ask for them."""
    if not (config.ari or config.caa):
        return None
    from scanner.net.ari import AriClient
    from scanner.net.caa import CaaLookup
    from scanner.x509 import ari

    return Lookahead(
        ari=AriClient(http) if config.ari else None,
        directories=tuple(ari.DirectoryRule(i, u) for i, u in config.acme_directories),
        caa=CaaLookup(config.nameservers or None, config.aia_timeout) if config.caa else None,
        report=config.caa_report.entries,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Ahead:
    """One host's outcome: the outlook's ARI and CAA cells, and their findings."""

    outlook: Outlook
    findings: tuple[Finding, ...] = ()


async def look_ahead(
    target: Target,
    diagnosis: Diagnosis,
    steps: Lookahead,
    *,
    memo: Memo,
    as_of: dt.datetime,
    deadline: float,
) -> Ahead:
    """ARI then CAA for the host, within `deadline` (what is unanswered by then stays null)."""
    from scanner.analysis import caa as caa_rules
    from scanner.net.ari import AriOk
    from scanner.net.caa import CaaFound
    from scanner.x509 import ari

    window: ari.Window | None = None
    judged: caa_rules.CaaJudgement | None = None
    found: list[Finding] = []
    leaf = memo.parse(diagnosis.leaf.der) if diagnosis.leaf is not None else None
    with anyio.move_on_at(deadline):
        if steps.ari is not None and leaf is not None:
            url = ari.directory_for(leaf, steps.directories)
            if url is not None:
                answer = await steps.ari.renewal_info(leaf, url)
                if isinstance(answer, AriOk):
                    window = answer.window
                    if (f := ari.renew_now(window, as_of)) is not None:
                        found.append(f)
        if steps.caa is not None and leaf is not None and not target.is_ip:
            name = caa_name(target.host, diagnosis.leaf.san_dns if diagnosis.leaf else ())
            result = await steps.caa.relevant(name)
            if isinstance(result, CaaFound):
                path = [c for d in diagnosis.path if (c := memo.parse(d)) is not None]
                ca = caa_rules.issuing_ca(caa_rules.key_ids_up_path(path), steps.report)
                judged = caa_rules.judge(name, result.found_at, result.records, ca)
                if judged.finding is not None:
                    found.append(judged.finding)
    outlook = Outlook(
        ari_start=window.start if window else None,
        ari_end=window.end if window else None,
        ari_explanation=window.explanation_url if window else None,
        caa=tuple(sorted(judged.caa)) if judged else None,  # an RRset has no order
        caa_permits_issuer=judged.permits_issuer if judged else None,
    )
    return Ahead(outlook=outlook, findings=tuple(found))


def caa_name(host: str, san_dns: Sequence[str]) -> str:
    """The name a renewal asks the CA for: the host, or the wildcard of the leaf covering it
    (then `issuewild` records apply)."""
    names = {n.lower() for n in san_dns}
    if host in names or "." not in host:
        return host
    wildcard = "*." + host.split(".", 1)[1]
    return wildcard if wildcard in names else host
