"""Trust stores from files: a PEM bundle (default Mozilla's roots from certifi) read once."""

from __future__ import annotations

from pathlib import Path

from scanner.errors import TrustStoreError
from scanner.x509.certs import TrustStore, load_trust_store


def load_trust(path: Path | str | None) -> TrustStore:
    """The trust store in the PEM bundle at `path`; TrustStoreError when it cannot be used."""
    if path is None:
        import certifi

        bundle = Path(certifi.where())
    else:
        bundle = Path(path)
    try:
        pem = bundle.read_bytes()
    except OSError as e:
        raise TrustStoreError(f"cannot read CA bundle {bundle}: {e.strerror or e}") from None
    return load_trust_store(pem, str(bundle))
