"""The HTML report: one self-contained page (inline CSS, inline SVG charts, a small sorting
script allowed by hash in its Content-Security-Policy; no network needed to open it).

Pure: DataFrames in, a string out. Every string that came from a certificate, an input row or
a file path goes through `esc` (HTML-escaped, quotes included)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from scanner.analysis.grade import ORDER, Grade
from scanner.analysis.severity import rank
from scanner.analysis.summary import FleetSummary
from scanner.model.catalogue import CATALOGUE, Code
from scanner.model.columns import HOST_COLUMNS

MAX_HOSTS = 5000
MAX_FIXES = 1000  # rows of each fix list; the rest are in `scanner summary --format csv`

CSS = """
:root{--crit:#b3261e;--high:#d9640b;--med:#b58a00;--low:#2b6cb0;--info:#666;--ok:#2e7d32}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1b1b1b}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#555}.warn{background:#fff4e5;border-left:4px solid var(--high);padding:8px 12px;
margin:12px 0}.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:22px}table{border-collapse:collapse;width:100%;margin:6px 0}
th,td{border-bottom:1px solid #e3e3e3;padding:4px 6px;text-align:left;vertical-align:top}
td{overflow-wrap:anywhere}td.num,td.ip{overflow-wrap:normal;white-space:nowrap}
th{background:#f5f5f5;position:sticky;top:0}table.sortable th{cursor:pointer;user-select:none}
table.sortable th[aria-sort=ascending]::after{content:" \\25B2"}
table.sortable th[aria-sort=descending]::after{content:" \\25BC"}
td.num,th.num{text-align:right}.sev{font-weight:600}.sev-critical{color:var(--crit)}
.sev-high{color:var(--high)}.sev-medium{color:var(--med)}.sev-low{color:var(--low)}
.sev-info{color:var(--info)}.ok{color:var(--ok)}.err{color:var(--crit)}
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
details{margin:2px 0}summary{cursor:pointer}.remedy{color:#234}.charts{display:flex;gap:32px;
flex-wrap:wrap}svg text{font:12px system-ui,sans-serif}
"""

# Sorting: a click on a header sorts by that column (again: reverse); `#sort=COLUMN` or
# `#sort=COLUMN-desc` in the address sorts the host table on load. Cells sort by data-sort
# when present, numerically when both values are numbers.
SCRIPT = """(function(){
function val(row,i){var c=row.cells[i];if(!c)return '';var v=c.getAttribute('data-sort');
return v===null?c.textContent.trim().toLowerCase():v;}
function cmp(a,b){var x=parseFloat(a),y=parseFloat(b);
if(a!==''&&b!==''&&isFinite(a)&&isFinite(b))return x-y;return a<b?-1:a>b?1:0;}
function sortTable(t,i,desc){var body=t.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
rows.sort(function(p,q){var r=cmp(val(p,i),val(q,i));return desc?-r:r;});
rows.forEach(function(r){body.appendChild(r);});
Array.prototype.forEach.call(t.tHead.rows[0].cells,function(h,j){
if(j===i)h.setAttribute('aria-sort',desc?'descending':'ascending');
else h.removeAttribute('aria-sort');});}
Array.prototype.forEach.call(document.querySelectorAll('table.sortable'),function(t){
Array.prototype.forEach.call(t.tHead.rows[0].cells,function(h,i){h.addEventListener('click',function(){
sortTable(t,i,h.getAttribute('aria-sort')==='ascending');});});});
var m=/^#sort=([A-Za-z0-9_]+?)(-desc)?$/.exec(location.hash);var t=document.getElementById('hosts');
if(m&&t){Array.prototype.forEach.call(t.tHead.rows[0].cells,function(h,i){
if(h.getAttribute('data-col')===m[1])sortTable(t,i,!!m[2]);});}
document.body.setAttribute('data-sortable','ready');})();"""


def esc(value: Any) -> str:
    """Text for HTML content or a quoted attribute; None and NA are empty."""
    if value is None or (not isinstance(value, list | tuple) and pd.isna(value)):
        return ""
    if isinstance(value, list | tuple):
        return html.escape(", ".join(str(v) for v in value), quote=True)
    if isinstance(value, pd.Timestamp | dt.datetime):
        return html.escape(_ts(value), quote=True)
    return html.escape(str(value), quote=True)


def _ts(value: Any) -> str:
    if value is None or pd.isna(value):
        return ""
    return str(pd.Timestamp(value).tz_convert("UTC").strftime("%Y-%m-%d %H:%M UTC"))


def _csp_hash(script: str) -> str:
    return base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")


def _sev(value: Any) -> str:
    s = esc(value)
    return f'<span class="sev sev-{s}">{s}</span>' if s else ""


def _table(
    headers: Sequence[tuple[str, str] | tuple[str, str, str]],
    rows: Iterable[str],
    *,
    table_id: str = "",
    sortable: bool = False,
) -> str:
    """headers: (label HTML, css class[, column name for `#sort=`]); rows are <tr> strings."""
    attrs = f' id="{table_id}"' if table_id else ""
    attrs += ' class="sortable"' if sortable else ""
    cells = []
    for label, cls, *col in headers:
        a = f' class="{cls}"' if cls else ""
        a += f' data-col="{col[0]}"' if col else ""
        cells.append(f"<th{a}>{label}</th>")
    return (
        f"<table{attrs}><thead><tr>{''.join(cells)}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


# --- charts -------------------------------------------------------------------------------


def bar_chart(
    items: Sequence[tuple[str, int]], *, title: str, width: int = 460, label_w: int = 150
) -> str:
    """Horizontal bars, one per (label, count)."""
    row_h = 20
    top = 24
    height = top + row_h * max(len(items), 1) + 6
    biggest = max([c for _, c in items] + [1])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{esc(title)}">',
        f'<text x="0" y="14" font-weight="600">{esc(title)}</text>',
    ]
    for i, (label, count) in enumerate(items):
        y = top + i * row_h
        w = round((width - label_w - 50) * count / biggest)
        parts.append(f'<text x="0" y="{y + 14}">{esc(label)}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{w}" height="{row_h - 6}" fill="#b3261e"/>'
        )
        parts.append(f'<text x="{label_w + w + 6}" y="{y + 14}">{count}</text>')
    parts.append("</svg>")
    return "".join(parts)


def calendar_chart(calendar: pd.DataFrame, *, width: int = 460) -> str:
    """Vertical bars: hosts whose leaf expires in each week from as-of."""
    height, top, bottom = 200, 36, 36
    weeks = list(calendar.itertuples(index=False))
    biggest = max([int(w.hosts) for w in weeks] + [1])
    slot = (width - 10) / max(len(weeks), 1)
    plot_h = height - top - bottom
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        'aria-label="Expiry calendar">',
        '<text x="0" y="14" font-weight="600">Leaves expiring per week from as-of</text>',
    ]
    for i, w in enumerate(weeks):
        h = round(plot_h * int(w.hosts) / biggest)
        x = 5 + i * slot
        y = top + plot_h - h
        parts.append(
            f'<rect x="{x + 3:.1f}" y="{y}" width="{slot - 6:.1f}" height="{h}" fill="#d9640b">'
            f"<title>week {w.week}: {int(w.hosts)} host(s), from {esc(w.starts)}</title></rect>"
        )
        parts.append(
            f'<text x="{x + slot / 2:.1f}" y="{y - 3}" text-anchor="middle">{int(w.hosts)}</text>'
        )
        parts.append(
            f'<text x="{x + slot / 2:.1f}" y="{height - bottom + 14}" '
            f'text-anchor="middle">W{w.week}</text>'
        )
    parts.append(
        f'<text x="0" y="{height - 6}">W1 starts {esc(weeks[0].starts) if weeks else ""}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


# --- sections -----------------------------------------------------------------------------


def _count(counts: pd.DataFrame, kind: str, name: str) -> int:
    row = counts[(counts["kind"] == kind) & (counts["name"] == name)]
    return int(row["hosts"].iloc[0]) if len(row) else 0


def _leaf_fix_rows(fixes: pd.DataFrame) -> Iterable[str]:
    for r in fixes.itertuples(index=False):
        names = list(r.san_dns) + list(r.san_ip)
        shown = names[:6] + ([f"(+{len(names) - 6} more)"] if len(names) > 6 else [])
        yield (
            f'<tr><td class="num">{int(r.hosts_affected)}</td>'
            f'<td class="num">{int(r.hosts_serving)}</td><td>{_sev(r.severity)}</td>'
            f"<td>{esc(r.findings)}</td><td>{esc(r.subject)}</td><td>{esc(shown)}</td>"
            f"<td>{esc(r.issuer)}</td><td>{esc(r.not_after)}</td>"
            f'<td class="num">{esc(r.days_remaining)}</td><td class="remedy">{esc(r.remedy)}</td>'
            f'<td>{esc(r.examples)}</td><td><code title="{esc(r.leaf_sha256)}">'
            f"{esc(str(r.leaf_sha256)[:16])}</code></td></tr>"
        )


def _intermediate_rows(rows: pd.DataFrame) -> Iterable[str]:
    for r in rows.itertuples(index=False):
        yield (
            f'<tr><td class="num">{int(r.hosts_affected)}</td><td>{esc(r.intermediate)}</td>'
            f'<td class="mono">{esc(r.aia_url)}</td><td class="remedy">{esc(r.remedy)}</td>'
            f"<td>{esc(r.examples)}</td></tr>"
        )


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


def _findings_html(items: list[dict[str, Any]]) -> str:
    out = []
    for f in sorted(items, key=lambda f: (-rank(str(f["severity"])), str(f["code"]))):
        try:
            meaning = CATALOGUE[Code(str(f["code"]))].meaning
        except ValueError:
            meaning = ""
        out.append(
            f"<details><summary>{esc(f['code'])} {_sev(f['severity'])}</summary>"
            f"<div>{esc(f['message'])}</div><div><i>{esc(meaning)}</i></div>"
            f'<div class="remedy">Remedy: {esc(f["remedy"])}</div></details>'
        )
    return "".join(out)


def _host_cell(r: dict[str, Any]) -> str:
    """The host; an IDN in Unicode, the form people know, then the A-label the scan used."""
    shown = r.get("host_unicode")
    if isinstance(shown, str) and shown and shown != r["host"]:
        return (
            f'<td data-sort="{esc(r["host"])}">{esc(shown)}<br><code>{esc(r["host"])}</code></td>'
        )
    return f"<td>{esc(r['host'])}</td>"


def _host_rows(
    hosts: pd.DataFrame, findings: pd.DataFrame, carried: Sequence[str]
) -> Iterable[str]:
    by_target: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for values in findings.itertuples(index=False):
        f = dict(zip(findings.columns, values, strict=True))
        by_target.setdefault(_target_key(f), []).append(f)
    for values in hosts.itertuples(index=False):
        r = dict(zip(hosts.columns, values, strict=True))
        sev = r["severity"] if isinstance(r["severity"], str) else ""
        days = r["days_remaining"]
        if r["status"] == "ok":
            trusted = not pd.isna(r["trusted"]) and bool(r["trusted"])  # numpy or pandas bool
            label = "trusted" if trusted else "not trusted"
            status = f'<span class="{"ok" if trusted else "err"}">{label}</span>'
            detail = _findings_html(by_target.get(_target_key(r), []))
        else:
            label = esc(r["error"])
            status = f'<span class="err">{label}</span>'
            detail = esc(r["error_detail"])
        extra = "".join(f"<td>{esc(r[c])}</td>" for c in carried)
        port = r["port"]
        yield (
            f'<tr>{_host_cell(r)}<td class="num">{esc(port)}</td>'
            f'<td class="ip">{esc(r["ip"])}</td><td data-sort="{label}">{status}</td>'
            f'<td data-sort="{rank(sev)}">{_sev(sev)}</td>'
            f'<td class="num" data-sort="{"" if pd.isna(days) else int(days)}">{esc(days)}</td>'
            f'<td data-sort="{esc(_iso(r["not_after"]))}">{esc(r["not_after"])}</td>'
            f'<td data-sort="{_grade_sort(r.get("grade"))}">{esc(r.get("grade"))}</td>'
            f"<td>{esc(r.get('trusted_by'))}</td>"
            f"<td>{esc(r['subject'])}</td><td>{esc(r['issuer'])}</td>{extra}"
            f"<td>{detail}</td></tr>"
        )


def _grade_sort(value: Any) -> str:
    try:
        return str(ORDER[Grade(value)])
    except ValueError:
        return ""


def _kind_items(counts: pd.DataFrame, kind: str) -> list[tuple[str, int]]:
    rows = counts[counts["kind"] == kind]
    return [(str(r.name), int(r.hosts)) for r in rows.itertuples(index=False)]


def _by_table(summary: FleetSummary) -> str:
    """Grades, trust stores and causes per value of the --by column."""
    from scanner.analysis.views import by_view

    if summary.by is None or summary.by_column is None:
        return ""
    view = by_view(summary)
    headers = [(esc(c), "num" if c in ("targets", "not_trusted", "errors") else "") for c in view]
    rows = (
        "<tr>" + "".join(f"<td>{esc(v)}</td>" for v in values) + "</tr>"
        for values in view.itertuples(index=False)
    )
    return f"<h2>By {esc(summary.by_column)}</h2>" + _table(headers, rows)


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


def _verdict_items(counts: pd.DataFrame) -> list[tuple[str, int]]:
    return [
        (str(r.name).replace("_", " "), int(r.hosts))
        for r in counts.itertuples(index=False)
        if r.kind == "verdict"
    ] + [
        (f"error: {r.name}", int(r.hosts))
        for r in counts.itertuples(index=False)
        if r.kind == "error" and r.hosts
    ]


def _overview(summary: FleetSummary, sources: Sequence[str]) -> str:
    """Heading, warnings, the count cards and the charts."""
    counts = summary.counts
    not_trusted = _count(counts, "verdict", "not_trusted")
    sources_html = ", ".join(f"<code>{esc(s)}</code>" for s in sources)
    warnings = "".join(f'<div class="warn">{esc(w)}</div>' for w in summary.warnings)
    chart = bar_chart(_verdict_items(counts), title="Verdicts and errors (hosts)")
    # Root causes apart from verdicts: the `untrusted_root` verdict also counts hosts whose
    # issuer cannot be found at all (`issuer_not_found`), a different fix.
    causes = bar_chart(
        [(str(r.code), int(r.hosts)) for r in summary.causes.itertuples(index=False) if r.hosts],
        title="Root causes (hosts with each finding)",
        label_w=170,
    )
    grades, stores = _kind_items(counts, "grade"), _kind_items(counts, "trust_store")
    if grades:
        causes += bar_chart(grades, title="Hosts per grade")
        causes += bar_chart(stores, title="Hosts each trust store trusts")
    return f"""
<h1>TLS fleet report</h1>
<div class="meta">as of <b>{esc(summary.as_of.astimezone(dt.UTC).isoformat())}</b>
 &middot; {summary.targets} targets &middot; scan folder(s): {sources_html}</div>
{warnings}
<div class="cards">
<div class="card"><b>{summary.targets}</b>targets</div>
<div class="card"><b class="ok">{summary.ok - not_trusted}</b>trusted</div>
<div class="card"><b class="err">{not_trusted}</b>not trusted</div>
<div class="card"><b class="err">{_count(counts, "verdict", "revoked")}</b>revoked</div>
<div class="card"><b>{summary.rows - summary.ok}</b>errors (no chain)</div>
<div class="card"><b>{_count(counts, "verdict", "expiring_soon")}</b>expiring soon</div>
</div>
<div class="charts">{chart}
{causes}
{calendar_chart(summary.calendar)}</div>
<p class="meta">Verdicts are the yes/no columns of hosts.parquet; a host can have several, and
"untrusted root" includes hosts whose issuer cannot be found at all. Root causes are the finding
codes, each host counted once per code: they say what to fix.</p>
{_by_table(summary)}
"""


def _fix_lists(summary: FleetSummary) -> str:
    """The two fix lists: problem leaf certificates, missing intermediates."""
    leaf_table = _table(
        [
            ("hosts affected", "num"),
            ("serving", "num"),
            ("severity", ""),
            ("findings", ""),
            ("subject", ""),
            ("SANs", ""),
            ("issuer", ""),
            ("notAfter", ""),
            ("days left", "num"),
            ("remedy", ""),
            ("hosts", ""),
            ("SHA-256", ""),
        ],
        _leaf_fix_rows(summary.leaf_fixes.head(MAX_FIXES)),
    )
    intermediate_table = _table(
        [
            ("hosts affected", "num"),
            ("intermediate", ""),
            ("AIA URL", ""),
            ("remedy", ""),
            ("hosts", ""),
        ],
        _intermediate_rows(summary.intermediates.head(MAX_FIXES)),
    )
    fixes_not_shown = ""
    if len(summary.leaf_fixes) > MAX_FIXES:
        fixes_not_shown = (
            f" The first {MAX_FIXES} of {len(summary.leaf_fixes)}; all are in "
            "<code>scanner summary --format csv --table fixes</code>."
        )
    return f"""
<h2>Fix list: leaf certificates</h2>
<p>One row per certificate with a problem; renewing or reissuing it fixes every host listed.
{fixes_not_shown}</p>
{leaf_table}
<h2>Fix list: missing intermediates</h2>
{intermediate_table}
"""


def _host_section(hosts: pd.DataFrame, findings: pd.DataFrame, max_hosts: int) -> str:
    """The sortable host table, worst first, with each host's findings or error."""
    carried = [c for c in hosts.columns if c not in HOST_COLUMNS]
    shown = _host_order(hosts).head(max_hosts)
    keys = ["host", "port", "ip"]
    findings = findings.merge(shown[keys].drop_duplicates(), on=keys)  # only the shown hosts'
    more = len(hosts) - len(shown)
    host_headers: list[tuple[str, str, str]] = [
        ("host", "", "host"),
        ("port", "num", "port"),
        ("ip", "", "ip"),
        ("status", "", "status"),
        ("severity", "", "severity"),
        ("days left", "num", "days_remaining"),
        ("notAfter", "", "not_after"),
        ("grade", "", "grade"),
        ("trusted by", "", "trusted_by"),
        ("subject", "", "subject"),
        ("issuer", "", "issuer"),
        *((esc(c), "", f"input{i}") for i, c in enumerate(carried)),
        ("findings (explanation and remedy) or error", "", "detail"),
    ]
    host_table = _table(
        host_headers, _host_rows(shown, findings, carried), table_id="hosts", sortable=True
    )
    not_shown = f" {more} more host(s) not shown: see hosts.parquet." if more > 0 else ""
    return f"""
<h2>Hosts</h2>
<p>Worst first; click a column header to sort.{not_shown}</p>
{host_table}
"""


def _page(body: str) -> str:
    """The document around `body`: inline CSS, the sorting script allowed by its hash."""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        f"style-src 'unsafe-inline'; script-src 'sha256-{_csp_hash(SCRIPT)}'; img-src data:; "
        "base-uri 'none'; form-action 'none'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>TLS fleet report</title><style>{CSS}</style></head>"
        f"<body>{body}<script>{SCRIPT}</script></body></html>\n"
    )


def render(
    summary: FleetSummary,
    hosts: pd.DataFrame,
    findings: pd.DataFrame,
    *,
    sources: Sequence[str] = (),
    max_hosts: int = MAX_HOSTS,
) -> str:
    """The report as one HTML document."""
    return _page(
        _overview(summary, sources)
        + _fix_lists(summary)
        + _host_section(hosts, findings, max_hosts)
    )
