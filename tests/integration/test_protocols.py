"""`--protocols`' probes (the ClientHello prober) against the lab's real servers on 127.0.0.1,
read as the version columns: refusal is told apart from other failures, the hellos of one host
go one after another inside --per-ip slots and the deadline, and a scan without --protocols
leaves the columns null."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import pyarrow.parquet as pq
import pytest
from typer.testing import Result

from scanner.model.suites import Protocol, WeakClass
from scanner.model.types import TlsVersion
from scanner.net.capture import PerIpLimiter
from scanner.net.hello.plan import PlanConfig
from scanner.net.hello.probe import run
from scanner.testing.lab import LOOPBACK, Lab
from scanner.x509.hello import support_of

V = TlsVersion


class CountingLimiter(PerIpLimiter):
    """--per-ip slots that record how many were in use at once, and how many were taken."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.taken = 0
        self.in_use = 0
        self.most = 0

    @contextlib.asynccontextmanager
    async def slot(self, address: str) -> AsyncIterator[None]:
        async with super().slot(address):
            self.taken += 1
            self.in_use += 1
            self.most = max(self.most, self.in_use)
            try:
                yield
            finally:
                self.in_use -= 1


def run_probe(port: int, *, seconds: float = 10.0, backend: str = "asyncio", **kw: Any) -> Any:
    """The prober's plan against one lab port, as `--protocols` runs it: (support, facts,
    hellos sent)."""

    async def main() -> Any:
        return await run(
            LOOPBACK,
            port,
            PlanConfig(sni="probe.lab.test"),
            deadline=anyio.current_time() + seconds,
            **kw,
        )

    facts, sent = anyio.run(main, backend=backend)
    return support_of(facts), facts, sent


def test_probes_of_a_tls10_only_server(lab: Lab) -> None:
    limiter = CountingLimiter(4)
    p, facts, sent = run_probe(lab.scenario("tls1_0_only").port, per_ip=limiter)
    assert dict(p.accepted) == {V.TLS1_0: True, V.TLS1_1: False, V.TLS1_2: False, V.TLS1_3: False}
    assert p.forward_secrecy_only is True and p.failures == ()
    assert facts.versions[Protocol.SSL3] is False and facts.versions[Protocol.SSL2] is False
    # The plan holds one --per-ip slot (its hellos go one at a time); the streams path
    # (trio) takes one slot per hello.
    assert (limiter.taken, limiter.most) == (1, 1) and sent > 1
    limiter = CountingLimiter(4)
    _, _, sent = run_probe(lab.scenario("tls1_0_only").port, per_ip=limiter, backend="trio")
    assert (limiter.taken, limiter.most) == (sent, 1)


def test_static_rsa_accepted(lab: Lab) -> None:
    p, facts, _ = run_probe(lab.scenario("static_rsa").port)
    assert p.forward_secrecy_only is False and p.get(V.TLS1_3) is False
    assert WeakClass.NO_FS in (facts.classes[Protocol.TLS1_2] or ())


def test_failures_other_than_refusal_are_unknown(lab: Lab) -> None:
    # Nothing listens: a connect failure says nothing about the versions.
    p, _, _ = run_probe(lab.scenario("refused").port)
    assert set(p.accepted.values()) == {None} and p.forward_secrecy_only is None
    assert p.failures[0].startswith("tls1_3: ") and "connection refused" in p.failures[0]
    # A server that never answers: the deadline, then no time for the rest.
    p, _, _ = run_probe(lab.scenario("timeout").port, seconds=0.5)
    assert set(p.accepted.values()) == {None} and p.forward_secrecy_only is None
    assert "no answer within" in p.failures[0]
    assert "no time left" in p.failures[-1]


def test_not_a_tls_server_is_not_a_refusal(lab: Lab) -> None:
    # An HTTP server answering a ClientHello with text: not TLS, not an alert.
    p, _, _ = run_probe(lab.scenario("not_tls").port)
    assert p.get(V.TLS1_2) is None and p.get(V.TLS1_3) is None


def test_without_protocols_the_columns_are_null(
    lab: Lab, lab_files: Any, tmp_path: Path, cli: Callable[[Sequence[str]], Result]
) -> None:
    from tests.conftest import lab_scan_args

    rows = [r for r in lab.rows() if r["scenario"] in {"valid", "tls1_0_only", "static_rsa"}]
    src = tmp_path / "in.csv"
    src.write_text(
        "host,port,ip,scenario\n"
        + "".join(f"{r['host']},{r['port']},{r['ip']},{r['scenario']}\n" for r in rows)
    )
    args = [a for a in lab_scan_args(lab, lab_files.ca) if a != "--protocols"]
    result = cli(["scan", src, "--out", tmp_path / "out", *args])
    assert result.exit_code == 0, result.output
    hosts = {
        r["scenario"]: r for r in pq.read_table(tmp_path / "out" / "hosts.parquet").to_pylist()
    }
    for row in hosts.values():
        assert row["tls1_0"] is row["tls1_3"] is row["forward_secrecy_only"] is None
        assert row["grade_basis"] == "certificate"
        assert not {"legacy_protocol", "no_tls13", "rsa_key_exchange"} & set(row["findings"])
    # The certificate alone: all three are good certificates.
    assert {s: r["grade"] for s, r in hosts.items()} == {
        "valid": "A",
        "tls1_0_only": "A",
        "static_rsa": "A",
    }


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_probes_on_each_backend(lab: Lab, backend: str) -> None:
    p, _, _ = run_probe(lab.scenario("tls1_1_only").port, backend=backend)
    assert dict(p.accepted) == {V.TLS1_0: False, V.TLS1_1: True, V.TLS1_2: False, V.TLS1_3: False}
