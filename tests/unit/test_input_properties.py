"""Input files people edit by hand: any text gives rows or one clear error, never an exception
(hypothesis), and the awkward cases by name: BOM, Latin-1, CRLF, quoted commas and newlines,
a million rows read as a stream, and host cells of every odd shape."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from scanner.inputs.targets import InputError, _records, read_targets
from scanner.model.columns import HOST_COLUMNS
from scanner.model.types import InvalidTarget, Target
from scanner.store import files as storage

RESERVED = HOST_COLUMNS
PROPERTY = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def parse_text(text: str) -> list[Target | InvalidTarget]:
    """The rows of `text` as the scan reads a file (csv module line splitting)."""
    header, items = read_targets(io.StringIO(text, newline=""), RESERVED)
    return list(items)


def one(text: str) -> Target | InvalidTarget:
    rows = parse_text(text)
    assert len(rows) == 1, rows
    return rows[0]


def write(tmp_path: Path, data: bytes, name: str = "hosts.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def read_file(path: Path) -> list[Target | InvalidTarget]:
    return list(storage.iter_input(path))


# --- any text -----------------------------------------------------------------------------

# Text a CSV line can hold without CSV syntax of its own: no quotes, no line breaks, no NUL.
plain = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters='"\r\n\x00\x0b\x0c\x1c\x1d\x1e'),
    max_size=60,
)
cells = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)


def _skipped(line: str) -> bool:
    """Blank lines and `#` comments are not rows (docs/guide/input.md: a line whose first
    non-blank character is `#`, decided on the raw line, so a quoted "#x" cell is data)."""
    return not line.replace(",", "").strip() or line.lstrip().startswith("#")


def _written(row: tuple[str, ...]) -> str:
    """The raw line(s) the csv module writes for `row`."""
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerow(row)
    return buffer.getvalue()


@PROPERTY
@given(st.lists(plain, max_size=12))
def test_every_line_under_a_valid_header_is_one_item(lines: list[str]) -> None:
    """Under a header with a host column, a file of plain lines never fails as a whole: each
    line that is not blank or a comment is exactly one item (a target or an invalid row with
    a one-line reason), numbered by its line."""
    rows = parse_text("host,port,note\n" + "".join(line + "\n" for line in lines))
    kept = [n + 2 for n, line in enumerate(lines) if not _skipped(line)]
    assert [r.row for r in rows] == kept
    for r in rows:
        if isinstance(r, InvalidTarget):
            assert r.detail and "\n" not in r.detail


@PROPERTY
@given(st.lists(plain, min_size=1, max_size=4))
def test_a_header_without_host_is_one_clear_error(names: list[str]) -> None:
    assume(all("host" not in n.strip().lower().split(",") for n in names))
    header = ",".join(n.replace(",", " ") for n in names)
    assume(not _skipped(header))
    with pytest.raises(InputError, match="no 'host' column") as e:
        parse_text(header + "\nexample.com\n")
    assert "\n" not in str(e.value)


def _is_comment(raw: str) -> bool:
    return raw.lstrip().startswith("#")


@PROPERTY
@given(st.lists(st.tuples(cells, cells, cells), min_size=1, max_size=8))
@example([('#a"b', "", "x")])  # written quoted ("#a""b"): data, not a comment
@example([(" #x", "", "")])  # written bare: a comment
def test_any_cells_written_as_csv_come_back_as_one_item_per_row(
    rows: list[tuple[str, str, str]],
) -> None:
    buffer = io.StringIO(newline="")
    w = csv.writer(buffer)
    w.writerow(["host", "port", "note"])
    w.writerows(rows)
    items = parse_text(buffer.getvalue())  # quoted by the csv module: never an InputError
    kept = [r for r in rows if any(c.strip() for c in r) and not _is_comment(_written(r))]
    assert len(items) == len(kept)
    for item, row in zip(items, kept, strict=True):
        assert item.extra == (row[2],)  # carried columns are kept verbatim
        if isinstance(item, Target):
            assert 1 <= item.port <= 65535 and item.host == item.host.lower()


@PROPERTY
@given(st.binary(max_size=300))
def test_any_bytes_give_rows_or_an_error_naming_the_line(tmp_path: Path, data: bytes) -> None:
    """Bytes that are not UTF-8 are refused naming the line; UTF-8 without NUL or quotes
    always reads, every line a row."""
    path = write(tmp_path, b"host,port\n" + data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        with pytest.raises(InputError, match=r"^line \d+: not UTF-8 text"):
            storage.inspect_input(path)
        return
    assume('"' not in text and "\x00" not in text)
    _, count, dedupe = storage.inspect_input(path)
    duplicates = dedupe.duplicates
    rows = read_file(path)
    assert count == len(rows)
    lines = [ln for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    assert len(rows) + duplicates == sum(1 for ln in lines if not _skipped(ln))


host_cells = st.one_of(
    st.from_regex(r"[A-Za-z0-9_.\-]{1,70}", fullmatch=True),
    st.text(max_size=80),
    st.from_regex(r"\[?[0-9a-fA-F:]{2,39}(%[a-z0-9]{1,5})?\]?(:[0-9]{1,6})?", fullmatch=True),
)


@settings(
    max_examples=150,
    deadline=None,
    # Most arbitrary cells are not hosts (the property is about those that are): the filter is
    # the point, and the run asserts on every cell that reads as a target.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
@given(
    host_cells,
    st.one_of(st.just(""), st.integers(1, 65535).map(str), st.text(max_size=8)),
)
@example("::%,", "")  # a zone id holding a comma: the written row must be quoted
def test_a_normalised_host_reads_back_as_itself(cell: str, port: str) -> None:
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows([["host", "port"], [cell, port]])
    rows = parse_text(buffer.getvalue())
    assume(len(rows) == 1 and isinstance(rows[0], Target))
    target = rows[0]
    assert isinstance(target, Target)
    written = io.StringIO(newline="")
    host = f"[{target.host}]" if ":" in target.host else target.host
    csv.writer(written).writerows([["host", "port"], [host, target.port]])
    again = one(written.getvalue())
    assert isinstance(again, Target)
    assert (again.host, again.port, again.is_ip) == (target.host, target.port, target.is_ip)


# --- files people actually send ----------------------------------------------------------


def test_utf8_bom_is_not_part_of_the_header(tmp_path: Path) -> None:
    path = write(tmp_path, "\ufeffHost,Port\nexample.com,8443\n".encode())
    (target,) = read_file(path)
    assert isinstance(target, Target) and (target.host, target.port) == ("example.com", 8443)


def test_latin1_bytes_are_refused_naming_the_line(tmp_path: Path) -> None:
    lines = [b"host,owner", b"a.example,ops", b"b.example,caf\xe9", b"c.example,ops"]
    path = write(tmp_path, b"\n".join(lines) + b"\n")
    with pytest.raises(InputError, match="line 3") as e:
        storage.inspect_input(path)
    assert "UTF-8" in str(e.value) and "\n" not in str(e.value)


def test_latin1_far_into_a_big_file_names_that_line(tmp_path: Path) -> None:
    rows = [b"host"] + [b"h%d.example" % i for i in range(20000)]
    rows[15000] = b"caf\xe9.example"
    path = write(tmp_path, b"\n".join(rows) + b"\n")
    with pytest.raises(InputError, match="line 15001"):
        storage.inspect_input(path)


def test_crlf_reads_like_lf(tmp_path: Path) -> None:
    text = "host,port,owner\nexample.com,443,ops\nexample.org,8443,web\n"
    lf = read_file(write(tmp_path, text.encode(), "lf.csv"))
    crlf = read_file(write(tmp_path, text.replace("\n", "\r\n").encode(), "crlf.csv"))
    assert lf == crlf and len(lf) == 2


def test_quoted_commas_and_newlines_stay_in_their_cell(tmp_path: Path) -> None:
    text = 'host,owner,note\nexample.com,"Ops, EMEA","line one\nline two"\nexample.org,web,x\n'
    first, second = read_file(write(tmp_path, text.encode()))
    assert isinstance(first, Target) and first.extra == ("Ops, EMEA", "line one\nline two")
    assert isinstance(second, Target) and second.host == "example.org" and second.row == 4


def test_an_unterminated_quote_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path, b'host,owner\nexample.com,"never closed\nexample.org,x\n')
    with pytest.raises(InputError, match=r"^line 3: not valid CSV \(unexpected end of data\)"):
        read_file(path)


def test_a_million_rows_are_read_as_a_stream(tmp_path: Path) -> None:
    # A real file through the scan's reader: decoding and CSV records, one line at a time.
    path = tmp_path / "million.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("host,port,owner\n")
        f.writelines(f"h{i}.fleet.example,443,team{i % 7}\n" for i in range(1_000_000))
    produced = 0

    def counted(lines: Iterator[str]) -> Iterator[str]:
        nonlocal produced
        for line in lines:
            produced += 1
            yield line

    seen = 0
    with storage.open_input(path) as lines:
        for line, cells in _records(counted(lines)):
            seen += 1
            if seen % 100_000 == 0:
                # Never ahead of what it hands out: memory does not grow with the file.
                assert produced == line == seen
                assert cells == [f"h{seen - 2}.fleet.example", "443", f"team{(seen - 2) % 7}"]
    assert seen == 1_000_001  # the header and a million rows


def test_rows_are_parsed_one_record_at_a_time() -> None:
    # Parsing proper (names, ports, IDNA) is per record; checked lazily on 100,000 rows.
    produced = 0

    def lines() -> Iterator[str]:
        nonlocal produced
        yield "host,port,owner\n"
        for i in range(100_000):
            produced += 1
            yield f"H{i}.Fleet.Example.,443,team{i % 7}\n"

    _, items = read_targets(lines(), RESERVED)
    seen = 0
    for item in items:
        seen += 1
        assert produced == seen
        if seen % 10_000 == 0:
            assert isinstance(item, Target) and item.host == f"h{seen - 1}.fleet.example"
    assert seen == 100_000


# --- host cells of every odd shape --------------------------------------------------------

GOOD_HOSTS = [
    ("Example.COM", "example.com", False),
    ("example.com.", "example.com", False),
    ("  example.com  ", "example.com", False),
    ("_dmarc.example.com", "_dmarc.example.com", False),
    ("Bücher.example", "xn--bcher-kva.example", False),
    ("BÜCHER.example", "xn--bcher-kva.example", False),
    ("xn--bcher-kva.example", "xn--bcher-kva.example", False),
    ("a" * 63 + ".example", "a" * 63 + ".example", False),
    ("::1", "::1", True),
    ("[::1]", "::1", True),
    ("[2001:DB8::0:1]", "2001:db8::1", True),
    ("fe80::1%eth0", "fe80::1%eth0", True),
    ("[fe80::1%eth0]", "fe80::1%eth0", True),
    ("127.0.0.1", "127.0.0.1", True),
]


@pytest.mark.parametrize(("cell", "host", "is_ip"), GOOD_HOSTS)
def test_host_cells_are_normalised(cell: str, host: str, is_ip: bool) -> None:
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows([["host"], [cell]])
    target = one(buffer.getvalue())
    assert isinstance(target, Target), target
    assert (target.host, target.is_ip, target.port) == (host, is_ip, 443)


@pytest.mark.parametrize(
    ("cell", "port"),
    [("example.com:8443", 8443), ("[::1]:8443", 8443), ("127.0.0.1:1", 1), ("x.test:65535", 65535)],
)
def test_ports_in_the_host_cell(cell: str, port: int) -> None:
    target = one(f"host\n{cell}\n")
    assert isinstance(target, Target) and target.port == port


BAD_CELLS = [
    ("a" * 64 + ".example", "", "longer than 63"),
    (".".join(["a" * 60] * 5), "", "longer than 253"),
    ("bad host.example", "", "white space"),
    ("exa mple", "", "white space"),
    ("-lead.example", "", "may not start or end with '-'"),
    ("a..b", "", "empty label"),
    ("☃.example", "", "IDN"),
    ("example.com", "0", "out of range"),
    ("example.com", "65536", "out of range"),
    ("example.com", "abc", "not a number"),
    ("example.com:0", "", "out of range"),
    ("[::1", "", "unclosed"),
    ("[::1]x", "", "after ']'"),
    ("", "", "empty"),
]


@pytest.mark.parametrize(("cell", "port", "phrase"), BAD_CELLS)
def test_bad_cells_become_invalid_rows_with_a_reason(cell: str, port: str, phrase: str) -> None:
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows([["host", "port", "owner"], [cell, port, "ops"]])
    item = one(buffer.getvalue())
    assert isinstance(item, InvalidTarget), item
    assert phrase in item.detail and "\n" not in item.detail
    assert item.host == cell and item.extra == ("ops",)
