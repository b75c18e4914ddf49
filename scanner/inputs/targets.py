"""Input CSV rows -> `Target` or `InvalidTarget`: header, host:port, IDNA, IP literals, ports,
pass-through columns and de-duplication. Pure: it reads text lines it is given."""

from __future__ import annotations

import bisect
import csv
import hashlib
import itertools
import math
import numbers
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from scanner.errors import HostError, InputError, UsageError
from scanner.inputs.hostnames import normalise_host, normalise_ip
from scanner.model.types import STARTTLS_CHOICES, InvalidTarget, Target

DEFAULT_PORT = 443
# Column names the scanner writes itself; carried input columns with these names get a prefix.
RESERVED_PREFIX = "input_"


@dataclass(frozen=True, slots=True)
class Header:
    host: int
    port: int | None
    ip: int | None
    extra: tuple[int, ...]  # indexes of carried columns
    extra_names: tuple[str, ...]  # their output names
    width: int
    starttls: int | None = None  # the optional `starttls` column (auto, none or a protocol)


def parse_header(cells: list[str], reserved: Iterable[str]) -> Header:
    names = [c.strip() for c in cells]
    lowered = [n.lower() for n in names]
    if "host" not in lowered:
        shown = ", ".join(repr(n) for n in names[:8]) or "nothing"
        raise InputError(
            f"no 'host' column in the header row (found {shown}); the header row must name a "
            "'host' column, fields separated by ',', ';' or tab"
        )
    seen: set[str] = set()
    for n in lowered:
        if n and n in seen:  # unnamed columns (trailing commas) are named below
            raise InputError(f"column {n!r} appears twice in the header row")
        seen.add(n)
    special = {"host", "port", "ip", "starttls"}
    # Output names must be unique ignoring case (DuckDB and SQL engines fold case).
    reserved_set = {r.lower() for r in reserved}
    extra = tuple(i for i, n in enumerate(lowered) if n not in special)
    taken = reserved_set | {lowered[i] for i in extra}
    extra_names = []
    for i in extra:
        n = names[i]
        if not n or n.lower() in reserved_set:
            n = RESERVED_PREFIX + n if n else f"column_{i + 1}"
            while n.lower() in taken:
                n = RESERVED_PREFIX + n
            taken.add(n.lower())
        extra_names.append(n)
    return Header(
        host=lowered.index("host"),
        port=lowered.index("port") if "port" in lowered else None,
        ip=lowered.index("ip") if "ip" in lowered else None,
        extra=extra,
        extra_names=tuple(extra_names),
        width=len(names),
        starttls=lowered.index("starttls") if "starttls" in lowered else None,
    )


