"""The bench's TLS server: nginx (Debian's package, installed when missing) on 127.0.0.1 with a
private CA, one worker, no session cache (every handshake is a full one), in its own temp
prefix, pinned to core 0 where taskset exists. Always stopped by the context manager."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from scanner.testing.lab import DAY, Issued, make_ca, make_leaf

DOMAIN = "bench.test"


@dataclass(frozen=True, slots=True)
class BenchPki:
    root: Issued
    intermediate: Issued
    leaves: tuple[Issued, ...]  # one per certificate group (see `zone`)

    @classmethod
    def create(cls, as_of: dt.datetime, groups: int) -> BenchPki:
        """EC P-256 throughout (the shape of most Web PKI chains today); the server sends the
        leaf and the intermediate; the root is the trust store."""
        root = make_ca("Bench Root CA", not_before=as_of - 3650 * DAY, not_after=as_of + 3650 * DAY)
        inter = make_ca(
            "Bench Intermediate CA",
            issuer=root,
            not_before=as_of - 1000 * DAY,
            not_after=as_of + 1000 * DAY,
        )
        leaves = tuple(
            make_leaf(
                inter,
                dns_names=[f"*.{zone(g, groups)}"],
                # 190 days: within the CA/B limit for a leaf issued after 2026-03-15 (200
                # days), so the bench's hosts are a healthy fleet (no lifetime_over_limit).
                not_before=as_of - 30 * DAY,
                not_after=as_of + 160 * DAY,
            )
            for g in range(groups)
        )
        return cls(root=root, intermediate=inter, leaves=leaves)


def zone(group: int, groups: int) -> str:
    """The DNS zone whose wildcard certificate group `group` serves."""
    return DOMAIN if groups == 1 else f"c{group:03d}.{DOMAIN}"


def hostname(i: int, groups: int) -> str:
    return f"h{i:05d}.{zone(i % groups, groups)}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nginx_binary() -> str:
    """nginx from PATH or /usr/sbin; installed from Debian's packages when missing."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError("nginx is missing; install it (Debian: apt-get install -y nginx)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "nginx"]):
        subprocess.run(cmd, check=True, env=env, timeout=600, stdout=subprocess.DEVNULL)
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if not found:
        raise RuntimeError("apt-get installed nginx but no nginx binary was found")
    return found


def _config(prefix: Path, port: int, groups: int) -> str:
    servers = []
    for g in range(groups):
        # Socket options go on one listen directive only (nginx refuses them twice).
        options = " backlog=4096 default_server" if g == 0 else ""
        servers.append(f"""
    server {{
        listen 127.0.0.1:{port} ssl{options};
        server_name *.{zone(g, groups)};
        ssl_certificate {prefix}/chain{g}.pem;
        ssl_certificate_key {prefix}/key{g}.pem;
        return 204;
    }}""")
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}worker_processes 1;
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
worker_rlimit_nofile 65536;
events {{
    worker_connections 16384;
    multi_accept on;
}}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;
    keepalive_timeout 0;
{"".join(servers)}
}}
"""


@dataclass(frozen=True, slots=True)
class Server:
    port: int
    pid: int
    version: str
    pinned_core: int | None


@contextlib.contextmanager
def nginx(pki: BenchPki, prefix: Path, core: int | None) -> Iterator[Server]:
    binary = nginx_binary()
    version = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=30).stderr
    prefix.mkdir(parents=True, exist_ok=True)
    for g, leaf in enumerate(pki.leaves):
        (prefix / f"chain{g}.pem").write_bytes(leaf.pem + pki.intermediate.pem)
        (prefix / f"key{g}.pem").write_bytes(leaf.key_pem())
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(_config(prefix, port, len(pki.leaves)))
    argv = [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    if core is not None:
        argv = ["taskset", "-c", str(core), *argv]
    log = open(prefix / "stdout.log", "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )
    try:
        _wait_listening(proc, port, prefix)
        yield Server(port=port, pid=proc.pid, version=version.strip(), pinned_core=core)
    finally:
        _stop(proc)
        log.close()


def _wait_listening(proc: subprocess.Popen[bytes], port: int, prefix: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = (prefix / "error.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"nginx exited with {proc.returncode}: {err}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on 127.0.0.1:{port} within 15 s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the master (fast shutdown), then SIGKILL to its process group."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # any worker left behind
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
