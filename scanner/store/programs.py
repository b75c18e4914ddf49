"""Root programs (--root-program NAME=FILE) and the CT log list (--ct-logs FILE) read once
from their files, in the formats browsers publish them; nothing is fetched."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from scanner.errors import UsageError
from scanner.store.trust import parse_named

if TYPE_CHECKING:  # the parsers load with --root-program and --ct-logs, not with every scan
    from cryptography import x509

    from scanner.x509.certs import TrustStore
    from scanner.x509.ct.logs import LogList
    from scanner.x509.programs.named import NamedProgram
    from scanner.x509.stores import NamedStore


def parse_root_program(text: str) -> tuple[str, Path]:
    """`NAME=FILE` -> (name, path). Names are short words (written in `trusted_by` and
    `distrusted_by`); `default` is the --ca-bundle store's."""
    return parse_named(text, "--root-program", "FILE")


def _read(path: Path, cap: int, what: str) -> bytes:
    from scanner.x509.programs import RootProgramError

    try:
        with open(path, "rb") as f:
            return f.read(cap + 1)  # never more than the cap (the parser refuses more)
    except OSError as e:
        raise RootProgramError(f"cannot read {what} {path}: {e.strerror or e}") from None


def load_programs(
    specs: Sequence[tuple[str, Path]],
    *,
    known: Iterable[x509.Certificate],
    taken: Iterable[str] = (),
) -> tuple[NamedProgram, ...]:
    """Each program read once, in option order, its anchors found among its own certificates,
    the other programs' and `known` (the scan's stores). `taken`: the --trust-store names.
    RootProgramError (a TrustStoreError) for a file that is not a root program."""
    if not specs:
        return ()
    from scanner.x509.programs import MAX_BYTES, read_program
    from scanner.x509.programs.named import certificates_of, named

    names = [n for n, _ in specs]
    twice = sorted({n for n in names if names.count(n) > 1} | (set(names) & set(taken)))
    if twice:
        raise UsageError(f"--root-program: the name {', '.join(twice)} is given more than once")
    programs = [
        (name, read_program(_read(path, MAX_BYTES, "root program"), source=str(path)))
        for name, path in specs
    ]
    pool = [c for _, p in programs for c in certificates_of(p)] + list(known)
    return tuple(named(name, program, pool) for name, program in programs)


def load_judged_programs(
    specs: Sequence[tuple[str, Path]], trust: TrustStore, stores: Sequence[NamedStore]
) -> tuple[NamedProgram, ...]:
    """`load_programs` as scan and check judge them: anchors found in the --ca-bundle store and
    the --trust-store stores too, names apart from those stores'."""
    return load_programs(
        specs,
        known=[*trust.roots, *(r for s in stores for r in s.trust.roots)],
        taken=[s.name for s in stores],
    )


def load_log_list(path: Path | None) -> LogList | None:
    """The log list at `path` (None: no --ct-logs). LogListError for anything else."""
    if path is None:
        return None
    from scanner.x509.ct.logs import MAX_LOG_LIST_BYTES, LogListError, read_log_list

    try:
        with open(path, "rb") as f:
            data = f.read(MAX_LOG_LIST_BYTES + 1)
    except OSError as e:
        raise LogListError(f"cannot read log list {path}: {e.strerror or e}") from None
    return read_log_list(data, source=str(path))


def describe_program(name: str, p: NamedProgram, path: Path) -> dict[str, object]:
    """A program as scan.json records it."""
    newest = p.program.newest_date
    return {
        "name": name,
        "path": str(path.resolve()),
        "sha256": p.program.sha256,
        "kind": p.program.kind.value,
        "anchors": p.program.anchor_count,
        "anchors_known": len(p.trust.roots) if p.trust else 0,
        "newest_date": newest.isoformat() if newest else None,
    }


def describe_log_list(logs: LogList, path: Path) -> dict[str, object]:
    return {
        "path": str(path.resolve()),
        "sha256": logs.sha256,
        "log_list_timestamp": logs.timestamp.isoformat() if logs.timestamp else None,
        "logs": len(logs.logs),
    }


def browser_files(
    specs: Sequence[tuple[str, Path]],
    ct_logs: Path | None,
    programs: Sequence[NamedProgram],
    log_list: LogList | None,
) -> dict[str, object]:
    """scan.json's record of the files browsers' rules came from: each program's SHA-256, kind,
    anchor count and newest date found in it; the log list's SHA-256 and timestamp."""
    paths = dict(specs)
    return {
        "root_programs": [describe_program(p.name, p, paths[p.name]) for p in programs],
        "ct_logs": (
            describe_log_list(log_list, ct_logs)
            if log_list is not None and ct_logs is not None
            else None
        ),
    }
