"""Reading a list cell of a hosts table as pandas loads it: a list or an array, or a missing
value (None, or NaN from a column that pandas made float) on error rows."""

from __future__ import annotations

from typing import Any


def has(cell: Any, item: str) -> bool:
    """Whether a list cell (a row's `findings`, null on error rows) holds `item`."""
    if cell is None or isinstance(cell, float):
        return False
    return item in list(cell)
