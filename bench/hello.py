"""Client CPU of the ClientHello prober (issue 19) on the bench's target: the codec alone
(encode one hello, parse a first flight, decide its outcome), then, against the bench's nginx
(TLS 1.2 and 1.3, EC P-256 chain), a plain scan (`scanner scan`, a child process: its client
CPU per host is the yardstick) and the prober's --protocols and --ciphers plans per host
(`probe.run`, the same concurrency): hellos per host, client CPU per host, and that CPU as a
multiple of the plain scan's, beside the targets.

    python -m bench.hello [--hosts 2000] [--plain-hosts 5000] [--concurrency 200] [--runs 3]
                          [--check]

Targets (issue 19), at the same concurrency: --protocols adds at most 1.0x the client CPU of a
plain scan, --ciphers at most 3x. CPU is process time (user + system), never wall time: the
machine may be shared. Medians over the runs. Loopback only; not a timed test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from bench.proc import pinned, run_measured
from bench.server import BenchPki, hostname, nginx
from scanner.model.suites import Protocol
from scanner.net.hello.codec import FlightReader, Offer, build, encode, hello_for
from scanner.net.hello.outcome import decide
from scanner.net.hello.plan import CLASSIC_GROUPS, TLS12_GROUPS, PlanConfig, ordered_suites
from scanner.net.hello.probe import run

AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
TARGET_PROTOCOLS = 1.0  # extra client CPU per host, as a multiple of a plain scan's
TARGET_CIPHERS = 3.0
RESULTS = Path(__file__).resolve().parent / "results"


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
        ("the same from its template (hello_for)", lambda: hello_for(tls12)),
        ("build+encode TLS 1.3 hello", lambda: encode(build(tls13))),
        (f"parse+decide TLS 1.2 flight ({len(flight)} B)", parse),
    ]
    print("codec, microseconds per call (best of 5):")
    for label, fn in rows:
        print(f"  {label:42} {_per_call_us(fn, repeat):7.1f}")


def _plan_cpu(
    port: int, cfg: Callable[[int], PlanConfig], hosts: int, concurrency: int
) -> dict[str, Any]:
    """One run of a plan over `hosts` hosts, `concurrency` in flight: hellos and client CPU
    per host (process time), and the hosts whose facts are not those of the bench target."""

    async def many() -> dict[str, Any]:
        limiter = anyio.CapacityLimiter(concurrency)
        sent, wrong = [0], [0]

        async def host(i: int) -> None:
            async with limiter:
                facts, n = await run("127.0.0.1", port, cfg(i), deadline=anyio.current_time() + 60)
            sent[0] += n
            spoken = facts.versions[Protocol.TLS1_2] and facts.versions[Protocol.TLS1_3]
            if facts.failures or not spoken or facts.groups is None:
                wrong[0] += 1

        start = time.process_time()
        async with anyio.create_task_group() as tg:
            for i in range(1, hosts + 1):
                tg.start_soon(host, i)
        cpu = time.process_time() - start
        return {"hellos": sent[0] / hosts, "cpu_ms": cpu * 1000 / hosts, "wrong": wrong[0]}

    return anyio.run(many)


def _plain_scan(port: int, hosts: int, concurrency: int, tmp: Path, core: int | None) -> float:
    """Client CPU per host (ms) of a plain `scanner scan` of the target, in a child."""
    from bench.__main__ import _scanner_argv, _verify_scanner, _write_hosts

    inputs, out = tmp / "hosts.csv", tmp / "plain"
    shutil.rmtree(out, ignore_errors=True)
    _write_hosts(inputs, hosts, port, 1)
    argv = [
        *_scanner_argv(),
        *("scan", str(inputs), "--out", str(out), "--concurrency", str(concurrency)),
        *("--quiet", "--as-of", AS_OF.isoformat(), "--ca-bundle", str(tmp / "ca.pem")),
        "--no-aia",
    ]
    u = run_measured(pinned(argv, core), timeout=120 + hosts / 50, log=tmp / "plain.log")
    _verify_scanner(out, hosts)
    return u.cpu * 1000 / hosts


def plans(a: argparse.Namespace) -> list[tuple[str, bool]]:
    """The bench target, a plain scan, the prober's plans; the target lines (text, met)."""
    from bench.__main__ import _cores

    pki = BenchPki.create(AS_OF, 1)
    server_core, client_core = _cores()
    lines: list[tuple[str, bool]] = []
    record: dict[str, Any] = {
        "hosts": a.hosts,
        "plain_hosts": a.plain_hosts,
        "concurrency": a.concurrency,
    }
    with tempfile.TemporaryDirectory() as t, nginx(pki, Path(t) / "nginx", server_core) as server:
        tmp = Path(t)
        (tmp / "ca.pem").write_bytes(pki.root.pem)
        print(
            f"\nprober plans against the bench target ({server.version}, TLS 1.2 and 1.3, "
            f"EC P-256), C={a.concurrency}, median of {a.runs}:",
            flush=True,
        )
        configs = {
            "--protocols": (lambda i: PlanConfig(sni=hostname(i, 1)), TARGET_PROTOCOLS),
            "--ciphers": (lambda i: PlanConfig(sni=hostname(i, 1), ciphers=True), TARGET_CIPHERS),
        }
        plain_runs: list[float] = []
        runs: dict[str, list[dict[str, Any]]] = {label: [] for label in configs}
        for _ in range(a.runs):  # interleaved: each run sees the machine as the others do
            plain_runs.append(
                _plain_scan(server.port, a.plain_hosts, a.concurrency, tmp, client_core)
            )
            mask = os.sched_getaffinity(0)
            if client_core is not None:
                os.sched_setaffinity(0, {client_core})  # as the scanner child is pinned
            for label, (cfg, _) in configs.items():
                _plan_cpu(server.port, cfg, 50, a.concurrency)  # warm-up
                runs[label].append(_plan_cpu(server.port, cfg, a.hosts, a.concurrency))
            os.sched_setaffinity(0, mask)
        plain = statistics.median(plain_runs)
        record["plain_cpu_ms_per_host"] = round(plain, 4)
        print(
            f"  plain scan (scanner scan, {a.plain_hosts} hosts): {plain:6.3f} ms client CPU/host"
        )
        for label, (_, target) in configs.items():
            cpu = statistics.median(r["cpu_ms"] for r in runs[label])
            hellos = runs[label][0]["hellos"]
            wrong = max(r["wrong"] for r in runs[label])
            ratio = cpu / plain
            record[label] = {"hellos_per_host": hellos, "cpu_ms_per_host": round(cpu, 4)}
            print(
                f"  {label:11} plan: {hellos:5.1f} hellos/host, {cpu:6.3f} ms client CPU/host"
                f" ({cpu * 1000 / hellos:3.0f} us/hello) = +{ratio:4.2f}x a plain scan"
                f"   target <= {target:.1f}x: {'PASS' if ratio <= target else 'MISS'}",
                flush=True,
            )
            lines.append(
                (f"{label} adds <= {target:.1f}x a plain scan: {ratio:.2f}x", ratio <= target)
            )
            if wrong:
                lines.append((f"{label}: {wrong} host(s) without the target's facts", False))
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    record["targets"] = [{"line": line, "met": ok} for line, ok in lines]
    (RESULTS / f"hello-{stamp}.json").write_text(json.dumps(record, indent=2))
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=2000, help="hosts per plan run")
    parser.add_argument("--plain-hosts", type=int, default=5000, help="hosts of the plain scan")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=2000, help="codec calls per timing")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    a = parser.parse_args()
    codec(a.repeat)
    lines = plans(a)
    wrong = [line for line, ok in lines if not ok and "without" in line]
    return 1 if wrong or (a.check and not all(ok for _, ok in lines)) else 0


if __name__ == "__main__":
    sys.exit(main())
