"""Counts per target when a name has several addresses (`--addresses all`): targets (input
rows) beside rows, names whose addresses serve different leaves, names with some addresses
down. Pure; folds over hosts.parquet in batches, since a target's rows are adjacent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scanner.analysis.cells import has
from scanner.model.catalogue import Code

if TYPE_CHECKING:  # the end of a scan counts names without importing pandas
    import pandas as pd

NAME_COLUMNS = ("input_line", "status", "findings")


@dataclass(slots=True)
class NameCounts:
    targets: int = 0  # input targets (a target of three addresses counts once)
    rows: int = 0
    several_addresses: int = 0  # targets with more than one row
    inconsistent_backends: int = 0  # targets whose rows carry `inconsistent_backends`
    some_addresses_down: int = 0  # targets where one address failed while another answered
    _line: int | None = None
    _flags: tuple[int, bool, bool, bool] = (0, False, False, False)  # rows, ok, error, inc.

    def add(self, batch: pd.DataFrame) -> None:
        """Count a batch of hosts rows (columns NAME_COLUMNS), in file order."""
        self.add_rows(
            batch["input_line"].tolist(), batch["status"].tolist(), batch["findings"].tolist()
        )

    def add_rows(
        self, lines: Sequence[Any], statuses: Sequence[Any], findings: Sequence[Any]
    ) -> None:
        """The same, from the columns as lists."""
        for line, status, codes in zip(lines, statuses, findings, strict=True):
            if line != self._line:
                self._close()
                self._line = line
            rows, ok, error, inconsistent = self._flags
            self._flags = (
                rows + 1,
                ok or status == "ok",
                error or status != "ok",
                inconsistent or has(codes, Code.INCONSISTENT_BACKENDS),
            )

    def finish(self) -> NameCounts:
        self._close()
        return self

    def _close(self) -> None:
        if self._line is None:
            return
        rows, ok, error, inconsistent = self._flags
        self.targets += 1
        self.rows += rows
        self.several_addresses += rows > 1
        self.inconsistent_backends += inconsistent
        self.some_addresses_down += rows > 1 and ok and error
        self._line, self._flags = None, (0, False, False, False)

    def counted(self) -> list[tuple[str, str, int]]:
        """The rows of kind `names` that summary.csv adds: (kind, name, names counted)."""
        return [
            ("names", "several_addresses", self.several_addresses),
            ("names", "inconsistent_backends", self.inconsistent_backends),
            ("names", "some_addresses_down", self.some_addresses_down),
        ]

    def summary_rows(self) -> pd.DataFrame:
        """`counted`, with each row's share of the targets."""
        import pandas as pd

        df = pd.DataFrame(self.counted(), columns=["kind", "name", "hosts"])
        df["share"] = (df["hosts"] / self.targets).round(4) if self.targets else 0.0
        return df


def count_names(hosts: pd.DataFrame) -> NameCounts:
    """NameCounts of a whole hosts table (rows of a target adjacent, as written)."""
    counts = NameCounts()
    counts.add(hosts)
    return counts.finish()
