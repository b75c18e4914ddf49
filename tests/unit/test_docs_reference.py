"""The documentation's reference pages are what docs/gen_reference.py writes from the code now
(commands, scan options, findings catalogue): a new option, command, parameter or finding code
fails here until `make docs` has rewritten the pages. Also: every page is in the site's nav,
and what the generator says about findings holds against the catalogue and the scan's options."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from scanner.cli.app import COMMANDS, click_command
from scanner.cli.scan import ScanCommand
from scanner.model.catalogue import CATALOGUE
from scanner.run.options import ScanOptions
from scanner.run.schema import declared, flag_name

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference", DOCS / "gen_reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_reference"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pages(gen: ModuleType) -> dict[str, str]:
    result: dict[str, str] = gen.generate()
    return result


def test_the_committed_reference_pages_are_what_the_code_gives(pages: dict[str, str]) -> None:
    for name, text in pages.items():
        committed = (DOCS / "reference" / name).read_text(encoding="utf-8")
        assert committed == text, f"docs/reference/{name} is stale: run `make docs` and commit it"
    on_disk = {p.name for p in (DOCS / "reference").glob("*.md")}
    assert on_disk == set(pages), "docs/reference/ holds a page the generator does not write"


def test_the_generator_writes_pages_into_a_folder(gen: ModuleType, tmp_path: Path) -> None:
    assert gen.main([str(tmp_path)]) == 0
    for name in ("commands.md", "scan-options.md", "findings.md"):
        assert (tmp_path / name).read_text(encoding="utf-8") == (
            DOCS / "reference" / name
        ).read_text(encoding="utf-8")


# A cell: code spans (where a pipe is the cell's own) and escaped pipes, up to the next pipe.
CELL = re.compile(r"\|((?:`[^`]*`|\\\||[^|`])*)(?=\|)")


def _rows(text: str) -> list[list[str]]:
    """The body rows of every Markdown table of a page (not the headers), as cells."""
    lines = text.splitlines()
    rows = []
    for line, after in zip(lines, [*lines[1:], ""], strict=True):
        if line.startswith("| ") and not line.startswith("| ---") and not after.startswith("| ---"):
            rows.append([c.strip() for c in CELL.findall(line)])
    return rows


def test_every_scan_option_has_a_row_with_its_help(pages: dict[str, str]) -> None:
    rows = {r[0].strip("`").split()[0]: r for r in _rows(pages["scan-options.md"])}
    for cls in (ScanOptions, ScanCommand):
        for f, o in declared(cls):
            if not o.cli or o.hidden:
                hidden_flag = flag_name(f, o).split("/")[0]
                assert hidden_flag not in {k.split("/")[0] for k in rows}, f.name
                continue
            first = f.name if o.argument else flag_name(f, o).split("/")[0]
            key = next(k for k in rows if k.split("/")[0].lower() == first.lower())
            meaning = rows[key][-1]
            assert meaning.startswith(" ".join(o.help.split()).replace("|", "\\|")), f.name
            if cls is ScanOptions:
                assert rows[key][2] == ("yes" if o.verdict else "no"), f.name
                assert (f"Python: `{f.name}`." in meaning) == o.api, f.name


def test_every_command_and_parameter_is_listed(pages: dict[str, str]) -> None:
    text = pages["commands.md"]
    sections = dict(re.findall(r"(?ms)^## (\S+)\n(.*?)(?=^## |\Z)", text))
    assert list(sections) == list(COMMANDS)
    for name in COMMANDS:
        command = click_command(name)
        assert f"scanner {name} " in sections[name]
        names = {r[0].strip("`").split()[0] for r in _rows(sections[name])}
        for p in command.params:
            if getattr(p, "hidden", False):
                continue
            shown = "/".join(p.opts + p.secondary_opts) if p.param_type_name == "option" else None
            if shown is not None:
                assert shown in names, (name, shown)
        assert len(names) == sum(not getattr(p, "hidden", False) for p in command.params), name
        assert "Example:" in sections[name], name


def test_every_finding_code_with_its_severity_meaning_and_remedy(pages: dict[str, str]) -> None:
    rows = {r[0].strip("`"): r for r in _rows(pages["findings.md"])}
    assert set(rows) == {c.value for c in CATALOGUE}
    for c, spec in CATALOGUE.items():
        assert rows[c.value][1:4] == [
            spec.severity.value,
            " ".join(spec.meaning.split()).replace("|", "\\|"),
            " ".join(spec.remedy.split()).replace("|", "\\|"),
        ]


def test_what_produces_a_finding_names_real_options_and_codes_the_lab_sees(
    gen: ModuleType,
) -> None:
    from scanner.testing.scenarios import SCENARIOS

    flags = {
        flag
        for cls in (ScanOptions, ScanCommand)
        for f, o in declared(cls)
        for flag in flag_name(f, o).split("/")
    }
    for code, text in gen.PRODUCED_BY.items():
        assert code in CATALOGUE
        named = re.findall(r"`(--[a-z-]+)", text)
        assert named and set(named) <= flags, (code, named)
    assert not set(gen.PRODUCED_BY) & gen.NOT_YET_IN_SCAN
    # The lab's scan shows what the scan produces: none of it is "not yet run by scan".
    seen = {f for row in SCENARIOS for f in getattr(row, "findings", ())}
    assert seen, "the lab lists no findings"
    assert not seen & {c.value for c in gen.NOT_YET_IN_SCAN}


def test_every_page_is_in_the_nav_and_every_nav_entry_exists() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = set(re.findall(r"^\s+- [^:]+: (\S+\.md)$", config, re.MULTILINE))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert nav == pages
    assert re.search(r"^\s+font: false", config, re.MULTILINE), "no web fonts: the build is offline"
    assert "social" not in config
