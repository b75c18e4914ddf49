"""Trust stores from files: a PEM bundle (default Mozilla's roots from certifi) read once."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from scanner.errors import TrustStoreError, UsageError
from scanner.model.types import DEFAULT_STORE
from scanner.x509.certs import TrustStore, load_trust_store
from scanner.x509.stores import NamedStore


def load_trust(path: Path | str | None) -> TrustStore:
    """The trust store in the PEM bundle at `path`; TrustStoreError when it cannot be used."""
    if path is None:
        import certifi

        bundle = Path(certifi.where())
    else:
        bundle = Path(path)
    return _load_file(bundle, "CA bundle")


def _load_file(bundle: Path, what: str) -> TrustStore:
    try:
        pem = bundle.read_bytes()
    except OSError as e:
        raise TrustStoreError(f"cannot read {what} {bundle}: {e.strerror or e}") from None
    return load_trust_store(pem, str(bundle))


# --- several stores (--trust-store NAME=PEM) --------------------------------------------------

_STORE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}\Z")


def parse_trust_store(text: str) -> tuple[str, Path]:
    """`NAME=PEM` -> (name, path). Names are short words (they are written in `trusted_by`);
    `default` is the --ca-bundle store's."""
    return parse_named(text, "--trust-store", "PEM-FILE")


def parse_named(text: str, option: str, file: str) -> tuple[str, Path]:
    """`NAME=FILE` of a named store or program (`option`, `file`: for the message)."""
    name, sep, path = text.partition("=")
    name = name.strip()
    if not sep or not path.strip():
        raise UsageError(f"{option} {text!r}: expected NAME={file}")
    if not _STORE_NAME.match(name):
        raise UsageError(f"{option} {text!r}: a name is 1-40 letters, digits, '_', '.' or '-'")
    if name == DEFAULT_STORE:
        raise UsageError(f"{option} {text!r}: '{DEFAULT_STORE}' is the --ca-bundle store")
    return name, Path(path.strip())


def load_named(specs: Sequence[tuple[str, Path | str]]) -> tuple[NamedStore, ...]:
    """Each named store read once, in option order; TrustStoreError for an unusable one."""
    names = [n for n, _ in specs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"--trust-store: the name {', '.join(twice)} is given more than once")
    return tuple(NamedStore(name, _load_file(Path(path), "trust store")) for name, path in specs)


def describe(name: str, trust: TrustStore) -> dict[str, object]:
    """A store as scan.json records it."""
    return {"name": name, "path": trust.path, "sha256": trust.sha256, "roots": len(trust.roots)}
