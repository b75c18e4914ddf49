"""The system resolver's thread bound holds for threads, not only for the tasks waiting on
them: a cancelled getaddrinfo cannot be stopped, so its thread keeps its slot until it returns.
getaddrinfo is stood in for by a blocking call (a hung system resolver cannot be shown on
loopback without reaching the network)."""

from __future__ import annotations

import socket
import threading
from typing import Any

import anyio

from scanner.net.resolve import SystemResolver

BOUND = 2


class SlowLookup:
    """A getaddrinfo that blocks until released, counting the threads inside it."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.inside = 0
        self.most = 0
        self.calls = 0

    def __call__(self, host: str, port: int, *args: Any) -> list[Any]:
        with self.lock:
            self.inside += 1
            self.calls += 1
            self.most = max(self.most, self.inside)
        try:
            self.release.wait(30)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        finally:
            with self.lock:
                self.inside -= 1


def test_cancelled_lookups_keep_their_threads_counted() -> None:
    slow = SlowLookup()
    resolver = SystemResolver(threads=BOUND, lookup=slow)

    async def main() -> list[str]:
        async with anyio.create_task_group() as tg:  # BOUND lookups, then cancelled (hosts done)
            for i in range(BOUND):
                tg.start_soon(resolver.resolve, f"h{i}.test", 443)
            while slow.inside < BOUND:  # noqa: ASYNC110 - counted by threads, not tasks
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
        # Their threads still run: new lookups must wait for them, not add threads.
        answers: list[str] = []

        async def later(i: int) -> None:
            answers.extend(await resolver.resolve(f"n{i}.test", 443))

        async with anyio.create_task_group() as tg:
            for i in range(BOUND):
                tg.start_soon(later, i)
            await anyio.sleep(0.3)
            assert slow.calls == BOUND  # none started while the abandoned threads run
            assert slow.most <= BOUND
            slow.release.set()
        return answers

    answers = anyio.run(main)
    assert answers == ["127.0.0.1"] * BOUND
    assert slow.most <= BOUND and slow.calls == 2 * BOUND
