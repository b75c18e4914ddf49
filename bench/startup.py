"""How long a command takes to start: `scanner --help` and `scanner check` of one chain, wall
time of the whole process, median of several runs. People run `check` in loops and shells
run `--help` for completions (target: under 0.35 s each on a 2-core machine).

    python -m bench.startup [--runs 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 0.35
AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def _wall(cmd: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(cmd, check=False, capture_output=True, env=env)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    p.add_argument("--runs", type=int, default=7)
    a = p.parse_args(argv)
    from scanner.testing.lab import Pki

    pki = Pki.create(AS_OF)
    with tempfile.TemporaryDirectory() as tmp:
        chain = Path(tmp) / "chain.pem"
        chain.write_bytes(pki.leaf(["startup.test"]).pem + pki.intermediate.pem)
        ca = Path(tmp) / "ca.pem"
        ca.write_bytes(pki.root.pem)
        scanner = [sys.executable, "-m", "scanner"]
        check = [*scanner, "check", str(chain), "--host", "startup.test", "--ca-bundle", str(ca)]
        # Warm the page cache and write the byte-code an installed package has (even where
        # PYTHONDONTWRITEBYTECODE is set, which would otherwise compile every module each run).
        warm = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        _wall([*scanner, "--help"], 1, env=warm)
        _wall([*check, "--as-of", AS_OF.isoformat()], 1, env=warm)
        results = {
            "scanner --help": _wall([*scanner, "--help"], a.runs),
            "scanner check (one chain)": _wall([*check, "--as-of", AS_OF.isoformat()], a.runs),
            "python -c pass (interpreter alone)": _wall([sys.executable, "-c", "pass"], a.runs),
        }
    print(f"start-up wall time, median of {a.runs} runs (target < {TARGET_S} s):")
    for name, seconds in results.items():
        verdict = (
            "" if name.startswith("python") else ("  PASS" if seconds < TARGET_S else "  MISS")
        )
        print(f"  {name:<36} {seconds:6.3f} s{verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
