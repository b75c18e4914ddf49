"""Does a name's CAA record set (RFC 8659) allow the CA that issued its certificate? The CA's
CAA identifiers come from CCADB's "CAA Identifiers" report (V2, CSV as published), matched by
Subject Key Identifier: the leaf's Authority Key Identifier first, then up the built path.
Pure: records and the report's text in, a verdict out."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from cryptography import x509

from scanner.errors import InputError
from scanner.model.catalogue import Code
from scanner.model.types import Finding
from scanner.x509 import certs
from scanner.x509 import findings as F

# The report's columns this reads (others are ignored); a file without them is not the report.
SUBJECT = "Subject"
SKI = "Subject Key Identifier (Hex)"
CERTIFICATE = "Intermediate Certificate"
DOMAINS = "Recognized CAA Domains"
COLUMNS = (SUBJECT, SKI, CERTIFICATE, DOMAINS)
MAX_REPORT_BYTES = 64 * 1024 * 1024  # the published report is a few MiB

# RFC 8659 4.2's tags, CA/B Forum's contact tags (BR 3.2.2.8, A.1) and RFC 9495's issuemail:
# a critical record with any other tag forbids issuance (RFC 8659 4.1: Issuer Critical Flag).
KNOWN_TAGS = frozenset(
    {"issue", "issuewild", "iodef", "contactemail", "contactphone", "issuemail", "issuevmc"}
)
CRITICAL = 0x80  # RFC 8659 4.1: bit 0 of the flags octet, the Issuer Critical Flag
# RFC 8659 4.2: issuer-domain-name = label *("." label), label = (ALPHA / DIGIT) *( *("-")
# (ALPHA / DIGIT))
_LABEL = r"[A-Za-z0-9](?:-*[A-Za-z0-9])*"
_ISSUER_VALUE = re.compile(rf"[ \t]*({_LABEL}(?:\.{_LABEL})*)?[ \t]*(?:;.*)?", re.DOTALL)


class ReportError(InputError, ValueError):
    """The CAA identifiers file is not CCADB's report (an input file: an environment error,
    exit 2)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CaEntry:
    """One CA certificate of the report (rows of one SKI merged)."""

    ski: str  # lower-case hex
    subject: str
    certificate: str
    domains: frozenset[str]


def _hex(value: str) -> str:
    return re.sub(r"[\s:]", "", value).lower()


def read_report(text: str) -> dict[str, CaEntry]:
    """CCADB's "CAA Identifiers" report (V2): SKI hex -> the CA's recognised CAA domains.
    Rows without an SKI or with no domains are skipped (they can match nothing)."""
    if len(text) > MAX_REPORT_BYTES:
        raise ReportError(f"larger than {MAX_REPORT_BYTES} bytes: not CCADB's report")
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ReportError(f"not CCADB's CAA Identifiers report (V2): no column {missing}")
    out: dict[str, CaEntry] = {}
    try:
        for row in reader:
            ski = _hex(row.get(SKI) or "")
            if not re.fullmatch(r"[0-9a-f]{2,128}", ski):
                continue
            domains = frozenset(
                d.strip().strip('"').lower().rstrip(".")
                for d in (row.get(DOMAINS) or "").split(",")
                if d.strip().strip('"')
            )
            if not domains:
                continue
            before = out.get(ski)
            out[ski] = CaEntry(
                ski=ski,
                subject=before.subject if before else (row.get(SUBJECT) or "").strip(),
                certificate=before.certificate if before else (row.get(CERTIFICATE) or "").strip(),
                domains=domains | (before.domains if before else frozenset()),
            )
    except csv.Error as e:
        raise ReportError(f"not a readable CSV: {e}") from None
    return out


def key_ids_up_path(path_certs: Sequence[x509.Certificate]) -> tuple[str, ...]:
    """The key identifiers (hex) to look the issuing CA up by, nearest first: the leaf's AKI,
    then each CA certificate's SKI and AKI along the built path."""
    out: list[str] = []
    for i, cert in enumerate(path_certs):
        kinds: list[type[x509.ExtensionType]] = [x509.AuthorityKeyIdentifier]
        if i:
            kinds.insert(0, x509.SubjectKeyIdentifier)
        for kind in kinds:
            try:
                value = cert.extensions.get_extension_for_class(kind).value
            except x509.ExtensionNotFound:
                continue
            except certs.MALFORMED:
                continue
            digest = (
                value.digest
                if isinstance(value, x509.SubjectKeyIdentifier)
                else getattr(value, "key_identifier", None)
            )
            if digest and digest.hex() not in out:
                out.append(digest.hex())
    return tuple(out)


