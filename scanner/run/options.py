"""What a scan is asked to do: the options of `scanner scan` as one frozen value. Light to
import (the CLI builds it before loading the scan machinery)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scanner.inputs.targets import Shard
from scanner.model.types import Addresses

ProgressFn = Callable[[int, int, int], None]  # (done, total, failed)
NotifyFn = Callable[[str], None]  # a message for the person running the scan, at once


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanOptions:
    input: Path | str  # a local path, or a URL (s3://, https://...)
    out: Path | str  # a local folder, or a URL of object storage (s3://bucket/prefix)
    as_of: dt.datetime
    # False when as_of is the default ("now"): a resume then judges at the instant recorded
    # when the scan started, and only an as_of given on purpose must equal it.
    as_of_given: bool = True
    ca_bundle: Path | None = None
    timeout: float = 10.0
    concurrency: int = 100
    warn_days: int = 30
    aia: bool = True
    aia_timeout: float = 5.0
    nameservers: tuple[tuple[str, int], ...] = ()
    per_ip: int | None = None
    revocation: bool = True
    crl_files: tuple[Path, ...] = ()
    crl_max_bytes: int = 20 * 1024 * 1024
    allow_private_fetch: bool = False
    addresses: Addresses = Addresses.FIRST
    starttls: str = "auto"  # `auto`, `none` or a StartTls value (scanner.net.starttls.CHOICES)
    shard: Shard = Shard(1, 1)
    overwrite: bool = False
    resume: bool = False
    checkpoint_rows: int = 2000
    checkpoint_seconds: float = 5.0
    encoding: str = "utf-8"  # of the input file
    protocols: bool = False  # probe TLS 1.0-1.3 and static-RSA key exchange per host
    trust_stores: tuple[tuple[str, Path], ...] = ()  # --trust-store NAME=PEM, in order
