"""The HTML report: one self-contained page (inline CSS, inline SVG charts, a small sorting
script allowed by hash in its Content-Security-Policy; no network needed to open it).

Pure: DataFrames in, a string out. The page is the Jinja2 template `templates/report.html.j2`
rendered with autoescaping on, so every value from a certificate, an input row or a file path
is HTML-escaped (quotes included) unless marked otherwise; only the package's own CSS and
script (`templates/report.css`, `report.js`) are. This module computes the values (the charts'
geometry is `scanner.present.charts`); jinja2 is imported when a report is rendered, not with
`scanner`."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

import pandas as pd

from scanner.analysis.fixlist import several_addresses
from scanner.analysis.grade import ORDER, Grade
from scanner.analysis.severity import rank
from scanner.analysis.summary import FleetSummary
from scanner.model.catalogue import CATALOGUE, Code
from scanner.model.columns import HOST_COLUMNS
from scanner.model.timefmt import utc_iso
from scanner.present.charts import (
    GRADE_TONES,
    SEVERITY_TONES,
    VERDICT_TONES,
    bar_chart,
    calendar_chart,
)

if TYPE_CHECKING:
    import jinja2

MAX_HOSTS = 5000
MAX_FIXES = 1000  # rows of each fix list; the rest are in `scanner summary --format csv`


def _text(value: Any) -> Any:
    """What a template prints for a value, before escaping: None and NA are empty, lists are
    "a, b", times are UTC text; markup (our CSS and script, macro output) passes as it is."""
    from markupsafe import Markup

    if isinstance(value, Markup):
        return value
    if value is None or (not isinstance(value, list | tuple) and pd.isna(value)):
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, pd.Timestamp | dt.datetime):
        return _ts(value)
    return value


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("scanner.present", "templates"),
        autoescape=True,  # HTML and SVG only: escape everything, always
        undefined=jinja2.StrictUndefined,
        finalize=_text,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@functools.cache
def _assets() -> tuple[str, str]:
    """The page's CSS and sorting script, package data."""
    folder = resources.files("scanner.present") / "templates"
    return (
        (folder / "report.css").read_text(encoding="utf-8"),
        (folder / "report.js").read_text(encoding="utf-8"),
    )


def _ts(value: Any) -> str:
    if value is None or pd.isna(value):
        return ""
    return str(pd.Timestamp(value).tz_convert("UTC").strftime("%Y-%m-%d %H:%M UTC"))


def _csp_hash(script: str) -> str:
    return base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")


# --- sections -----------------------------------------------------------------------------

_LEAF_HEADERS = [
    ("hosts affected", "num", ""),
    ("serving", "num", ""),
    ("severity", "", ""),
    ("findings", "", ""),
    ("subject", "", ""),
    ("SANs", "", ""),
    ("issuer", "", ""),
    ("notAfter", "", ""),
    ("days left", "num", ""),
    ("remedy", "", ""),
    ("hosts", "", ""),
    ("SHA-256", "", ""),
]
_INTERMEDIATE_HEADERS = [
    ("hosts affected", "num", ""),
    ("intermediate", "", ""),
    ("AIA URL", "", ""),
    ("remedy", "", ""),
    ("hosts", "", ""),
]


def _leaf_fixes(fixes: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for r in fixes.itertuples(index=False):
        names = list(r.san_dns) + list(r.san_ip)
        shown = names[:6] + ([f"(+{len(names) - 6} more)"] if len(names) > 6 else [])
        out.append(
            {
                "hosts_affected": int(r.hosts_affected),
                "hosts_serving": int(r.hosts_serving),
                "severity": _text(r.severity),
                "findings": r.findings,
                "subject": r.subject,
                "names": shown,
                "issuer": r.issuer,
                "not_after": r.not_after,
                "days_remaining": r.days_remaining,
                "remedy": r.remedy,
                "examples": r.examples,
                "leaf_sha256": r.leaf_sha256,
                "leaf_sha256_short": str(r.leaf_sha256)[:16],
            }
        )
    return out


def _intermediates(rows: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            "hosts_affected": int(r.hosts_affected),
            "intermediate": r.intermediate,
            "aia_url": r.aia_url,
            "remedy": r.remedy,
            "examples": r.examples,
        }
        for r in rows.itertuples(index=False)
    ]


