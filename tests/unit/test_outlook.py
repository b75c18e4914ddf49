"""The pure parts of issue 21's wiring: the name a renewal asks CAA about, the date a host
breaks gathered in one place (`assemble.outlook`), and the forecast of a scan from before
`breaks_on` existed."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd

from scanner.analysis.forecast import fleet_forecast
from scanner.model.types import CertInfo, Diagnosis, Outlook, Verdicts
from scanner.run.assemble import outlook
from scanner.run.outlook import caa_name

AS_OF = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def test_caa_name_is_the_host_or_the_wildcard_covering_it() -> None:
    assert caa_name("www.example.com", ["www.example.com", "*.example.com"]) == "www.example.com"
    assert caa_name("api.example.com", ["*.example.com"]) == "*.example.com"
    assert caa_name("api.example.com", ["*.EXAMPLE.com"]) == "*.example.com"  # SANs: any case
    assert caa_name("a.b.example.com", ["*.example.com"]) == "a.b.example.com"  # not covered
    assert caa_name("localhost", ["*.localhost"]) == "localhost"


def diagnosis(trusted: bool, not_after: dt.datetime, path: tuple[dt.datetime, ...]) -> Diagnosis:
    leaf = CertInfo(
        sha256="00" * 32,
        der=b"",
        subject="CN=x",
        issuer="CN=ca",
        serial="01",
        not_before=AS_OF - 10 * DAY,
        not_after=not_after,
        key_type="EC",
        key_size=256,
        signature_algorithm="ecdsa-with-SHA256",
    )
    verdicts = Verdicts(
        trusted=trusted,
        expired=False,
        not_yet_valid=False,
        expiring_soon=False,
        hostname_mismatch=False,
        self_signed=False,
        untrusted_root=False,
        incomplete_chain=False,
    )
    return Diagnosis(
        leaf=leaf,
        certificates=(leaf,),
        verdicts=verdicts,
        findings=(),
        days_remaining=90,
        path_not_afters=path,
    )


def test_the_first_break_wins_and_a_broken_host_has_none() -> None:
    d = diagnosis(True, AS_OF + 90 * DAY, (AS_OF + 400 * DAY, AS_OF + 60 * DAY))
    o = outlook(d, Outlook())
    assert (o.breaks_on, o.breaks_because) == (AS_OF + 60 * DAY, "chain_expires")
    ari = outlook(d, Outlook(ari_start=AS_OF, ari_end=AS_OF + 3 * DAY))
    assert (ari.breaks_on, ari.breaks_because) == (AS_OF + 3 * DAY, "ari_window_ends")
    assert ari.ari_start == AS_OF  # what was seen is kept
    soon = outlook(d, Outlook(), distrust_on=AS_OF + 30 * DAY)
    assert (soon.breaks_on, soon.breaks_because) == (AS_OF + 30 * DAY, "distrusted")
    broken = outlook(
        dataclasses.replace(d, verdicts=dataclasses.replace(d.verdicts, trusted=False)), Outlook()
    )
    assert broken.breaks_on is broken.breaks_because is None


def test_a_scan_from_before_breaks_on_forecasts_nothing() -> None:
    hosts = pd.DataFrame({"host": ["a", "b"], "owner": ["x", None]})
    table = fleet_forecast(hosts, AS_OF, weeks=3)
    assert list(table["week"]) == [1, 2, 3] and table["total"].sum() == 0
    assert fleet_forecast(hosts, AS_OF, weeks=3, by="owner").empty


def test_once_with_a_limit_keeps_the_newest_finished_results() -> None:
    """ARI answers and CAA names are remembered per scan, bounded: past the limit the oldest
    finished result goes (and is computed again if asked for)."""
    import anyio

    from scanner.net.fetch import Once

    computed: list[str] = []

    async def run() -> None:
        once: Once[str] = Once(lambda k, e: "failed", limit=2)

        async def make(key: str) -> str:
            computed.append(key)
            return key.upper()

        for key in ("a", "b", "a", "c", "b", "a"):
            assert await once.get(key, lambda key=key: make(key)) == key.upper()
        assert len(once) == 2

    anyio.run(run)
    # a, b computed; a remembered; c evicts a; b remembered; a again (evicting c)
    assert computed == ["a", "b", "c", "a"]
