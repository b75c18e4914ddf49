"""Running a child process with a deadline and reading its own resource usage (os.wait4)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Usage:
    wall: float  # seconds from spawn to exit
    user: float  # CPU seconds of the child itself
    sys: float
    maxrss_kib: int  # peak resident set of the child (Linux reports KiB)
    returncode: int

    @property
    def cpu(self) -> float:
        return self.user + self.sys


class ChildFailed(RuntimeError):
    pass


def pinned(argv: Sequence[str], core: int | None) -> list[str]:
    """`taskset -c CORE argv` where taskset exists (it execs, so the pid stays the child's)."""
    if core is None:
        return list(argv)
    return ["taskset", "-c", str(core), *argv]


def run_measured(
    argv: Sequence[str],
    *,
    timeout: float,
    log: Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Usage:
    """Run to completion; kill its process group past `timeout`. Output goes to `log`."""
    with open(log, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=env,
            start_new_session=True,  # its own group, so a hung child and its children can go
        )
        try:
            while True:
                pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
                if pid == proc.pid:
                    wall = time.perf_counter() - start
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    break
                if time.perf_counter() - start > timeout:
                    _kill_group(proc)
                    raise ChildFailed(f"{argv[0]}... did not finish within {timeout:.0f} s")
                time.sleep(0.02)
        except BaseException:
            if proc.returncode is None:
                _kill_group(proc)
            raise
    usage = Usage(
        wall=wall,
        user=ru.ru_utime,
        sys=ru.ru_stime,
        maxrss_kib=ru.ru_maxrss,
        returncode=proc.returncode,
    )
    if usage.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise ChildFailed(f"exit {usage.returncode}: {' '.join(argv)}\n{tail}")
    return usage


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
