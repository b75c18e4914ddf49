"""How an option is declared (`option`: an `Option` in a dataclass field's metadata) and how
what a surface gives is validated (`parse_options`, and the parsers the declarations name).
Pure and light: the CLI builds its parameters from the declarations at start-up."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from scanner.errors import UsageError
from scanner.inputs import options as values
from scanner.inputs.targets import Shard
from scanner.model.types import Addresses
from scanner.store.location import path_or_url

Surface = Literal["cli", "api"]  # the command line, or keyword arguments from Python
Parse = Callable[[Any], Any]  # a value as a surface gives it -> the field's; UsageError(reason)


def _same(value: Any) -> Any:
    return value


_BY_DEFAULT: Any = object()  # `Option.given` when the field's default decides


@dataclass(frozen=True, slots=True, kw_only=True)
class Option:
    """One option's declaration, carried in its field's metadata (see `option`)."""

    help: str
    # Changes what a host is judged (or which hosts are scanned): a resume refuses a change, and
    # the shards of one run must agree on it. False: only how fast or by which route hosts are
    # reached (or not recorded at all).
    verdict: bool
    parse: Parse = _same  # validation and conversion, for every surface alike
    # Where a surface leaves it out: the field's default unless that is not a plain value (then
    # None, which `parse` reads as the default); `given` overrides that.
    given: Any = _BY_DEFAULT
    cli: bool = True  # a parameter of `scanner scan`
    flags: tuple[str, ...] = ()  # as typed; default `--field-name` (`--name/--no-name` for a bool)
    cli_type: Any = None  # what typer parses when not the default's type (the item when repeatable)
    repeatable: bool = False  # the CLI takes it many times (a list)
    negatable: bool = True  # a bool has its `--no-` form too
    metavar: str | None = None
    hidden: bool = False
    argument: bool = False  # positional on the command line
    api: bool = True  # a keyword of `scanner.scan` / `scan_async`
    record: str | None = ""  # its key in scan.json's options ("" the field's name, None: none)
    to_record: Callable[[Any], object] = _same  # its value there (JSON)
    refused_as: str | None = None  # how a refused resume names it, when not `--record-key`


def option(default: Any = MISSING, *, help: str, verdict: bool, **more: Any) -> Any:
    """A field of an options dataclass with its declaration: `Option`'s fields as keywords
    (an unknown one fails at import). Every option says whether it changes verdicts."""
    declaration = Option(help=help, verdict=verdict, **more)
    return field(default=default, metadata={"option": declaration})


def declared(cls: type) -> tuple[tuple[Field[Any], Option], ...]:
    """The declared fields of an options dataclass, in order, with their declarations."""
    return tuple((f, f.metadata["option"]) for f in fields(cls) if "option" in f.metadata)


def flag_name(f: Field[Any], o: Option) -> str:
    """The option as the command line spells it (`--aia/--no-aia` for a negatable bool)."""
    if o.flags:
        return o.flags[0]
    name = "--" + f.name.replace("_", "-")
    return f"{name}/--no-{name[2:]}" if isinstance(f.default, bool) and o.negatable else name


def surface_default(f: Field[Any], o: Option) -> Any:
    """What a surface that leaves the option out passes to `parse` (MISSING: it is required)."""
    if o.given is not _BY_DEFAULT:
        return o.given
    if f.default is MISSING or isinstance(f.default, bool | int | float | str):
        return f.default
    return None


def api_default(f: Field[Any], o: Option) -> Any:
    """The default a Python signature shows."""
    return o.given if o.given is not _BY_DEFAULT else f.default


def label(f: Field[Any], o: Option, surface: Surface) -> str:
    return flag_name(f, o).split("/")[0] if surface == "cli" else f.name


def parse_options(cls: type, given: Mapping[str, Any], surface: Surface) -> dict[str, Any]:
    """The field values of `cls` from what `surface` gave (keyed by field name), each
    validated by its declaration; fields not on the surface keep their defaults. Raises
    UsageError naming the option as the surface spells it."""
    on_surface = {f.name: (f, o) for f, o in declared(cls) if getattr(o, surface)}
    unknown = sorted(set(given) - set(on_surface))
    if unknown:
        raise UsageError(
            f"unknown option(s) {', '.join(unknown)}; expected {', '.join(sorted(on_surface))}"
        )
    parsed: dict[str, Any] = {}
    for name, (f, o) in on_surface.items():
        raw = given.get(name, surface_default(f, o))
        if raw is MISSING:
            raise UsageError(f"{label(f, o, surface)}: required")
        try:
            parsed[name] = o.parse(raw)
        except UsageError as e:
            reason = str(e).removeprefix(f"{f.name}: ")
            flag = label(f, o, "cli")
            message = reason if reason.startswith(flag) else f"{label(f, o, surface)}: {reason}"
            raise UsageError(message) from None
    return parsed


# --- parsers: a value as the CLI or Python gives it -> the field's value ----------------------


def _number(value: Any, whole: bool) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) if whole else isinstance(value, int | float)


def whole(low: int, high: int | None = None, *, optional: bool = False) -> Parse:
    """A whole number from `low` (to `high`); None too when `optional`."""
    span = f"from {low} to {high}" if high is not None else f">= {low}"
    bounds = f"{low}<=x<={high}" if high is not None else f"x>={low}"

    def parse(value: Any) -> int | None:
        if value is None and optional:
            return None
        if not _number(value, True) or value < low or (high is not None and value > high):
            raise UsageError(f"expected a whole number {span}, not {value!r}")
        return int(value)

    parse.bounds = bounds  # type: ignore[attr-defined]
    return parse


def seconds(low: float) -> Parse:
    def parse(value: Any) -> float:
        if not _number(value, False) or value < low:
            raise UsageError(f"expected a number of seconds >= {low:g}, not {value!r}")
        return float(value)

    parse.bounds = f"x>={low:g}"  # type: ignore[attr-defined]
    return parse


def switch(value: Any) -> bool:
    if not isinstance(value, bool):
        raise UsageError(f"expected True or False, not {value!r}")
    return value


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise UsageError(f"expected text, not {value!r}")
    return value


def choice(choices: Sequence[str]) -> Parse:
    """One of `choices`, in any case."""

    def parse(value: Any) -> str:
        if not isinstance(value, str) or value.lower() not in choices:
            raise UsageError(f"{value!r} is not one of {', '.join(choices)}")
        return value.lower()

    return parse


def to_location(value: Any) -> Path | str:
    """A local path, or a URL kept as text."""
    if isinstance(value, Path):
        return value
    return path_or_url(text(value))


def _path(value: Any) -> Path:
    if not isinstance(value, str | os.PathLike):
        raise UsageError(f"expected a file path, not {value!r}")
    return Path(value)


def to_path_or_none(value: Any) -> Path | None:
    return None if value is None else _path(value)


def _many(value: Any) -> Iterable[Any]:
    """A repeatable option's values: None none, one text one, else an iterable of them."""
    if value is None:
        return ()
    if isinstance(value, str | os.PathLike):
        return (value,)
    if isinstance(value, Mapping) or not isinstance(value, Iterable):
        raise UsageError(f"expected a list, not {value!r}")
    return value


