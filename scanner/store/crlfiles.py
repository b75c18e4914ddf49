"""CRLs supplied as files (`--crl`, DER or PEM): read once, before any fetch, kept as their
lookups need them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from scanner.errors import InputError
from scanner.x509.revocation import Crl, parse_crl

MAX_CRL_FILE = 1024 * 1024 * 1024  # a sanity bound; the largest public CRLs are ~100 MiB


def load_crl_files(paths: Sequence[Path]) -> tuple[Crl, ...]:
    """Each file as a `Crl`; InputError naming the file when one cannot be read as a CRL."""
    out = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_CRL_FILE + 1)
        except OSError as e:
            raise InputError(f"cannot read --crl {path}: {e.strerror or e}") from None
        if len(data) > MAX_CRL_FILE:
            raise InputError(f"--crl {path}: larger than {MAX_CRL_FILE} bytes")
        try:
            out.append(parse_crl(data))
        except ValueError as e:
            raise InputError(f"--crl {path}: not a DER or PEM CRL ({e})"[:300]) from None
    return tuple(out)
