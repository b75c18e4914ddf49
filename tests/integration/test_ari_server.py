"""ACME Renewal Information fetched from a small ARI server on 127.0.0.1 (an ACME directory plus
renewalInfo) through the guarded fetcher: windows in the past and the future, Retry-After on
an answer and on a refusal, garbage and a 16 MiB body, each leaf asked once per run. Time and
waiting are injected (never slept); every request is counted."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import anyio
import pytest
from cryptography import x509

from scanner.model.timefmt import utc_z
from scanner.net.ari import MAX_BYTES, AriClient, AriFailed, AriOk
from scanner.net.fetch import HttpFetcher
from scanner.testing.lab import LOOPBACK
from scanner.testing.pki import DAY, Issued, make_ca, make_leaf
from scanner.testing.servers import http_server
from scanner.x509 import ari

AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
BIG = 16 * 1024 * 1024


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    length: bool = True  # send Content-Length (else the body ends when the connection closes)


def window(start: dt.datetime, end: dt.datetime, why: str | None = None) -> Reply:
    obj: dict[str, object] = {"suggestedWindow": {"start": utc_z(start), "end": utc_z(end)}}
    if why:
        obj["explanationURL"] = why
    return Reply(body=json.dumps(obj).encode())


class AriServer:
    """Routes path -> list of replies (the last repeats); counts requests per path."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()
        self.base = ""

    def reply_for(self, path: str) -> Reply:
        with self.lock:
            n = self.hits.get(path, 0)
            self.hits[path] = n + 1
            replies = self.routes.get(path)
        if not replies:
            return Reply(status=404)
        return replies[min(n, len(replies) - 1)]


@contextmanager
def ari_server() -> Iterator[AriServer]:
    state = AriServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            reply = state.reply_for(self.path)
            self.send_response(reply.status)
            for k, v in reply.headers.items():
                self.send_header(k, v)
            if reply.length:
                self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            # The client stops reading a body over its cap.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(reply.body)

        def log_message(self, *args: object) -> None:
            pass

    with http_server(Handler) as port:
        state.base = f"http://{LOOPBACK}:{port}"
        state.routes["/directory"] = [
            Reply(body=json.dumps({"renewalInfo": f"{state.base}/ari/"}).encode())
        ]
        state.routes["/no-ari"] = [Reply(body=b'{"newNonce": "https://ca.test/nonce"}')]
        yield state


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def ca() -> Issued:
    return make_ca("ARI Lab CA", not_before=AS_OF - 100 * DAY, not_after=AS_OF + 1000 * DAY)


def leaf(ca: Issued, serial: int) -> x509.Certificate:
    return make_leaf(
        ca,
        dns_names=["ari.lab.test"],
        not_before=AS_OF - 10 * DAY,
        not_after=AS_OF + 80 * DAY,
        serial=serial,
    ).cert


def path_of(cert: x509.Certificate) -> str:
    cert_id = ari.cert_identifier(cert)
    assert isinstance(cert_id, str)
    return f"/ari/{cert_id}"


def run(
    server: AriServer,
    *asks: tuple[x509.Certificate, str],
    clock: Clock | None = None,
    allow_private: bool = True,
) -> list[AriOk | AriFailed]:
    """Ask for each (leaf, directory path) in turn with one client (one run)."""
    clock = clock or Clock()
    out: list[AriOk | AriFailed] = []

    async def go() -> None:
        http = HttpFetcher(timeout=10.0, allow_private=allow_private, purpose="ARI")
        client = AriClient(http, clock=clock, sleep=clock.sleep, now=lambda: AS_OF)
        try:
            for cert, directory in asks:
                out.append(await client.renewal_info(cert, f"{server.base}{directory}"))
        finally:
            await http.aclose()

    anyio.run(go)
    return out


def test_windows_in_the_past_and_the_future(ca: Issued) -> None:
    past, future = leaf(ca, 101), leaf(ca, 102)
    with ari_server() as server:
        server.routes[path_of(past)] = [
            window(AS_OF - 2 * DAY, AS_OF - DAY, "https://ca.test/incident-42")
        ]
        server.routes[path_of(future)] = [window(AS_OF + 50 * DAY, AS_OF + 52 * DAY)]
        a, b = run(server, (past, "/directory"), (future, "/directory"))
    assert isinstance(a, AriOk) and isinstance(b, AriOk)
    assert a.url == f"{server.base}{path_of(past)}"
    assert (a.window.start, a.window.end) == (AS_OF - 2 * DAY, AS_OF - DAY)
    assert a.window.explanation_url == "https://ca.test/incident-42"
    now = ari.renew_now(a.window, AS_OF)
    assert now is not None and now.code == "ari_renew_now" and "incident-42" in now.message
    assert b.window.start == AS_OF + 50 * DAY and b.window.explanation_url is None
    assert ari.renew_now(b.window, AS_OF) is None
    assert server.hits["/directory"] == 1  # the directory once per run


def test_each_leaf_is_asked_once_per_run(ca: Issued) -> None:
    cert = leaf(ca, 103)
    with ari_server() as server:
        server.routes[path_of(cert)] = [window(AS_OF + DAY, AS_OF + 2 * DAY)]
        results = run(server, (cert, "/directory"), (cert, "/directory"), (cert, "/directory"))
    assert all(isinstance(r, AriOk) for r in results)
    assert results[0] is results[1] is results[2]
    assert server.hits == {"/directory": 1, path_of(cert): 1}


