"""`import scanner` as a library: light to import, tab-completable, typed for mypy (py.typed and
real signatures, no `Any`), `check`'s keywords those of `scan`, and the docs' API section
(docs/howto/notebooks.md) held to the signatures."""

from __future__ import annotations

import ast
import inspect
import json
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any, get_type_hints

import pytest

import scanner
from scanner import errors
from scanner.run.options import ScanKeywords, ScanOptions
from scanner.run.schema import api_default, declared

ROOT = Path(__file__).resolve().parents[2]
API = ("load", "scan", "scan_async", "check")

IMPORT_ONLY = """
import json, sys
import scanner
names = dir(scanner)
print(json.dumps({"modules": sorted(sys.modules), "dir": names}))
"""


def test_import_scanner_loads_nothing_heavy_and_dir_lists_the_api() -> None:
    run = subprocess.run(
        [sys.executable, "-c", IMPORT_ONLY],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=60,
    )
    seen = json.loads(run.stdout)
    ours = [m for m in seen["modules"] if m.startswith("scanner")]
    assert ours == ["scanner", "scanner.errors"]
    heavy = ("pandas", "pyarrow", "numpy", "cryptography", "anyio", "httpx", "dns", "ssl")
    assert [m for m in seen["modules"] if m.split(".")[0] in heavy] == []
    # Tab completion offers the lazy names before they are loaded, and no private ones.
    assert set(scanner.__all__) <= set(seen["dir"])
    assert [n for n in seen["dir"] if n.startswith("_") and not n.startswith("__")] == []


def test_the_exports_are_the_real_objects() -> None:
    from scanner.run import api, check
    from scanner.store import load

    assert scanner.load is load.load and scanner.ScanTables is load.ScanTables
    assert scanner.scan is api.scan and scanner.scan_async is api.scan_async
    assert scanner.check is check.check_frame
    error_classes = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.ScannerError)
    }
    assert error_classes <= set(scanner.__all__)
    assert all(getattr(scanner, name) is getattr(errors, name) for name in error_classes)
    with pytest.raises(AttributeError, match="no attribute 'scna'"):
        scanner.scna  # noqa: B018  # type: ignore[attr-defined]


