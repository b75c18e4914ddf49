"""sslyze's side of the peers bench (bench/peers.py), run by the bench's own venv
(bench/.venv-sslyze, pinned in bench/requirements-sslyze.txt): its SSL 2.0-TLS 1.3 cipher-suite
and elliptic-curve scans of the targets given, through its Python API. Imports nothing of the
scanner (it runs on another interpreter).

    bench/.venv-sslyze/bin/python bench/sslyze_side.py TARGETS.json OUT.json

TARGETS.json: [{"host": NAME, "ip": ADDRESS, "port": PORT}, ...]. OUT.json: the client CPU
(process time of every thread, from the first request queued to the last result), the wall
time, and per target the accepted suites per version (IANA names) and the curves, or the error.
"""

from __future__ import annotations

import json
import sys
import time
from importlib.metadata import version
from typing import Any

from sslyze import (
    ScanCommand,
    Scanner,
    ServerNetworkConfiguration,
    ServerNetworkLocation,
    ServerScanRequest,
    ServerScanStatusEnum,
)

VERSIONS = {
    "ssl2": ScanCommand.SSL_2_0_CIPHER_SUITES,
    "ssl3": ScanCommand.SSL_3_0_CIPHER_SUITES,
    "tls1_0": ScanCommand.TLS_1_0_CIPHER_SUITES,
    "tls1_1": ScanCommand.TLS_1_1_CIPHER_SUITES,
    "tls1_2": ScanCommand.TLS_1_2_CIPHER_SUITES,
    "tls1_3": ScanCommand.TLS_1_3_CIPHER_SUITES,
}


def _request(t: dict[str, Any]) -> ServerScanRequest:
    return ServerScanRequest(
        server_location=ServerNetworkLocation(
            hostname=t["host"], port=t["port"], ip_address=t["ip"]
        ),
        network_configuration=ServerNetworkConfiguration(tls_server_name_indication=t["host"]),
        scan_commands={*VERSIONS.values(), ScanCommand.ELLIPTIC_CURVES},
    )


def _result(r: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"host": r.server_location.hostname, "port": r.server_location.port}
    if r.scan_status != ServerScanStatusEnum.COMPLETED:
        trace = r.connectivity_error_trace
        why = "".join(trace.format_exception_only()).strip() if trace else r.scan_status
        out["error"] = f"connectivity: {why}"
        return out
    suites: dict[str, list[str]] = {}
    errors = []
    for column, command in VERSIONS.items():
        attempt = getattr(r.scan_result, command.value)
        if attempt.result is None:
            trace = attempt.error_trace
            why = "".join(trace.format_exception_only()).strip() if trace else ""
            errors.append(f"{column}: {attempt.error_reason} {why}")
            continue
        suites[column] = [a.cipher_suite.name for a in attempt.result.accepted_cipher_suites]
    curves = r.scan_result.elliptic_curves
    if curves.result is None:
        errors.append(f"curves: {curves.error_reason}")
    else:
        out["curves"] = [c.name for c in curves.result.supported_curves or ()]
    out["suites"] = suites
    if errors:
        out["error"] = "; ".join(errors)
    return out


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        targets = json.load(f)
    cpu, wall = time.process_time(), time.perf_counter()
    scanner = Scanner()
    scanner.queue_scans([_request(t) for t in targets])
    results = [_result(r) for r in scanner.get_results()]
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    report = {"sslyze": version("sslyze"), "cpu_s": cpu, "wall_s": wall, "results": results}
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main()
