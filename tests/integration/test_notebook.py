"""examples/fleet-analysis.ipynb runs top to bottom (nbclient, a real kernel) against a fresh
scan of the lab, and answers its three questions with the lab's known answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "fleet-analysis.ipynb"


def cell_text(cell: Any) -> str:
    parts = []
    for output in cell.get("outputs", []):
        assert output["output_type"] != "error", output
        parts.append(output.get("text", ""))
        parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def test_fleet_analysis_notebook_answers_from_a_fresh_scan(
    lab_scan: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit the notebook without outputs"
    )
    monkeypatch.setenv("SCANNER_SCAN_DIR", str(lab_scan.out))
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    answers = {c.source.split("\n", 1)[0]: cell_text(c) for c in code}

    def answer(first_line_start: str) -> str:
        return next(text for line, text in answers.items() if line.startswith(first_line_start))

    assert "as of 2026-06-01 00:00 UTC" in answer("import os")
    # Which teams own expired certificates: payments, for expired.lab.test.
    expired = answer("expired = ")
    assert "payments" in expired and "expired.lab.test" in expired
    assert "platform" not in expired
    # What expires this month: soon.lab.test (10 days), owner 00123; nothing else.
    month = answer("month_end = ")
    assert "soon.lab.test" in month and "00123" in month
    assert "valid.lab.test" not in month and "expired.lab.test" not in month
    # Which intermediate is missing where.
    missing = answer("missing = ")
    assert "CN=Scanner Lab Intermediate CA" in missing and "incomplete.lab.test" in missing
