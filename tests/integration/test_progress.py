"""Progress on long runs: plain lines on stderr when stdout is not a terminal (cron logs), none
with --quiet or --progress-every 0. A real scan of lab servers in a child process."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from scanner.testing.lab import Lab

LINE = re.compile(
    r"^progress: (\d+)/(\d+) \((\d+\.\d)%\), (\d+) failed, \d+ hosts/s, ETA \S+$", re.M
)


def scan(lab: Lab, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    valid, refused = lab.scenario("valid"), lab.scenario("refused")
    rows = [f"h{i}.progress.test,{valid.port},127.0.0.1" for i in range(30)]
    rows += [f"r{i}.progress.test,{refused.port},127.0.0.1" for i in range(5)]
    tmp.mkdir(parents=True, exist_ok=True)
    inp = tmp / "hosts.csv"
    inp.write_text("host,port,ip\n" + "\n".join(rows) + "\n")
    ca = tmp / "ca.pem"
    ca.write_bytes(lab.ca_pem)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "scanner",
            "scan",
            str(inp),
            "--out",
            str(tmp / "out"),
            "--as-of",
            lab.as_of.isoformat(),
            "--ca-bundle",
            str(ca),
            "--timeout",
            "2",
            "--concurrency",
            "5",
            "--allow-private-fetch",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_plain_progress_lines_when_not_a_terminal(lab: Lab, tmp_path: Path) -> None:
    result = scan(lab, tmp_path, "--progress-every", "0.001")
    assert result.returncode == 0, result.stderr
    lines = LINE.findall(result.stderr)
    assert len(lines) >= 2
    done = [int(d) for d, *_ in lines]
    assert done == sorted(done) and all(int(t) == 35 for _, t, *_ in lines)
    last_done, _, share, failed = lines[-1]
    assert (last_done, share, failed) == ("35", "100.0", "5")
    assert "Scanned 35 targets" in result.stdout  # the summary still goes to stdout


def test_quiet_and_zero_interval_print_no_progress(lab: Lab, tmp_path: Path) -> None:
    quiet = scan(lab, tmp_path / "a", "--quiet")
    off = scan(lab, tmp_path / "b", "--progress-every", "0")
    for result in (quiet, off):
        assert result.returncode == 0, result.stderr
        assert not LINE.search(result.stderr)
    assert quiet.stdout == ""
