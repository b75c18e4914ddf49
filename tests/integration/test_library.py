"""The library from a notebook: `scanner.scan` inside a running event loop (asyncio, a real
Jupyter kernel) against servers on loopback, an interrupt cancelling it, and `scanner.check`
giving the row `scanner.scan` and `scanner check --json` give for the same chain."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient
from typer.testing import Result

import scanner
from scanner.run.check import json_row
from scanner.testing.lab import DAY, Pki
from scanner.testing.servers import Loop, hold_open, server_context

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
CONNECTION = ["port", "ip", "input_line", "connected_ip", "tls_version", "cipher", "scanned_at"]


@dataclass(frozen=True)
class Servers:
    rows: list[dict[str, object]]  # one per host, with its port on 127.0.0.1
    chains: dict[str, bytes]  # host -> the PEM chain its server sends
    ca: Path
    options: dict[str, Any]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    tmp = tmp_path_factory.mktemp("library")
    pki = Pki.create(FIXED)
    leaves = {
        "valid.lib.test": pki.leaf(["valid.lib.test"]),
        "expired.lib.test": pki.leaf(
            ["expired.lib.test"], not_before=FIXED - 90 * DAY, not_after=FIXED - 3 * DAY
        ),
    }
    ca = tmp / "ca.pem"
    ca.write_bytes(pki.root.pem)
    loop = Loop()
    loop.start()
    try:
        rows: list[dict[str, object]] = []
        chains = {}
        for host, leaf in leaves.items():
            chains[host] = leaf.pem + pki.intermediate.pem
            ctx = server_context(chains[host], leaf.key, tmp)
            port = loop.run(loop.serve(hold_open, ctx))
            rows.append({"host": host, "port": port, "ip": "127.0.0.1", "owner": "web"})
        # check never fetches: its counterpart is a scan without revocation or AIA.
        options = {"as_of": FIXED, "ca_bundle": ca, "timeout": 5, "revocation": False}
        yield Servers(rows=rows, chains=chains, ca=ca, options=options | {"aia": False})
    finally:
        loop.stop()


def _without_clock(hosts: pd.DataFrame) -> pd.DataFrame:
    return hosts.drop(columns="scanned_at")


def test_scan_inside_a_running_event_loop(servers: Servers) -> None:
    """Where a loop runs (a notebook cell), `scan` returns what it returns in a script, and
    the calling loop is the same loop afterwards (its tasks run on when the call is done)."""
    outside = scanner.scan(servers.rows, **servers.options)
    assert list(outside.hosts["status"]) == ["ok", "ok"]
    assert list(outside.hosts["findings"]) == [[], ["expired"]]

    async def cell() -> tuple[scanner.ScanTables, list[str]]:
        ticks: list[str] = []

        async def other_task() -> None:
            await asyncio.sleep(0)
            ticks.append("ran")

        task = asyncio.create_task(other_task())
        tables = scanner.scan(servers.rows, **servers.options)
        await task  # the notebook's loop still works
        return tables, ticks

    inside, ticks = asyncio.run(cell())
    assert ticks == ["ran"]
    pd.testing.assert_frame_equal(_without_clock(inside.hosts), _without_clock(outside.hosts))
    pd.testing.assert_frame_equal(inside.findings, outside.findings)
    assert inside.as_of == FIXED


def test_errors_inside_a_running_loop_are_raised_as_themselves(
    servers: Servers, tmp_path: Path
) -> None:
    async def cell(**options: Any) -> None:
        scanner.scan(servers.rows, **(servers.options | options))

    with pytest.raises(scanner.UsageError, match="concurrency"):  # refused before any thread
        asyncio.run(cell(concurrency=0))
    with pytest.raises(scanner.TrustStoreError, match="missing.pem"):  # raised in the worker
        asyncio.run(cell(ca_bundle=tmp_path / "missing.pem"))


# A notebook kernel interrupted mid-scan: SIGINT while `scan` waits on its worker thread. The
# server never answers the handshake and the scan's timeout is far beyond the test's, so only
# a cancelled scan ends in time; the server then sees the client close the connection.
INTERRUPTED = """
import asyncio, json, os, signal, sys, threading
import scanner
from scanner.testing.servers import Loop

seen, closed = threading.Event(), threading.Event()

async def silent(reader, writer):
    seen.set()
    await reader.read()  # until the client closes
    closed.set()
    writer.close()

loop = Loop()
loop.start()
port = loop.run(loop.serve(silent))

def interrupt():
    seen.wait()
    os.kill(os.getpid(), signal.SIGINT)

async def cell():
    threading.Thread(target=interrupt, daemon=True).start()
    return scanner.scan([{"host": "silent.lib.test", "port": port, "ip": "127.0.0.1"}],
                        timeout=3600, as_of="2026-06-01T00:00:00Z")

def run(how):
    try:
        if how == "kernel":  # as Jupyter's kernel: SIGINT raises KeyboardInterrupt in the cell
            asyncio.new_event_loop().run_until_complete(cell())
        else:  # asyncio.run answers SIGINT by cancelling the task that runs the cell
            asyncio.run(cell())
        return "finished"
    except KeyboardInterrupt:
        return "interrupted"

