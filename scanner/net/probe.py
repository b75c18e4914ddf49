"""Protocol probes (`--protocols`): one handshake per TLS version the main handshake did not
show, then one offering only static-RSA key exchange, one after another within the host's
deadline, each in a --per-ip slot. A refusal (an alert, or the server hanging up on the hello)
is told apart from any other failure, which leaves the answer unknown."""

from __future__ import annotations

import ssl
import warnings
from dataclasses import dataclass

import anyio

from scanner.model.types import ProtocolSupport, Stage, TlsVersion
from scanner.net import handshake as hs
from scanner.net.classify import classify

_OPENSSL = {
    TlsVersion.TLS1_0: ssl.TLSVersion.TLSv1,
    TlsVersion.TLS1_1: ssl.TLSVersion.TLSv1_1,
    TlsVersion.TLS1_2: ssl.TLSVersion.TLSv1_2,
    TlsVersion.TLS1_3: ssl.TLSVersion.TLSv1_3,
}
# OpenSSL reasons that mean "the server will not do this": its alerts (RFC 8446 6.2:
# protocol_version, handshake_failure, insufficient_security), or a ServerHello for a version
# outside the one offered.
REFUSALS = frozenset(
    {
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
        "TLSV1_ALERT_INSUFFICIENT_SECURITY",
        "UNSUPPORTED_PROTOCOL",
        "NO_CIPHERS_AVAILABLE",
        "WRONG_CIPHER_RETURNED",
    }
)
# Static-RSA key exchange suites only (OpenSSL's kRSA), at TLS 1.0-1.2 (TLS 1.3 has none).
STATIC_RSA = "kRSA:!aNULL:!eNULL:@SECLEVEL=0"


def _context(
    low: ssl.TLSVersion, high: ssl.TLSVersion, ciphers: str = "ALL:!aNULL:!eNULL:@SECLEVEL=0"
) -> ssl.SSLContext | None:
    """A client context for exactly these versions at security level 0 (legacy servers must
    answer); None when this OpenSSL cannot offer them."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.set_ciphers(ciphers)
        with warnings.catch_warnings():  # TLS 1.0/1.1 as a bound is deprecated in Python
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = low
            ctx.maximum_version = high
    except (ValueError, ssl.SSLError):
        return None
    return ctx


@dataclass(frozen=True, slots=True)
class ProbeContexts:
    """The client contexts of every probe, made once per scan."""

    versions: dict[TlsVersion, ssl.SSLContext | None]
    static_rsa: ssl.SSLContext | None

    @classmethod
    def create(cls) -> ProbeContexts:
        return cls(
            versions={v: _context(o, o) for v, o in _OPENSSL.items()},
            static_rsa=_context(ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_2, STATIC_RSA),
        )


def _refused(exc: BaseException, stage: Stage) -> bool:
    if isinstance(exc, ssl.SSLError) and not isinstance(exc, ssl.SSLEOFError):
        return (getattr(exc, "reason", None) or "") in REFUSALS
    # The server hung up on the hello: refusing it is how many servers say no.
    return stage is Stage.HANDSHAKE and hs.hung_up(exc)


async def _handshake(
    address: str, port: int, sni: str | None, ctx: ssl.SSLContext, stage: list[Stage]
) -> None:
    async with await hs.connect(address, port) as conn:
        stage[0] = Stage.HANDSHAKE
        await conn.start_tls(ctx, sni)


async def _one(
    address: str,
    port: int,
    sni: str | None,
    ctx: ssl.SSLContext,
    deadline: hs.Deadline,
    per_ip: hs.PerIpLimiter | None,
) -> tuple[bool | None, str | None]:
    """(True accepted | False refused | None unknown, why unknown)."""
    if deadline.left() <= 0:
        return None, "no time left within the host's deadline"
    stage = [Stage.CONNECT]
    seconds = 0.0
    try:
        async with deadline.slot(address, per_ip) as seconds:
            with anyio.fail_after(seconds):
                await _handshake(address, port, sni, ctx, stage)
    except Exception as e:
        if _refused(e, stage[0]):
            return False, None
        mapped = classify(e, stage[0], seconds)
        if mapped is None:
            raise
        return None, mapped[1]
    return True, None


async def probe(
    address: str,
    port: int,
    sni: str | None,
    *,
    shown: TlsVersion | None,
    contexts: ProbeContexts,
    deadline: float,
    per_ip: hs.PerIpLimiter | None = None,
) -> ProtocolSupport:
    """Probe every version but `shown` (what the main handshake negotiated: accepted), then
    static-RSA key exchange, one after another until `deadline` (anyio.current_time())."""
    clock = hs.Deadline(deadline)
    accepted: dict[TlsVersion, bool | None] = {}
    failures: list[str] = []
    for version in TlsVersion:
        if version is shown:
            accepted[version] = True
            continue
        ctx = contexts.versions[version]
        if ctx is None:
            accepted[version] = None
            failures.append(f"{version.value}: this OpenSSL cannot offer it")
            continue
        accepted[version], why = await _one(address, port, sni, ctx, clock, per_ip)
        if why:
            failures.append(f"{version.value}: {why}")
    fs_only: bool | None = None
    if contexts.static_rsa is None:
        failures.append("static RSA: this OpenSSL cannot offer it")
    else:
        rsa, why = await _one(address, port, sni, contexts.static_rsa, clock, per_ip)
        fs_only = None if rsa is None else not rsa
        if why:
            failures.append(f"static RSA: {why}")
    return ProtocolSupport(
        accepted=accepted, forward_secrecy_only=fs_only, failures=tuple(failures)
    )
