"""uv.lock, which `make install` and CI install from: cryptography_vectors follows
cryptography's release (the vectors test reads files of that release's test suite), so both
are locked at the same version. A pure read of the file."""

from __future__ import annotations

import tomllib
from pathlib import Path

LOCK = Path(__file__).resolve().parents[2] / "uv.lock"


def locked() -> dict[str, list[str]]:
    with open(LOCK, "rb") as f:
        packages = tomllib.load(f)["package"]
    versions: dict[str, list[str]] = {}
    for p in packages:
        versions.setdefault(p["name"], []).append(p.get("version", ""))
    return versions


def test_cryptography_and_its_vectors_are_locked_at_one_version() -> None:
    versions = locked()
    assert len(versions["cryptography"]) == 1, versions["cryptography"]
    assert versions["cryptography"] == versions["cryptography-vectors"]