def test_retry_after_on_an_answer_is_kept(ca: Issued) -> None:
    cert = leaf(ca, 104)
    with ari_server() as server:
        reply = window(AS_OF + DAY, AS_OF + 2 * DAY)
        reply.headers["Retry-After"] = "21600"
        server.routes[path_of(cert)] = [reply]
        (result,) = run(server, (cert, "/directory"))
    assert isinstance(result, AriOk) and result.retry_after == dt.timedelta(hours=6)


def test_a_short_retry_after_is_waited_once(ca: Issued) -> None:
    cert = leaf(ca, 105)
    clock = Clock()
    with ari_server() as server:
        server.routes[path_of(cert)] = [
            Reply(status=503, headers={"Retry-After": "2"}),
            window(AS_OF + DAY, AS_OF + 2 * DAY),
        ]
        (result,) = run(server, (cert, "/directory"), clock=clock)
    assert isinstance(result, AriOk)
    assert clock.slept == [2.0] and server.hits[path_of(cert)] == 2


def test_a_long_retry_after_stops_asking_that_ca_for_the_run(ca: Issued) -> None:
    first, second = leaf(ca, 106), leaf(ca, 107)
    clock = Clock()
    with ari_server() as server:
        server.routes[path_of(first)] = [Reply(status=429, headers={"Retry-After": "3600"})]
        server.routes[path_of(second)] = [window(AS_OF + DAY, AS_OF + 2 * DAY)]
        a, b = run(server, (first, "/directory"), (second, "/directory"), clock=clock)
    assert isinstance(a, AriFailed) and a.reason == "HTTP 429; the CA asks to retry after 3600 s"
    assert isinstance(b, AriFailed) and "Retry-After" in b.reason
    assert clock.slept == []
    assert server.hits.get(path_of(second)) is None  # not asked: the CA said to wait


def test_retry_after_as_an_http_date(ca: Issued) -> None:
    cert = leaf(ca, 108)
    with ari_server() as server:
        server.routes[path_of(cert)] = [
            Reply(status=503, headers={"Retry-After": "Mon, 01 Jun 2026 01:00:00 GMT"})
        ]
        (result,) = run(server, (cert, "/directory"))
    assert isinstance(result, AriFailed)
    assert result.reason == "HTTP 503; the CA asks to retry after 3600 s"


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(body=b"<html>oops</html>"), "not JSON"),
        (Reply(body=b'{"suggestedWindow": {"start": "x"}}'), "start is not an RFC 3339"),
        (
            Reply(
                body=b'{"suggestedWindow": {"start": "2026-06-03T00:00:00Z", '
                b'"end": "2026-06-02T00:00:00Z"}}'
            ),
            "before it starts",
        ),
        (Reply(body=b"{" * 10 + b"x" * BIG), f"response larger than {MAX_BYTES} bytes"),
        (Reply(body=b"x" * BIG, length=False), f"response larger than {MAX_BYTES} bytes"),
        (Reply(status=404), "HTTP 404"),
    ],
    ids=["garbage", "bad-start", "end-before-start", "16MiB", "16MiB-no-length", "404"],
)
def test_bad_answers_are_results(ca: Issued, reply: Reply, reason: str) -> None:
    cert = leaf(ca, 109)
    with ari_server() as server:
        server.routes[path_of(cert)] = [reply]
        (result,) = run(server, (cert, "/directory"))
    assert isinstance(result, AriFailed), result
    assert reason in result.reason
    assert result.url == f"{server.base}{path_of(cert)}"


def test_a_directory_without_renewal_info(ca: Issued) -> None:
    cert = leaf(ca, 110)
    with ari_server() as server:
        (result,) = run(server, (cert, "/no-ari"))
    assert isinstance(result, AriFailed) and "offers no ARI" in result.reason
    assert path_of(cert) not in server.hits


def test_a_missing_directory(ca: Issued) -> None:
    cert = leaf(ca, 111)
    with ari_server() as server:
        (result,) = run(server, (cert, "/nothing-here"))
    assert isinstance(result, AriFailed)
    assert (
        result.reason.startswith("ACME directory http://127.0.0.1:") and "HTTP 404" in result.reason
    )


def test_the_guard_refuses_loopback_unless_allowed(ca: Issued) -> None:
    cert = leaf(ca, 112)
    with ari_server() as server:
        (result,) = run(server, (cert, "/directory"), allow_private=False)
    assert isinstance(result, AriFailed) and "loopback" in result.reason
    assert server.hits == {}


def test_a_leaf_without_a_key_identifier_is_not_asked(ca: Issued) -> None:
    self_made = make_leaf(
        None, dns_names=["x.test"], not_before=AS_OF - DAY, not_after=AS_OF + DAY
    ).cert
    # make_leaf gives even a self-signed leaf an AKI; strip it by re-signing without one.
    builder = (
        x509.CertificateBuilder()
        .subject_name(self_made.subject)
        .issuer_name(self_made.issuer)
        .public_key(self_made.public_key())
        .serial_number(1)
        .not_valid_before(AS_OF - DAY)
        .not_valid_after(AS_OF + DAY)
    )
    bare = builder.sign(ca.key, self_made.signature_hash_algorithm)  # type: ignore[arg-type]
    with ari_server() as server:
        (result,) = run(server, (bare, "/directory"))
    assert isinstance(result, AriFailed) and result.cert_id is None
    assert "no authority key identifier" in result.reason and server.hits == {}