def test_check_takes_scans_options_of_the_same_names() -> None:
    """`check`'s keywords after `host` are options of `scan` in declaration order, each with
    the type `ScanKeywords` gives it and the default the declarations give."""
    home = vars(sys.modules[scanner.check.__module__])  # (the return type is TYPE_CHECKING's)
    params = [
        p.replace(annotation=eval(p.annotation, home))
        for p in inspect.signature(scanner.check).parameters.values()
    ]
    assert [(p.name, p.kind) for p in params[:2]] == [
        ("chain", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        ("host", inspect.Parameter.KEYWORD_ONLY),
    ]
    options = params[2:]
    order = [f.name for f, o in declared(ScanOptions) if o.api]
    names = [p.name for p in options]
    assert names == sorted(names, key=order.index)  # a subset, in the declared order
    types = get_type_hints(ScanKeywords)
    defaults = {f.name: api_default(f, o) for f, o in declared(ScanOptions)}
    for p in options:
        assert p.kind is inspect.Parameter.KEYWORD_ONLY
        assert p.annotation == types[p.name], p.name
        assert p.default == defaults[p.name], p.name


def test_py_typed_is_package_data() -> None:
    assert (ROOT / "scanner" / "py.typed").is_file()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["scanner"]


# --- the docs' API section --------------------------------------------------------------------


def _docs_api() -> dict[str, ast.arguments]:
    """The signatures of the docs' API block, by function name, parsed as Python."""
    text = (ROOT / "docs" / "howto" / "notebooks.md").read_text(encoding="utf-8")
    block = text.split("## API", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    found = {}
    for line in block.splitlines():
        match = re.fullmatch(r"(?:await )?scanner\.(\w+)\((.*)\) -> .+", line)
        assert match, line
        name, params = match.groups()
        tree = ast.parse(f"def {name}({params}): pass")
        function = tree.body[0]
        assert isinstance(function, ast.FunctionDef)
        found[name] = function.args
    return found


def test_the_docs_api_section_matches_the_signatures() -> None:
    """Each function of the docs' API block has its real parameters: names, kinds and
    defaults (`**options` standing for the declared options)."""
    documented = _docs_api()
    assert sorted(documented) == sorted(API)
    for name, args in documented.items():
        real = list(inspect.signature(getattr(scanner, name)).parameters.values())
        positional = [a.arg for a in args.args]
        assert positional == [
            p.name for p in real if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        ], name
        keyword_only = [p for p in real if p.kind is inspect.Parameter.KEYWORD_ONLY]
        if args.kwarg is not None:  # **options: scan's declared options
            assert args.kwarg.arg == "options" and not args.kwonlyargs, name
            assert [p.name for p in keyword_only] == [
                f.name for f, o in declared(ScanOptions) if o.api
            ]
            continue
        assert [a.arg for a in args.kwonlyargs] == [p.name for p in keyword_only], name
        for arg, default, p in zip(args.kwonlyargs, args.kw_defaults, keyword_only, strict=True):
            want: Any = inspect.Parameter.empty if default is None else ast.literal_eval(default)
            assert p.default == want, (name, arg.arg)


# --- mypy, on the package as installed -----------------------------------------------------------

TYPED = """
import datetime as dt
from pathlib import Path

import scanner

AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def nightly(hosts: list[str]) -> scanner.ScanTables:
    return scanner.scan(hosts, concurrency=10, as_of=AS_OF, aia=False, nameservers=["10.0.0.2"])


async def from_async(rows: list[dict[str, object]]) -> scanner.ScanTables:
    return await scanner.scan_async(rows, timeout=2.5, trust_stores={"java": "java.pem"})


def offline(pem: bytes) -> None:
    frame = scanner.check(pem, host="www.example.com", as_of="2026-06-01", warn_days=14)
    print(frame)


def saved(folder: Path) -> scanner.ScanTables:
    try:
        return scanner.load(folder)
    except scanner.ScanFolderError:
        return scanner.load([folder, "s3://bucket/prefix"])


reveal_type(scanner.scan)
reveal_type(scanner.check)
reveal_type(scanner.load)
"""
WRONG = """
import scanner

scanner.scan(["a"], concurrency="x")
scanner.scan(["a"], concurency=3)
scanner.check(b"", hots="a")
scanner.load(3)
scanner.scna(["a"])
"""


def test_mypy_strict_checks_calls_against_the_installed_package(tmp_path: Path) -> None:
    """mypy, run as a user would on their own code (the package found on the interpreter's
    path, so only through py.typed), accepts correct calls with full types and rejects each
    wrong one."""
    (tmp_path / "typed.py").write_text(textwrap.dedent(TYPED), encoding="utf-8")
    (tmp_path / "wrong.py").write_text(textwrap.dedent(WRONG), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary"]
        + ["--cache-dir", str(tmp_path / "cache"), "--python-executable", sys.executable]
        + ["typed.py", "wrong.py"],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the repository: scanner is what is installed
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)},
        timeout=240,
    )
    lines = run.stdout.splitlines()
    typed = [line for line in lines if line.startswith("typed.py")]
    assert [line for line in typed if ": error:" in line] == [], run.stdout + run.stderr
    revealed = [line.split('Revealed type is "', 1)[1] for line in typed if "Revealed" in line]
    assert len(revealed) == 3, run.stdout
    scan, check, load = revealed
    # No Any in the parameters (what a DataFrame is depends on the user having pandas-stubs).
    assert all("Any" not in t.rsplit(" -> ", 1)[0] for t in revealed), revealed
    assert "**options: **TypedDict(scanner.run.options.ScanK" in scan and "ScanTables" in scan
    assert "*, host: str, as_of: datetime.datetime | str | None =" in check
    assert "ScanTables" in load
    errors_by_line = {
        int(line.split(":")[1]): line for line in lines if re.match(r"wrong\.py:\d+: error", line)
    }
    assert sorted(errors_by_line) == [4, 5, 6, 7, 8], run.stdout  # one per wrong call
    assert run.returncode == 1
