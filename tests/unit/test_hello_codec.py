"""The ClientHello codec: byte-exact against captured hellos of real clients, and the first
flight reader against well-formed and hostile server bytes (no sockets)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from scanner.model.suites import GROUPS, SUITES, Protocol, suites_for
from scanner.net.hello.codec import (
    EXT_KEY_SHARE,
    EXT_SERVER_NAME,
    EXT_STATUS_REQUEST,
    EXT_SUPPORTED_GROUPS,
    EXT_SUPPORTED_VERSIONS,
    HRR_RANDOM,
    KEY_SHARES,
    MAX_BUFFERED,
    Alert,
    Certificate,
    CertificateStatus,
    ClientHello,
    Closed,
    DecodeError,
    Encrypted,
    Event,
    FlightReader,
    HelloRetryRequest,
    Offer,
    ProtocolError,
    ServerHello,
    ServerHelloDone,
    ServerKeyExchange,
    SSL2ClientHello,
    SSL2Error,
    SSL2ServerHello,
    build,
    encode,
    encode_sslv2,
    hello_for,
    parse_client_hello,
    sct_list,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "hello"
CAPTURED = sorted(p for p in FIXTURES.glob("*.bin") if not p.name.endswith(".server.bin"))


def _fixture(name: str) -> ClientHello:
    return parse_client_hello((FIXTURES / f"{name}.bin").read_bytes())


# --- ClientHellos of real clients ----------------------------------------------------------


def test_the_fixtures_are_there() -> None:
    assert {p.stem for p in CAPTURED} >= {
        "openssl30_default",
        "openssl30_tls12",
        "openssl30_tls13_groups",
        "openssl30_tls10",
        "pyopenssl_default",
    }


@pytest.mark.parametrize("path", CAPTURED, ids=lambda p: p.stem)
def test_captured_hello_reencodes_byte_for_byte(path: Path) -> None:
    data = path.read_bytes()
    hello = parse_client_hello(data)
    assert encode(hello) == data


def test_captured_tls12_hello_parses_to_what_s_client_was_told() -> None:
    hello = _fixture("openssl30_tls12")
    # -cipher ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA, plus the renegotiation SCSV
    assert hello.cipher_suites == (0xC02F, 0x002F, 0x00FF)
    assert hello.version == Protocol.TLS1_2
    assert hello.extension(EXT_SUPPORTED_VERSIONS) is None
    assert hello.extension(EXT_STATUS_REQUEST) is not None  # -status


def test_our_extensions_are_encoded_as_openssl_encodes_them() -> None:
    """Same inputs, same bytes as a real client: SNI, status_request, supported_groups,
    supported_versions and the key_share entries."""
    theirs = _fixture("openssl30_tls12")
    ours = build(
        Offer(
            versions=(Protocol.TLS1_2,),
            suites=theirs.cipher_suites,
            groups=(0x1D, 0x17, 0x1E, 0x19, 0x18),
            sni="www.example.com",
        )
    )
    for ext in (EXT_SERVER_NAME, EXT_STATUS_REQUEST, EXT_SUPPORTED_GROUPS):
        assert ours.extension(ext) == theirs.extension(ext), ext
    tls13 = _fixture("openssl30_tls13_groups")
    ours13 = build(
        Offer(
            versions=(Protocol.TLS1_3,),
            suites=tls13.cipher_suites,
            groups=(0x1D, 0x17, 0x18, 0x100),
            key_shares=(0x1D,),
        )
    )
    assert ours13.extension(EXT_SUPPORTED_VERSIONS) == tls13.extension(EXT_SUPPORTED_VERSIONS)
    assert ours13.extension(EXT_SUPPORTED_GROUPS) == tls13.extension(EXT_SUPPORTED_GROUPS)
    # key_share: same structure and length (the key itself is random in theirs)
    assert len(ours13.extension(EXT_KEY_SHARE) or b"") == len(tls13.extension(EXT_KEY_SHARE) or b"")


def _shares(hello: ClientHello) -> dict[int, int]:
    raw = hello.extension(EXT_KEY_SHARE) or b""
    out, pos = {}, 2
    while pos < len(raw):
        group, length = struct.unpack(">HH", raw[pos : pos + 4])
        out[group] = length
        pos += 4 + length
    return out


def test_post_quantum_shares_have_a_real_clients_lengths() -> None:
    """cryptography's OpenSSL sends X25519MLKEM768 (1216 bytes) and x25519 (32)."""
    theirs = _shares(_fixture("pyopenssl_default"))
    assert theirs == {0x11EC: 1216, 0x1D: 32}
    ours = build(
        Offer(
            versions=(Protocol.TLS1_3, Protocol.TLS1_2),
            suites=suites_for(Protocol.TLS1_3),
            groups=(0x11EC, 0x1D),
            key_shares=(0x11EC, 0x1D),
        )
    )
    assert _shares(ours) == theirs
    assert {g: len(v) for g, v in KEY_SHARES.items()} == {
        g: GROUPS[g].share_len for g in KEY_SHARES
    }