def to_paths(value: Any) -> tuple[Path, ...]:
    return tuple(_path(v) for v in _many(value))


def to_instant(value: Any) -> dt.datetime:
    """ISO 8601 text (UTC unless given) or an aware datetime; None is now (read here, the edge)."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        raise UsageError("a datetime must be timezone-aware (or ISO 8601 text, read as UTC)")
    return values.parse_as_of(value, now=dt.datetime.now(dt.UTC))


def to_nameservers(value: Any) -> tuple[tuple[str, int], ...]:
    """`IP[:PORT]` texts or (ip, port) pairs."""
    return tuple(values.parse_nameserver(v) for v in _many(value))


def _named(value: Any) -> Iterable[Any]:
    """`NAME=FILE` texts as given, or those of a mapping of name to file path, in order."""
    if isinstance(value, Mapping):
        return [f"{n}={p}" for n, p in value.items()]
    return _many(value)


def to_trust_stores(value: Any) -> tuple[tuple[str, Path], ...]:
    """`NAME=PEM` texts, or a mapping of name to PEM path, in order."""
    from scanner.store.trust import parse_trust_store

    return tuple(parse_trust_store(text(t)) for t in _named(value))


def to_root_programs(value: Any) -> tuple[tuple[str, Path], ...]:
    """`NAME=FILE` texts, or a mapping of name to file path, in order."""
    from scanner.store.programs import parse_root_program

    return tuple(parse_root_program(text(t)) for t in _named(value))


def to_addresses(value: Any) -> Addresses:
    return Addresses(choice([a.value for a in Addresses])(value))


def to_shard(value: Any) -> Shard:
    if value is None:
        return Shard(1, 1)
    return value if isinstance(value, Shard) else Shard.parse(text(value))


def resolved(path: Path | None) -> str | None:
    """A path as scan.json records it: absolute."""
    return str(path.resolve()) if path is not None else None
