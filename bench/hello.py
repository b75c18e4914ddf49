"""Client CPU of the ClientHello prober (issue 19): the codec alone (encode one hello, parse a
first flight, decide its outcome), and the whole plan per host against `openssl s_server` on
loopback (hellos per host, CPU ms per host, for --protocols and --ciphers).

    python -m bench.hello [--hosts 20] [--repeat 2000]

Targets (issue 19), against the ~1.2 ms of client CPU a plain scan spends per host:
--protocols adds at most 1.0x that, --ciphers at most 3x. Loopback only; not a timed test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

from bench.server import BenchPki, hostname, nginx
from scanner.model.suites import Protocol
from scanner.net.capture import client_context
from scanner.net.handshake import connect
from scanner.net.hello.codec import FlightReader, Offer, build, encode
from scanner.net.hello.outcome import decide
from scanner.net.hello.plan import CLASSIC_GROUPS, TLS12_GROUPS, PlanConfig, ordered_suites
from scanner.net.hello.probe import run
from scanner.testing.openssl_server import s_server
from scanner.testing.pki import make_leaf, rsa_key

PLAIN_SCAN_MS = 1.2  # client CPU per host of a plain scan (issue 19, make bench)
AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def _per_call_us(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(repeat):
            fn()
        best = min(best, (time.process_time() - start) / repeat)
    return best * 1e6


def _flight(offer_suite: int) -> bytes:
    """A TLS 1.2 first flight like OpenSSL's: ServerHello, a 1.5 KB certificate, SKE, done."""
    body = b"\x03\x03" + bytes(32) + b"\x00" + offer_suite.to_bytes(2, "big") + b"\x00"
    sh = b"\x02" + len(body).to_bytes(3, "big") + body
    cert = bytes(1500)
    certs = len(cert).to_bytes(3, "big") + cert
    cm = b"\x0b" + (len(certs) + 3).to_bytes(3, "big") + len(certs).to_bytes(3, "big") + certs
    ske_body = b"\x03\x00\x1d\x20" + bytes(32) + b"\x08\x04\x01\x00" + bytes(256)
    ske = b"\x0c" + len(ske_body).to_bytes(3, "big") + ske_body
    msgs = sh + cm + ske + b"\x0e\x00\x00\x00"
    return b"\x16\x03\x03" + len(msgs).to_bytes(2, "big") + msgs


def codec(repeat: int) -> None:
    tls12 = Offer(
        versions=(Protocol.TLS1_2,),
        suites=ordered_suites(Protocol.TLS1_2),
        groups=TLS12_GROUPS,
        sni="h00001.bench.test",
    )
    tls13 = Offer(
        versions=(Protocol.TLS1_3,),
        suites=ordered_suites(Protocol.TLS1_3),
        groups=CLASSIC_GROUPS,
        key_shares=(0x1D,),
        sni="h00001.bench.test",
    )
    hello12 = build(tls12)
    flight = _flight(0xC02F)

    def parse() -> None:
        reader = FlightReader(hello12)
        decide(hello12, reader.receive_data(flight), read_flight=True)

    rows = [
        ("build+encode TLS 1.2 hello (352 suites)", lambda: encode(build(tls12))),
        ("build+encode TLS 1.3 hello", lambda: encode(build(tls13))),
        (f"parse+decide TLS 1.2 flight ({len(flight)} B)", parse),
    ]
    print("codec, microseconds per call (best of 5):")
    for label, fn in rows:
        print(f"  {label:42} {_per_call_us(fn, repeat):7.1f}")


