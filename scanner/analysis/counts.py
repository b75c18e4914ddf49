"""The one meaning of a scan's counts, for every output (scan.json, `scanner summary`, the
metrics, progress, `scanner.scan` and Dask's combined report):

- targets: distinct input lines scanned (a name scanned on three addresses counts once);
- rows: hosts rows, one per address scanned (= targets without `--addresses all`);
- ok, errors: rows that answered, rows that failed (ok + errors = rows).

Pure. `scan_counts` counts a hosts table; `CountFold` counts the same thing incrementally, over
batches of hosts rows or over results as they arrive, relying on what every writer guarantees:
the rows of one target are adjacent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the runner counts as it goes without importing pandas
    import pandas as pd

COUNT_COLUMNS = ("input_line", "status")


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanCounts:
    targets: int = 0
    rows: int = 0
    ok: int = 0

    @property
    def errors(self) -> int:
        return self.rows - self.ok


@dataclass(slots=True)
class CountFold:
    """ScanCounts built as rows arrive. `failed` starts what a resumed scan recorded before."""

    targets: int = 0
    rows: int = 0
    ok: int = 0
    _last: object = None

    @property
    def errors(self) -> int:
        return self.rows - self.ok

    def add_target(self, statuses: Sequence[str]) -> None:
        """The rows of one target (one result, or the results of its addresses)."""
        self.targets += 1
        self.rows += len(statuses)
        self.ok += sum(1 for s in statuses if s == "ok")
        self._last = None

    def add(self, batch: pd.DataFrame) -> CountFold:
        """A batch of hosts rows (columns COUNT_COLUMNS), in file order."""
        if batch.empty:
            return self
        lines = batch["input_line"].to_numpy(dtype="int64", na_value=-1)
        starts = int((lines[1:] != lines[:-1]).sum()) + 1
        if self._last is not None and lines[0] == self._last:
            starts -= 1  # the target began in the batch before
        self._last = int(lines[-1])
        self.targets += starts
        self.rows += len(batch)
        self.ok += int((batch["status"] == "ok").sum())
        return self

    def add_rows(self, lines: Sequence[int | None], statuses: Sequence[str]) -> CountFold:
        """The same as `add`, from the columns as lists."""
        if not lines:
            return self
        keys = [-1 if v is None else v for v in lines]
        starts = 1 + sum(1 for a, b in zip(keys, keys[1:], strict=False) if a != b)
        if self._last is not None and keys[0] == self._last:
            starts -= 1
        self._last = keys[-1]
        self.targets += starts
        self.rows += len(keys)
        self.ok += sum(1 for s in statuses if s == "ok")
        return self

    def result(self) -> ScanCounts:
        return ScanCounts(targets=self.targets, rows=self.rows, ok=self.ok)


def scan_counts(hosts: pd.DataFrame) -> ScanCounts:
    """The counts of a hosts table (rows of a target adjacent, as written)."""
    if "input_line" not in hosts.columns:  # a table without lines: each row its own target
        ok = int((hosts["status"] == "ok").sum())
        return ScanCounts(targets=len(hosts), rows=len(hosts), ok=ok)
    return CountFold().add(hosts[list(COUNT_COLUMNS)]).result()
