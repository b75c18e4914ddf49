"""Is name resolution a bottleneck? Resolutions per second through the scanner's two resolvers,
at the scan's concurrency, against the handshake rate of `make bench` (about 450/s here).

    python -m bench.dns [--names 5000] [--concurrency 200]

- system: `SystemResolver` (getaddrinfo in its own pool of worker threads, so /etc/hosts and
  nsswitch apply), resolving `localhost` from /etc/hosts: no query leaves the machine. This
  is the thread pool's own cost; a real resolver adds its latency, which the pool overlaps
  up to its thread count.
- nameserver: `DnsResolver` (`--nameserver`, dnspython, no threads) asking the lab's DNS
  server on 127.0.0.1 for N distinct names.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Awaitable, Callable

import anyio

from scanner.net.resolve import DnsResolver, SystemResolver
from scanner.testing.lab import Lab

AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


async def _rate(names: list[str], resolve: Callable[[str], Awaitable[list[str]]], c: int) -> float:
    pending = iter(names)
    done = 0

    async def worker() -> None:
        nonlocal done
        for name in pending:
            assert await resolve(name)
            done += 1

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(c):
            tg.start_soon(worker)
    assert done == len(names)
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dns", description=__doc__)
    parser.add_argument("--names", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()

    system = SystemResolver()
    rate = anyio.run(
        _rate, ["localhost"] * args.names, lambda n: system.resolve(n, 443), args.concurrency
    )
    print(f"system resolver (getaddrinfo, 64 threads, /etc/hosts): {rate:8.0f} names/s")

    names = [f"h{i:06d}.dns.bench.test" for i in range(args.names)]
    with Lab.start(as_of=AS_OF) as lab:
        lab.dns_records.update(dict.fromkeys(names, "127.0.0.1"))
        resolver = DnsResolver([lab.dns_address])
        rate = anyio.run(_rate, names, lambda n: resolver.resolve(n, 443), args.concurrency)
    print(f"--nameserver (dnspython -> lab DNS on 127.0.0.1):      {rate:8.0f} names/s")


if __name__ == "__main__":
    main()