def cell_text(value: object) -> str:
    """A Python value (a row given to `scanner.scan`, often a pandas record) as the text of its
    CSV cell: None and NaN-likes (float NaN, pandas NA and NaT) are a missing cell, and a
    whole float is written without its `.0` (a port column holding a missing value is a float
    column in pandas: 8443.0 means port 8443)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        number = float(value)
        if math.isnan(number):
            return ""
        return str(int(number)) if number.is_integer() else str(value)
    try:
        if value != value:  # NaN-likes: pandas NaT and float types of other libraries
            return ""
    except TypeError:  # pandas NA: its truth value is ambiguous
        return ""
    return str(value)


def _split_host_port(cell: str) -> tuple[str, str | None]:
    """`host`, `host:port`, `[v6]`, `[v6]:port`, or a bare IPv6 literal (no port)."""
    if cell.startswith("["):
        end = cell.find("]")
        if end < 0:
            raise HostError(f"unclosed '[' in host {cell!r}")
        rest = cell[end + 1 :]
        if rest and not rest.startswith(":"):
            raise HostError(f"unexpected text after ']' in host {cell!r}")
        return cell[1:end], (rest[1:] if rest else None)
    if cell.count(":") == 1:
        host, _, port = cell.partition(":")
        return host, port
    return cell, None


def _parse_port(text: str) -> int:
    t = text.strip()
    if not t.isdigit() or not t.isascii():
        raise HostError(f"port {text!r} is not a number")
    port = int(t)
    if not 1 <= port <= 65535:
        raise HostError(f"port {port} is out of range 1-65535")
    return port


def parse_row(header: Header, line: int, cells: list[str]) -> Target | InvalidTarget:
    def cell(i: int | None) -> str:
        return cells[i] if i is not None and i < len(cells) else ""

    extra = tuple(cell(i) for i in header.extra)
    raw_host = cell(header.host)
    raw_port = cell(header.port).strip()
    raw_ip = cell(header.ip).strip()
    raw_starttls = cell(header.starttls).strip().lower()

    def invalid(detail: str, port: int | None = None) -> InvalidTarget:
        return InvalidTarget(
            row=line, host=raw_host, port=port, ip=raw_ip or None, detail=detail, extra=extra
        )

    if len(cells) > header.width:
        return invalid(
            f"line {line} has {len(cells)} fields but the header has {header.width} "
            "(an unquoted comma?)"
        )
    try:
        host_text, port_in_host = _split_host_port(raw_host.strip())
        port = DEFAULT_PORT
        if port_in_host is not None:
            port = _parse_port(port_in_host)
        if raw_port:
            column_port = _parse_port(raw_port)
            if port_in_host is not None and column_port != port:
                raise HostError(
                    f"port {port} in the host cell disagrees with port column {column_port}"
                )
            port = column_port
    except HostError as e:
        return invalid(str(e))
    try:
        host, is_ip = normalise_host(host_text)
        connect_ip = None
        if raw_ip:
            connect_ip = normalise_ip(raw_ip)
            if connect_ip is None:
                raise HostError(f"ip {raw_ip!r} is not an IP address")
        if raw_starttls and raw_starttls not in STARTTLS_CHOICES:
            raise HostError(
                f"starttls {raw_starttls!r} is not one of {', '.join(STARTTLS_CHOICES)}"
            )
    except HostError as e:
        return invalid(str(e), port)
    return Target(
        row=line,
        host=host,
        port=port,
        ip=connect_ip,
        is_ip=is_ip,
        extra=extra,
        starttls=raw_starttls or None,
    )


SKIPPED_LISTED = 10  # skipped lines shaped like rows, named one by one in the warning


class SkippedLines:
    """Blank and comment lines the reader skipped: counted (scan.json records the number), and
    the comment lines with as many fields as the header remembered, since such a line is more
    likely a row someone meant to scan (a host or owner written `#...`) than a note."""

    def __init__(self) -> None:
        self.count = 0
        self.comments = 0
        self.row_shaped = 0
        self.lines: list[int] = []  # the first SKIPPED_LISTED row-shaped comment lines

    def add(self, line: int, *, comment: bool, row_shaped: bool) -> None:
        self.count += 1
        self.comments += comment
        if row_shaped:
            self.row_shaped += 1
            if len(self.lines) < SKIPPED_LISTED:
                self.lines.append(line)

    def warning(self, source: object) -> str | None:
        """One stderr line naming the comment lines shaped like rows, or None."""
        if not self.row_shaped:
            return None
        more = self.row_shaped - len(self.lines)
        shown = ", ".join(map(str, self.lines)) + (f" and {more} more" if more > 0 else "")
        return (
            f"{source}: {self.row_shaped} line(s) starting with '#' skipped as comments though "
            f"they have as many fields as the header: line {shown} (quote a cell that starts "
            "with '#', or move that column, to scan the row)"
        )


def _is_comment(raw: str) -> bool:
    """The documented rule (docs/guide/input.md), on the raw line: its first non-blank
    character is `#`. A quoted `"#payments"` cell is data."""
    return raw.lstrip("\ufeff").lstrip().startswith("#")


class _Lines:
    """Feeds the csv reader its lines, dropping comment lines at the start of a record (never
    inside a quoted cell spanning lines), and numbering every line read."""

    def __init__(self, lines: Iterable[str], delimiter: str, skipped: SkippedLines) -> None:
        self._lines = iter(lines)
        self._delimiter = delimiter
        self._skipped = skipped
        self.number = 0  # lines read so far, comments included
        self.record_start = True  # the next line read begins a record
        self.first = 0  # the line the current record begins on
        self.width: int | None = None  # the header's fields, once read

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        while True:
            raw = next(self._lines)
            self.number += 1
            if not self.record_start:
                return raw
            if not _is_comment(raw):
                self.record_start = False
                self.first = self.number
                return raw
            self._skipped.add(self.number, comment=True, row_shaped=self._row_shaped(raw))

    def _row_shaped(self, raw: str) -> bool:
        if self.width is None:
            return False
        try:
            cells = next(csv.reader([raw.rstrip("\r\n")], delimiter=self._delimiter))
        except (csv.Error, StopIteration):
            return False
        return len(cells) == self.width


def _records(
    lines: Iterable[str], delimiter: str = ",", skipped: SkippedLines | None = None
) -> Iterator[tuple[int, list[str]]]:
    """CSV records with the line each starts on (a quoted cell may span lines); blank lines
    and `#` comment lines skipped and counted in `skipped`. Decoding and CSV syntax errors
    become InputError naming the line."""
    skipped = SkippedLines() if skipped is None else skipped
    source = _Lines(lines, delimiter, skipped)
    reader = csv.reader(source, strict=True, delimiter=delimiter)
    while True:
        source.record_start = True
        try:
            cells = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as e:
            # The text layer decodes ahead in chunks: the bad bytes lie somewhere after the
            # lines read so far, and e.start counts from the chunk, not the file.
            where = f" after line {source.number}" if source.number else ""
            raise InputError(
                f"not UTF-8 text{where} ({e.reason}); save the file as UTF-8"
            ) from None
        except csv.Error as e:
            raise InputError(f"line {source.number}: not valid CSV ({e})") from None
        start = source.first
        if not cells or all(not c.strip() for c in cells):
            skipped.add(start, comment=False, row_shaped=False)
            continue
        if source.width is None:
            source.width = len(cells)
        yield start, cells


DELIMITERS = (",", ";", "\t")


def _sniff_delimiter(lines: Iterator[str]) -> tuple[list[str], str]:
    """The lines up to the header row (read ahead, to be read again) and the delimiter."""
    peeked: list[str] = []
    try:
        for line in lines:
            peeked.append(line)
            text = line.lstrip("\ufeff").strip()
            if text and not text.startswith("#"):
                for delimiter in DELIMITERS:
                    try:
                        cells = next(csv.reader([line.lstrip("\ufeff")], delimiter=delimiter))
                    except (csv.Error, StopIteration):
                        continue
                    if any(c.strip().lower() == "host" for c in cells):
                        return peeked, delimiter
                break
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text ({e.reason}); save the file as UTF-8") from None
    return peeked, ","


def read_targets(
    lines: Iterable[str], reserved: Iterable[str], skipped: SkippedLines | None = None
) -> tuple[Header, Iterator[Target | InvalidTarget]]:
    """Parse the header now (so header problems surface before any work) and the rows lazily.
    The delimiter is `,`, or `;` or tab when that is what splits a `host` cell out of the
    header row (spreadsheets in many locales save CSV with `;`). Blank and comment lines
    are counted in `skipped`."""
    rest = iter(lines)
    peeked, delimiter = _sniff_delimiter(rest)
    records = _records(itertools.chain(peeked, rest), delimiter, skipped)
    try:
        _, first = next(records)
    except StopIteration:
        raise InputError(
            "the file is empty: a header row with a 'host' column is required"
        ) from None
    if first and first[0].startswith("\ufeff"):
        first[0] = first[0][1:]
    header = parse_header(first, reserved)
    return header, (parse_row(header, line, cells) for line, cells in records)


DUPLICATES_LISTED = 100  # dropped rows named one by one (in scan.json); the rest are counted


@dataclass(frozen=True, slots=True)
class Duplicate:
    """An input line dropped because an earlier line has the same (host, port, ip, starttls)
    target."""

    line: int
    kept: int  # the line whose row was scanned instead
    carried_differ: bool  # its carried columns (owner...) differ from the kept row's: lost


class Deduper:
    """Drops repeated (host, port, ip, starttls cell) targets, by an 8-byte digest of each
    target seen.

    With `track` (the first pass over the input, before the scan) it also remembers each
    target's line and carried columns, to say which line a duplicate was dropped in favour of,
    and the line of every duplicate dropped. `replay` then hands the second pass (the scan) a
    Deduper that drops those same lines and keeps nothing per target: the first pass's table
    (about 100 bytes a target) is let go before the first connection, so a scan's memory does
    not grow with its input."""

    def __init__(self, *, track: bool = False) -> None:
        self._seen: set[bytes] = set()
        self._first: dict[bytes, tuple[int, int]] | None = {} if track else None
        self._dropped_lines: array[int] | None = array("q") if track else None
        self._replayed: array[int] | None = None  # lines to drop, ascending (see `replay`)
        self.duplicates = 0
        self.differing = 0  # duplicates whose carried columns differ from the kept row's
        self.dropped: list[Duplicate] = []  # the first DUPLICATES_LISTED, when tracking
        self.skipped = SkippedLines()  # blank and comment lines, filled by the first pass

    def is_new(self, item: Target | InvalidTarget) -> bool:
        if isinstance(item, InvalidTarget):
            return True
        if self._replayed is not None:
            lines = self._replayed
            i = bisect.bisect_left(lines, item.row)
            if i < len(lines) and lines[i] == item.row:
                self.duplicates += 1
                return False
            return True
        # The row's starttls cell is part of the target: `smtp` and `none` on one port are two
        # different scans.
        key = (*item.key, item.starttls or "")
        digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
        if self._first is not None:
            first = self._first.get(digest)
            if first is None:
                self._first[digest] = (item.row, hash(item.extra))
                return True
            differ = first[1] != hash(item.extra)
            self.duplicates += 1
            self.differing += differ
            if self._dropped_lines is not None:
                self._dropped_lines.append(item.row)
            if len(self.dropped) < DUPLICATES_LISTED:
                self.dropped.append(Duplicate(item.row, first[0], differ))
            return False
        if digest in self._seen:
            self.duplicates += 1
            return False
        self._seen.add(digest)
        return True

    def replay(self) -> Deduper:
        """For a second pass over the same input (a tracking Deduper that has seen all of it):
        a Deduper that drops exactly the lines this one dropped, holding only those lines.
        This one forgets its per-target table and keeps its counts and `dropped` list."""
        if self._first is None or self._dropped_lines is None:
            raise ValueError("replay needs a tracking Deduper")
        again = Deduper()
        lines = self._dropped_lines
        if any(a >= b for a, b in zip(lines, itertools.islice(lines, 1, None), strict=False)):
            lines = array("q", sorted(lines))  # lines arrive in file order: ascending already
        again._replayed = lines
        self._first = {}  # the table is needed no more; the counts stay
        return again


@dataclass(frozen=True, slots=True)
class Shard:
    """The K-th of N deterministic slices of the input (K from 1), by a stable hash of host and
    port, as zmap and zgrab2 split scans: N machines share a fleet with no coordinator."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        k, sep, n = text.partition("/")
        if not sep or not k.strip().isdigit() or not n.strip().isdigit():
            raise UsageError(f"shard {text!r} is not K/N (for example 1/4)")
        shard = cls(int(k), int(n))
        if not 1 <= shard.index <= shard.count:
            raise UsageError(f"shard {text!r}: K must be between 1 and N")
        return shard

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def contains(self, item: Target | InvalidTarget) -> bool:
        if self.count == 1:
            return True
        key = f"{item.host}:{item.port}".encode("utf-8", "surrogatepass")
        bucket = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") % self.count
        return bucket == self.index - 1