outcome = run(sys.argv[1])
workers = [t.name for t in threading.enumerate() if t.name == "scanner.scan"]
print(json.dumps({"outcome": outcome, "workers": workers, "closed": closed.wait(30)}))
loop.stop()
"""


@pytest.mark.parametrize("how", ["kernel", "asyncio.run"])
def test_an_interrupt_cancels_a_scan_running_in_its_worker_thread(how: str, tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", INTERRUPTED, how],
        capture_output=True,
        text=True,
        timeout=120,  # a scan left running would hold it for its hour-long timeout
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result == {"outcome": "interrupted", "workers": [], "closed": True}


def test_scan_from_a_jupyter_cell(servers: Servers, tmp_path: Path) -> None:
    """A real kernel (nbclient), whose cells run inside its event loop, calls `scan`."""
    code = f"""
    import datetime as dt
    import scanner
    tables = scanner.scan({servers.rows!r}, as_of="2026-06-01T00:00:00Z",
                          ca_bundle={str(servers.ca)!r}, timeout=5, revocation=False, aia=False)
    print(list(tables.hosts["status"]), list(tables.hosts["findings"]))
    """
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(textwrap.dedent(code))])
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = nb.cells[0]["outputs"]
    assert [o["output_type"] for o in outputs] == ["stream"], outputs
    assert outputs[0]["text"].strip() == "['ok', 'ok'] [[], ['expired']]"


# --- scanner.check ------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A DataFrame cell as Python: a datetime, a list (not an array), or the value."""
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime()
    return value.tolist() if hasattr(value, "tolist") else value


def test_check_gives_the_row_scan_and_the_cli_give(
    servers: Servers, cli: Callable[[Sequence[Any]], Result], tmp_path: Path
) -> None:
    """`scanner.check` of a chain (a file or its bytes) is the hosts row `scanner.scan` gives
    for a server sending it, with the same dtypes, but for the connection's columns, and the
    row `scanner check --json` prints."""
    scanned = scanner.scan(servers.rows, **servers.options).hosts.drop(columns="owner")
    for number, (host, pem) in enumerate(servers.chains.items()):
        path = tmp_path / f"{host}.pem"
        path.write_bytes(pem)
        by_path = scanner.check(path, host=host, as_of=FIXED, ca_bundle=servers.ca)
        by_bytes = scanner.check(pem, host=host, as_of="2026-06-01", ca_bundle=str(servers.ca))
        assert list(by_path.columns) == list(scanned.columns)
        assert list(by_path.dtypes) == list(scanned.dtypes)
        assert len(by_path) == 1
        scan_row = scanned.iloc[[number]].reset_index(drop=True)
        pd.testing.assert_frame_equal(
            by_path.drop(columns=CONNECTION), scan_row.drop(columns=CONNECTION)
        )
        pd.testing.assert_frame_equal(
            by_bytes.drop(columns="scanned_at"), by_path.drop(columns="scanned_at")
        )
        assert by_path[CONNECTION[:-1]].isna().all(axis=None)
        printed = cli(
            ["check", path, "--host", host, "--as-of", FIXED.isoformat(), "--ca-bundle"]
            + [servers.ca, "--json"]
        )
        assert printed.exit_code == 0, printed.output
        row = by_path.astype(object).where(by_path.notna(), None).iloc[0].to_dict()
        mine = json_row({k: _plain(v) for k, v in row.items()})
        cli_row = json.loads(printed.stdout)
        assert {k: v for k, v in mine.items() if k != "scanned_at"} == {
            k: v for k, v in cli_row.items() if k != "scanned_at"
        }
    assert list(scanned["findings"]) == [[], ["expired"]]


def test_check_judges_named_stores_and_refuses_bad_input(servers: Servers, tmp_path: Path) -> None:
    pem = servers.chains["valid.lib.test"]
    other = tmp_path / "other.pem"
    other.write_bytes(Pki.create(FIXED).root.pem)  # a store without this chain's root
    row = scanner.check(
        pem,
        host="valid.lib.test",
        as_of=FIXED,
        ca_bundle=servers.ca,
        trust_stores={"mine": servers.ca, "other": other},
    )
    assert list(row.loc[0, "trusted_by"]) == ["default", "mine"]
    mismatch = scanner.check(pem, host="www.lib.test", as_of=FIXED, ca_bundle=servers.ca)
    assert list(mismatch.loc[0, "findings"]) == ["hostname_mismatch"]
    refused: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"host": "not a host!"}, scanner.HostError, "white space"),
        ({"host": "a.test", "as_of": dt.datetime(2026, 6, 1)}, scanner.UsageError, "aware"),  # noqa: DTZ001
        ({"host": "a.test", "warn_days": -1}, scanner.UsageError, "warn_days"),
        ({"host": "a.test", "ca_bundle": tmp_path / "none.pem"}, scanner.TrustStoreError, "none"),
        ({"host": "a.test", "crl_files": [tmp_path / "none.crl"]}, scanner.InputError, "none"),
    ]
    for keywords, error, message in refused:
        with pytest.raises(error, match=message):
            scanner.check(pem, **keywords)
    with pytest.raises(scanner.ChainFileError, match="no certificate"):
        scanner.check(b"not a certificate", host="a.test", as_of=FIXED, ca_bundle=servers.ca)
    with pytest.raises(scanner.ChainFileError, match="cannot read"):
        scanner.check(tmp_path / "missing.pem", host="a.test", ca_bundle=servers.ca)
