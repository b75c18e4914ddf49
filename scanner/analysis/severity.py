"""Severity order as the reports use it: rank lookups for the strings written to disk, worst
first ordering, and the `--fail-on` rule. Pure; no pandas needed to import it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scanner.model.types import Severity

# Worst first: critical, high, medium, low, info.
WORST_FIRST = tuple(s.value for s in sorted(Severity, key=lambda s: -s.rank))
_RANK = {s.value: s.rank for s in Severity}


def rank(value: object) -> int:
    """`Severity.rank` of a severity string (or Severity); -1 for None, NaN or unknown."""
    return _RANK.get(value, -1) if isinstance(value, str) else -1


def any_at_or_above(severities: Iterable[object], threshold: Severity) -> bool:
    """True when any of `severities` (strings; None and NaN ignored) is at or above
    `threshold`: the `--fail-on` rule."""
    return any(rank(s) >= threshold.rank for s in severities)


def hosts_at_or_above(hosts: Any, threshold: Severity) -> int:
    """Hosts (rows of a hosts DataFrame) whose worst finding is at or above `threshold`."""
    return sum(1 for s in hosts["severity"] if rank(s) >= threshold.rank)
