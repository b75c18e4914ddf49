"""The end-of-scan summary folded over slices of the hosts table as plain Python columns, without
pandas: the rows of summary.csv (`summarise` of the whole table, as `scanner summary` computes
them), the worst hosts' positions, the clock-check counts and the per-name counts, in one pass.
A scan's end imports no pandas (issue 17: it cost 0.8 s and 43 MiB at every scan's end). Pure."""

from __future__ import annotations

import datetime as dt
import heapq
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scanner.analysis.addresses import NameCounts
from scanner.analysis.counts import CountFold
from scanner.analysis.severity import WORST_FIRST
from scanner.model.catalogue import CATALOGUE
from scanner.model.columns import PROBLEM_VERDICTS
from scanner.model.grade import Grade
from scanner.model.timefmt import utc_iso
from scanner.model.types import ErrorCode

# The worst hosts' columns, as `scanner.analysis.summary.worst_hosts` gives them.
WORST_COLUMNS = ("host", "port", "connected_ip", "severity", "findings", "days_remaining")
SummaryRow = tuple[str, str, int, float]  # kind, name, hosts, share (summary.csv's columns)
SUMMARY_FIELDS = ("kind", "name", "hosts", "share")
# The columns `SummaryFold.add` reads (has_leaf: the row's not_after is not null).
FOLD_COLUMNS = (
    "input_line",
    "status",
    "error",
    *WORST_COLUMNS,
    *("trusted", *PROBLEM_VERDICTS),
    "revoked",
    "grade",
    "trusted_by",
    "expired",
    "not_yet_valid",
)
_RANK = {s: i for i, s in enumerate(WORST_FIRST)}

# "Most of the fleet": more than this share of hosts with a leaf, and at least this many.
SKEW_SHARE = 0.5
SKEW_MIN_HOSTS = 5


@dataclass(frozen=True, slots=True)
class SkewCounts:
    """Hosts with a leaf, and how many look expired or not yet valid: the clock check's
    input, summed over slices of a large table."""

    total: int = 0
    expired: int = 0
    future: int = 0

    def __add__(self, other: SkewCounts) -> SkewCounts:
        return SkewCounts(
            self.total + other.total, self.expired + other.expired, self.future + other.future
        )


def skew_message(c: SkewCounts, as_of: dt.datetime) -> str | None:
    """A warning when most of the fleet looks expired or not yet valid at once: then the
    scanning machine's clock (or --as-of) is the likelier culprit than the fleet."""
    if c.total < SKEW_MIN_HOSTS or (c.expired + c.future) / c.total <= SKEW_SHARE:
        return None
    direction = "ahead" if c.expired >= c.future else "behind"
    return (
        f"{c.expired + c.future} of {c.total} hosts with a certificate look expired "
        f"({c.expired}) or not yet valid ({c.future}) as of "
        f"{utc_iso(as_of)}: check the scanning machine's clock (it may "
        f"be {direction}) and --as-of before blaming the fleet"
    )


def shares(hosts: Sequence[int], total: int) -> list[float]:
    """hosts / total rounded to 4 places as pandas rounds them (numpy: half to even)."""
    if not total:
        return [0.0] * len(hosts)
    import numpy as np

    return [float(v) for v in np.round(np.asarray(hosts, dtype=float) / total, 4)]


def with_shares(rows: Sequence[tuple[str, str, int]], total: int) -> list[SummaryRow]:
    return [
        (k, n, h, s) for (k, n, h), s in zip(rows, shares([r[2] for r in rows], total), strict=True)
    ]


