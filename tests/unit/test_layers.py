"""The layering is checked, not hoped for: no import cycles between modules (import-linter's
layers contract, run by `make lint`, covers the direction between packages), and the light
entry points stay light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]


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
        m for m in sys.modules if m.startswith(("scanner.", "httpx", "dns", "anyio"))
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
        if m.startswith(("scanner.net", "scanner.run", "scanner.cli", "httpx", "dns", "anyio"))
    ]
    assert heavy == []
    assert seen["max_size_kept"] is True
