"""The prober beside sslyze (issue 19): both scan the same hundred loopback targets (four
`openssl s_server` configurations, from a modern TLS 1.2+1.3 server to one serving every suite
Debian's OpenSSL 3.0 still has, 25 host names each) for the accepted cipher suites of SSL 2.0
to TLS 1.3 and the elliptic curves; printed side by side: hosts per second and client CPU per
host of each, hellos per host of the prober. Any difference in the accepted suites of any host
fails the bench (exit 1), as does any host either tool could not scan.

    python -m bench.peers [--sslyze bench/.venv-sslyze/bin/python] [--hosts 100]

sslyze runs in a venv of its own (`make bench` makes it from bench/requirements-sslyze.txt,
pinned with hashes), through its Python API (bench/sslyze_side.py); our side is `probe.run`
with the --ciphers plan. Client CPU is process time (every thread), from the first target to
the last answer, without interpreter start-up or imports, on either side. Loopback only.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

from bench.server import hostname
from scanner.model.hello import HelloFacts
from scanner.model.suites import GROUPS, SSL2_CIPHER_KINDS, SUITES
from scanner.net.hello.plan import PlanConfig
from scanner.net.hello.probe import run
from scanner.testing.openssl_server import s_server
from scanner.testing.pki import make_leaf, rsa_key

AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
HERE = Path(__file__).resolve().parent
SSLYZE_PYTHON = HERE / ".venv-sslyze" / "bin" / "python"
TARGET_FACTOR = 50  # --ciphers at most 1/50 of sslyze's client CPU per host
CONCURRENCY = 10  # hosts in flight on our side (sslyze: 10 servers at once, its default)

# Mozilla's intermediate configuration (v5.7) as an OpenSSL cipher string.
INTERMEDIATE = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
)
CONFIGS: dict[str, list[str]] = {
    "modern": ["-cipher", "ECDHE+AESGCM:ECDHE+CHACHA20", "-no_tls1", "-no_tls1_1"],
    "intermediate": ["-cipher", INTERMEDIATE, "-no_tls1", "-no_tls1_1", "-serverpref"],
    "old": ["-cipher", "DEFAULT:@SECLEVEL=0", "-min_protocol", "TLSv1", "-serverpref"],
    "everything": ["-cipher", "ALL:eNULL:@SECLEVEL=0", "-min_protocol", "TLSv1"],
}
# sslyze's curve names (OpenSSL's) -> IANA's
_CURVE = {"prime256v1": "secp256r1", "X25519": "x25519", "X448": "x448"}


def _targets(ports: dict[str, int], hosts: int) -> list[dict[str, Any]]:
    names = list(ports)
    return [
        {
            "host": hostname(i, 1),
            "ip": "127.0.0.1",
            "port": ports[names[i % len(names)]],
            "config": names[i % len(names)],
        }
        for i in range(1, hosts + 1)
    ]


def _ours(targets: Sequence[dict[str, Any]]) -> tuple[list[tuple[HelloFacts, int]], float, float]:
    """The --ciphers plan for every target, CONCURRENCY at a time: facts and hellos per
    target, client CPU and wall seconds."""
    out: list[tuple[HelloFacts, int] | None] = [None] * len(targets)

    async def many() -> None:
        limiter = anyio.CapacityLimiter(CONCURRENCY)

        async def one(i: int, t: dict[str, Any]) -> None:
            async with limiter:
                cfg = PlanConfig(sni=t["host"], ciphers=True)
                deadline = anyio.current_time() + 60
                out[i] = await run(t["ip"], t["port"], cfg, deadline=deadline)

        async with anyio.create_task_group() as tg:
            for i, t in enumerate(targets):
                tg.start_soon(one, i, t)

    cpu, wall = time.process_time(), time.perf_counter()
    anyio.run(many)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return [o for o in out if o is not None], cpu, wall


def _sslyze(python: Path, targets: Sequence[dict[str, Any]], tmp: Path) -> dict[str, Any]:
    given, answer = tmp / "targets.json", tmp / "sslyze.json"
    given.write_text(json.dumps(targets))
    subprocess.run(
        [str(python), str(HERE / "sslyze_side.py"), str(given), str(answer)],
        check=True,
        timeout=1800,
        stdin=subprocess.DEVNULL,
    )
    report: dict[str, Any] = json.loads(answer.read_text())
    return report


def _our_suites(facts: HelloFacts) -> dict[str, list[str]] | None:
    """Accepted suites per version (IANA names, as sslyze names them); None on a failure."""
    if facts.suites is None or any(v is None for v in facts.suites.values()):
        return None
    out = {v.column: [SUITES[c].name for c in codes or ()] for v, codes in facts.suites.items()}
    out["ssl2"] = [SSL2_CIPHER_KINDS[k].name for k in facts.ssl2_kinds if k in SSL2_CIPHER_KINDS]
    return out


def _our_curves(facts: HelloFacts) -> set[str]:
    """The elliptic curves among the groups (sslyze tests neither FFDHE nor hybrids)."""
    return {
        GROUPS[g].name
        for g in facts.groups or ()
        if g in GROUPS and not GROUPS[g].pq and not GROUPS[g].name.startswith("ffdhe")
    }


def _compare(
    targets: Sequence[dict[str, Any]],
    ours: Sequence[tuple[HelloFacts, int]],
    theirs: dict[str, Any],
) -> tuple[list[str], list[str], int]:
    """The differences in accepted suites (and hosts either side failed); the suites only
    the prober found that a real handshake (Python's ssl, this OpenSSL) proves accepted:
    sslyze's misses; the number of hosts whose curves differ (reported, not failed)."""
    by_host = {(r["host"], r["port"]): r for r in theirs["results"]}
    problems, misses, curves_differ = [], [], 0
    for t, (facts, _) in zip(targets, ours, strict=True):
        r = by_host.get((t["host"], t["port"]))
        label = f"{t['host']} ({t['config']})"
        mine = _our_suites(facts)
        if r is None or "error" in r:
            problems.append(f"{label}: sslyze: {r and r.get('error')}")
            continue
        if mine is None:
            problems.append(f"{label}: prober: {'; '.join(facts.failures)}")
            continue
        for column in sorted(set(mine) | set(r["suites"])):
            a, b = set(mine.get(column, ())), set(r["suites"].get(column, ()))
            if a == b:
                continue
            # A difference a real handshake settles for the prober is sslyze's miss (noted).
            proven = {s for s in a - b if _handshake(t, column, s)} if not b - a else set()
            if proven == a - b:
                misses.append(f"{label} {column}: sslyze misses {sorted(proven)}")
            else:
                problems.append(
                    f"{label} {column}: only the prober {sorted(a - b)}, "
                    f"only sslyze {sorted(b - a)}"
                )
        if _our_curves(facts) != {_CURVE.get(c, c) for c in r.get("curves", ())}:
            curves_differ += 1
    return problems, misses, curves_differ


_TLS_VERSION = {
    "tls1_0": ssl.TLSVersion.TLSv1,
    "tls1_1": ssl.TLSVersion.TLSv1_1,
    "tls1_2": ssl.TLSVersion.TLSv1_2,
}


def _handshake(target: dict[str, Any], column: str, suite: str) -> bool:
    """Whether a full handshake offering only `suite` (IANA name) at that version succeeds."""
    code = next((c for c, s in SUITES.items() if s.name == suite), None)
    if column not in _TLS_VERSION or code is None:
        return False
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = _TLS_VERSION[column]
    try:
        ctx.set_ciphers(f"{SUITES[code].openssl}:@SECLEVEL=0")
        with (
            socket.create_connection((target["ip"], target["port"]), timeout=10) as raw,
            ctx.wrap_socket(raw, server_hostname=target["host"]) as tls,
        ):
            return (tls.cipher() or ("",))[0] == SUITES[code].openssl
    except (ssl.SSLError, OSError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sslyze", type=Path, default=SSLYZE_PYTHON, help="the venv's python")
    parser.add_argument("--hosts", type=int, default=100)
    a = parser.parse_args(argv)
    if not a.sslyze.exists():
        print(f"peers: {a.sslyze} is missing: `make bench` creates it", file=sys.stderr)
        return 2
    leaf = make_leaf(
        None,
        dns_names=["*.bench.test"],
        not_before=AS_OF - dt.timedelta(days=1),
        not_after=AS_OF + dt.timedelta(days=90),
        key=rsa_key(2048),
    )
    with tempfile.TemporaryDirectory() as t, contextlib.ExitStack() as stack:
        tmp = Path(t)
        ports = {}
        for name, options in CONFIGS.items():
            (tmp / name).mkdir()
            ports[name] = stack.enter_context(s_server(leaf, options, tmp / name))
        targets = _targets(ports, a.hosts)
        print(
            f"\npeers: sslyze and the prober (--ciphers plan) on {len(targets)} targets: "
            f"{len(CONFIGS)} openssl s_server configurations on 127.0.0.1, one after another",
            flush=True,
        )
        rows, problems, misses = [], [], 0
        for name in CONFIGS:  # one configuration at a time: CPU per host of each
            group = [t for t in targets if t["config"] == name]
            theirs = _sslyze(a.sslyze, group, tmp)
            _ours(group[:1])  # warm-up (first imports, caches), not counted
            ours, cpu, wall = _ours(group)
            rows.append((name, group, ours, cpu, wall, theirs))
            found, missed = _report_config(name, group, ours, cpu, wall, theirs)
            problems += found
            misses += missed
        return _totals(rows, problems, misses)  # (inside: settling disputes needs servers)


def _report_config(
    name: str,
    targets: Sequence[dict[str, Any]],
    ours: Sequence[tuple[HelloFacts, int]],
    cpu: float,
    wall: float,
    theirs: dict[str, Any],
) -> tuple[list[str], int]:
    """Prints one configuration's line; the differences, and the hosts sslyze missed on."""
    n = len(targets)
    our_ms, their_ms = cpu * 1000 / n, theirs["cpu_s"] * 1000 / n
    hellos = sum(sent for _, sent in ours) / n
    problems, misses, curves_differ = _compare(targets, ours, theirs)
    differ = {p.split(" ", 1)[0] for p in problems + misses}
    print(
        f"  {name:12} {n:3} hosts | sslyze {n / theirs['wall_s']:5.1f} hosts/s "
        f"{their_ms:6.1f} ms/host | prober {n / wall:6.1f} hosts/s {our_ms:6.2f} ms/host "
        f"{hellos:5.1f} hellos/host | 1/{their_ms / our_ms:<4.0f} | suites identical "
        f"{n - len(differ)}/{n}, curves {n - curves_differ}/{n}",
        flush=True,
    )
    if misses:
        print(f"    {len(misses)} host(s) where sslyze misses what a handshake proves, e.g.:")
        print(f"    {misses[0]}")
    for p in problems[:10]:
        print(f"    DIFFERENCE {p}")
    return problems, len({m.split(" ", 1)[0] for m in misses})


def _totals(rows: Sequence[tuple[Any, ...]], problems: list[str], misses: int) -> int:
    n = sum(len(r[1]) for r in rows)
    our_ms = sum(r[3] for r in rows) * 1000 / n
    their_ms = sum(r[5]["cpu_s"] for r in rows) * 1000 / n
    hellos = sum(sent for r in rows for _, sent in r[2]) / n
    our_rate = n / sum(r[4] for r in rows)
    their_rate = n / sum(r[5]["wall_s"] for r in rows)
    version = rows[0][5]["sslyze"]
    print(f"  {'all':12} {n:3} hosts | sslyze {version}: {their_rate:.1f} hosts/s, {their_ms:.1f}")
    print(
        f"  {'':12}           ms client CPU/host | prober: {our_rate:.1f} hosts/s, {our_ms:.2f} "
        f"ms client CPU/host, {hellos:.1f} hellos/host"
    )
    factor = their_ms / our_ms
    print(
        f"  target: prober --ciphers client CPU per host <= 1/{TARGET_FACTOR} of sslyze's: "
        f"1/{factor:.0f}: {'PASS' if factor >= TARGET_FACTOR else 'MISS'}"
    )
    if problems:
        print(f"  accepted suites: {len(problems)} difference(s): FAIL")
    else:
        proven = (
            f", but sslyze's misses proven by a handshake on {misses} host(s)" if misses else ""
        )
        print(f"  accepted suites: no difference{proven}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
