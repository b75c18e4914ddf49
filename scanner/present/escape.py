"""Untrusted text (from certificates and input rows) made safe for each place it is shown, and
the plain values every format starts from. One helper per destination:

printable()  control characters replaced (plain terminal output)
terminal()   printable(), and rich markup escaped (output through rich)
markdown()   control characters replaced, HTML and Markdown punctuation escaped, one line
csv_cell()   lists joined with '; ', timestamps ISO 8601, formulas neutralised (OWASP)
csv_stdout() csv_cell(), and control characters but line breaks and tabs replaced (CSV printed)
json_text()  JSON with every control character escaped (ESC as \\u001b), other text kept
prometheus_label()  a label value of the Prometheus text format
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
from typing import Any

from scanner.model.timefmt import utc_z

# A cell starting with one of these is run as a formula by spreadsheets (OWASP CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def is_missing(value: Any) -> bool:
    """None, NaN, pandas NA or NaT (without importing pandas)."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType")


def plain(value: Any) -> Any:
    """A JSON-ready value: NA -> None, timestamps -> ISO 8601 UTC, numpy scalars -> Python."""
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):  # numpy arrays, scalars
        return plain(value.tolist())
    if is_missing(value):
        return None
    if isinstance(value, dt.datetime):  # pandas Timestamps are datetimes
        return utc_z(value)
    return value


def _joined(value: Any) -> str | None:
    value = plain(value)
    if value is None:
        return None
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def joined(value: Any) -> str:
    """A cell as plain text (lists joined with ", ", missing as ""), not yet escaped."""
    return _joined(value) or ""


def _replaced(text: str, keep: str = "") -> str:
    """`text` with each character that is not printable (C0 and C1 controls such as ESC, BEL
    and CSI, DEL, format characters such as bidi overrides, separators) replaced by "?",
    except those in `keep`."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch in keep else "?" for ch in text)


def printable(value: Any) -> str:
    """Untrusted text for plain terminal output: no control characters."""
    text = _joined(value)
    if text is None:
        return ""
    return _replaced(text)


def terminal(value: Any) -> str:
    """Untrusted text for output through rich: no control characters, no rich markup."""
    from rich.markup import escape

    return escape(printable(value))


def markdown(value: Any) -> str:
    """Untrusted text for a Markdown table cell: HTML escaped (Markdown renders inline HTML),
    Markdown punctuation backslash-escaped, one line."""
    text = _joined(value)
    if text is None:
        return ""
    text = html.escape(_replaced(" ".join(text.split())), quote=False)
    for ch in "\\`*_[]|#!":
        text = text.replace(ch, "\\" + ch)
    return text


def csv_cell(value: Any) -> str:
    """Text for a CSV cell: lists joined with '; ', timestamps in ISO 8601, and any text that a
    spreadsheet would run as a formula prefixed with an apostrophe (OWASP CSV injection)."""
    if is_missing(value):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return utc_z(value)
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):  # numpy
        return csv_cell(value.tolist())
    if isinstance(value, list | tuple):
        value = "; ".join(csv_cell(v) for v in value)
    elif isinstance(value, bytes):
        value = value.hex()
    elif not isinstance(value, str):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_stdout(value: Any) -> str:
    """A CSV cell printed to stdout (a terminal, maybe): `csv_cell`, and every control
    character but line feed and tab (which CSV quotes) replaced, so no escape sequence of a
    certificate's text reaches the terminal."""
    return stdout_cell(csv_cell(value))


def stdout_cell(text: str) -> str:
    """A CSV cell's text as `csv_stdout` prints it: every control character but line feed and
    tab replaced."""
    return _replaced(text, keep="\n\t")


def json_text(data: Any, **options: Any) -> str:
    """`data` as JSON (json.dumps `options`) with every character that is not printable
    escaped as \\uXXXX: JSON escapes C0 controls itself, but writes DEL, the C1 controls
    (\\x9b is a terminal's CSI) and format characters raw unless all non-ASCII is escaped.
    Other non-ASCII text (an IDN's U-labels) stays readable."""
    text = json.dumps(data, ensure_ascii=False, **options)
    if text.isprintable():
        return text
    # Outside strings JSON holds only ASCII and the layout's line breaks: any other
    # character that is not printable is inside a string, where \uXXXX means it.
    return "".join(ch if ch.isprintable() or ch == "\n" else _json_escape(ch) for ch in text)


def _json_escape(ch: str) -> str:
    return json.dumps(ch)[1:-1]  # ensure_ascii: \uXXXX (a surrogate pair above U+FFFF)


def prometheus_label(value: Any) -> str:
    """A label value for the Prometheus text exposition format: backslash, double quote and
    line feed escaped as the format requires (every other character is taken as UTF-8)."""
    text = "" if is_missing(value) else str(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
