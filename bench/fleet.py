"""`python -m bench.fleet`: client CPU of the scanner for every address of a name and for
STARTTLS, against the lab's servers on loopback (no nginx needed).

    python -m bench.fleet [--names 1000] [--concurrency 100] [--runs 1]

- direct/first: names of three addresses (127.0.0.1-3, lab DNS), one row each (`first`)
- direct/all: the same names with `--addresses all`: three rows each; CPU per name and per row
- tls: one address, TLS at once (the baseline of the next line)
- smtp: one address, SMTP STARTTLS (greeting, EHLO, STARTTLS) before the same handshake

The servers run in this process (a thread); the scanner runs as a child whose own user+sys
CPU is measured. Writes bench/results/fleet-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from bench.proc import ChildFailed, run_measured
from scanner.model.types import StartTls
from scanner.testing import starttls as lab_starttls
from scanner.testing.lab import LOOPBACK, Lab, _tls_handler

AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
RESULTS = Path(__file__).resolve().parent / "results"


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["host", "port", "ip", "starttls"])
        w.writeheader()
        w.writerows(rows)
    return path


def _scan(
    inp: Path, out: Path, lab: Lab, ca: Path, concurrency: int, rows: int, *extra: str
) -> dict[str, float]:
    host, port = lab.dns_address
    argv = [
        sys.executable,
        "-m",
        "scanner",
        "scan",
        str(inp),
        "--out",
        str(out),
        "--quiet",
        "--as-of",
        AS_OF.isoformat(),
        "--ca-bundle",
        str(ca),
        "--nameserver",
        f"{host}:{port}",
        "--concurrency",
        str(concurrency),
        "--no-aia",
        *extra,
    ]
    usage = run_measured(argv, timeout=600, log=out.with_suffix(".log"))
    status = pq.read_table(out / "hosts.parquet", columns=["status"]).column("status")
    ok = status.to_pylist().count("ok")
    if len(status) != rows or ok != rows:
        raise ChildFailed(f"{out.name}: {len(status)} rows, {ok} ok (expected {rows})")
    return {"wall_s": usage.wall, "cpu_s": usage.cpu}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__)
    p.add_argument("--names", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--runs", type=int, default=1)
    a = p.parse_args(argv)
    n = a.names
    tmp = Path(tempfile.mkdtemp(prefix="scanner-bench-fleet-"))
    runs: dict[str, list[dict[str, float]]] = {}
    try:
        with Lab.start(as_of=AS_OF, timeout=10.0) as lab:
            ca = tmp / "ca.pem"
            ca.write_bytes(lab.ca_pem)
            ctx = lab.context([lab.pki.leaf(["*.fleet.bench.test"]), lab.pki.intermediate])
            pool = lab.serve_same_port([(ip, _tls_handler(ctx)) for ip in ADDRESSES])
            smtp = lab.serve_handler(lab_starttls.server(StartTls.SMTP, ctx))
            names = [f"h{i:05d}.fleet.bench.test" for i in range(n)]
            lab.dns_records.update(dict.fromkeys(names, ADDRESSES))
            by_name = _write(
                tmp / "names.csv",
                [{"host": h, "port": pool, "ip": "", "starttls": ""} for h in names],
            )
            direct = _write(
                tmp / "tls.csv",
                [{"host": h, "port": pool, "ip": LOOPBACK, "starttls": ""} for h in names],
            )
            mail = _write(
                tmp / "smtp.csv",
                [{"host": h, "port": smtp, "ip": LOOPBACK, "starttls": "smtp"} for h in names],
            )
            plan = [
                ("direct/first", by_name, n, ()),
                ("direct/all", by_name, 3 * n, ("--addresses", "all")),
                ("tls", direct, n, ()),
                ("smtp", mail, n, ()),
            ]
            for run in range(a.runs):
                for label, inp, rows, extra in plan:
                    out = tmp / f"{label.replace('/', '-')}-{run}"
                    r = _scan(inp, out, lab, ca, a.concurrency, rows, *extra)
                    runs.setdefault(label, []).append(r)
                    print(
                        f"  {label:<13} {rows:>6} rows {r['wall_s']:7.2f} s  "
                        f"{r['cpu_s'] * 1000 / n:7.3f} ms CPU/name",
                        flush=True,
                    )
                    shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def cpu_ms(label: str) -> float:
        return statistics.median(r["cpu_s"] for r in runs[label]) * 1000 / n

    first, every = cpu_ms("direct/first"), cpu_ms("direct/all")
    tls, smtp_ms = cpu_ms("tls"), cpu_ms("smtp")
    print()
    print(
        f"{n} names, C={a.concurrency}, client CPU (user+sys of the scanner process), "
        f"median of {a.runs}"
    )
    print(f"  --addresses first: {first:.3f} ms/name (one address each)")
    print(f"  --addresses all:   {every:.3f} ms/name, {every / 3:.3f} ms/row (3 addresses each)")
    print(f"  direct TLS:        {tls:.3f} ms/host")
    print(f"  SMTP STARTTLS:     {smtp_ms:.3f} ms/host ({smtp_ms - tls:+.3f} ms for the exchange)")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"fleet-{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(
        json.dumps(
            {
                "args": vars(a),
                "runs": runs,
                "cpu_ms": {
                    "first_per_name": round(first, 4),
                    "all_per_name": round(every, 4),
                    "all_per_row": round(every / 3, 4),
                    "tls_per_host": round(tls, 4),
                    "smtp_starttls_per_host": round(smtp_ms, 4),
                },
            },
            indent=2,
        )
        + "\n"
    )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ChildFailed, OSError) as e:
        print(f"bench.fleet: {e}", file=sys.stderr)
        sys.exit(1)
