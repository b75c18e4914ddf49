"""Cipher suites, SSL 2.0 cipher kinds, named groups and protocol versions as typed data, with
the weak classes of each suite. The rows come from suites_data.py (generated; its docstring
names the source and date).

Weak classes (a suite may be in several), read from the IANA "TLS Cipher Suites" registry name
and the RFCs that define or retire the suites:
- `null`: no encryption (the `NULL` bulk cipher, RFC 5246 A.5; "WITH_NULL" in the name).
- `anon`: no server authentication (`DH_anon`, `ECDH_anon`, RFC 5246 A.5 / RFC 8422 2.5:
  "completely vulnerable to man-in-the-middle attacks"), and TLS_NULL_WITH_NULL_NULL.
- `export`: the 40- and 56-bit export suites (`EXPORT`/`EXPORT1024` in the name; RFC 2246
  A.5, removed by RFC 4346; FREAK and Logjam).
- `rc4`: the RC4 stream cipher (RFC 7465 prohibits it).
- `des`: single DES, 56 bits or fewer (RFC 5469 deprecates DES and IDEA suites).
- `3des`: triple DES, a 64-bit block cipher (SWEET32, CVE-2016-2183; RFC 8996 context).
- `cbc`: a block cipher in CBC mode with MAC-then-encrypt ("CBC" in the name; Lucky Thirteen,
  BEAST, POODLE-TLS; RFC 7525 3.2 and RFC 9325 4.2 recommend AEAD suites only).
- `no_fs`: no forward secrecy: the key is transported under the server's long-term key or
  agreed with static (EC)DH or a bare PSK (RFC 9325 4.1: ephemeral key exchange only).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Final

from scanner.model.suites_data import SSL2_KINDS, TLS_SUITES


class Protocol(IntEnum):
    """Wire versions (ProtocolVersion, RFC 8446 4.1.2; SSL 2.0's is 0x0002)."""

    SSL2 = 0x0002
    SSL3 = 0x0300
    TLS1_0 = 0x0301
    TLS1_1 = 0x0302
    TLS1_2 = 0x0303
    TLS1_3 = 0x0304

    @property
    def column(self) -> str:
        """The name written to disk: ssl2, ssl3, tls1_0 .. tls1_3."""
        return self.name.lower()


class WeakClass(StrEnum):
    """Values are the strings written to disk (defined in the module docstring)."""

    NULL = "null"
    ANON = "anon"
    EXPORT = "export"
    RC4 = "rc4"
    DES = "des"
    TRIPLE_DES = "3des"
    CBC = "cbc"
    NO_FS = "no_fs"


# testssl's first-protocol column -> the first version that defines the suite.
_FIRST = {
    "SSLv3": Protocol.SSL3,
    "TLSv1": Protocol.TLS1_0,
    "TLSv1.2": Protocol.TLS1_2,
    "TLSv1.3": Protocol.TLS1_3,
    "SSLv2": Protocol.SSL2,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Suite:
    code: int  # uint16 for TLS; the 24-bit cipher kind for SSL 2.0
    name: str  # IANA name; OpenSSL's where IANA has none
    openssl: str
    first: Protocol  # first version that defines it (TLS 1.3 suites: only TLS 1.3)
    kx: str
    auth: str
    enc: str
    bits: int
    mac: str
    classes: frozenset[WeakClass]

    def offered_at(self, version: Protocol) -> bool:
        """Whether a client may offer it at `version` (TLS 1.3 suites at TLS 1.3 only, and
        no other suite there; TLS 1.2's AEAD and SHA-256 suites from TLS 1.2)."""
        if version is Protocol.TLS1_3 or self.first is Protocol.TLS1_3:
            return version is self.first
        return self.first <= version


def _classes(name: str, kx: str, auth: str, enc: str, export: bool) -> frozenset[WeakClass]:
    out: set[WeakClass] = set()
    if enc == "None":
        out.add(WeakClass.NULL)
    if auth == "None" or "_anon_" in name or name == "TLS_NULL_WITH_NULL_NULL":
        out.add(WeakClass.ANON)
    if export or "EXPORT" in name:
        out.add(WeakClass.EXPORT)
    if enc == "RC4":
        out.add(WeakClass.RC4)
    if enc == "DES":
        out.add(WeakClass.DES)
    if enc == "3DES":
        out.add(WeakClass.TRIPLE_DES)
    if "_CBC" in name or (not name and enc in {"DES", "3DES", "IDEA", "RC2", "SEED"}):
        out.add(WeakClass.CBC)
    # Key exchange part of the IANA name: TLS_<kx>_WITH_...; TLS 1.3 suites have none (always
    # ephemeral). Anonymous DH is ephemeral (and already `anon`).
    if "_WITH_" in name:
        kx_name = name[4 : name.index("_WITH_")]
        ephemeral = "DHE" in kx_name or "anon" in kx_name or kx_name == "NULL"
        if not ephemeral:
            out.add(WeakClass.NO_FS)
    elif not name and kx in {"RSA", "PSK", "RSAPSK", "GOST", "KRB5"}:
        out.add(WeakClass.NO_FS)
    return frozenset(out)


def _suite(row: tuple[int, str, str, str, str, str, str, int, str, bool]) -> Suite:
    code, iana, openssl, first, kx, auth, enc, bits, mac, export = row
    return Suite(
        code=code,
        name=iana or openssl,
        openssl=openssl,
        first=_FIRST[first],
        kx=kx,
        auth=auth,
        enc=enc,
        bits=bits,
        mac=mac,
        classes=_classes(iana, kx, auth, enc, export),
    )


SUITES: Final[dict[int, Suite]] = {row[0]: _suite(row) for row in TLS_SUITES}
SSL2_CIPHER_KINDS: Final[dict[int, Suite]] = {row[0]: _suite(row) for row in SSL2_KINDS}


def suites_for(version: Protocol) -> tuple[int, ...]:
    """Every known suite a client may offer at `version`, in code order."""
    return tuple(s.code for s in SUITES.values() if s.offered_at(version))


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """A named group (IANA "TLS Supported Groups"; RFC 8446 4.2.7, RFC 7919, RFC 8422,
    draft-ietf-tls-ecdhe-mlkem for the hybrids, draft-connolly-tls-mlkem-key-agreement for
    pure ML-KEM)."""

    code: int
    name: str
    share_len: int  # bytes of a client's key_share entry (0: not usable in TLS 1.3)
    pq: bool  # ML-KEM, alone or in a hybrid
    tls13: bool  # defined for TLS 1.3 key_share


GROUPS: Final[dict[int, Group]] = {
    g.code: g
    for g in (
        Group(code=0x0017, name="secp256r1", share_len=65, pq=False, tls13=True),
        Group(code=0x0018, name="secp384r1", share_len=97, pq=False, tls13=True),
        Group(code=0x0019, name="secp521r1", share_len=133, pq=False, tls13=True),
        Group(code=0x001A, name="brainpoolP256r1", share_len=0, pq=False, tls13=False),
        Group(code=0x001B, name="brainpoolP384r1", share_len=0, pq=False, tls13=False),
        Group(code=0x001C, name="brainpoolP512r1", share_len=0, pq=False, tls13=False),
        Group(code=0x001D, name="x25519", share_len=32, pq=False, tls13=True),
        Group(code=0x001E, name="x448", share_len=56, pq=False, tls13=True),
        Group(code=0x001F, name="brainpoolP256r1tls13", share_len=65, pq=False, tls13=True),
        Group(code=0x0020, name="brainpoolP384r1tls13", share_len=97, pq=False, tls13=True),
        Group(code=0x0021, name="brainpoolP512r1tls13", share_len=129, pq=False, tls13=True),
        Group(code=0x0100, name="ffdhe2048", share_len=256, pq=False, tls13=True),
        Group(code=0x0101, name="ffdhe3072", share_len=384, pq=False, tls13=True),
        Group(code=0x0102, name="ffdhe4096", share_len=512, pq=False, tls13=True),
        Group(code=0x0103, name="ffdhe6144", share_len=768, pq=False, tls13=True),
        Group(code=0x0104, name="ffdhe8192", share_len=1024, pq=False, tls13=True),
        Group(code=0x0200, name="MLKEM512", share_len=800, pq=True, tls13=True),
        Group(code=0x0201, name="MLKEM768", share_len=1184, pq=True, tls13=True),
        Group(code=0x0202, name="MLKEM1024", share_len=1568, pq=True, tls13=True),
        Group(code=0x11EB, name="SecP256r1MLKEM768", share_len=65 + 1184, pq=True, tls13=True),
        Group(code=0x11EC, name="X25519MLKEM768", share_len=1184 + 32, pq=True, tls13=True),
        Group(code=0x11ED, name="SecP384r1MLKEM1024", share_len=97 + 1568, pq=True, tls13=True),
    )
}
GROUP_BY_NAME: Final[dict[str, Group]] = {g.name: g for g in GROUPS.values()}


def group_name(code: int) -> str:
    """The IANA name, or `0x....` for a code outside the table."""
    g = GROUPS.get(code)
    return g.name if g else f"0x{code:04x}"


def suite_name(code: int) -> str:
    s = SUITES.get(code)
    return s.name if s else f"0x{code:04x}"
