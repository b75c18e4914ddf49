"""The prober's two fast paths give exactly what the general ones give: quick.py's reading of
a hello-only answer equals FlightReader + decide on the same bytes (or declines), and
template.py's hellos are client.assemble's bytes and values (no sockets)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.model.suites import Protocol, suites_for
from scanner.net.hello.client import ClientHello, Offer, assemble, parse_client_hello
from scanner.net.hello.outcome import Accepted, Outcome, Refused, Retried, decide
from scanner.net.hello.quick import quick_outcome
from scanner.net.hello.records import HRR_RANDOM
from scanner.net.hello.server import FlightReader
from scanner.net.hello.template import hello_for

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "hello"
FLIGHTS = ("tls12_certificate", "tls12_static_rsa", "tls13", "tls13_hrr", "alert_protocol_version")


def general(data: bytes, hello: ClientHello) -> Outcome | None:
    """What a hello-only probe concludes from these first bytes the general way."""
    events = FlightReader(hello, hello_only=True).receive_data(data)
    return decide(hello, events, read_flight=False)


def _captured(name: str) -> tuple[ClientHello, bytes]:
    hello = parse_client_hello((FIXTURES / f"flight_{name}.hello.bin").read_bytes())
    return hello, (FIXTURES / f"flight_{name}.server.bin").read_bytes()


def _rec(ctype: int, payload: bytes) -> bytes:
    return bytes((ctype, 3, 3)) + len(payload).to_bytes(2, "big") + payload


def _server_hello(suite: int, exts: bytes, random: bytes = b"\x11" * 32, sid: bytes = b"") -> bytes:
    body = b"\x03\x03" + random + bytes((len(sid),)) + sid + suite.to_bytes(2, "big") + b"\x00"
    body += len(exts).to_bytes(2, "big") + exts if exts else b""
    return _rec(22, b"\x02" + len(body).to_bytes(3, "big") + body)


def _ext(kind: int, data: bytes) -> bytes:
    return kind.to_bytes(2, "big") + len(data).to_bytes(2, "big") + data


TLS13 = assemble(
    Offer(
        versions=(Protocol.TLS1_3,),
        suites=(0x1301, 0x1302),
        groups=(0x1D, 0x17, 0x18),
        key_shares=(0x1D,),
        sni="a.example",
    )
)[0]
TLS12 = assemble(
    Offer(versions=(Protocol.TLS1_2,), suites=(0xC02F, 0x002F), groups=(0x1D,), sni="a.example")
)[0]
V13 = _ext(43, b"\x03\x04")
# Answers a real server gives, and answers a hostile one gives (FlightReader refuses those).
MADE: list[tuple[str, ClientHello, bytes]] = [
    ("tls13", TLS13, _server_hello(0x1301, V13 + _ext(51, b"\x00\x1d\x00\x20" + bytes(32)))),
    ("hrr", TLS13, _server_hello(0x1302, V13 + _ext(51, b"\x00\x17"), HRR_RANDOM)),
    ("tls12", TLS12, _server_hello(0xC02F, _ext(0xFF01, b"\x00") + _ext(18, b"\x00\x02\x00\x00"))),
    ("tls12 no extensions", TLS12, _server_hello(0x002F, b"")),
    ("alert", TLS12, _rec(21, b"\x02\x28")),
    ("warning", TLS12, _rec(21, b"\x01\x70") + _rec(21, b"\x02\x28")),
    ("lower version", TLS12, _server_hello(0xC02F, b"").replace(b"\x03\x03\x11", b"\x03\x01\x11")),
    ("suite never offered", TLS12, _server_hello(0xC030, b"")),
    (
        "hrr for the share sent",
        TLS13,
        _server_hello(0x1301, V13 + _ext(51, b"\x00\x1d"), HRR_RANDOM),
    ),
    (
        "hrr for a group never offered",
        TLS13,
        _server_hello(0x1301, V13 + _ext(51, b"\x00\x1e"), HRR_RANDOM),
    ),
    ("share never offered", TLS13, _server_hello(0x1301, V13 + _ext(51, b"\x00\x17\x00\x01\x04"))),
    ("tls13 without key_share", TLS13, _server_hello(0x1301, V13)),
    ("short share", TLS13, _server_hello(0x1301, V13 + _ext(51, b"\x00\x1d\x00\x20" + bytes(31)))),
    ("versions of 3 bytes", TLS13, _server_hello(0x1301, _ext(43, b"\x03\x04\x00"))),
    ("session id of 33", TLS12, _server_hello(0xC02F, b"", sid=bytes(33))),
    (
        "two SCT extensions",
        TLS12,
        _server_hello(0xC02F, _ext(18, b"\x00\x01") + _ext(18, b"\x00\x02")),
    ),
]


def _all() -> list[tuple[str, ClientHello, bytes]]:
    return [*((n, *_captured(n)) for n in FLIGHTS), *MADE]


@pytest.mark.parametrize(("name", "hello", "data"), _all(), ids=[n for n, _, _ in _all()])
def test_quick_reading_equals_the_general_one(name: str, hello: ClientHello, data: bytes) -> None:
    quick = quick_outcome(data, hello)
    assert quick is None or quick == general(data, hello), name
    for cut in range(1, len(data)):  # a record split over reads: declined, or the same
        part = quick_outcome(data[:cut], hello)
        assert part is None or part == general(data[:cut], hello), (name, cut)


def test_the_usual_answers_are_read_the_quick_way() -> None:
    """What most hellos of a fleet get back does not go through FlightReader."""
    usual = {"tls13", "tls13_hrr", "alert_protocol_version", "hrr", "tls12", "alert"}
    usual |= {"tls12 no extensions", "lower version", "two SCT extensions"}
    answered = {name for name, hello, data in _all() if quick_outcome(data, hello) is not None}
    assert answered >= usual
    got = {name: quick_outcome(data, hello) for name, hello, data in _all()}
    assert isinstance(got["tls13"], Accepted) and isinstance(got["hrr"], Retried)
    assert isinstance(got["lower version"], Refused) and got["lower version"].version == 0x0301
    assert got["two SCT extensions"] == Accepted(
        version=0x0303, suite=0xC02F, group=None, sct_extension=b"\x00\x01"
    )
    # What the general way must judge (a malformation, an answer never offered): declined.
    assert not answered & {"suite never offered", "hrr for the share sent", "short share"}


@settings(max_examples=400, deadline=None)
@given(
    which=st.integers(0, 10_000),
    edits=st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=4),
    cut=st.integers(0, 3000),
)
def test_any_mutation_is_read_the_same_or_declined(
    which: int, edits: list[tuple[int, int]], cut: int
) -> None:
    name, hello, data = _all()[which % len(_all())]
    raw = bytearray(data)
    for at, value in edits:
        if raw:
            raw[at % len(raw)] = value
    mutated = bytes(raw[: cut or None])
    quick = quick_outcome(mutated, hello)
    assert quick is None or quick == general(mutated, hello), name


@pytest.mark.parametrize("version", [Protocol.TLS1_3, Protocol.TLS1_2, Protocol.SSL3])
@pytest.mark.parametrize("pad_to", [0, 1800, 20_000])
def test_a_template_hello_is_the_assembled_one(version: Protocol, pad_to: int) -> None:
    """Same bytes and value as client.assemble for the same random and session id, for
    names of any length (one template per length), suite lists and paddings (one over a
    record: assembled whole)."""
    every = tuple(suites_for(version))
    for suites in (every, every[:7], every[-1:]):
        for sni in (None, "a.example", "b.example", "c" * 40, "xn--bcher-kva.example"):
            offer = Offer(
                versions=(version,),
                suites=suites,
                groups=(0x1D, 0x17) if version is not Protocol.SSL3 else (),
                key_shares=(0x1D,) if version is Protocol.TLS1_3 else (),
                sni=sni,
                pad_to=pad_to,
                extensions=version is not Protocol.SSL3,
            )
            for _ in range(3):  # assembled, the template written, the template used
                ours = hello_for(offer)
                sid = ours[0].session_id
                assert (len(sid) == 32) is (version is Protocol.TLS1_3)
                assert ours == assemble(offer, random=ours[0].random, session_id=sid)
            again = hello_for(offer, random=bytes(range(32)), session_id=b"")
            assert again == assemble(offer, random=bytes(range(32)), session_id=b"")