def _findings(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for f in sorted(items, key=lambda f: (-rank(str(f["severity"])), str(f["code"]))):
        try:
            meaning = CATALOGUE[Code(str(f["code"]))].meaning
        except ValueError:
            meaning = ""
        out.append({**f, "severity": _text(f["severity"]), "meaning": meaning})
    return out


def _hosts(
    hosts: pd.DataFrame, findings: pd.DataFrame, carried: Sequence[str]
) -> list[dict[str, Any]]:
    """One entry per host row: what its cells show and sort by."""
    # Findings are joined per row: by input line and address scanned, so each backend of a
    # name scanned on several addresses (--addresses all) shows its own.
    per_row = "input_line" in hosts.columns and "input_line" in findings.columns
    key = _row_key if per_row else _target_key
    by_target: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for values in findings.itertuples(index=False):
        f = dict(zip(findings.columns, values, strict=True))
        by_target.setdefault(key(f), []).append(f)
    several = several_addresses(hosts).tolist()
    out = []
    for values, many in zip(hosts.itertuples(index=False), several, strict=True):
        r = dict(zip(hosts.columns, values, strict=True))
        sev = r["severity"] if isinstance(r["severity"], str) else ""
        days = r["days_remaining"]
        found: list[dict[str, Any]] | None = None
        if r["status"] == "ok":
            trusted = not pd.isna(r["trusted"]) and bool(r["trusted"])  # numpy or pandas bool
            status, status_class = ("trusted", "ok") if trusted else ("not trusted", "err")
            found = _findings(by_target.get(key(r), []))
        else:
            status, status_class = _text(r["error"]), "err"
        # An IDN in Unicode, the form people know, then the A-label the scan used.
        shown = r.get("host_unicode")
        out.append(
            {
                "host": r["host"],
                "host_unicode": shown
                if isinstance(shown, str) and shown and shown != r["host"]
                else None,
                "port": r["port"],
                "ip": r["ip"],
                "address": _text(r.get("connected_ip")) if many else "",
                "status": status,
                "status_class": status_class,
                "severity": sev,
                "severity_rank": rank(sev),
                "days_remaining": days,
                "days_sort": "" if pd.isna(days) else int(days),
                "not_after": r["not_after"],
                "not_after_iso": _iso(r["not_after"]),
                "grade": r.get("grade"),
                "grade_sort": _grade_sort(r.get("grade")),
                "trusted_by": r.get("trusted_by"),
                "subject": r["subject"],
                "issuer": r["issuer"],
                "carried": [r[c] for c in carried],
                "findings": found,
                "error_detail": r["error_detail"],
            }
        )
    return out


def _by(summary: FleetSummary) -> dict[str, Any] | None:
    """Grades, trust stores and causes per value of the --by column."""
    from scanner.analysis.views import by_view

    if summary.by is None or summary.by_column is None:
        return None
    view = by_view(summary)
    num = ("targets", "not_trusted", "errors")
    return {
        "column": summary.by_column,
        "headers": [(c, "num" if c in num else "", "") for c in view],
        "rows": [list(values) for values in view.itertuples(index=False)],
    }


def _forecast(summary: FleetSummary) -> dict[str, Any]:
    """Hosts breaking per week by cause (issue 21), and per --by value where any break."""
    from scanner.analysis.views import forecast_view

    def table(view: pd.DataFrame) -> dict[str, Any]:
        text = ("from", summary.by_column)
        return {
            "headers": [(c, "" if c in text else "num", "") for c in view],
            "rows": [list(values) for values in view.itertuples(index=False)],
        }

    by = None
    if summary.forecast_by is not None:
        by = table(forecast_view(summary.forecast_by, by=summary.by_column))
    return {"all": table(forecast_view(summary.forecast)), "column": summary.by_column, "by": by}


def _overview(summary: FleetSummary) -> dict[str, Any]:
    """The count cards and the charts."""
    counts = summary.counts
    not_trusted = _count(counts, "verdict", "not_trusted")
    # Root causes apart from verdicts: the `untrusted_root` verdict also counts hosts whose
    # issuer cannot be found at all (`issuer_not_found`), a different fix.
    causes = [
        bar_chart(
            [
                (str(r.code), int(r.hosts), SEVERITY_TONES.get(str(r.severity), "info"))
                for r in summary.causes.itertuples(index=False)
                if r.hosts
            ],
            title="Root causes (hosts with each finding)",
            label_w=170,
        )
    ]
    grades = [(g, n, GRADE_TONES.get(g, "bad")) for g, n in _kind_items(counts, "grade")]
    stores = [(name, n, "good") for name, n in _kind_items(counts, "trust_store")]
    if grades:
        causes.append(bar_chart(grades, title="Hosts per grade"))
        causes.append(bar_chart(stores, title="Hosts each trust store trusts"))
    return {
        "as_of": utc_iso(summary.as_of),
        "cards": {
            "targets": summary.targets,
            "trusted": summary.ok - not_trusted,
            "not_trusted": not_trusted,
            "revoked": _count(counts, "verdict", "revoked"),
            "errors": summary.rows - summary.ok,
            "expiring_soon": _count(counts, "verdict", "expiring_soon"),
        },
        "warnings": summary.warnings,
        "verdicts": bar_chart(
            [("trusted", summary.ok - not_trusted, "good"), *_verdict_items(counts)],
            title="Verdicts and errors (hosts)",
        ),
        "causes": causes,
        "calendar": calendar_chart(summary.calendar),
        "by": _by(summary),
        "forecast": _forecast(summary),
    }


def _host_section(hosts: pd.DataFrame, findings: pd.DataFrame, max_hosts: int) -> dict[str, Any]:
    """The sortable host table, worst first, with each host's findings or error."""
    carried = [c for c in hosts.columns if c not in HOST_COLUMNS]
    shown = _host_order(hosts).head(max_hosts)
    # With --addresses all, a name's rows are its backends: an address column tells them apart.
    by_address = bool(several_addresses(hosts).any())
    keys = ["host", "port", "ip"]
    findings = findings.merge(shown[keys].drop_duplicates(), on=keys)  # only the shown hosts'
    headers = [
        ("host", "", "host"),
        ("port", "num", "port"),
        ("ip", "", "ip"),
        *((("address", "", "address"),) if by_address else ()),
        ("status", "", "status"),
        ("severity", "", "severity"),
        ("days left", "num", "days_remaining"),
        ("notAfter", "", "not_after"),
        ("grade", "", "grade"),
        ("trusted by", "", "trusted_by"),
        ("subject", "", "subject"),
        ("issuer", "", "issuer"),
        *((c, "", f"input{i}") for i, c in enumerate(carried)),
        ("findings (explanation and remedy) or error", "", "detail"),
    ]
    return {
        "host_headers": headers,
        "by_address": by_address,
        "hosts": _hosts(shown, findings, carried),
        "hosts_more": len(hosts) - len(shown),
    }


def render(
    summary: FleetSummary,
    hosts: pd.DataFrame,
    findings: pd.DataFrame,
    *,
    sources: Sequence[str] = (),
    max_hosts: int = MAX_HOSTS,
) -> str:
    """The report as one HTML document."""
    from markupsafe import Markup

    css, script = _assets()
    page = _environment().get_template("report.html.j2")
    return page.render(
        css=Markup(css),  # the package's own files, not data
        script=Markup(script),
        script_hash=_csp_hash(script),
        sources=list(sources),
        **_overview(summary),
        leaf_headers=_LEAF_HEADERS,
        leaf_fixes=_leaf_fixes(summary.leaf_fixes.head(MAX_FIXES)),
        fixes_shown=MAX_FIXES,
        fixes_total=len(summary.leaf_fixes),
        intermediate_headers=_INTERMEDIATE_HEADERS,
        intermediates=_intermediates(summary.intermediates.head(MAX_FIXES)),
        **_host_section(hosts, findings, max_hosts),
    )


# --- helpers ------------------------------------------------------------------------------


def _count(counts: pd.DataFrame, kind: str, name: str) -> int:
    row = counts[(counts["kind"] == kind) & (counts["name"] == name)]
    return int(row["hosts"].iloc[0]) if len(row) else 0


def _host_order(hosts: pd.DataFrame) -> pd.DataFrame:
    """Worst first: by severity, then failing hosts, then soonest expiry."""
    order = hosts["severity"].map(lambda s: -rank(s) if rank(s) >= 0 else 0)
    failing = (hosts["status"] != "ok").map({True: 0, False: 1})
    days = hosts["days_remaining"].astype("Float64").fillna(1e9)
    return (
        hosts.assign(_rank=order.astype(int), _failing=failing, _days=days)
        .sort_values(["_rank", "_failing", "_days", "host"])
        .drop(columns=["_rank", "_failing", "_days"])
    )


def _grade_sort(value: Any) -> str:
    try:
        return str(ORDER[Grade(value)])
    except ValueError:
        return ""


def _kind_items(counts: pd.DataFrame, kind: str) -> list[tuple[str, int]]:
    rows = counts[counts["kind"] == kind]
    return [(str(r.name), int(r.hosts)) for r in rows.itertuples(index=False)]


def _iso(value: Any) -> str:
    if value is None or pd.isna(value):
        return ""
    return str(pd.Timestamp(value).tz_convert("UTC").isoformat())


def _target_key(row: dict[str, Any]) -> tuple[Any, ...]:
    port, ip = row["port"], row["ip"]
    return (
        str(row["host"]),
        None if port is None or pd.isna(port) else int(port),
        ip if isinstance(ip, str) else "",
    )


def _row_key(row: dict[str, Any]) -> tuple[Any, ...]:
    line, address = row["input_line"], row.get("connected_ip")
    return (
        None if line is None or pd.isna(line) else int(line),
        address if isinstance(address, str) else "",
    )


def _verdict_items(counts: pd.DataFrame) -> list[tuple[str, int, str]]:
    return [
        (str(r.name).replace("_", " "), int(r.hosts), VERDICT_TONES.get(str(r.name), "bad"))
        for r in counts.itertuples(index=False)
        if r.kind == "verdict"
    ] + [
        (f"error: {r.name}", int(r.hosts), "bad")
        for r in counts.itertuples(index=False)
        if r.kind == "error" and r.hosts
    ]