def test_mlkem_key_share_passes_the_modulus_check() -> None:
    """FIPS 203 7.2: every 12-bit coefficient of an encapsulation key is below q."""
    for group, k in ((0x0200, 2), (0x0201, 3), (0x0202, 4)):
        ek = KEY_SHARES[group][: 384 * k]
        for i in range(0, len(ek), 3):
            a = ek[i] | (ek[i + 1] & 0x0F) << 8
            b = ek[i + 1] >> 4 | ek[i + 2] << 4
            assert a < 3329 and b < 3329


def test_built_hello_parses_back_to_itself() -> None:
    offer = Offer(
        versions=(Protocol.TLS1_3, Protocol.TLS1_2),
        suites=suites_for(Protocol.TLS1_3) + suites_for(Protocol.TLS1_2),
        groups=tuple(GROUPS),
        key_shares=(0x11EC, 0x1D),
        sni="host.example",
    )
    hello = build(offer)
    assert parse_client_hello(encode(hello)) == hello
    assert hello.version == Protocol.TLS1_2 and len(hello.session_id) == 32
    assert build(offer).random != hello.random  # fresh per hello


def test_padding_reaches_the_target_size() -> None:
    offer = Offer(versions=(Protocol.TLS1_2,), suites=(0xC02F,), pad_to=1800)
    assert len(encode(build(offer))) == 1800
    big = Offer(versions=(Protocol.TLS1_2,), suites=suites_for(Protocol.TLS1_2), pad_to=100)
    assert len(encode(build(big))) > 100  # never truncates


def test_ssl3_hello_has_no_extensions_block() -> None:
    hello = build(Offer(versions=(Protocol.SSL3,), suites=(0x000A,), extensions=False))
    data = encode(hello)
    assert data[:3] == b"\x16\x03\x00" and hello.version == Protocol.SSL3
    assert parse_client_hello(data).extensions is None
    # header 5 + type 1 + len 3 + version 2 + random 32 + sid 1 + suites 4 + compression 2
    assert len(data) == 50


def test_sslv2_client_hello_layout() -> None:
    hello = SSL2ClientHello(cipher_kinds=(0x010080, 0x0700C0), challenge=bytes(range(16)))
    data = encode_sslv2(hello)
    body_len = 1 + 2 + 6 + 6 + 16
    assert data[:2] == (0x8000 | body_len).to_bytes(2, "big")
    assert data[2:5] == b"\x01\x00\x02"
    assert data[5:11] == b"\x00\x06\x00\x00\x00\x10"
    assert data[11:17] == bytes.fromhex("0100800700c0")


def test_truncated_client_hello_is_a_decode_error() -> None:
    data = (FIXTURES / "openssl30_tls12.bin").read_bytes()
    with pytest.raises(DecodeError):
        parse_client_hello(data[:-1])


# --- server bytes, built by hand from RFC 5246/8446 ------------------------------------------


