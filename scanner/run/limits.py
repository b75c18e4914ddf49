"""File descriptors: a scan holds a socket per host in flight, and for each a DNS query and
AIA, CRL or OCSP fetches. At start the soft RLIMIT_NOFILE is raised toward the hard limit, and
a --concurrency that cannot fit is refused before the first connection (running out mid-scan
would otherwise look like hosts failing)."""

from __future__ import annotations

from scanner.errors import UsageError

# Descriptors of the process itself: standard streams, the event loop, the output files,
# the input, imports, the resolver's and the writer's threads' files.
MARGIN = 64


def per_host(*, aia: bool, revocation: bool) -> int:
    """Descriptors one host in flight may hold at once: its socket and its DNS query, an AIA
    fetch, and a CRL or OCSP fetch."""
    return 2 + int(aia) + int(revocation)


def needed(concurrency: int, *, aia: bool, revocation: bool) -> int:
    return concurrency * per_host(aia=aia, revocation=revocation) + MARGIN


def ensure_descriptors(concurrency: int, *, aia: bool = True, revocation: bool = True) -> None:
    """Raise the soft limit on open files toward the hard one; refuse (UsageError) a
    concurrency that still cannot fit. Where there is no such limit (Windows), nothing."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return
    need = needed(concurrency, aia=aia, revocation=revocation)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    infinite = resource.RLIM_INFINITY
    if soft != infinite and (hard == infinite or soft < hard):
        target = hard if hard != infinite else max(soft, need)
        for value in (target, need):  # macOS refuses more than OPEN_MAX even under "unlimited"
            if value <= soft:
                break
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (value, hard))
                break
            except (ValueError, OSError):
                continue
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != infinite and need > soft:
        each = per_host(aia=aia, revocation=revocation)
        fits = max(1, (soft - MARGIN) // each)
        raise UsageError(
            f"--concurrency {concurrency} needs about {need} open files ({each} per host in "
            f"flight plus {MARGIN}), but this process may open only {soft} (`ulimit -n`; hard "
            f"limit {'unlimited' if hard == infinite else hard}); use --concurrency {fits} or "
            "less, or raise the limit"
        )
