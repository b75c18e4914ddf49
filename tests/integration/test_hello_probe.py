"""The ClientHello prober against real servers on 127.0.0.1: `openssl s_server` (Debian's
OpenSSL 3.0, configured per test), a post-quantum server (pyOpenSSL on cryptography's bundled
OpenSSL), a relay that resets hellos longer than one segment, and hostile peers written here.
What the prober finds is compared with what each server was configured to accept, the
reference being real handshakes of Python's ssl module (the same OpenSSL) per suite."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import socket
import ssl
import struct
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from scanner.model.hello import HelloFacts
from scanner.model.suites import SUITES, Protocol, WeakClass
from scanner.net.handshake import PerIpLimiter
from scanner.net.hello.codec import Offer, sct_list
from scanner.net.hello.outcome import (
    Accepted,
    Failed,
    Outcome,
    RefusalKind,
    Refused,
    Retried,
)
from scanner.net.hello.plan import Plan, PlanConfig, Probe, ordered_suites, plan
from scanner.net.hello.probe import Deadline, run, send_probe
from scanner.testing.legacy_peer import LegacyPolicy, legacy_server
from scanner.testing.openssl_server import (
    pyopenssl_server,
    s_server,
    serverinfo_scts,
    small_hello_shim,
)
from scanner.testing.pki import Issued, rsa_hierarchy
from scanner.testing.raw_peers import HRR, raw_server, server_hello

FIXED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
NAME = "hello.lab.test"
X25519, P256, P384, P521, X448 = 0x1D, 0x17, 0x18, 0x19, 0x1E
FFDHE2048, X25519MLKEM768 = 0x100, 0x11EC
ALL_CIPHERS = "ALL:eNULL:@SECLEVEL=0"
SECONDS = 10.0


@pytest.fixture(scope="module")
def pki() -> tuple[Issued, Issued]:
    return rsa_hierarchy("Hello Lab CA", NAME, FIXED)


def _probe(port: int, probe: Probe, backend: str = "asyncio") -> Outcome:
    async def go() -> Outcome:
        deadline = Deadline(anyio.current_time() + SECONDS)
        return await send_probe("127.0.0.1", port, probe, deadline=deadline)

    return anyio.run(go, backend=backend)


def _run(
    port: int, cfg: PlanConfig, per_ip: PerIpLimiter | None = None, steps: Plan | None = None
) -> tuple[HelloFacts, int]:
    async def go() -> tuple[HelloFacts, int]:
        deadline = anyio.current_time() + 120
        return await run("127.0.0.1", port, cfg, deadline=deadline, per_ip=per_ip, steps=steps)

    return anyio.run(go)


def _recorded(cfg: PlanConfig, purposes: list[str]) -> Plan:
    """The plan for `cfg`, noting each probe's purpose as it is sent."""
    steps = plan(cfg)
    probe = next(steps)
    while True:
        purposes.append(probe.purpose)
        try:
            probe = steps.send((yield probe))
        except StopIteration as done:
            return done.value


def _tls(version: Protocol, suites: tuple[int, ...], **kw: object) -> Offer:
    if version is Protocol.TLS1_3:
        return Offer(versions=(version,), suites=suites, sni=NAME, **kw)  # type: ignore[arg-type]
    return Offer(
        versions=(version,),
        suites=suites,
        groups=(X25519, P256, P384),
        sni=NAME,
        **kw,  # type: ignore[arg-type]
    )


# --- single probes: what the codec reads from a real server -------------------------------