def _rec(ctype: int, payload: bytes, version: int = 0x0303) -> bytes:
    return bytes((ctype,)) + version.to_bytes(2, "big") + len(payload).to_bytes(2, "big") + payload


def _hs(mtype: int, body: bytes) -> bytes:
    return bytes((mtype,)) + len(body).to_bytes(3, "big") + body


def _exts(*pairs: tuple[int, bytes]) -> bytes:
    raw = b"".join(t.to_bytes(2, "big") + len(d).to_bytes(2, "big") + d for t, d in pairs)
    return len(raw).to_bytes(2, "big") + raw


def _server_hello(
    suite: int, version: int = 0x0303, exts: bytes = b"", random: bytes = b"\x11" * 32
) -> bytes:
    return _hs(
        2, version.to_bytes(2, "big") + random + b"\x00" + suite.to_bytes(2, "big") + b"\x00" + exts
    )


def _tls13_hello(suite: int = 0x1301, group: int = 0x1D, share: int = 32) -> bytes:
    exts = _exts(
        (43, b"\x03\x04"), (51, group.to_bytes(2, "big") + share.to_bytes(2, "big") + bytes(share))
    )
    return _server_hello(suite, exts=exts)


def _hrr(group: int, suite: int = 0x1301) -> bytes:
    exts = _exts((43, b"\x03\x04"), (51, group.to_bytes(2, "big")))
    return _server_hello(suite, exts=exts, random=HRR_RANDOM)


TLS12_OFFER = build(Offer(versions=(Protocol.TLS1_2,), suites=(0xC02F, 0x002F), groups=(0x1D,)))
TLS13_OFFER = build(
    Offer(
        versions=(Protocol.TLS1_3,),
        suites=(0x1301, 0x1302),
        groups=(0x1D, 0x17, 0x11EC),
        key_shares=(0x1D,),
    )
)
CERT = b"0\x82\x01\x00" + b"\x01" * 256


def _tls12_flight() -> bytes:
    """ServerHello, Certificate, CertificateStatus, ServerKeyExchange, ServerHelloDone in
    one record (as OpenSSL sends them)."""
    certs = len(CERT).to_bytes(3, "big") + CERT
    ske = b"\x03\x00\x1d\x20" + bytes(32) + b"\x04\x01\x00\x02\xaa\xbb"
    return _rec(
        22,
        _server_hello(0xC02F, exts=_exts((5, b"")))
        + _hs(11, len(certs).to_bytes(3, "big") + certs)
        + _hs(22, b"\x01" + (3).to_bytes(3, "big") + b"ocs")
        + _hs(12, ske)
        + _hs(14, b""),
    )


def _feed(reader: FlightReader, data: bytes, chunk: int = 0) -> list[Event]:
    events: list[Event] = []
    if not chunk:
        return reader.receive_data(data)
    for i in range(0, len(data), chunk):
        events += reader.receive_data(data[i : i + chunk])
    return events


def test_tls12_flight_with_several_messages_in_one_record() -> None:
    events = _feed(FlightReader(TLS12_OFFER), _tls12_flight())
    assert [type(e) for e in events] == [
        ServerHello,
        Certificate,
        CertificateStatus,
        ServerKeyExchange,
        ServerHelloDone,
    ]
    hello, cert, status, ske = events[0], events[1], events[2], events[3]
    assert isinstance(hello, ServerHello) and hello.cipher_suite == 0xC02F
    assert hello.version == Protocol.TLS1_2 and hello.selected_group is None
    assert isinstance(cert, Certificate) and cert.chain == (CERT,)
    assert isinstance(status, CertificateStatus) and status.ocsp_response == b"ocs"
    assert isinstance(ske, ServerKeyExchange) and ske.named_group == 0x1D


def test_one_byte_chunks_give_the_same_events() -> None:
    data = _tls12_flight()
    assert _feed(FlightReader(TLS12_OFFER), data, chunk=1) == _feed(FlightReader(TLS12_OFFER), data)


