"""One probe in flight, whatever drives its socket: the hello's bytes, the codec reading the
answer, and how each way a connection can end becomes an outcome (pure: bytes and exceptions
in, outcomes out)."""

from __future__ import annotations

from dataclasses import dataclass, field

from scanner.model.types import Stage
from scanner.net.classify import classify
from scanner.net.hello.codec import (
    ClientHello,
    Event,
    FlightReader,
    Offer,
    SSL2ClientHello,
    encode_sslv2,
    hello_for,
)
from scanner.net.hello.outcome import Failed, Outcome, after_failure, decide
from scanner.net.hello.plan import Probe
from scanner.net.hello.quick import quick_outcome

READ_CHUNK = 16 * 1024
NO_TIME = "no time left within the host's deadline"


def hello_bytes(probe: Probe) -> tuple[ClientHello | SSL2ClientHello, bytes]:
    if isinstance(probe.hello, Offer):
        return hello_for(probe.hello)
    return probe.hello, encode_sslv2(probe.hello)


@dataclass(slots=True)
class Attempt:
    """One probe in flight: what a failure (an exception, the deadline) is judged from."""

    probe: Probe
    hello: ClientHello | SSL2ClientHello
    data: bytes
    flight: FlightReader | None = None  # made at the first bytes the quick way cannot read
    events: list[Event] = field(default_factory=list)
    stage: Stage = Stage.CONNECT
    seconds: float = 0.0
    # The first bytes of a hello-only probe may be read the quick way (quick.py).
    quick: bool = False

    @classmethod
    def of(cls, probe: Probe) -> Attempt:
        hello, data = hello_bytes(probe)
        quick = not probe.read_flight and isinstance(hello, ClientHello)
        return cls(probe=probe, hello=hello, data=data, quick=quick)

    @property
    def reader(self) -> FlightReader:
        if self.flight is None:
            self.flight = FlightReader(self.hello, hello_only=not self.probe.read_flight)
        return self.flight

    def want(self) -> int:
        """How many bytes to ask the socket for next."""
        if self.flight is None:
            return READ_CHUNK
        return max(1, min(self.flight.room, READ_CHUNK))

    def take(self, chunk: bytes) -> Outcome | None:
        """The outcome once `chunk` (b"": the end of the stream) decides it."""
        if self.quick and chunk:
            self.quick = False
            assert isinstance(self.hello, ClientHello)
            outcome = quick_outcome(chunk, self.hello)
            if outcome is not None:
                return outcome
        self.events += self.reader.receive_data(chunk)
        outcome = decide(self.hello, self.events, read_flight=self.probe.read_flight)
        if outcome is None and not chunk:
            return Failed(detail="the server closed the connection without an answer")
        return outcome

    def hung_up_sending(self) -> Outcome:
        """Reset or closed while the hello was still going out: the server hung up on it."""
        self.events += self.reader.receive_data(b"")
        return decide(self.hello, self.events, read_flight=self.probe.read_flight) or Failed(
            detail="the server closed the connection while the hello was sent"
        )

    def failed(self, exc: BaseException) -> Outcome:
        mapped = classify(exc, self.stage, self.seconds)
        if mapped is None:
            raise exc
        # A ServerHello already read still answers the probe (the rest of the flight is lost).
        return after_failure(self.hello, self.events, mapped[1])