def test_tls12_flight_with_certificate_and_stapled_ocsp(
    pki: tuple[Issued, Issued], tmp_path: Path
) -> None:
    ca, leaf = pki
    response = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=leaf.cert,
            issuer=ca.cert,
            algorithm=hashes.SHA1(),
            cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=FIXED,
            next_update=FIXED + dt.timedelta(days=7),
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, ca.cert)
        .sign(ca.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    der = response.public_bytes(serialization.Encoding.DER)
    (tmp_path / "ocsp.der").write_bytes(der)
    options = ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256", "-status_file"]
    with s_server(leaf, [*options, str(tmp_path / "ocsp.der")], tmp_path) as port:
        hello = _tls(Protocol.TLS1_2, ordered_suites(Protocol.TLS1_2))
        outcome = _probe(port, Probe(purpose="t", hello=hello, read_flight=True))
        unstapled = _probe(
            port,
            Probe(
                purpose="t",
                hello=_tls(Protocol.TLS1_2, (0xC02F,), status_request=False),
                read_flight=True,
            ),
        )
    assert isinstance(outcome, Accepted)
    assert outcome.version == Protocol.TLS1_2 and outcome.suite == 0xC02F
    assert outcome.group == X25519  # from ServerKeyExchange
    assert outcome.chain == (leaf.der,)
    assert outcome.ocsp_response == der
    assert isinstance(unstapled, Accepted) and unstapled.ocsp_response is None


def test_scts_from_the_tls_extension(pki: tuple[Issued, Issued], tmp_path: Path) -> None:
    """s_server -serverinfo answers the signed_certificate_timestamp extension (RFC 6962
    3.3) with the list it is given; the prober reads it from the ServerHello."""
    _, leaf = pki
    scts = (b"\x00" + bytes(range(1, 60)), b"\x00" + bytes(range(100, 170)))
    body = b"".join(len(x).to_bytes(2, "big") + x for x in scts)
    ext = len(body).to_bytes(2, "big") + body
    options = ["-tls1_2", *serverinfo_scts(ext, tmp_path)]
    with s_server(leaf, options, tmp_path) as port:
        asked = _probe(port, Probe(purpose="t", hello=_tls(Protocol.TLS1_2, (0xC02F,))))
        unasked = _probe(
            port, Probe(purpose="t", hello=_tls(Protocol.TLS1_2, (0xC02F,), sct=False))
        )
    assert isinstance(asked, Accepted) and asked.sct_extension == ext
    assert sct_list(asked.sct_extension) == scts
    assert isinstance(unasked, Accepted) and unasked.sct_extension is None


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_tls13_server_hello(pki: tuple[Issued, Issued], tmp_path: Path, backend: str) -> None:
    _, leaf = pki
    options = ["-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"]
    with s_server(leaf, options, tmp_path) as port:
        outcome = _probe(
            port,
            Probe(
                purpose="t",
                hello=_tls(
                    Protocol.TLS1_3,
                    (0x1301, 0x1302, 0x1303),
                    groups=(X25519,),
                    key_shares=(X25519,),
                ),
            ),
            backend,
        )
    assert outcome == Accepted(version=Protocol.TLS1_3, suite=0x1303, group=X25519)


@pytest.mark.parametrize(
    ("openssl_group", "code"),
    [
        ("P-256", P256),
        ("P-384", P384),
        ("P-521", P521),
        ("X448", X448),
        ("ffdhe2048", FFDHE2048),
        ("ffdhe3072", 0x101),
    ],
)
def test_our_key_shares_pass_the_servers_checks(
    pki: tuple[Issued, Issued], tmp_path: Path, openssl_group: str, code: int
) -> None:
    """The server validates the share (a point on the curve, a DH value in range) before it
    answers; an invalid one would be an illegal_parameter alert."""
    _, leaf = pki
    with s_server(leaf, ["-tls1_3", "-groups", openssl_group], tmp_path) as port:
        hello = _tls(Protocol.TLS1_3, (0x1301,), groups=(code,), key_shares=(code,))
        outcome = _probe(port, Probe(purpose="t", hello=hello))
    assert outcome == Accepted(version=Protocol.TLS1_3, suite=0x1301, group=code)


def test_hello_retry_request_names_the_servers_group(
    pki: tuple[Issued, Issued], tmp_path: Path
) -> None:
    _, leaf = pki
    with s_server(leaf, ["-tls1_3", "-groups", "P-384"], tmp_path) as port:
        hello = _tls(Protocol.TLS1_3, (0x1301,), groups=(X25519, P384), key_shares=(X25519,))
        outcome = _probe(port, Probe(purpose="t", hello=hello))
    assert outcome == Retried(suite=0x1301, group=P384)


def test_alerts_are_refusals(pki: tuple[Issued, Issued], tmp_path: Path) -> None:
    _, leaf = pki
    with s_server(leaf, ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"], tmp_path) as port:
        tls13 = _probe(
            port,
            Probe(
                purpose="t",
                hello=_tls(Protocol.TLS1_3, (0x1301,), groups=(X25519,), key_shares=(X25519,)),
            ),
        )
        no_suite = _probe(port, Probe(purpose="t", hello=_tls(Protocol.TLS1_2, (0x009C,))))
        tls10 = _probe(port, Probe(purpose="t", hello=_tls(Protocol.TLS1_0, (0xC013,))))
    assert tls13 == Refused(kind=RefusalKind.ALERT, alert=70)  # protocol_version
    assert no_suite == Refused(kind=RefusalKind.ALERT, alert=40)  # handshake_failure
    assert tls10 == Refused(kind=RefusalKind.ALERT, alert=70)


# --- the whole plan against configured servers ---------------------------------------------


def _accepts(port: int, version: Protocol, openssl_name: str) -> bool:
    """Reference: a real handshake of Python's ssl module offering one suite."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.set_ciphers(f"{openssl_name}:@SECLEVEL=0")
    except ssl.SSLError:
        return False
    names = {Protocol.TLS1_0: "TLSv1", Protocol.TLS1_1: "TLSv1_1", Protocol.TLS1_2: "TLSv1_2"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ctx.maximum_version = getattr(ssl.TLSVersion, names[version])
    with socket.create_connection(("127.0.0.1", port), timeout=SECONDS) as sock:
        try:
            with ctx.wrap_socket(sock, server_hostname=NAME) as tls:
                return tls.cipher() is not None
        except (ssl.SSLError, OSError):
            return False


def _reference(port: int, version: Protocol) -> set[int]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_ciphers(ALL_CIPHERS)
    by_name = {s.openssl: s.code for s in SUITES.values()}
    return {
        by_name[c["name"]]
        for c in ctx.get_ciphers()
        if c["name"] in by_name
        and SUITES[by_name[c["name"]]].offered_at(version)
        and _accepts(port, version, c["name"])
    }


def _server_order(cipher_string: str) -> list[int]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers(cipher_string)
    by_name = {s.openssl: s.code for s in SUITES.values()}
    return [by_name[c["name"]] for c in ctx.get_ciphers() if c["name"] in by_name]


@pytest.mark.parametrize("serverpref", [False, True], ids=["client-order", "server-order"])
def test_cipher_enumeration_matches_what_the_server_accepts(
    pki: tuple[Issued, Issued], tmp_path: Path, serverpref: bool
) -> None:
    _, leaf = pki
    options = ["-cipher", ALL_CIPHERS] + (["-serverpref"] if serverpref else [])
    with s_server(leaf, options, tmp_path) as port:
        facts, sent = _run(port, PlanConfig(sni=NAME, ciphers=True))
        eliminated, _ = _run(port, PlanConfig(sni=NAME))
        reference = {v: _reference(port, v) for v in (Protocol.TLS1_0, Protocol.TLS1_2)}
    # weak classes by elimination (no --ciphers) agree with the full enumeration, per version
    assert eliminated.classes == facts.classes
    assert eliminated.server_preference is facts.server_preference
    assert facts.versions == {
        Protocol.SSL2: False,
        Protocol.SSL3: False,
        Protocol.TLS1_0: True,
        Protocol.TLS1_1: True,
        Protocol.TLS1_2: True,
        Protocol.TLS1_3: True,
    }
    suites = facts.suites
    for v, expected in reference.items():
        assert expected, v
        assert set(suites[v]) == expected, v
    assert set(suites[Protocol.TLS1_3]) == {0x1301, 0x1302, 0x1303}
    # what Debian's OpenSSL 3.0 still serves at level 0: CBC, NULL, anonymous, static RSA
    assert facts.classes[Protocol.TLS1_2] == {
        WeakClass.CBC,
        WeakClass.NULL,
        WeakClass.ANON,
        WeakClass.NO_FS,
    }
    assert facts.server_preference is serverpref
    if serverpref:
        order = [c for c in _server_order(ALL_CIPHERS) if c in reference[Protocol.TLS1_2]]
        assert list(suites[Protocol.TLS1_2]) == order
    assert facts.failures == ()


def test_protocols_plan_against_openssl(pki: tuple[Issued, Issued], tmp_path: Path) -> None:
    """Without --ciphers: versions, weak classes by elimination, groups, the no-SNI leaf."""
    _, leaf = pki
    options = [
        "-cipher",
        "ECDHE-RSA-AES128-GCM-SHA256:AES256-SHA:@SECLEVEL=0",
        "-no_tls1",
        "-no_tls1_1",
    ]
    purposes: list[str] = []
    with s_server(leaf, [*options, "-groups", "X25519:P-384:ffdhe2048"], tmp_path) as port:
        facts, sent = _run(
            port, PlanConfig(sni=NAME), steps=_recorded(PlanConfig(sni=NAME), purposes)
        )
    f = facts
    assert f.versions[Protocol.TLS1_2] and f.versions[Protocol.TLS1_3]
    assert not f.versions[Protocol.TLS1_0] and not f.versions[Protocol.TLS1_1]
    # OpenSSL's protocol_version alert to the TLS 1.1 hello answers TLS 1.0 and SSL 3.0 too
    assert f.versions[Protocol.SSL3] is False and f.versions[Protocol.SSL2] is False
    assert "tls1_1" in purposes and "tls1_0" not in purposes and "ssl3" not in purposes
    assert sent == len(purposes)
    assert f.classes[Protocol.TLS1_2] == {WeakClass.CBC, WeakClass.NO_FS}
    assert f.groups == (X25519, P384, FFDHE2048)
    assert f.pq_kex is False and f.large_hello_ok is True
    assert f.chain == (leaf.der,) and f.nosni_chain == (leaf.der,)
    assert f.failures == ()
    assert sent < 25


def test_post_quantum_server(pki: tuple[Issued, Issued]) -> None:
    _, leaf = pki
    with pyopenssl_server(leaf) as port:
        facts, _ = _run(port, PlanConfig(sni=NAME))
    assert facts.pq_kex is True and facts.large_hello_ok is True
    assert X25519MLKEM768 in facts.groups
    assert facts.versions[Protocol.TLS1_3] is True


def test_classic_only_server_has_no_pq_kex(pki: tuple[Issued, Issued]) -> None:
    _, leaf = pki
    with pyopenssl_server(leaf, classic_only=True) as port:
        facts, _ = _run(port, PlanConfig(sni=NAME))
    assert facts.pq_kex is False
    assert facts.groups == (P256,)


def test_a_middlebox_dropping_large_hellos(pki: tuple[Issued, Issued], tmp_path: Path) -> None:
    _, leaf = pki
    options = ["-cipher", "ECDHE-RSA-AES128-GCM-SHA256"]
    with s_server(leaf, options, tmp_path) as port, small_hello_shim(port) as shim:
        facts, _ = _run(shim, PlanConfig(sni=NAME))
    assert facts.large_hello_ok is False and facts.pq_kex is None
    assert facts.versions[Protocol.TLS1_3] is True
    assert any("large_hello" in f for f in facts.failures)


def test_probes_take_per_ip_slots_one_at_a_time(pki: tuple[Issued, Issued], tmp_path: Path) -> None:
    _, leaf = pki
    limiter = PerIpLimiter(1)
    with s_server(leaf, ["-tls1_3"], tmp_path) as port:
        facts, sent = _run(port, PlanConfig(sni=NAME), per_ip=limiter)
    assert facts.versions[Protocol.TLS1_3] is True and sent > 5
    assert limiter._slots == {}


def test_waiting_for_a_per_ip_slot_does_not_count_against_the_deadline(
    pki: tuple[Issued, Issued], tmp_path: Path
) -> None:
    """Another connection holds the address's only slot for longer than the host's whole
    deadline: the plan waits for it, then gets the full deadline for its probes."""
    _, leaf = pki
    limiter = PerIpLimiter(1)

    async def go(port: int) -> tuple[HelloFacts, int]:
        held = anyio.Event()

        async def hold() -> None:
            async with limiter.slot("127.0.0.1"):
                held.set()
                await anyio.sleep(3)

        async with anyio.create_task_group() as tg:
            tg.start_soon(hold)
            await held.wait()
            deadline = anyio.current_time() + 2
            return await run(
                "127.0.0.1", port, PlanConfig(sni=NAME), deadline=deadline, per_ip=limiter
            )

    with s_server(leaf, ["-tls1_3"], tmp_path) as port:
        facts, sent = anyio.run(go, port)
    assert facts.failures == () and facts.versions[Protocol.TLS1_3] is True
    assert facts.groups and sent > 5
    assert limiter._slots == {}


# --- hostile peers --------------------------------------------------------------------------


def _reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


TLS12 = Probe(purpose="t", hello=_tls(Protocol.TLS1_2, (0xC02F, 0x002F)))


def _one_byte_writes(conn: socket.socket) -> None:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for b in server_hello(0xC02F):
        conn.sendall(bytes((b,)))
        time.sleep(0.001)


HOSTILE: dict[str, tuple[Callable[[socket.socket], None], Callable[[Outcome], bool]]] = {
    "one-byte-writes": (
        _one_byte_writes,
        lambda o: o == Accepted(version=Protocol.TLS1_2, suite=0xC02F, group=None),
    ),
    "suite-never-offered": (
        lambda c: c.sendall(server_hello(0x0005)),
        lambda o: isinstance(o, Failed) and "0x0005, never offered" in o.detail,
    ),
    "16-MiB-length": (
        lambda c: c.sendall(b"\x16\x03\x03\x00\x04\x02\xff\xff\xff" + bytes(1000)),
        lambda o: isinstance(o, Failed) and "16777215" in o.detail,
    ),
    "garbage": (
        lambda c: c.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n"),
        lambda o: isinstance(o, Failed) and "not a TLS record" in o.detail,
    ),
    "reset-mid-record": (
        lambda c: (c.sendall(server_hello(0xC02F)[:20]), time.sleep(0.05), _reset(c)),
        lambda o: isinstance(o, Failed) and "inside a record" in o.detail,
    ),
    "close-on-the-hello": (
        lambda c: None,
        lambda o: o == Refused(kind=RefusalKind.CLOSED),
    ),
    "reset-on-the-hello": (
        _reset,
        lambda o: o == Refused(kind=RefusalKind.CLOSED),
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_peers(case: str) -> None:
    behaviour, check = HOSTILE[case]
    with raw_server(behaviour) as port:
        outcome = _probe(port, TLS12)
    assert check(outcome), outcome


def test_silence_is_a_timeout_failure() -> None:
    with raw_server(lambda c: time.sleep(1.0)) as port:

        async def go() -> Outcome:
            deadline = Deadline(anyio.current_time() + 0.3)
            return await send_probe("127.0.0.1", port, TLS12, deadline=deadline)

        outcome = anyio.run(go)
    assert isinstance(outcome, Failed) and "no answer within" in outcome.detail


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_connection_never_established_times_out_in_connect(backend: str) -> None:
    """The server's accept queue is full, so its kernel drops our SYN: the probe waits for
    the connection until the deadline, and says it was connecting."""
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.socket())
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(3):  # never accepted: they fill the queue
            filler = stack.enter_context(socket.socket())
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))

        async def go() -> Outcome:
            deadline = Deadline(anyio.current_time() + 0.4)
            return await send_probe("127.0.0.1", port, TLS12, deadline=deadline)

        outcome = anyio.run(go, backend=backend)
    assert isinstance(outcome, Failed), outcome
    assert re.fullmatch(r"no answer within 0\.[0-9]+ s \(during connect\)", outcome.detail)


def test_the_host_deadline_ends_the_whole_plan() -> None:
    """One deadline bounds every probe of a host: the probe in flight when it passes is a
    timeout (with the stage it was in), every probe after it has no time left, and the plan
    still returns its facts, with nothing known."""
    with raw_server(lambda c: time.sleep(1.0)) as port:

        async def go() -> tuple[HelloFacts, int, float]:
            start = anyio.current_time()
            facts, sent = await run("127.0.0.1", port, PlanConfig(sni=NAME), deadline=start + 0.3)
            return facts, sent, anyio.current_time() - start

        facts, sent, took = anyio.run(go)
    assert took < 0.9  # the silent server holds each connection for a second
    assert facts.versions == {v: None for v in Protocol}
    first, *rest = facts.failures
    assert re.fullmatch(r"tls1_3: no answer within 0\.[0-9]+ s \(during handshake\)", first)
    assert rest and all(f.endswith("no time left within the host's deadline") for f in rest)
    assert sent == len(facts.failures)


def test_hrr_loop_over_the_network_ends() -> None:
    """A server that answers every hello with the same HelloRetryRequest."""
    with raw_server(lambda c: c.sendall(HRR)) as port:
        facts, sent = _run(port, PlanConfig(sni=None))
    # The HelloRetryRequest answers TLS 1.3; once P-256 is no longer offered, naming it
    # again is a protocol error: the groups stay unknown and the probes stop.
    assert facts.versions[Protocol.TLS1_3] is True
    assert facts.groups is None
    assert any(f.startswith("groups:") and "never offered" in f for f in facts.failures)
    assert sent < 20


# --- what no local server speaks any more: SSL 2.0, SSL 3.0, export, RC4, DES, 3DES ---------

LEGACY_SUITES = (0x0005, 0x000A, 0x0009, 0x0003, 0x0035)  # RC4, 3DES, DES, export RC4, AES-CBC
SSL2_KINDS = (0x010080, 0x0700C0, 0x020080)  # RC4-MD5, DES-CBC3-MD5, EXP-RC4-MD5


@pytest.mark.parametrize("ciphers", [False, True], ids=["protocols", "ciphers"])
def test_legacy_peer(pki: tuple[Issued, Issued], ciphers: bool) -> None:
    _, leaf = pki
    policy = LegacyPolicy(
        certificate=leaf.der,
        versions=frozenset({Protocol.SSL3, Protocol.TLS1_0}),
        suites=LEGACY_SUITES,
        ssl2_kinds=SSL2_KINDS,
    )
    with legacy_server(policy) as port:
        facts, sent = _run(port, PlanConfig(sni=NAME, ciphers=ciphers))
    assert facts.versions == {
        Protocol.SSL2: True,
        Protocol.SSL3: True,
        Protocol.TLS1_0: True,
        Protocol.TLS1_1: False,
        Protocol.TLS1_2: False,
        Protocol.TLS1_3: False,
    }
    expected = frozenset().union(*(SUITES[c].classes for c in LEGACY_SUITES))
    assert expected == {
        WeakClass.RC4,
        WeakClass.TRIPLE_DES,
        WeakClass.DES,
        WeakClass.EXPORT,
        WeakClass.CBC,
        WeakClass.NO_FS,
    }
    assert facts.classes[Protocol.SSL3] == expected
    assert facts.classes[Protocol.TLS1_0] == expected
    assert set(facts.ssl2_kinds) == set(SSL2_KINDS)
    assert WeakClass.EXPORT in (facts.classes[Protocol.SSL2] or ())
    assert facts.server_preference is True
    assert facts.chain == (leaf.der,) and facts.groups == ()
    assert facts.pq_kex is None and facts.large_hello_ok is None
    if ciphers:
        assert facts.suites is not None
        assert facts.suites[Protocol.TLS1_0] == LEGACY_SUITES
        assert facts.suites[Protocol.SSL3] == LEGACY_SUITES
    assert facts.failures == ()


def _hello_only(suite: int) -> bytes:
    body = b"\x03\x03" + b"\x22" * 32 + b"\x00" + suite.to_bytes(2, "big") + b"\x00"
    msg = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + len(msg).to_bytes(2, "big") + msg


FLIGHT = Probe(purpose="t", hello=TLS12.hello, read_flight=True)


@pytest.mark.parametrize(
    ("case", "behaviour", "why"),
    [
        ("stall", lambda c: (c.sendall(_hello_only(0xC02F)), time.sleep(1.0)), "no answer within"),
        (
            "huge-certificate-length",
            lambda c: c.sendall(_hello_only(0xC02F) + b"\x16\x03\x03\x00\x04\x0b\xff\xff\xff"),
            "16777215",
        ),
    ],
    ids=["stall", "huge-certificate-length"],
)
def test_a_server_hello_read_still_answers_when_the_rest_fails(
    case: str, behaviour: Callable[[socket.socket], None], why: str
) -> None:
    with raw_server(behaviour) as port:

        async def go() -> Outcome:
            deadline = Deadline(anyio.current_time() + 0.5)
            return await send_probe("127.0.0.1", port, FLIGHT, deadline=deadline)

        outcome = anyio.run(go)
    assert isinstance(outcome, Accepted) and outcome.suite == 0xC02F
    assert outcome.chain is None and outcome.incomplete and why in outcome.incomplete