def test_a_message_split_over_records() -> None:
    msg = _server_hello(0xC02F) + _hs(14, b"")
    data = _rec(22, msg[:10]) + _rec(22, msg[10:30]) + _rec(22, msg[30:])
    events = _feed(FlightReader(TLS12_OFFER), data, chunk=7)
    assert [type(e) for e in events] == [ServerHello, ServerHelloDone]


def test_tls13_server_hello_then_encrypted() -> None:
    data = _rec(22, _tls13_hello()) + _rec(20, b"\x01") + _rec(23, b"\x00" * 40)
    events = _feed(FlightReader(TLS13_OFFER), data)
    assert len(events) == 2
    hello = events[0]
    assert isinstance(hello, ServerHello) and hello.version == Protocol.TLS1_3
    assert hello.selected_group == 0x1D and hello.legacy_version == 0x0303
    assert events[1] == Encrypted()


def test_hello_retry_request_names_the_group() -> None:
    events = _feed(FlightReader(TLS13_OFFER), _rec(22, _hrr(0x11EC)))
    assert events == [
        HelloRetryRequest(
            version=0x0304,
            cipher_suite=0x1301,
            selected_group=0x11EC,
            extensions=events[0].extensions,  # type: ignore[union-attr]
        )
    ]


def test_hrr_loop_in_one_flight_is_an_error() -> None:
    events = _feed(FlightReader(TLS13_OFFER), _rec(22, _hrr(0x17) + _hrr(0x17)))
    assert isinstance(events[0], HelloRetryRequest)
    assert isinstance(events[1], ProtocolError) and "second" in events[1].detail


def test_hrr_for_a_group_whose_share_was_sent_is_an_error() -> None:
    (event,) = _feed(FlightReader(TLS13_OFFER), _rec(22, _hrr(0x1D)))
    assert isinstance(event, ProtocolError) and "key share was sent" in event.detail


def test_hrr_for_a_group_never_offered_is_an_error() -> None:
    (event,) = _feed(FlightReader(TLS13_OFFER), _rec(22, _hrr(0x18)))
    assert isinstance(event, ProtocolError) and "never offered" in event.detail


def test_server_hello_with_a_suite_never_offered() -> None:
    (event,) = _feed(FlightReader(TLS12_OFFER), _rec(22, _server_hello(0x0005)))
    assert isinstance(event, ProtocolError)
    assert "0x0005, never offered" in event.detail


def test_server_hello_for_a_higher_version_than_offered() -> None:
    (event,) = _feed(FlightReader(TLS12_OFFER), _rec(22, _server_hello(0xC02F, version=0x0304)))
    assert isinstance(event, ProtocolError) and "version" in event.detail


def test_server_hello_for_a_lower_version_is_reported_not_refused_here() -> None:
    """The reader reports the version; calling it a refusal of TLS 1.2 is the probe's job."""
    (event,) = _feed(
        FlightReader(TLS12_OFFER), _rec(22, _server_hello(0x002F, version=0x0301), 0x0301)
    )
    assert isinstance(event, ServerHello) and event.version == Protocol.TLS1_0


def test_alert() -> None:
    events = _feed(FlightReader(TLS12_OFFER), _rec(21, b"\x02\x28"))
    assert events == [Alert(level=2, description=40)]


def test_sixteen_mebibyte_handshake_length_is_an_error_not_an_allocation() -> None:
    reader = FlightReader(TLS12_OFFER)
    head = b"\x02\xff\xff\xff"  # a ServerHello claiming 16 MiB - 1
    (event,) = _feed(reader, _rec(22, head + bytes(100)))
    assert isinstance(event, ProtocolError) and "16777215" in event.detail
    assert reader.failed and reader.receive_data(b"more") == []


def test_record_length_over_the_cap_is_an_error() -> None:
    (event,) = _feed(FlightReader(TLS12_OFFER), b"\x16\x03\x03\xff\xff")
    assert isinstance(event, ProtocolError) and "65535" in event.detail


