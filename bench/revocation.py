"""Peak memory of revocation checking: one 20 MiB CRL, fetched once over loopback HTTP and
shared by 10,000 hosts (`python -m bench.revocation [--mib 20] [--hosts 10000]`).

Prints the CRL's size and entries, the time to fetch and parse it, the time to judge every
host's path, and the process's peak RSS before the CRL and at the end."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import time

import anyio
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from scanner.net.fetch import HttpFetcher
from scanner.net.revocation import RevocationFetcher
from scanner.testing.lab import DAY, Pki
from scanner.testing.responders import RevocationServer, der_crl, der_entry
from scanner.x509 import certs
from scanner.x509 import revocation as rv
from scanner.x509.context import DiagnosisContext
from scanner.x509.memo import Memo

AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def big_crl(pki: Pki, mib: int) -> tuple[bytes, int]:
    """A CRL of the lab intermediate of about `mib` MiB: 18-byte serials, keyCompromise."""
    entries = []
    size = 0
    while size < mib * 1024 * 1024:
        serial = (int.from_bytes(os.urandom(18), "big") >> 1) | 1 << 140
        entries.append(der_entry(serial.to_bytes(18, "big")))
        size += len(entries[-1])
    return der_crl(pki.intermediate, entries), len(entries)


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mib", type=int, default=20)
    p.add_argument("--hosts", type=int, default=10_000)
    p.add_argument("--leaves", type=int, default=500, help="distinct leaf certificates")
    a = p.parse_args()
    with RevocationServer.start() as server:
        pki = Pki.create(AS_OF, crl_base=server.url("/crl"))
        url = server.url("/big.crl")
        key = ec.generate_private_key(ec.SECP256R1())
        leaves = [
            pki.leaf([f"h{i}.bench.test"], crl_url=url, key=key, not_before=AS_OF - DAY)
            for i in range(a.leaves)
        ]
        crl, entries = big_crl(pki, a.mib)
        server.files["/big.crl"] = crl
        server.files["/crl/root.crl"] = pki.crl(pki.root).public_bytes(Encoding.DER)
        before = rss_mib()
        timings: dict[str, float] = {}

        async def run() -> None:
            http = HttpFetcher(timeout=60, allow_private=True)
            async with anyio.create_task_group() as background:
                fetcher = RevocationFetcher(
                    http, crl_max_bytes=(a.mib + 1) * 1024 * 1024, background=background
                )
                started = time.perf_counter()
                got = await fetcher.crl(url)
                assert isinstance(got, rv.Crl), got
                timings["fetch+parse"] = time.perf_counter() - started
                root = await fetcher.crl(server.url("/crl/root.crl"))
                started = time.perf_counter()
                memo = Memo()  # the scan's, as the pipeline passes it
                trust = certs.load_trust_store(pki.root.pem, "lab.pem")
                ctx = DiagnosisContext(trust=trust, as_of=AS_OF, memo=memo)
                good = 0
                for i in range(a.hosts):  # every host asks the shared fetcher, then judges
                    leaf = leaves[i % len(leaves)]
                    crls = {url: await fetcher.crl(url), server.url("/crl/root.crl"): root}
                    path = (leaf.der, pki.intermediate.der, pki.root.der)
                    j = rv.judge(path, evidence=rv.Evidence(crls=crls), ctx=ctx)
                    good += j.status is rv.Status.GOOD
                timings["judge"] = time.perf_counter() - started
                assert good == a.hosts, good
                background.cancel_scope.cancel()
            await http.aclose()

        anyio.run(run)
        print(
            f"CRL {len(crl) / 2**20:.1f} MiB, {entries} entries; fetch+parse "
            f"{timings['fetch+parse']:.2f} s; {a.hosts} hosts judged in {timings['judge']:.2f} s; "
            f"peak RSS {before:.0f} MiB before the CRL, {rss_mib():.0f} MiB after"
        )


if __name__ == "__main__":
    main()
