"""A blip of a CA's AIA server does not fail every later host of that CA: a quick transient
failure (HTTP 503) is tried once more at once, and a failure is remembered for AIA_FAILURE_TTL
seconds only, then fetched again. A real HTTP server on 127.0.0.1 that fails its first N
requests; time is an injected clock, never slept."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import anyio
import pyarrow.parquet as pq
from typer.testing import Result

from scanner.net.aia import AIA_FAILURE_TTL, AiaFetcher
from scanner.net.fetch import HttpFetcher
from scanner.testing.lab import LOOPBACK, Pki
from scanner.testing.responders import RevocationServer
from scanner.testing.servers import http_server

Cli = Callable[[Sequence[str]], Result]


class Flaky:
    """Answers `status` to its first `failures` requests, then 200 with `body`."""

    def __init__(self, body: bytes, failures: int, status: int = 503) -> None:
        self.body, self.failures, self.status = body, failures, status
        self.hits = 0
        self.lock = threading.Lock()


@contextmanager
def flaky_server(flaky: Flaky) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            with flaky.lock:
                flaky.hits += 1
                fail = flaky.hits <= flaky.failures
            body = b"" if fail else flaky.body
            self.send_response(flaky.status if fail else 200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with http_server(Handler) as port:
        yield f"http://{LOOPBACK}:{port}/ca.der"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fetcher(clock: Clock) -> tuple[AiaFetcher, HttpFetcher]:
    http = HttpFetcher(timeout=5.0, allow_private=True)
    return AiaFetcher(http, clock=clock), http


def test_a_quick_transient_failure_is_tried_once_more(fixed: dt.datetime) -> None:
    der = Pki.create(fixed).intermediate.der
    flaky = Flaky(der, failures=1)
    with flaky_server(flaky) as url:

        async def run() -> None:
            aia, http = fetcher(Clock())
            try:
                result = await aia.fetch(url)
            finally:
                await http.aclose()
            assert result.error is None and result.certificates

        anyio.run(run)
    assert flaky.hits == 2


def test_a_failure_is_remembered_for_a_bounded_time(fixed: dt.datetime) -> None:
    der = Pki.create(fixed).intermediate.der
    flaky = Flaky(der, failures=3)  # two tries now fail; the third request fails, then 200
    clock = Clock()
    with flaky_server(flaky) as url:

        async def run() -> None:
            aia, http = fetcher(clock)
            try:
                first = await aia.fetch(url)
                assert first.error == "HTTP 503" and flaky.hits == 2
                clock.now += AIA_FAILURE_TTL / 2
                assert (await aia.fetch(url)).error == "HTTP 503"  # remembered: no request
                assert flaky.hits == 2
                clock.now += AIA_FAILURE_TTL / 2
                again = await aia.fetch(url)  # forgotten: fetched (503, then 200)
                assert again.error is None and again.certificates and flaky.hits == 4
                clock.now += 100 * AIA_FAILURE_TTL
                assert (await aia.fetch(url)).certificates  # a success is kept for the run
                assert flaky.hits == 4
            finally:
                await http.aclose()

        anyio.run(run)


def test_a_refusal_is_not_tried_again(fixed: dt.datetime) -> None:
    flaky = Flaky(b"", failures=10, status=404)
    with flaky_server(flaky) as url:

        async def run() -> None:
            aia, http = fetcher(Clock())
            try:
                assert (await aia.fetch(url)).error == "HTTP 404"
            finally:
                await http.aclose()

        anyio.run(run)
    assert flaky.hits == 1


def test_a_scan_completes_the_chain_through_a_blip(
    cli: Cli, fixed: dt.datetime, tmp_path: Path
) -> None:
    pki = Pki.create(fixed)
    flaky = Flaky(pki.intermediate.der, failures=1)
    with flaky_server(flaky) as url, RevocationServer.start() as server:
        leaf = pki.leaf(["blip.lab.test"], aia_url=url)
        port = server.tls([leaf], str(tmp_path))  # the intermediate left out
        inp, ca, out = tmp_path / "in.csv", tmp_path / "ca.pem", tmp_path / "out"
        inp.write_text(f"host,port,ip\nblip.lab.test,{port},{LOOPBACK}\n")
        ca.write_bytes(pki.root.pem)
        args = ["--as-of", fixed.isoformat(), "--ca-bundle", ca, "--allow-private-fetch"]
        result = cli(["scan", inp, "--out", out, *args, "--no-revocation", "--quiet"])
    assert result.exit_code == 0, result.output
    (row,) = pq.read_table(out / "hosts.parquet").to_pylist()
    assert row["findings"] == ["incomplete_chain"] and flaky.hits == 2