def test_message_over_the_buffer_cap_is_refused_before_it_is_read() -> None:
    reader = FlightReader(TLS12_OFFER)
    body = _hs(2, b"")[:1] + (MAX_BUFFERED).to_bytes(3, "big")
    (event,) = _feed(reader, _rec(22, body))
    assert isinstance(event, ProtocolError)


def test_room_bounds_what_is_buffered() -> None:
    reader = FlightReader(TLS12_OFFER)
    assert reader.room == MAX_BUFFERED
    # A certificate message of 60 000 bytes arriving in full records: never more than the cap
    cert = bytes(60_000)
    msg = _server_hello(0xC02F) + _hs(
        11, (len(cert) + 3).to_bytes(3, "big") + len(cert).to_bytes(3, "big") + cert
    )
    data = b"".join(_rec(22, msg[i : i + 16384]) for i in range(0, len(msg), 16384))
    events: list[Event] = []
    pos = 0
    while pos < len(data):
        n = min(reader.room, 4096)
        assert n > 0
        events += reader.receive_data(data[pos : pos + n])
        pos += n
    assert [type(e) for e in events] == [ServerHello, Certificate]
    over = FlightReader(TLS12_OFFER)
    (event,) = over.receive_data(bytes(5) + bytes(MAX_BUFFERED))
    assert isinstance(event, ProtocolError)


@pytest.mark.parametrize(
    "garbage",
    [
        b"HTTP/1.1 400 Bad Request\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"\x00\x00\x00\x00\x00\x00",
        b"\x16\x02\x00\x00\x04abcd",
    ],
    ids=["http", "ssh", "zeros", "bad-major"],
)
def test_garbage_is_a_protocol_error(garbage: bytes) -> None:
    events = _feed(FlightReader(TLS12_OFFER), garbage)
    assert len(events) == 1 and isinstance(events[0], ProtocolError)


def test_garbage_is_seen_from_its_first_byte() -> None:
    (event,) = FlightReader(TLS12_OFFER).receive_data(b"H")
    assert isinstance(event, ProtocolError)


def test_malformed_server_hello_is_an_error() -> None:
    bad = _hs(2, b"\x03\x03" + bytes(10))  # truncated random
    (event,) = _feed(FlightReader(TLS12_OFFER), _rec(22, bad))
    assert isinstance(event, ProtocolError) and "malformed" in event.detail


def test_close_before_any_byte_and_mid_record() -> None:
    assert FlightReader(TLS12_OFFER).receive_data(b"") == [Closed(mid_record=False)]
    reader = FlightReader(TLS12_OFFER)
    assert reader.receive_data(_tls12_flight()[:20]) == []
    assert reader.receive_data(b"") == [Closed(mid_record=True)]


def test_certificate_before_server_hello_is_an_error() -> None:
    (event,) = _feed(FlightReader(TLS12_OFFER), _rec(22, _hs(11, b"\x00\x00\x00")))
    assert isinstance(event, ProtocolError)


def test_cleartext_handshake_after_tls13_server_hello_is_an_error() -> None:
    data = _rec(22, _tls13_hello()) + _rec(22, _hs(11, b"\x00\x00\x00"))
    events = _feed(FlightReader(TLS13_OFFER), data)
    assert isinstance(events[0], ServerHello) and isinstance(events[1], ProtocolError)


def test_tls13_server_hello_with_unoffered_key_share() -> None:
    (event,) = _feed(FlightReader(TLS13_OFFER), _rec(22, _tls13_hello(group=0x17, share=65)))
    assert isinstance(event, ProtocolError)


def _sslv2_server_hello(kinds: tuple[int, ...], cert: bytes = CERT) -> bytes:
    specs = b"".join(k.to_bytes(3, "big") for k in kinds)
    body = (
        b"\x04\x00\x01\x00\x02"
        + struct.pack(">HHH", len(cert), len(specs), 16)
        + cert
        + specs
        + bytes(16)
    )
    return (0x8000 | len(body)).to_bytes(2, "big") + body


