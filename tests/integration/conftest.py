"""Fixtures of the integration tests that need object storage: a real S3 API server on
loopback (moto's standalone server), started by the tests that ask for it."""

from __future__ import annotations

import logging
import os
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

BUCKET = "fleet-scans"


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    """The S3 server on loopback and an s3fs client of it; AWS_* variables set for the module
    (explicit credentials and endpoint, no instance metadata: nothing leaves the machine)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server._server.server_port  # type: ignore[union-attr]
    # moto keeps its buckets in the process, across servers: start each module empty.
    urllib.request.urlopen(
        urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST"), timeout=10
    ).close()
    env = {
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    with pytest.MonkeyPatch.context() as mp:
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            mp.delenv(key, raising=False)
        for key, value in env.items():
            mp.setenv(key, value)
        import s3fs

        # fsspec keeps one client per set of arguments; one made for another module's server
        # (another endpoint) must not be reused.
        s3fs.S3FileSystem.clear_instance_cache()
        fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
        fs.mkdir(BUCKET)
        try:
            yield fs
        finally:
            s3fs.S3FileSystem.clear_instance_cache()
            server.stop()
