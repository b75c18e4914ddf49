"""`--help` reads as written paragraphs (docstrings are hard-wrapped in the source; the help
must not break a sentence where the source line ended), and `scanner check` reads at most its
16 MiB cap from any file, a never-ending pipe included."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from scanner.cli.app import command_callbacks

COMMANDS = command_callbacks()


def test_every_command_is_registered() -> None:
    assert set(COMMANDS) == {
        "scan",
        "check",
        "summary",
        "diff",
        "report",
        "forecast",
        "trend",
        "metrics",
        "demo",
    }


def _blocks(text: str) -> list[list[str]]:
    """The help's text as blocks of consecutive non-blank lines (box borders stripped)."""
    blocks: list[list[str]] = [[]]
    for line in text.splitlines():
        line = line.strip().strip("│").strip()
        if line:
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    return [b for b in blocks if b]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_paragraphs_are_not_broken_mid_sentence(
    cli: Callable[[Sequence[Any]], Result], name: str
) -> None:
    """Each docstring paragraph is one block of the help, and a block breaks only where the
    200-column terminal is full, never where the source line ended (at about 95)."""
    result = cli([name, "--help"])  # COLUMNS=200
    assert result.exit_code == 0
    blocks = {" ".join(b): b for b in _blocks(result.stdout)}
    doc = inspect.getdoc(COMMANDS[name]) or ""
    for paragraph in doc.split("\n\n"):
        text = " ".join(paragraph.split())
        assert text in blocks, paragraph
        assert all(len(line) > 150 for line in blocks[text][:-1]), blocks[text]


def test_check_reads_no_more_than_its_cap_from_an_endless_pipe(tmp_path: Path) -> None:
    fifo = tmp_path / "endless.pem"
    os.mkfifo(fifo)
    stop = threading.Event()
    written = [0]

    def feed() -> None:
        chunk = b"A" * (1 << 20)
        try:
            with open(fifo, "wb") as f:
                while not stop.is_set() and written[0] < (1 << 30):  # bounded: 1 GiB at most
                    f.write(chunk)
                    written[0] += len(chunk)
        except BrokenPipeError:
            pass  # the reader closed the pipe: what the test wants

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        run = subprocess.run(
            [sys.executable, "-m", "scanner", "check", str(fifo), "--host", "a.test"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        stop.set()
        writer.join(timeout=10)
    assert run.returncode == 2, run.stderr
    assert "larger than 16 MiB" in run.stderr
    assert written[0] < 64 << 20  # it stopped reading near the cap, not at the end