SSL2_OFFER = SSL2ClientHello(cipher_kinds=(0x010080, 0x0700C0, 0x020080), challenge=bytes(16))


def test_sslv2_server_hello() -> None:
    events = _feed(FlightReader(SSL2_OFFER), _sslv2_server_hello((0x0700C0, 0x010080)), chunk=1)
    assert events == [
        SSL2ServerHello(
            version=2, session_id_hit=False, certificate=CERT, cipher_kinds=(0x0700C0, 0x010080)
        )
    ]


def test_sslv2_server_hello_with_kind_never_offered() -> None:
    (event,) = _feed(FlightReader(SSL2_OFFER), _sslv2_server_hello((0x060040,)))
    assert isinstance(event, ProtocolError)


def test_sslv2_error_and_tls_answer_to_an_sslv2_hello() -> None:
    assert _feed(FlightReader(SSL2_OFFER), b"\x80\x03\x00\x00\x01") == [SSL2Error(code=1)]
    assert _feed(FlightReader(SSL2_OFFER), _rec(21, b"\x02\x46")) == [
        Alert(level=2, description=70)
    ]


def test_suite_table_has_the_registry_codes() -> None:
    assert SUITES[0xC02F].name == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    assert SUITES[0x1301].first is Protocol.TLS1_3
    assert GROUPS[0x11EC].name == "X25519MLKEM768" and GROUPS[0x11EC].share_len == 1216


# --- first flights of a real server (openssl s_server 3.0), captured to fixed hellos ---------


def _flight(name: str) -> tuple[ClientHello, list[Event]]:
    hello_bytes = (FIXTURES / f"flight_{name}.hello.bin").read_bytes()
    hello = parse_client_hello(hello_bytes)
    assert encode(hello) == hello_bytes
    answer = (FIXTURES / f"flight_{name}.server.bin").read_bytes()
    whole = FlightReader(hello).receive_data(answer)
    assert _feed(FlightReader(hello), answer, chunk=1) == whole  # split anywhere: same events
    return hello, whole


def test_captured_tls12_flight() -> None:
    """s_server -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256: ServerHello, the leaf, the
    X25519 ServerKeyExchange, ServerHelloDone."""
    _, events = _flight("tls12_certificate")
    assert [type(e) for e in events] == [
        ServerHello,
        Certificate,
        ServerKeyExchange,
        ServerHelloDone,
    ]
    hello, cert, ske = events[0], events[1], events[2]
    assert isinstance(hello, ServerHello) and hello.cipher_suite == 0xC02F
    assert hello.version == Protocol.TLS1_2
    assert isinstance(cert, Certificate)
    assert cert.chain == ((FIXTURES / "capture_leaf.der").read_bytes(),)
    assert ske == ServerKeyExchange(named_group=0x1D, dh_bits=None)


def test_captured_static_rsa_flight_has_no_key_exchange_message() -> None:
    _, events = _flight("tls12_static_rsa")
    assert [type(e) for e in events] == [ServerHello, Certificate, ServerHelloDone]
    assert isinstance(events[0], ServerHello) and events[0].cipher_suite == 0x002F


def test_captured_tls13_server_hello() -> None:
    _, events = _flight("tls13")
    hello = events[0]
    assert isinstance(hello, ServerHello)
    assert (hello.version, hello.cipher_suite, hello.selected_group) == (0x0304, 0x1302, 0x1D)
    assert hello.session_id == bytes(32)  # echoed (RFC 8446 4.1.3)
    assert events[1:] == [Encrypted()] * (len(events) - 1) and len(events) > 1


def test_captured_hello_retry_request() -> None:
    _, events = _flight("tls13_hrr")
    (hrr,) = [e for e in events if isinstance(e, HelloRetryRequest)]
    assert (hrr.version, hrr.cipher_suite, hrr.selected_group) == (0x0304, 0x1301, 0x18)


