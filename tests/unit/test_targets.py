"""Input rows -> Target or InvalidTarget; whole-file problems -> InputError."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.inputs.targets import Deduper, Header, InputError, read_targets
from scanner.model.columns import HOST_COLUMNS
from scanner.model.types import InvalidTarget, Target
from scanner.store import tables

HEADER = "host,port,ip,owner"


def parse(text: str) -> tuple[Header, list[Target | InvalidTarget]]:
    header, items = read_targets(io.StringIO(text), HOST_COLUMNS)
    return header, list(items)


def one(row: str, header: str = HEADER) -> Target | InvalidTarget:
    _, items = parse(f"{header}\n{row}\n")
    assert len(items) == 1
    return items[0]


def target(row: str, header: str = HEADER) -> Target:
    item = one(row, header)
    assert isinstance(item, Target), item
    return item


def invalid(row: str, header: str = HEADER) -> InvalidTarget:
    item = one(row, header)
    assert isinstance(item, InvalidTarget), item
    return item


VALID = {
    # cell text -> (host, port, ip, is_ip)
    "name": ("example.com,,,", ("example.com", 443, None, False)),
    "host:port": ("example.com:8443,,,", ("example.com", 8443, None, False)),
    "port column": ("example.com,8443,,", ("example.com", 8443, None, False)),
    "host:port agreeing with the port column": (
        "example.com:8443,8443,,",
        ("example.com", 8443, None, False),
    ),
    "port with spaces": ("example.com, 8443 ,,", ("example.com", 8443, None, False)),
    "IPv4": ("192.0.2.1,,,", ("192.0.2.1", 443, None, True)),
    "IPv4:port": ("192.0.2.1:8443,,,", ("192.0.2.1", 8443, None, True)),
    "[v6]:port": ("[2001:db8::1]:8443,,,", ("2001:db8::1", 8443, None, True)),
    "[v6]": ("[::1],,,", ("::1", 443, None, True)),
    "bare v6": ("2001:db8::1,,,", ("2001:db8::1", 443, None, True)),
    "bare v6 expanded": ("2001:0DB8:0:0:0:0:0:1,,,", ("2001:db8::1", 443, None, True)),
    "v6 with zone id": ("fe80::1%eth0,,,", ("fe80::1%eth0", 443, None, True)),
    "IDN -> A-label": ("Bücher.example,,,", ("xn--bcher-kva.example", 443, None, False)),
    "upper case": ("WWW.Example.COM,,,", ("www.example.com", 443, None, False)),
    "trailing dot": ("www.example.com.,,,", ("www.example.com", 443, None, False)),
    "surrounding spaces": ("  www.example.com  ,,,", ("www.example.com", 443, None, False)),
    "ip column": ("www.example.com,,10.0.0.7,", ("www.example.com", 443, "10.0.0.7", False)),
    "ip column v6 normalised": (
        "www.example.com,,2001:DB8:0::7,",
        ("www.example.com", 443, "2001:db8::7", False),
    ),
    "underscore": ("_dmarc.example.com,,,", ("_dmarc.example.com", 443, None, False)),
}


@pytest.mark.parametrize(("row", "want"), VALID.values(), ids=VALID.keys())
def test_valid_row(row: str, want: tuple[str, int, str | None, bool]) -> None:
    t = target(row)
    assert (t.host, t.port, t.ip, t.is_ip) == want
    assert t.row == 2
    assert t.sni == (None if t.is_ip else t.host)


INVALID = {
    # row -> words the readable detail must contain
    "empty host": (",443,,", "empty host"),
    "blank host": ("   ,443,,", "empty host"),
    "bad name": ("bad host!,,,", "bad host!"),
    "bad character": ("ex!ample.com,,,", "may hold only letters"),
    "port 0": ("example.com,0,,", "port 0 is out of range 1-65535"),
    "port 65536": ("example.com,65536,,", "port 65536 is out of range 1-65535"),
    "port abc": ("example.com,abc,,", "port 'abc' is not a number"),
    "negative port": ("example.com,-1,,", "is not a number"),
    "non-ASCII digits port": ("example.com,٤٤٣,,", "is not a number"),
    "port 0 in the host cell": ("example.com:0,,,", "port 0 is out of range"),
    "empty port after colon": ("example.com:,,,", "is not a number"),
    "host:port disagrees with the port column": (
        "example.com:80,443,,",
        "disagrees with port column",
    ),
    "bad ip": ("example.com,,999.1.1.1,", "ip '999.1.1.1' is not an IP address"),
    "ip is a name": ("example.com,,lb.example.com,", "is not an IP address"),
    "too many fields": ("example.com,443,,owner,surplus", "has 5 fields but the header has 4"),
    "unclosed bracket": ("[::1,,,", "unclosed '['"),
    "text after bracket": ("[::1]x,,,", "unexpected text after ']'"),
    "bad IPv4-looking name": ("1.2.3,,,", "neither an IP address nor a DNS name"),
    "wildcard host": ("*.example.com,,,", "may hold only"),
    "label too long": ("a" * 64 + ".com,,,", "longer than 63"),
}


@pytest.mark.parametrize(("row", "detail"), INVALID.values(), ids=INVALID.keys())
def test_invalid_row(row: str, detail: str) -> None:
    item = invalid(row)
    assert detail in item.detail
    assert item.row == 2
    assert item.host == row.split(",")[0]  # the raw cell, for the report


def test_invalid_row_keeps_what_is_known() -> None:
    bad_ip = invalid("example.com,8443,not-an-ip,team-a")
    assert (bad_ip.port, bad_ip.ip, bad_ip.extra) == (8443, "not-an-ip", ("team-a",))
    bad_port = invalid("example.com,99999,,team-b")
    assert bad_port.port is None and bad_port.extra == ("team-b",)


def test_bom_blank_and_comment_lines_and_line_numbers() -> None:
    text = (
        "\ufeffHost,Port\n\n# a comment\na.example,1\n   \n,\n  # indented comment\nb.example,2\n"
    )
    header, items = parse(text)
    assert header.host == 0 and header.port == 1
    assert [(t.host, t.port, t.row) for t in items if isinstance(t, Target)] == [
        ("a.example", 1, 4),
        ("b.example", 2, 8),
    ]
    assert len(items) == 2


def test_quoted_cells_and_multiline_record() -> None:
    _, items = parse('host,note\n"a.example","line one\nline two"\nb.example,x\n')
    assert [i.extra for i in items] == [("line one\nline two",), ("x",)]
    assert [i.row for i in items] == [2, 4]  # the line a record starts on


def test_extra_columns_are_carried_as_text_unchanged() -> None:
    header, items = parse("owner,host,team,env\n00123,a.example,=cmd(),  prod \n1e5,b.example,,\n")
    assert header.extra_names == ("owner", "team", "env")
    assert [i.extra for i in items] == [("00123", "=cmd()", "  prod "), ("1e5", "", "")]


def test_short_row_gives_empty_carried_cells() -> None:
    t = target("a.example", header="host,port,ip,owner,team")
    assert t.extra == ("", "") and t.port == 443


def test_clashing_columns_are_renamed_input_name() -> None:
    header, _ = parse("host,status,error,Severity,findings,input_line,owner\n")
    assert header.extra_names == (
        "input_status",
        "input_error",
        "input_Severity",
        "input_findings",
        "input_input_line",
        "owner",
    )
    output = {n.lower() for n in HOST_COLUMNS}
    assert not output & {n.lower() for n in header.extra_names}


def test_renamed_column_never_clashes_with_another_carried_column() -> None:
    header, _ = parse("host,status,input_status,,,column_5\n")
    names = [*HOST_COLUMNS, *header.extra_names]
    assert len({n.lower() for n in names}) == len(names)
    assert header.extra_names[1] == "input_status"  # the input's own column keeps its name
    assert header.extra_names[-1] == "column_5"
    # and the schema is buildable with these names
    assert tables.hosts_schema(header.extra_names).names == names


def test_duplicates_dropped_and_counted() -> None:
    _, items = parse(
        "host,port,ip\n"
        "a.example,443,\n"
        "A.EXAMPLE.,,\n"  # same target, written differently
        "a.example:443,,\n"
        "a.example,8443,\n"  # another port
        "a.example,443,10.0.0.1\n"  # another backend
        "a.example,443,10.0.0.2\n"
        "a.example,443,10.0.0.1\n"
        "bad host,443,\n"
        "bad host,443,\n"  # invalid rows are each reported
    )
    dedupe = Deduper()
    kept = [i for i in items if dedupe.is_new(i)]
    assert dedupe.duplicates == 3
    assert [i.row for i in kept] == [2, 5, 6, 7, 9, 10]
    assert sum(isinstance(i, InvalidTarget) for i in kept) == 2


def test_replay_drops_the_same_lines_and_keeps_no_table() -> None:
    _, items = parse(
        "host,port,ip,owner\n"
        "a.example,443,,x\n"
        "b.example,443,,x\n"
        "A.EXAMPLE.,,,y\n"  # a duplicate of line 2 with another owner
        "bad host,443,,x\n"
        "b.example:443,,,x\n"  # a duplicate of line 3
        "c.example,443,,x\n"
    )
    first = Deduper(track=True)
    kept = [i.row for i in items if first.is_new(i)]
    again = first.replay()
    assert [i.row for i in items if again.is_new(i)] == kept == [2, 3, 5, 7]
    assert again.duplicates == first.duplicates == 2
    # The first pass's per-target table is gone; what scan.json reports stays.
    assert first._first == {} and not again._seen
    assert (first.differing, [(d.line, d.kept) for d in first.dropped]) == (1, [(4, 2), (6, 3)])
    with pytest.raises(ValueError):
        Deduper().replay()


def lines_of(data: bytes) -> Iterable[str]:
    """How storage opens the input: UTF-8 (BOM allowed), strict, universal newlines off."""
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")


FILE_ERRORS = {
    "empty file": (b"", "the file is empty"),
    "only blank lines and comments": (b"\n# nothing\n\n", "the file is empty"),
    "no host column": (b"name,port\na.example,443\n", "no 'host' column"),
    "host column twice": (b"host,Host\na,b\n", "appears twice"),
    "Latin-1 bytes": (b"host,owner\nexample.com,Jos\xe9\n", "not UTF-8"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8"),
    "broken quoting": (b'host,owner\n"a.example,x\n', "not valid CSV"),
}


@pytest.mark.parametrize(("data", "message"), FILE_ERRORS.values(), ids=FILE_ERRORS.keys())
def test_file_level_errors(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        _, items = read_targets(lines_of(data), HOST_COLUMNS)
        list(items)


def test_latin1_error_deep_in_a_file_never_names_a_later_line() -> None:
    bad_line = 3002
    data = b"host\n" + b"a.example\n" * (bad_line - 2) + b"caf\xe9.example\n"
    with pytest.raises(InputError, match=r"not UTF-8 text after line (\d+)") as info:
        _, items = read_targets(lines_of(data), HOST_COLUMNS)
        list(items)
    match = re.search(r"after line (\d+)", str(info.value))
    assert match and 1 < int(match.group(1)) < bad_line


def _check_item(item: object, header: Header) -> None:
    assert isinstance(item, Target | InvalidTarget)
    assert len(item.extra) == len(header.extra)
    if isinstance(item, Target):
        assert 1 <= item.port <= 65535
        assert item.host and item.host.isascii() and item.host == item.host.lower()
        assert item.host.strip() == item.host and not item.host.endswith(".")
    else:
        assert item.detail and item.detail.strip()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=8))
def test_any_text_lines_give_targets_or_input_error(lines: list[str]) -> None:
    text = "\n".join([HEADER, *lines]) + "\n"
    try:
        header, items = read_targets(io.StringIO(text, newline=""), HOST_COLUMNS)
        for item in items:
            _check_item(item, header)
    except InputError as e:
        assert str(e)


cell = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "443", "0", "65536", "[::1]", "::1", "a.example:80", "Bücher.de"]),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(max_size=12), min_size=1, max_size=5),
    st.lists(st.lists(cell, max_size=6), max_size=6),
)
def test_any_csv_rows_give_targets_or_input_error(
    columns: list[str], rows: list[list[str]]
) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["host", *columns])
    writer.writerows(rows)
    try:
        header, items = read_targets(io.StringIO(buf.getvalue(), newline=""), HOST_COLUMNS)
        for item in items:
            _check_item(item, header)
        names = [*HOST_COLUMNS, *header.extra_names]
        assert len({n.lower() for n in names}) == len(names)
    except InputError as e:
        assert str(e)