@dataclass(slots=True)
class SummaryFold:
    """Feed slices of hosts rows in file order (`add`), then read `rows()`, `worst()`, `skew`
    and `counts`. `stores`: the trust stores judged, the default first."""

    stores: Sequence[str] = ()
    worst_n: int = 10
    total: int = 0
    status: Counter[str] = field(default_factory=Counter)
    verdicts: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    findings: Counter[str] = field(default_factory=Counter)
    severities: Counter[str] = field(default_factory=Counter)
    grades: Counter[str] = field(default_factory=Counter)
    trusted_by: Counter[str] = field(default_factory=Counter)
    skew: SkewCounts = field(default_factory=lambda: SkewCounts())
    names: NameCounts = field(default_factory=NameCounts)
    counts: CountFold = field(default_factory=CountFold)
    # The worst hosts so far: a heap whose top is the least bad of them.
    _worst: list[tuple[_Reversed, dict[str, Any]]] = field(default_factory=list)

    def add(self, columns: Mapping[str, Sequence[Any]], has_leaf: Sequence[bool]) -> None:
        """One slice: FOLD_COLUMNS as equal-length lists, `has_leaf` per row."""
        status = columns["status"]
        start = self.total
        self.total += len(status)
        self.status.update(status)
        self.errors.update(e for e in columns["error"] if e is not None)
        self.severities.update(s for s in columns["severity"] if s is not None)
        ok = [i for i, s in enumerate(status) if s == "ok"]
        self._verdicts(columns, ok)
        for i in ok:
            codes = columns["findings"][i]
            if codes:
                self.findings.update(set(codes))
            if (g := columns["grade"][i]) is not None:
                self.grades[g] += 1
            self.trusted_by.update(columns["trusted_by"][i] or ())
        expired, future = columns["expired"], columns["not_yet_valid"]
        leafed = [i for i in ok if has_leaf[i]]
        self.skew += SkewCounts(
            len(leafed),
            sum(1 for i in leafed if expired[i] is True),
            sum(1 for i in leafed if future[i] is True),
        )
        self._keep_worst(columns, start)
        self.names.add_rows(columns["input_line"], status, columns["findings"])
        self.counts.add_rows(columns["input_line"], status)

    def _verdicts(self, columns: Mapping[str, Sequence[Any]], ok: Sequence[int]) -> None:
        trusted = columns["trusted"]
        self.verdicts["not_trusted"] += sum(1 for i in ok if trusted[i] is False)
        for col in (*PROBLEM_VERDICTS, "revoked"):
            values = columns[col]
            self.verdicts[col] += sum(1 for i in ok if values[i] is True)

    def _keep_worst(self, columns: Mapping[str, Sequence[Any]], start: int) -> None:
        """The `worst_n` rows with a severity, worst first, then the fewest days left (none
        last), then the host name, then file order (pandas' stable sort of `worst_hosts`)."""
        severity, days, host = columns["severity"], columns["days_remaining"], columns["host"]
        for i, sev in enumerate(severity):
            if sev is None:
                continue
            d = days[i]
            key = (_RANK.get(sev, len(_RANK)), d is None, d if d is not None else 0, host[i])
            record = {c: columns[c][i] for c in WORST_COLUMNS}
            item = (_Reversed((*key, start + i)), record)
            if len(self._worst) < self.worst_n:
                heapq.heappush(self._worst, item)
            elif item[0] > self._worst[0][0]:
                heapq.heapreplace(self._worst, item)

    def worst(self) -> list[dict[str, Any]]:
        """The worst hosts' WORST_COLUMNS, worst first."""
        return [record for _, record in sorted(self._worst, key=lambda item: item[0].key)]

    def rows(self) -> list[SummaryRow]:
        """summary.csv's rows, in `scanner.analysis.summary.summarise`'s order, then the
        `names` rows (shares of targets)."""
        ok = self.status.get("ok", 0)
        rows: list[tuple[str, str, int]] = [
            ("status", "ok", ok),
            ("status", "error", self.status.get("error", 0)),
            ("verdict", "not_trusted", self.verdicts["not_trusted"]),
            *(("verdict", c, self.verdicts[c]) for c in PROBLEM_VERDICTS),
            ("verdict", "revoked", self.verdicts["revoked"]),
            *(("error", c.value, self.errors[c.value]) for c in ErrorCode),
            *(("finding", c.value, self.findings[c.value]) for c in CATALOGUE),
            *(("severity", s, self.severities[s]) for s in WORST_FIRST),
            *(("grade", g.value, self.grades[g.value]) for g in Grade),
        ]
        listed = list(dict.fromkeys(self.stores)) or ["default"]
        listed += sorted(str(n) for n in self.trusted_by if n not in listed)
        rows += [("trust_store", n, self.trusted_by[n]) for n in listed]
        names = self.names.finish()
        return with_shares(rows, self.total) + with_shares(names.counted(), names.targets)


@dataclass(frozen=True, slots=True)
class _Reversed:
    """A sort key inverted, so that heapq's min-heap keeps the `worst_n` smallest keys."""

    key: tuple[Any, ...]

    def __lt__(self, other: _Reversed) -> bool:
        return other.key < self.key

    def __gt__(self, other: _Reversed) -> bool:
        return self.key < other.key


def combine_rows(
    parts: Iterable[Sequence[SummaryRow]], targets: int | None = None
) -> list[SummaryRow]:
    """Summary rows of several tables (shards) as one: hosts summed per (kind, name) in order of
    first appearance, shares recomputed over all rows (`names` rows over `targets` when given,
    as one table's are)."""
    summed: dict[tuple[str, str], int] = {}
    for rows in parts:
        for kind, name, hosts, _ in rows:
            summed[(kind, name)] = summed.get((kind, name), 0) + hosts
    total = summed.get(("status", "ok"), 0) + summed.get(("status", "error"), 0)
    plain = [(k, n, h) for (k, n), h in summed.items() if k != "names"]
    named = [(k, n, h) for (k, n), h in summed.items() if k == "names"]
    return with_shares(plain, total) + with_shares(named, total if targets is None else targets)