def live(hosts: int) -> None:
    leaf = make_leaf(
        None,
        dns_names=["*.bench.test"],
        not_before=AS_OF - dt.timedelta(days=1),
        not_after=AS_OF + dt.timedelta(days=90),
        key=rsa_key(2048),
    )
    print(f"\nwhole plan per host against openssl s_server (ALL:@SECLEVEL=0), {hosts} hosts:")
    with (
        tempfile.TemporaryDirectory() as tmp,
        s_server(leaf, ["-cipher", "ALL:@SECLEVEL=0"], Path(tmp)) as port,
    ):
        ctx = client_context()

        async def handshakes(n: int) -> float:
            """The scanner's main handshake (net/handshake.py), the same server: the baseline."""
            start = time.process_time()
            for _ in range(n):
                async with await connect("127.0.0.1", port) as conn:
                    await conn.start_tls(ctx, "h00001.bench.test")
            return time.process_time() - start

        anyio.run(handshakes, 2)
        base_ms = anyio.run(handshakes, hosts * 3) * 1000 / (hosts * 3)
        print(f"  one TLS handshake (the scan's own, without diagnosis): {base_ms:6.2f} ms/host")
        name = "h00001.bench.test"
        plans = {
            "--protocols": PlanConfig(sni=name),
            "--protocols, lean": PlanConfig(sni=name, classes_every_version=False, groups=False),
            "--ciphers": PlanConfig(sni=name, ciphers=True),
        }
        for label, cfg in plans.items():

            async def many(n: int, cfg: PlanConfig = cfg) -> tuple[int, float]:
                start = time.process_time()
                sent = 0
                for _ in range(n):
                    _, one = await run("127.0.0.1", port, cfg, deadline=anyio.current_time() + 60)
                    sent += one
                return sent, time.process_time() - start

            anyio.run(many, 1)  # warm-up
            sent, cpu = anyio.run(many, hosts)
            cpu_ms = cpu * 1000 / hosts
            target = 3.0 if cfg.ciphers else 1.0
            print(
                f"  {label:17}: {sent / hosts:5.1f} hellos/host, {cpu_ms:6.2f} ms client CPU/host"
                f" = {cpu_ms / base_ms:4.1f}x one handshake,"
                f" {cpu_ms / PLAIN_SCAN_MS:4.1f}x a plain scan's {PLAIN_SCAN_MS} ms"
                f" (target {target:.1f}x), {cpu_ms * 1000 / (sent / hosts):4.0f} us/hello"
            )


def fleet(hosts: int, concurrency: int) -> None:
    """The bench's nginx target (TLS 1.2+1.3, EC P-256 chain), `concurrency` hosts in flight as
    in a scan: the scanner's own handshake per host, then the prober's plans per host."""
    pki = BenchPki.create(AS_OF, 1)
    ctx = client_context()
    with tempfile.TemporaryDirectory() as tmp, nginx(pki, Path(tmp) / "nginx", None) as server:
        port = server.port

        async def handshake(i: int) -> int:
            async with await connect("127.0.0.1", port) as conn:
                await conn.start_tls(ctx, hostname(i, 1))
            return 1

        def prober(cfg: PlanConfig) -> Callable[[int], Awaitable[int]]:
            async def one(i: int) -> int:
                deadline = anyio.current_time() + 60
                _, sent = await run("127.0.0.1", port, cfg, deadline=deadline)
                return sent

            return one

        async def many(job: Callable[[int], Awaitable[int]]) -> tuple[int, float]:
            limiter = anyio.CapacityLimiter(concurrency)
            sent = [0]

            async def host(i: int) -> None:
                async with limiter:
                    n = await job(i)  # not `sent[0] += await ...`: read before the await
                sent[0] += n

            start = time.process_time()
            async with anyio.create_task_group() as tg:
                for i in range(hosts):
                    tg.start_soon(host, i)
            return sent[0], time.process_time() - start

        print(f"\nnginx (bench target), {hosts} hosts, {concurrency} in flight:")
        anyio.run(many, handshake)
        _, base = anyio.run(many, handshake)
        base_ms = base * 1000 / hosts
        print(f"  one TLS handshake (the scan's own, without diagnosis): {base_ms:6.2f} ms/host")
        plans = {
            "--protocols": PlanConfig(sni=hostname(0, 1)),
            "--protocols, lean": PlanConfig(
                sni=hostname(0, 1), classes_every_version=False, groups=False
            ),
            "--ciphers": PlanConfig(sni=hostname(0, 1), ciphers=True),
        }
        for label, cfg in plans.items():
            sent, cpu = anyio.run(many, prober(cfg))
            cpu_ms = cpu * 1000 / hosts
            print(
                f"  {label:17}: {sent / hosts:5.1f} hellos/host, {cpu_ms:6.2f} ms client CPU/host"
                f" = {cpu_ms / base_ms:4.1f}x one handshake, {cpu_ms * 1000 / (sent / hosts):4.0f}"
                " us/hello"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--fleet", type=int, default=300, help="hosts against nginx (0: skip)")
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    codec(args.repeat)
    live(args.hosts)
    if args.fleet:
        fleet(args.fleet, args.concurrency)


if __name__ == "__main__":
    main()