def test_captured_protocol_version_alert() -> None:
    _, events = _flight("alert_protocol_version")
    assert events == [Alert(level=2, description=70)]


# --- properties: any bytes, any split -------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(1, 400), max_size=20))
def test_any_bytes_any_split_never_raise_and_stay_bounded(data: bytes, cuts: list[int]) -> None:
    reader = FlightReader(TLS12_OFFER)
    pos = 0
    for n in [*cuts, len(data)]:
        chunk = data[pos : pos + min(n, reader.room or 1)]
        pos += len(chunk)
        if not chunk:
            continue  # b"" is the end of the stream
        for event in reader.receive_data(chunk):
            assert not isinstance(event, Closed)
        assert reader.room >= 0
    events = reader.receive_data(b"")
    assert all(isinstance(e, Closed) for e in events)


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(1, 64), min_size=1, max_size=60))
def test_a_real_flight_gives_the_same_events_however_it_is_split(cuts: list[int]) -> None:
    hello, whole = _flight("tls12_certificate")
    answer = (FIXTURES / "flight_tls12_certificate.server.bin").read_bytes()
    reader = FlightReader(hello)
    events: list[Event] = []
    pos, i = 0, 0
    while pos < len(answer):
        n = cuts[i % len(cuts)]
        events += reader.receive_data(answer[pos : pos + n])
        pos, i = pos + n, i + 1
    assert events == whole


def test_sct_list() -> None:
    assert sct_list(b"\x00\x06\x00\x01\xaa\x00\x01\xbb") == (b"\xaa", b"\xbb")
    for bad in (
        b"",
        b"\x00\x00",
        b"\x00\x02\x00\x00",
        b"\x00\x03\x00\x05\xaa",
        b"\x00\x01\x00\x00",
    ):
        with pytest.raises(DecodeError):
            sct_list(bad)


def test_hellos_of_256_to_511_bytes_are_padded_to_512() -> None:
    """RFC 7685 1: the ClientHello message length a few TLS terminators mishandle."""
    sizes = []
    for n in range(1, 200, 7):
        suites = suites_for(Protocol.TLS1_2)[:n]
        hello = build(Offer(versions=(Protocol.TLS1_2,), suites=suites, sni="a.example"))
        size = len(encode(hello)) - 5
        assert not 0xFF < size < 0x200, (n, size)
        sizes.append(size)
    assert 512 in sizes  # some were padded


@pytest.mark.parametrize("version", [Protocol.TLS1_3, Protocol.TLS1_2, Protocol.SSL3])
@pytest.mark.parametrize("name", [None, "a.example", "n" * 200])
@pytest.mark.parametrize("pad_to", [0, 1800])
def test_hello_for_sends_exactly_the_hello_it_returns(
    version: Protocol, name: str | None, pad_to: int
) -> None:
    """The prober's hellos come from parts cached per offer shape: the bytes are the encoding
    of the hello returned (read back the same), for any name, suite list length and padding,
    and two hellos of one offer differ in random (and TLS 1.3's session id) only."""
    every = tuple(c for c in suites_for(version))
    for suites in (every, every[: len(every) // 3], every[-1:]):
        offer = Offer(
            versions=(version,),
            suites=suites,
            groups=(0x1D, 0x17) if version is not Protocol.SSL3 else (),
            key_shares=(0x1D,) if version is Protocol.TLS1_3 else (),
            sni=name,
            pad_to=pad_to,
            extensions=version is not Protocol.SSL3,
        )
        hello, data = hello_for(offer)
        again, other = hello_for(offer)
        assert encode(hello) == data and parse_client_hello(data) == hello
        assert hello.cipher_suites == suites and hello.extension(0) == again.extension(0)
        assert (hello.extension(0) is not None) is bool(name and version is not Protocol.SSL3)
        assert len(other) == len(data) and hello.random != again.random
        if pad_to and version is not Protocol.SSL3:
            assert len(data) == max(pad_to, len(encode(build(offer, random=hello.random))))
