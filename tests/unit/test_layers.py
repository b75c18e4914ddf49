"""The layering is checked, not hoped for: no import cycles between modules (import-linter's
layers contract, run by `make lint`, covers the direction between packages), and the light
entry points stay light."""

from __future__ import annotations

import datetime as dt
import gc
import json
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from scanner.cli.app import COMMANDS
from scanner.testing.lab import Pki

ROOT = Path(__file__).resolve().parents[2]
AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles() -> None:
    graph = grimp.build_graph("scanner")
    assert len(graph.modules) > 40
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for m in ("a", "b", "c"):
        graph.add_module(m)
    graph.add_import(importer="a", imported="b")
    graph.add_import(importer="b", imported="a")
    graph.add_import(importer="b", imported="c")
    assert _cycles(graph) == [["a", "b"]]


LOAD_ONLY = """
import asyncio.sslproto, json, sys
before = asyncio.sslproto.SSLProtocol.max_size
import scanner
try:
    scanner.load(sys.argv[1])
except scanner.errors.ScanFolderError:
    pass
print(json.dumps({
    "modules": sorted(
        m for m in sys.modules if m.startswith(("scanner.", "httpx", "dns", "anyio", "jinja2"))
    ),
    "max_size_kept": asyncio.sslproto.SSLProtocol.max_size == before,
}))
"""


def test_import_scanner_and_load_stay_off_the_network_stack(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", LOAD_ONLY, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    seen = json.loads(run.stdout)
    assert "scanner.store.load" in seen["modules"]  # the load ran
    heavy = [
        m
        for m in seen["modules"]
        if m.startswith(
            ("scanner.net", "scanner.run", "scanner.cli", "httpx", "dns", "anyio", "jinja2")
        )
    ]
    assert heavy == []
    assert seen["max_size_kept"] is True


# The entry point, run as `scanner ...`, writing what it imported to a file.
COMMAND = """
import json, sys
out, sys.argv = sys.argv[1], ["scanner", *sys.argv[2:]]
from scanner.cli.main import main
code = None
try:
    main()
except SystemExit as e:
    code = e.code
with open(out, "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""
# What a command that does not need them must not pay for at start-up (each costs 40 ms to
# 0.3 s; pydantic is what typer 0.29 would load to parse the options).
HEAVY = (
    "pandas",
    "pyarrow",
    "rich",
    "pydantic",
    "anyio",
    "httpx",
    "dns",
    "fsspec",
    "trio",
    "jinja2",  # the HTML report's, loaded when a report is rendered
)


def _imported(tmp_path: Path, *args: str) -> tuple[int, list[str]]:
    out = tmp_path / "imported.json"
    subprocess.run(
        [sys.executable, "-c", COMMAND, str(out), *args],
        capture_output=True,
        check=True,
        cwd=ROOT,
        timeout=60,
    )
    seen = json.loads(out.read_text())
    return seen["code"], seen["modules"]


def _heavy(modules: list[str]) -> list[str]:
    scan = ("scanner.run.runner", "scanner.run.driver", "scanner.run.resume", "scanner.run.report")
    return [m for m in modules if m.split(".")[0] in HEAVY or m.startswith(scan)]


def test_help_imports_no_heavy_package(tmp_path: Path) -> None:
    """`scanner --help` lists every command (each command's module is imported for its
    summary line) without loading pandas, rich, the network stack or cryptography."""
    code, modules = _imported(tmp_path, "--help")
    assert code == 0
    assert {"scanner.cli.scan", "scanner.cli.check", "scanner.cli.reports"} <= set(modules)
    assert _heavy(modules) == []
    assert not any(m.startswith("cryptography") for m in modules)


def test_version_imports_no_command(tmp_path: Path) -> None:
    """`scanner --version` answers from the installed distribution's metadata, before any
    command's module, the network stack or cryptography is loaded."""
    code, modules = _imported(tmp_path, "--version")
    assert code == 0
    assert not [m for m in modules if m in COMMANDS.values()]
    assert _heavy(modules) == []
    assert not any(m.startswith(("cryptography", "scanner.x509", "scanner.run")) for m in modules)


def test_check_imports_only_what_it_uses(tmp_path: Path) -> None:
    """`scanner check` of one chain loads its own command and the diagnosis, not the other
    commands, the scan runner, pandas or rich (it prints through click)."""
    pki = Pki.create(AS_OF)
    chain, ca = tmp_path / "chain.pem", tmp_path / "ca.pem"
    chain.write_bytes(pki.leaf(["startup.test"]).pem + pki.intermediate.pem)
    ca.write_bytes(pki.root.pem)
    args = ["check", str(chain), "--host", "startup.test", "--ca-bundle", str(ca)]
    code, modules = _imported(tmp_path, *args, "--as-of", AS_OF.isoformat())
    assert code == 0
    assert "scanner.x509.diagnose" in modules  # the check ran
    commands = ("scanner.cli.scan", "scanner.cli.reports", "scanner.cli.demo")
    others = [m for m in modules if m in commands]
    assert others == []
    assert _heavy(modules) == []


def test_settle_freezes_only_in_the_scanner_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """`settle` (called by scan and demo once their imports are done) freezes what the process
    has built only when the process is the `scanner` command (`main` marks it): in a test or a
    notebook a frozen object's cycles would never be collected."""
    from scanner.cli import app

    before = gc.get_freeze_count()
    app.settle()
    assert gc.get_freeze_count() == before
    monkeypatch.setattr(app, "_own_process", True)
    try:
        app.settle()
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()


def test_scan_runner_defers_pandas_past_the_first_connection() -> None:
    """A scan imports pandas (a quarter of a second) for its end-of-scan summary, not before
    its first connection: importing the runner and the store must not load it."""
    code = "import sys, scanner.run.runner; print('pandas' in sys.modules)"
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert run.stdout.strip() == "False"
