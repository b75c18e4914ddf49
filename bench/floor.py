"""The floor: the least a scanner must do per host, with stdlib asyncio's SSL transport.

Each host: connect, handshake (SNI, verification off), take the chain as sent, parse it,
validate it with cryptography's Web PKI verifier against the trust store, and write one Parquet
row. No diagnosis, no findings, no summary: what is left is the price of Python + OpenSSL +
cryptography per host, which the scanner is measured against.

    python -m bench.floor HOSTS.csv OUT.parquet --ca-bundle CA.pem --concurrency 200
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import hashlib
import ssl
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from cryptography import x509
from cryptography.x509 import verification

from scanner.net.handshake import unverified_chain

SCHEMA = pa.schema(
    [
        ("host", pa.string()),
        ("ok", pa.bool_()),
        ("error", pa.string()),
        ("tls_version", pa.string()),
        ("cipher", pa.string()),
        ("chain_length", pa.int32()),
        ("leaf_sha256", pa.string()),
        ("trusted", pa.bool_()),
        ("rejection", pa.string()),
    ]
)
BATCH_ROWS = 2000


class _Discard(asyncio.Protocol):
    def data_received(self, data: bytes) -> None:
        pass


def _context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _validate(
    chain: tuple[bytes, ...], host: str, store: verification.Store, as_of: dt.datetime
) -> str | None:
    certs = [x509.load_der_x509_certificate(d) for d in chain]
    verifier = (
        verification.PolicyBuilder()
        .store(store)
        .time(as_of)
        .build_server_verifier(x509.DNSName(host))
    )
    try:
        verifier.verify(certs[0], certs[1:])
    except verification.VerificationError as e:
        return str(e)
    return None


async def _one(
    host: str,
    ip: str,
    port: int,
    ctx: ssl.SSLContext,
    store: verification.Store,
    as_of: dt.datetime,
    seconds: float,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    row: dict[str, Any] = {"host": host, "ok": False}
    try:
        async with asyncio.timeout(seconds):
            transport, _ = await loop.create_connection(
                _Discard, ip, port, ssl=ctx, server_hostname=host
            )
    except (OSError, TimeoutError, ssl.SSLError) as e:
        row["error"] = f"{type(e).__name__}: {e}"
        return row
    try:
        obj = transport.get_extra_info("ssl_object")
        chain = unverified_chain(obj)
        cipher = obj.cipher()
        row.update(tls_version=obj.version(), cipher=cipher[0] if cipher else None)
    finally:
        transport.abort()  # as the scanner does: no close_notify round trip
    rejection = _validate(chain, host, store, as_of)
    row.update(
        ok=True,
        chain_length=len(chain),
        leaf_sha256=hashlib.sha256(chain[0]).hexdigest(),
        trusted=rejection is None,
        rejection=rejection,
    )
    return row


async def scan(
    rows: Iterable[tuple[str, str, int]],
    out: Path,
    roots: list[x509.Certificate],
    concurrency: int,
    as_of: dt.datetime,
    seconds: float,
) -> tuple[int, int]:
    store = verification.Store(roots)
    ctx = _context()
    sem = asyncio.Semaphore(concurrency)
    writer = pq.ParquetWriter(out, SCHEMA, compression="zstd")
    buffer: list[dict[str, Any]] = []
    ok = trusted = 0

    async def task(host: str, ip: str, port: int) -> None:
        nonlocal ok, trusted
        try:
            row = await _one(host, ip, port, ctx, store, as_of, seconds)
        finally:
            sem.release()
        ok += row["ok"]
        trusted += bool(row.get("trusted"))
        buffer.append(row)
        if len(buffer) >= BATCH_ROWS:
            writer.write_batch(pa.RecordBatch.from_pylist(buffer, schema=SCHEMA))
            buffer.clear()

    try:
        async with asyncio.TaskGroup() as tg:
            for host, ip, port in rows:
                await sem.acquire()
                tg.create_task(task(host, ip, port))
        if buffer:
            writer.write_batch(pa.RecordBatch.from_pylist(buffer, schema=SCHEMA))
    finally:
        writer.close()
    return ok, trusted


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    p.add_argument("input", type=Path, help="CSV with host, ip, port columns")
    p.add_argument("out", type=Path, help="Parquet file to write")
    p.add_argument("--ca-bundle", type=Path, required=True)
    p.add_argument("--concurrency", type=int, default=200)
    p.add_argument("--as-of", required=True, help="ISO 8601 instant for validation")
    p.add_argument("--timeout", type=float, default=10.0)
    a = p.parse_args(argv)
    as_of = dt.datetime.fromisoformat(a.as_of).astimezone(dt.UTC)
    total = 0

    def rows() -> Iterator[tuple[str, str, int]]:  # streamed, as the scanner reads its input
        nonlocal total
        with open(a.input, newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                total += 1
                yield r["host"], r["ip"], int(r["port"])

    roots = x509.load_pem_x509_certificates(a.ca_bundle.read_bytes())
    ok, trusted = asyncio.run(scan(rows(), a.out, roots, a.concurrency, as_of, a.timeout))
    print(f"floor: {total} hosts, {ok} handshakes, {trusted} trusted")
    return 0 if ok == trusted == total else 1


if __name__ == "__main__":
    sys.exit(main())
