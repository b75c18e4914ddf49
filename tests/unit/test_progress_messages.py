"""The progress ETA (`scanner.cli.scan.Pace`, used by the terminal bar and the plain lines):
computed afresh at each report from the hosts done since the first over the time since it,
so it moves while progress stalls and as the shards of a Dask scan report in steps (rich's
own column kept the last estimate until the count moved again). Times are given, not read.
And what a Dask scan says of a shard run again or given up on."""

from __future__ import annotations

import pytest

from scanner.cli.scan import Pace, eta_text
from scanner.inputs.targets import Shard
from scanner.run.cluster import ShardState, aggregate, retry_message


def test_eta_moves_while_progress_stalls() -> None:
    pace = Pace(started=0.0)
    assert pace(0, 100, 0.0) == (None, None)
    assert pace(10, 100, 10.0) == (1.0, 90.0)
    rate, left = pace(10, 100, 20.0)  # nothing new for 10 s: slower, later
    assert rate == 0.5 and left == 180.0
    assert pace(60, 100, 40.0) == (1.5, pytest.approx(40 / 1.5))


def test_hosts_done_before_resume_do_not_count_toward_the_rate() -> None:
    pace = Pace(started=0.0)
    pace(500, 1000, 0.0)
    assert pace(510, 1000, 10.0) == (1.0, 490.0)


def test_eta_of_a_dask_scan_follows_its_shards_as_they_report() -> None:
    """Three shards of 300 hosts; each poll sums what each has reported so far. The ETA
    changes at every poll, including the polls where no shard has anything new."""
    pace = Pace(started=0.0)
    polls = [
        {1: (0, 0), 2: (0, 0), 3: (0, 0)},  # workers starting
        {1: (20, 300), 2: (0, 0), 3: (10, 300)},
        {1: (20, 300), 2: (0, 0), 3: (10, 300)},  # no shard has reported since
        {1: (80, 300), 2: (40, 300), 3: (10, 300)},
        {1: (300, 300), 2: (120, 300), 3: (90, 300)},
    ]
    etas = []
    for t, poll in enumerate(polls):
        states = [ShardState(done, total, 0, 1) for done, total in poll.values()]
        done, total, failed = aggregate(states, 900)
        assert total == 900 and failed == 0
        etas.append(pace(done, total, 5.0 * t)[1])
    assert etas[0] is None and etas[1] is not None
    known = etas[1:]
    assert all(a != b for a, b in zip(known, known[1:], strict=False))
    assert known[1] > known[0] and known[3] < known[2]  # later while stalled, sooner after


def test_eta_text() -> None:
    assert eta_text(None) == "?"
    assert eta_text(3725.4) == "1:02:05"


def test_retry_message_names_the_shard_and_the_cause() -> None:
    died = retry_message(Shard(2, 4), ShardState(attempt=2), checkpointed=120)
    assert died == (
        "shard 2/4: the worker running it died (attempt 1); Dask is running it again "
        "(attempt 2), resuming from its checkpoints (120 host(s) done before)"
    )
    raised = retry_message(Shard(1, 4), ShardState(attempt=3, before="OSError"))
    assert raised.startswith("shard 1/4: attempt 2 failed (OSError); Dask is running it again")


def test_a_shard_given_up_on_is_named_with_dasks_reason() -> None:
    """Dask's own `KilledWorker` (its last worker a stand-in with the one attribute its
    message reads): the shard, that every allowed attempt died, and Dask's words."""
    from types import SimpleNamespace

    from distributed import KilledWorker

    from scanner.run.cluster import killed_message

    error = KilledWorker("scan-shard-3-of-4-x", SimpleNamespace(address="tcp://10.0.0.9:1"), 3)
    message = killed_message(Shard(3, 4), error)
    assert message.startswith("shard 3/4: its worker died on every attempt Dask allows")
    assert "KilledWorker" in message and "tcp://10.0.0.9:1" in message
