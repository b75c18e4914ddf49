"""The scan's input handed to its workers: read in batches in a worker thread, taken one item
at a time."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from itertools import islice

import anyio
import anyio.to_thread

from scanner.model.types import InvalidTarget, Target

INPUT_BATCH = 512  # input items read per trip to a worker thread


class Feed:
    """The input, read in batches in a worker thread (a CSV read on the event loop would stall
    every handshake in flight) and handed out one item at a time to the workers."""

    def __init__(self, items: Iterable[Target | InvalidTarget]) -> None:
        self._items = iter(items)
        self._batch: deque[Target | InvalidTarget] = deque()
        self._refill = anyio.Lock()
        self._ended = False

    def _read(self) -> list[Target | InvalidTarget]:
        return list(islice(self._items, INPUT_BATCH))

    async def next(self) -> Target | InvalidTarget | None:
        while not self._batch:
            if self._ended:
                return None
            async with self._refill:
                if not self._batch and not self._ended:
                    batch = await anyio.to_thread.run_sync(self._read)
                    self._batch.extend(batch)
                    self._ended = not batch
        return self._batch.popleft()
