"""The pure pieces behind issue 9's fixes: the generic resume check, what makes folders one
scan, delimiter sniffing, duplicate tracking, addresses and IDNs for people, the interrupt
message, and terminal tables that keep words whole."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from rich.console import Console

from scanner.errors import InputError, ScanFolderError, UsageError
from scanner.inputs.hostnames import ip_text, parse_ip, unicode_name
from scanner.inputs.targets import Deduper, read_targets
from scanner.model.types import Target
from scanner.present.formats import Section, rich_table
from scanner.run import driver, resume
from scanner.run.options import ScanOptions
from scanner.store import tables
from scanner.store.load import check_one_scan
from scanner.x509.certs import load_trust_store

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


# --- resume: every recorded option is compared, but those that change no verdict ------------


@pytest.fixture(scope="module")
def trust() -> Any:
    import certifi

    return load_trust_store(Path(certifi.where()).read_bytes(), "certifi")


def options(**changes: Any) -> ScanOptions:
    return ScanOptions(**{"input": Path("in.csv"), "out": Path("out"), "as_of": FIXED, **changes})


def state_for(o: ScanOptions, trust: Any) -> dict[str, Any]:
    record = resume.resume_record(o, trust)
    return {
        "input_sha256": "abc",
        "as_of": record.pop("as_of"),
        "options": record,
    }


def test_resume_compares_every_option_it_is_not_told_to_ignore(trust: Any) -> None:
    state = state_for(options(), trust)
    resume.check_resumable(state, options(timeout=3, concurrency=7), "abc", trust)  # speed
    # An option another feature adds to the record (revocation, say) is compared at once.
    state["options"]["revocation"] = "hard"
    with pytest.raises(UsageError, match=r"--revocation was 'hard', now True"):
        resume.check_resumable(state, options(), "abc", trust)


def test_resume_names_the_trust_store_by_contents(trust: Any) -> None:
    state = state_for(options(), trust)
    state["options"]["trust_store_sha256"] = "0" * 64
    with pytest.raises(UsageError, match=r"--ca-bundle \(the trust store's contents"):
        resume.check_resumable(state, options(), "abc", trust)


def test_shards_of_one_run_share_a_scan_group_and_other_runs_do_not(trust: Any) -> None:
    def group(**changes: Any) -> str:
        return resume.scan_group("abc", resume.resume_record(options(**changes), trust))

    from scanner.inputs.targets import Shard

    one, two = group(shard=Shard(1, 4)), group(shard=Shard(2, 4))
    assert one == two == group(shard=Shard(3, 4), as_of=FIXED + dt.timedelta(hours=1))
    assert one == group(shard=Shard(1, 4), timeout=99)  # speed is not identity
    assert one != group(shard=Shard(1, 2))
    assert one != group(shard=Shard(1, 4), warn_days=10)
    assert one != resume.scan_group("other", resume.resume_record(options(), trust))


# --- folders are one scan only as distinct shards of one run ---------------------------------


def meta(shard: str, *, group: str = "g", as_of: dt.datetime = FIXED) -> dict[str, Any]:
    return {"scan_group": group, "as_of": as_of.isoformat(), "options": {"shard": shard}}


FOLDERS = (Path("a"), Path("b"))


def test_distinct_shards_are_one_scan() -> None:
    check_one_scan(FOLDERS, [meta("1/2"), meta("2/2", as_of=FIXED + dt.timedelta(hours=2))])
    check_one_scan(FOLDERS[:1], [{}])  # one folder is one scan, scan.json or not


@pytest.mark.parametrize(
    ("metas", "says"),
    [
        ([meta("1/1"), meta("1/1", as_of=FIXED + dt.timedelta(days=1))], "different times"),
        ([meta("1/2"), meta("2/2", group="h")], "different scans"),
        ([meta("1/2"), meta("1/2")], "both hold shard 1/2"),
        ([meta("1/1"), meta("1/1")], "both hold shard 1/1"),
        ([meta("1/2"), {}], "no scan.json in b"),
    ],
    ids=["two nights", "other options", "a copy", "one input twice", "no scan.json"],
)
def test_other_folders_are_refused_naming_them(metas: list[dict[str, Any]], says: str) -> None:
    with pytest.raises(ScanFolderError, match=says) as info:
        check_one_scan(FOLDERS, metas)
    assert "a" in str(info.value) and "b" in str(info.value)
    assert "scanner diff" in str(info.value)


# --- input: delimiters, duplicates -----------------------------------------------------------


@pytest.mark.parametrize("sep", [",", ";", "\t"], ids=["comma", "semicolon", "tab"])
def test_delimiter_found_from_the_header(sep: str) -> None:
    text = f"# fleet\n\nHost{sep}port{sep}owner\na.example{sep}8443{sep}web ops\n"
    header, items = read_targets(io.StringIO(text), tables.HOST_COLUMNS)
    (item,) = list(items)
    assert isinstance(item, Target)
    assert (item.host, item.port, item.extra) == ("a.example", 8443, ("web ops",))
    assert header.extra_names == ("owner",)


def test_no_host_column_says_what_delimiters_are_read() -> None:
    with pytest.raises(InputError, match=r"found 'name\|port'.*',', ';' or tab"):
        read_targets(io.StringIO("name|port\na|1\n"), tables.HOST_COLUMNS)


def test_deduper_names_the_line_kept_and_lost_columns() -> None:
    text = "host,owner\na.example,web\nb.example,ops\nA.EXAMPLE.,web\na.example,payments\n"
    _, items = read_targets(io.StringIO(text), tables.HOST_COLUMNS)
    dedupe = Deduper(track=True)
    kept = [i.row for i in items if dedupe.is_new(i)]
    assert kept == [2, 3]
    assert (dedupe.duplicates, dedupe.differing) == (2, 1)
    assert [(d.line, d.kept, d.carried_differ) for d in dedupe.dropped] == [
        (4, 2, False),
        (5, 2, True),
    ]


# --- display -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("::ffff:127.0.0.1", "::ffff:127.0.0.1"),
        ("[::FFFF:7f00:1]", "::ffff:127.0.0.1"),
        ("::ffff:10.1.2.3%eth0", "::ffff:10.1.2.3%eth0"),
        ("2001:db8::1", "2001:db8::1"),
        ("192.0.2.1", "192.0.2.1"),
    ],
)
def test_ipv4_mapped_addresses_are_dotted(text: str, shown: str) -> None:
    ip = parse_ip(text)
    assert ip is not None and ip_text(ip) == shown
    assert parse_ip(ip_text(ip)) == ip  # and read back the same


def test_unicode_name_for_people() -> None:
    assert unicode_name("xn--bcher-kva.example") == "bücher.example"
    assert unicode_name("www.example.com") == "www.example.com"
    assert unicode_name("xn--zz.example") == "xn--zz.example"  # not decodable: as it is


def test_interrupt_message_says_what_it_waits_for() -> None:
    text = driver.interrupt_message({0: 100.0, 1: 104.0, 2: 106.5}, 10.0, now=107.0)
    assert "3 host(s) in flight" in text and "longest running for 7.0 s" in text
    assert "within 10 s" in text and "Ctrl-C again" in text and "abandon" in text
    assert "writing the tables" in driver.interrupt_message({}, 10.0, now=1.0)


# --- terminal tables keep words whole ----------------------------------------------------------


def render(section: Section, width: int) -> list[str]:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(rich_table(section, width))
    out = console.file.getvalue()  # type: ignore[attr-defined]
    return str(out).splitlines()


def test_narrow_table_wraps_whole_words_and_drops_low_value_columns() -> None:
    frame = pd.DataFrame(
        {
            "hosts": [2],
            "severity": ["critical"],
            "findings": [["hostname_mismatch", "intermediate_expired"]],
            "hosts_to_fix": [["www.payments-api.example.com:443", "expired.lab.test:8443"]],
            "remedy": ["Reissue the certificate with the host name in its subjectAltName."],
            "expires": ["2026-12-18"],
        }
    )
    section = Section(
        title="Fix list",
        frame=frame,
        wrap=("findings", "hosts_to_fix", "remedy"),
        drop=("expires", "severity", "findings"),
        whole=("hosts_to_fix",),
    )
    for width, hidden in ((100, "expires"), (80, "expires, severity, findings")):
        lines = render(section, width)
        assert max(len(line) for line in lines) <= width
        text = "\n".join(lines)
        for word in ("www.payments-api.example.com:443", "expired.lab.test:8443"):
            assert word in text, word  # whole, one host a line
        assert "subjectAltName." in text
        assert f"not shown at this width: {hidden} (" in " ".join(text.split())
    assert "intermediate_expired" in "\n".join(render(section, 100))
    wide = "\n".join(render(section, 200))
    assert "2026-12-18" in wide and "not shown at this width" not in wide
    # Too narrow for whole words: other columns give way before host names.
    lines = render(section, 60)
    assert "www.payments-api.example.com:443" in "\n".join(lines)
