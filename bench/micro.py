"""Per-host CPU of the scanner's pure stages, without the network: microseconds per host,
best of several repeats, on the bench's own chain (EC P-256 leaf + intermediate).

    python -m bench.micro [--hosts 2000] [--repeat 5]

Two cases: the same chain for every host (what `make bench` serves: the parse and signature
caches hit) and a distinct leaf per host (a real fleet: they miss). The floor column is what
bench.floor does per host: parse the chain and run cryptography's verifier.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Callable, Sequence
from typing import Any

from cryptography import x509
from cryptography.x509 import verification

from bench.server import BenchPki, hostname
from scanner.inputs.hostnames import matches
from scanner.model.types import Handshake, Target
from scanner.run.assemble import Answer, assemble
from scanner.store import rows
from scanner.x509 import certs
from scanner.x509 import diagnose as dx
from scanner.x509.context import DiagnosisContext
from scanner.x509.memo import Memo
from scanner.x509.paths import build_path as build_path_
from scanner.x509.paths import parse_chain as parse_chain_
from scanner.x509.rules import weakness_of
from scanner.x509.verify import strict_verify as strict_verify_

AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def _best(fn: Callable[[], None], n: int, repeat: int, reset: Callable[[], None]) -> float:
    """Microseconds per host, the best of `repeat` passes over `n` hosts."""
    best = float("inf")
    for _ in range(repeat):
        reset()
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1e6 / n


class _Scan:
    """The memo a scan would hold; `clear` starts a new one (what a new chain meets)."""

    memo = Memo()

    @classmethod
    def clear(cls) -> None:
        cls.memo = Memo()


def _stages(
    chains: Sequence[tuple[bytes, ...]], names: Sequence[str], trust: certs.TrustStore
) -> dict[str, Callable[[], None]]:
    n = len(names)
    pairs = list(zip(chains, names, strict=True))

    def floor() -> None:
        for chain, host in pairs:
            cs = [x509.load_der_x509_certificate(d) for d in chain]
            v = (
                verification.PolicyBuilder()
                .store(trust.store)
                .time(AS_OF)
                .build_server_verifier(x509.DNSName(host))
            )
            v.verify(cs[0], cs[1:])

    def diagnose() -> None:
        # One context per scan, as the pipeline makes it.
        ctx = DiagnosisContext(trust=trust, as_of=AS_OF, warn_days=30, memo=_Scan.memo)
        for chain, host in pairs:
            dx.diagnose(chain, host=host, is_ip=False, ctx=ctx)

    def parse_chain() -> None:
        for chain, _ in pairs:
            parse_chain_(chain, _Scan.memo)

    def infos() -> None:
        for chain, _ in pairs:
            for d in chain:
                _Scan.memo.info(d)

    parsed = [parse_chain_(c, Memo()) for c, _ in pairs]

    def names_() -> None:
        for chain, host in zip(parsed, names, strict=True):
            assert chain.leaf is not None
            s = certs.sans(chain.leaf)
            assert s is not None
            matches(host, False, s[0], s[1])

    def build_path() -> None:
        for chain in parsed:
            build_path_(chain, trust, {}, _Scan.memo)

    def strict_verify() -> None:
        for chain, host in zip(parsed, names, strict=True):
            strict_verify_(chain, host, False, trust, AS_OF)

    def weakness() -> None:
        for chain in parsed:
            assert chain.leaf is not None
            for c in (chain.leaf, *chain.intermediates):
                _Scan.memo.weakness.one(c, weakness_of)

    answers = []
    ctx = DiagnosisContext(trust=trust, as_of=AS_OF, warn_days=30)
    for chain, host in pairs:
        d = dx.diagnose(chain, host=host, is_ip=False, ctx=ctx)
        t = Target(row=1, host=host, port=443, ip="127.0.0.1", is_ip=False)
        hs = Handshake(
            chain=chain, tls_version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384", address="127.0.0.1"
        )
        answers.append(Answer(target=t, handshake=hs, diagnosis=d))
    results = [assemble(a) for a in answers]
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)

    def assembled() -> None:
        for a in answers:
            assemble(a)

    def table_rows() -> None:
        for r in results:
            rows.host_row(r, (), now)
            list(rows.finding_rows(r))
            rows.result_certificates(r)

    assert n
    return {
        "floor: parse + verify": floor,
        "scanner: diagnose()": diagnose,
        "  parse_chain": parse_chain,
        "  certs.info x chain": infos,
        "  sans + matches": names_,
        "  build_path": build_path,
        "  strict_verify": strict_verify,
        "  weakness x chain": weakness,
        "scanner: assemble (grade)": assembled,
        "scanner: table rows": table_rows,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.micro",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--hosts", type=int, default=2000)
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args(argv)
    n = a.hosts
    print(f"minting {n} leaves...", flush=True)
    pki = BenchPki.create(AS_OF, 1)
    trust = certs.load_trust_store(pki.root.pem, "bench-ca.pem")
    names = [hostname(i, 1) for i in range(1, n + 1)]
    same = [(pki.leaves[0].der, pki.intermediate.der)] * n
    from scanner.testing.lab import DAY, make_leaf

    key = pki.leaves[0].key  # one key: minting stays fast; the certificates still differ
    distinct = [
        (
            make_leaf(
                pki.intermediate,
                dns_names=[h],
                key=key,
                not_before=AS_OF - 30 * DAY,
                not_after=AS_OF + 200 * DAY,
            ).der,
            pki.intermediate.der,
        )
        for h in names
    ]
    cases: dict[str, dict[str, float]] = {}
    for label, chains in (("same chain", same), ("distinct leaves", distinct)):
        stages = _stages(chains, names, trust)
        # "same chain": caches warm (one host's first visit fills them); "distinct": cold.
        warm = label == "same chain"

        def reset(warm: bool = warm, chains: Any = chains) -> None:
            _Scan.clear()
            if warm:
                dx.diagnose(
                    chains[0],
                    host=names[0],
                    is_ip=False,
                    ctx=DiagnosisContext(trust=trust, as_of=AS_OF, warn_days=30, memo=_Scan.memo),
                )

        cases[label] = {k: _best(fn, n, a.repeat, reset) for k, fn in stages.items()}
    print(f"\nmicroseconds of CPU per host, best of {a.repeat} passes over {n} hosts")
    print(f"{'stage':<26}" + "".join(f"{c:>17}" for c in cases))
    for stage in next(iter(cases.values())):
        print(f"{stage:<26}" + "".join(f"{cases[c][stage]:>17.1f}" for c in cases))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
