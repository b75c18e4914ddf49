"""A root program as the scan judges with it: its name (as `trusted_by` and `distrusted_by`
write it), what its file says, and its anchors as a trust store. Chrome's file names anchors
by SHA-256 only: their certificates come from the other files of the scan (the --ca-bundle,
--trust-store stores, certdata.txt programs), and an anchor none of them holds is not used."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from scanner.x509.certs import TrustStore, quiet, store_of
from scanner.x509.programs.model import ProgramKind, RootProgram


@dataclass(frozen=True, slots=True)
class NamedProgram:
    name: str
    program: RootProgram
    trust: TrustStore | None  # its anchors whose certificates are known; None: none is

    @property
    def requires_ct(self) -> bool:
        """Chrome refuses publicly trusted certificates without enough SCTs."""
        return self.program.kind is ProgramKind.CHROME


def certificates_of(program: RootProgram) -> tuple[x509.Certificate, ...]:
    """The anchors' certificates the file itself carries (certdata.txt does)."""
    out = []
    for anchor in program.anchors.values():
        if anchor.der is None:
            continue
        try:
            with quiet():
                out.append(x509.load_der_x509_certificate(anchor.der))
        except ValueError:
            continue  # the parser checked it; a certificate cryptography refuses is not used
    return tuple(out)


def named(name: str, program: RootProgram, known: Iterable[x509.Certificate]) -> NamedProgram:
    """The program named `name`, its anchors found among its own certificates and `known`."""
    by_sha: dict[str, x509.Certificate] = {}
    for cert in (*certificates_of(program), *known):
        by_sha.setdefault(hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest(), cert)
    roots = tuple(by_sha[s] for s in sorted(program.anchors) if s in by_sha)
    if not roots:
        return NamedProgram(name, program, None)
    # Its identity for the memo: the file and the certificates found for it.
    ident = hashlib.sha256(
        (
            "program:"
            + program.sha256
            + ":"
            + ",".join(sorted(by_sha.keys() & program.anchors.keys()))
        ).encode()
    ).hexdigest()
    return NamedProgram(name, program, store_of(roots, path=program.source, sha256=ident))
