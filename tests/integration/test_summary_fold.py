"""The end of a scan folds its summary over the hosts table without pandas (issue 17): its
summary.csv, worst hosts, clock counts and per-name counts must be what the pandas summaries of
`scanner summary` compute from the same hosts.parquet, whatever the slice size."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from scanner.analysis.addresses import count_names
from scanner.analysis.fold import FOLD_COLUMNS, SummaryFold
from scanner.analysis.summary import skew_counts, summarise, worst_hosts
from scanner.store import files


def _fold(path: Any, batch_rows: int, stores: list[str]) -> SummaryFold:
    fold = SummaryFold(stores=stores, worst_n=7)
    for columns, has_leaf in files.iter_table_lists(path, FOLD_COLUMNS, batch_rows=batch_rows):
        fold.add(columns, has_leaf)
    return fold


@pytest.mark.parametrize("batch_rows", [1, 3, 10_000])
def test_fold_equals_the_pandas_summary(lab_scan: Any, batch_rows: int) -> None:
    path = lab_scan.out / "hosts.parquet"
    hosts = pq.read_table(path).to_pandas()
    stores = ["default", "lab-extra"]
    fold = _fold(path, batch_rows, stores)
    expected = summarise(hosts, stores)
    names = count_names(hosts)
    got = pd.DataFrame(fold.rows(), columns=["kind", "name", "hosts", "share"])
    plain = got[got["kind"] != "names"].reset_index(drop=True)
    pd.testing.assert_frame_equal(plain, expected, check_dtype=False)
    named = got[got["kind"] == "names"]
    assert list(named["hosts"]) == [
        names.several_addresses,
        names.inconsistent_backends,
        names.some_addresses_down,
    ]
    assert sum(expected.loc[expected["kind"] == "finding", "hosts"]) > 0  # the lab has findings

    worst = worst_hosts(hosts, 7)
    assert [(r["host"], r["severity"]) for r in fold.worst()] == list(
        zip(worst["host"], worst["severity"], strict=True)
    )
    assert [r["days_remaining"] for r in fold.worst()] == [
        None if pd.isna(d) else int(d) for d in worst["days_remaining"]
    ]
    skew = skew_counts(hosts)
    assert (fold.skew.total, fold.skew.expired, fold.skew.future) == (
        skew.total,
        skew.expired,
        skew.future,
    )
    assert fold.counts.result().rows == len(hosts)


def test_summary_csv_is_the_fold(lab_scan: Any) -> None:
    written = pd.read_csv(lab_scan.out / "summary.csv", keep_default_na=False)
    hosts = pq.read_table(lab_scan.out / "hosts.parquet").to_pandas()
    expected = summarise(hosts, list(dict.fromkeys(["default", *_stores(lab_scan)])))
    got = written[written["kind"] != "names"].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def _stores(lab_scan: Any) -> list[str]:
    import json

    meta = json.loads((lab_scan.out / "scan.json").read_text())
    return [s["name"] for s in meta["trust_stores"]]


def test_the_fold_needs_no_pandas(lab_scan: Any) -> None:
    """The end of a scan summarises without pandas' DataFrames (their slices cost 26 MiB at
    200,000 hosts against 15 at 20,000): the fold runs in a child that cannot import pandas."""
    code = (
        "import sys; sys.modules['pandas'] = None\n"
        "from scanner.analysis.fold import FOLD_COLUMNS, SummaryFold\n"
        "from scanner.store import files\n"
        "fold = SummaryFold(stores=['default'])\n"
        f"for c, leaf in files.iter_table_lists({str(lab_scan.out / 'hosts.parquet')!r}, "
        "FOLD_COLUMNS):\n"
        "    fold.add(c, leaf)\n"
        "print(sum(h for k, n, h, s in fold.rows() if k == 'status'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == lab_scan.hosts.num_rows
