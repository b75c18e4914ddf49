"""What the ClientHello prober established about one host (issue 19), as a value: made by
scanner.net.hello.plan, read by the stages that judge and store it."""

from __future__ import annotations

from dataclasses import dataclass

from scanner.model.suites import Protocol, WeakClass


@dataclass(frozen=True, slots=True, kw_only=True)
class HelloFacts:
    """What the probes established; None wherever a probe failed (see `failures`)."""

    versions: dict[Protocol, bool | None]
    classes: dict[Protocol, frozenset[WeakClass] | None]  # weak classes accepted per version
    groups: tuple[int, ...] | None  # accepted: those any probe saw chosen, then the rest
    pq_kex: bool | None
    large_hello_ok: bool | None
    server_preference: bool | None
    suites: dict[Protocol, tuple[int, ...] | None] | None  # with `ciphers`: accepted, in order
    ssl2_kinds: tuple[int, ...]  # SSL 2.0 cipher kinds both sides have
    chain: tuple[bytes, ...] | None  # the TLS 1.2-or-earlier chain sent with SNI
    nosni_chain: tuple[bytes, ...] | None  # ... and without
    ocsp_response: bytes | None  # stapled with SNI (None: none stapled, or not read)
    sct_extension: bytes | None
    flight_read: bool  # a TLS 1.2-or-earlier flight was read (stapling is known)
    failures: tuple[str, ...]

    @property
    def cipher_classes(self) -> frozenset[WeakClass]:
        out: frozenset[WeakClass] = frozenset()
        for found in self.classes.values():
            out |= found or frozenset()
        return out