def issuing_ca(key_ids: Iterable[str], report: Mapping[str, CaEntry]) -> CaEntry | None:
    """The first CA of `key_ids` (nearest first) the report knows."""
    for k in key_ids:
        entry = report.get(_hex(k))
        if entry is not None:
            return entry
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class CaaRecord:
    flags: int
    tag: str
    value: str

    def text(self) -> str:
        """Zone-file form, as `dig` shows it: `0 issue "ca.example"`."""
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.flags} {self.tag} "{escaped}"'


def issuer_domain(value: str) -> str | None:
    """RFC 8659 4.2: the issuer-domain-name of an issue/issuewild value, lower-cased; None
    when there is none (`;`: no CA may issue) or the value is malformed (names no CA)."""
    m = _ISSUER_VALUE.fullmatch(value)
    if m is None or m.group(1) is None:
        return None
    return m.group(1).lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class CaaVerdict:
    permits: bool
    why: str


def permits(records: Sequence[CaaRecord], domains: Iterable[str], *, wildcard: bool) -> CaaVerdict:
    """RFC 8659 4: with the relevant record set `records` (the first non-empty one up the
    tree), may a CA whose CAA identifiers are `domains` issue for the name? `wildcard`: the
    name is a wildcard (`issuewild` records, when present, replace `issue` ones)."""
    ca = {d.lower().rstrip(".") for d in domains}
    for r in records:
        if r.flags & CRITICAL and r.tag.lower() not in KNOWN_TAGS:
            return CaaVerdict(
                permits=False, why=f"the critical record {r.text()} has a tag no CA knows"
            )
    issue = [r for r in records if r.tag.lower() == "issue"]
    issuewild = [r for r in records if r.tag.lower() == "issuewild"]
    relevant, tag = (issuewild, "issuewild") if wildcard and issuewild else (issue, "issue")
    if not relevant:
        return CaaVerdict(permits=True, why=f"no {tag} record restricts issuance")
    named = [d for r in relevant if (d := issuer_domain(r.value)) is not None]
    allowed = sorted(set(named) & ca)
    if allowed:
        return CaaVerdict(permits=True, why=f"{tag} allows {', '.join(allowed)}")
    if not named:
        return CaaVerdict(permits=False, why=f"the {tag} records allow no CA at all")
    return CaaVerdict(permits=False, why=f"{tag} allows only {', '.join(sorted(set(named)))}")


def forbids_finding(
    name: str, found_at: str, records: Sequence[CaaRecord], ca: CaEntry, verdict: CaaVerdict
) -> Finding:
    """`caa_forbids_current_ca`, naming the records, where they were found and the CA."""
    shown = "; ".join(r.text() for r in records[:8]) + ("; ..." if len(records) > 8 else "")
    where = name if found_at == name.removeprefix("*.") else f"{found_at} (for {name})"
    idents = ", ".join(sorted(ca.domains))
    tag = "issuewild" if name.startswith("*.") else "issue"
    return F.make(
        Code.CAA_FORBIDS_CURRENT_CA,
        f"the CAA records of {where} ({shown}) do not allow the issuing CA {ca.subject} "
        f"(CAA identifiers {idents}): {verdict.why}",
        f'Add a CAA record {found_at}. CAA 0 {tag} "{sorted(ca.domains)[0]}" (or change CA) '
        "before the next renewal.",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class CaaJudgement:
    """What a host's row says about CAA: the records (as text), whether they permit the
    issuing CA (None when no CA of the path is in the report), and the finding if not."""

    caa: tuple[str, ...]
    permits_issuer: bool | None
    finding: Finding | None


def judge(
    name: str, found_at: str | None, records: Sequence[CaaRecord], ca: CaEntry | None
) -> CaaJudgement:
    """The columns `caa` and `caa_permits_issuer` and `caa_forbids_current_ca` for one name
    (a wildcard as `*.example.com`) given its relevant record set."""
    texts = tuple(r.text() for r in records)
    if ca is None:
        return CaaJudgement(caa=texts, permits_issuer=None, finding=None)
    verdict = permits(records, ca.domains, wildcard=name.startswith("*."))
    finding = None
    if not verdict.permits:
        finding = forbids_finding(name, found_at or name, records, ca, verdict)
    return CaaJudgement(caa=texts, permits_issuer=verdict.permits, finding=finding)
