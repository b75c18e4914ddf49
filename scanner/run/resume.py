"""A scan's state at its start, and whether a resume may continue it: the record of what
decides its verdicts (the options declared `verdict=True`, the as-of, the trust stores'
contents), the check of a resume against it, and the scan group the shards of one run share."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanner.errors import InputError, UsageError
from scanner.inputs.targets import Deduper, Header
from scanner.run.options import (
    ScanOptions,
    options_record,
    record_defaults,
    refused_names,
    resume_may_change,
    settings,
)
from scanner.run.pipeline import ScanConfig
from scanner.store import files
from scanner.store.location import Location
from scanner.x509.certs import TrustStore
from scanner.x509.ct.logs import LogList
from scanner.x509.stores import NamedStore

if TYPE_CHECKING:  # (loaded with --root-program only)
    from scanner.x509.programs.named import NamedProgram

# Record keys a resume may change (the options declared `verdict=False`); every other key of
# `resume_record` must be equal, or the tables would mix two scans.
RESUME_MAY_CHANGE = resume_may_change()
# What a record written before an option existed stands for.
_DEFAULTS = record_defaults()
_NONE = object()
# How a refused key is named to the user, when it is not `--` + the key with dashes.
_OPTION_NAMES = {
    **refused_names(),
    "trust_store_sha256": "--ca-bundle (the trust store's contents, by SHA-256)",
    "trust_stores_sha256": "--trust-store (each store's name and contents, by SHA-256)",
    "root_programs_sha256": "--root-program (each program's name and contents, by SHA-256)",
    "ct_logs_sha256": "--ct-logs (the log list's contents, by SHA-256)",
    "caa_identifiers_sha256": "--caa-identifiers (the file's contents, by SHA-256)",
}


def input_name(path: Path | str) -> str:
    """The input as scan.json records it: an absolute path, or the URL as given."""
    return str(path.resolve()) if isinstance(path, Path) else path


def resume_record(
    o: ScanOptions,
    trust: TrustStore,
    stores: tuple[NamedStore, ...] = (),
    programs: tuple[NamedProgram, ...] = (),
    log_list: LogList | None = None,
    caa_sha256: str | None = None,
) -> dict[str, Any]:
    """The options as recorded in the state at scan start, with what else decides a verdict:
    the as-of instant and the contents of the trust stores, root programs and log list."""
    record = {
        **options_record(o),
        "as_of": o.as_of.isoformat(),
        "trust_store_sha256": trust.sha256,
    }
    if stores:  # (absent without --trust-store, as in scans from before the option)
        record["trust_stores_sha256"] = {s.name: s.trust.sha256 for s in stores}
    if programs:  # (absent without --root-program, as in scans from before the option)
        record["root_programs_sha256"] = {p.name: p.program.sha256 for p in programs}
    if log_list is not None:
        record["ct_logs_sha256"] = log_list.sha256
    if caa_sha256 is not None:  # (absent without --caa-identifiers)
        record["caa_identifiers_sha256"] = caa_sha256
    return record


def scan_group(input_sha256: str, record: dict[str, Any]) -> str:
    """The identity the `--shard K/N` runs of one scan share: the input's SHA-256, the shard
    count and every verdict-changing option but as-of (shards started without --as-of each
    judge at their own start; `scanner.load` bounds how far apart those may be)."""
    shard = str(record.get("shard", "1/1"))
    skip = RESUME_MAY_CHANGE | {"shard", "as_of"}
    ident = {k: v for k, v in record.items() if k not in skip}
    ident.update(input_sha256=input_sha256, shards=shard.partition("/")[2])
    text = json.dumps(ident, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def check_resumable(
    state: dict[str, Any],
    options: ScanOptions,
    input_sha256: str,
    trust: TrustStore,
    stores: tuple[NamedStore, ...] = (),
    programs: tuple[NamedProgram, ...] = (),
    log_list: LogList | None = None,
    caa_sha256: str | None = None,
) -> None:
    """A resumed scan must scan the same input the same way, or its tables would mix two."""
    if state.get("input_sha256") != input_sha256:
        raise UsageError(
            f"cannot resume {options.out}: the input file changed since that scan started"
        )
    before = {**state.get("options", {}), "as_of": state.get("as_of")}
    now = resume_record(options, trust, stores, programs, log_list, caa_sha256)
    for key in sorted(now.keys() | before.keys()):
        if key in RESUME_MAY_CHANGE or before.get(key) == now.get(key):
            continue
        if key not in before and now.get(key) == _DEFAULTS.get(key, _NONE):
            continue  # an option newer than the scan, left at its default
        name = _OPTION_NAMES.get(key, "--" + key.replace("_", "-"))
        raise UsageError(
            f"cannot resume {options.out}: {name} was {before.get(key)!r}, now "
            f"{now.get(key)!r}; resume with the same value (or start again with --overwrite)"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepared:
    """What is known before the first connection: the input read once, the trust stores and
    CRL files loaded, the output folder ready and its state (new, or the one being resumed)."""

    options: ScanOptions  # as given, but a resume without --as-of judges at the recorded as-of
    header: Header
    total: int  # targets of this shard, duplicates dropped
    dedupe: Deduper  # the duplicates dropped
    config: ScanConfig  # (its as_of is the options')
    state: dict[str, Any]


def prepare(options: ScanOptions) -> Prepared:
    """Raises a ScannerError before anything is written when the input, the trust store or
    the output folder cannot be used, or a resume would mix two different scans."""
    if options.as_of.tzinfo is None:
        raise UsageError("as_of must be timezone-aware")
    try:
        header, total, dedupe = files.inspect_input(options.input, options.shard, options.encoding)
        input_sha256 = files.file_sha256(options.input)
    except InputError as e:
        raise type(e)(f"{options.input}: {e}") from None
    config = ScanConfig.load(settings(options))
    out = Location.of(options.out)
    state = files.prepare_output(
        out, overwrite=options.overwrite, resume=options.resume, input=options.input
    )
    if state is not None:
        if not options.as_of_given and state.get("as_of"):
            options = replace(options, as_of=dt.datetime.fromisoformat(state["as_of"]))
            config = replace(config, as_of=options.as_of)
        check_resumable(
            state,
            options,
            input_sha256,
            config.trust,
            config.stores,
            config.programs,
            config.log_list,
            config.caa_report.sha256,
        )
    else:
        record = resume_record(
            options,
            config.trust,
            config.stores,
            config.programs,
            config.log_list,
            config.caa_report.sha256,
        )
        state = {
            "scan_id": str(uuid.uuid4()),
            "scan_group": scan_group(input_sha256, record),
            "started": dt.datetime.now(dt.UTC).isoformat(),
            "input": input_name(options.input),
            "input_sha256": input_sha256,
            "as_of": options.as_of.isoformat(),
            "options": {k: v for k, v in record.items() if k != "as_of"},
        }
        files.write_json_atomic(out / files.STATE_FILE, state)
    return Prepared(
        options=options, header=header, total=total, dedupe=dedupe, config=config, state=state
    )
