"""Chrome's CT log list (log_list.json, v3 schema): the logs by log_id, each with its key,
operator, state and temporal interval. A file that does not follow the schema is a
LogListError naming the file and the place."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from scanner.errors import TrustStoreError

MAX_LOG_LIST_BYTES = 16 * 1024 * 1024


class LogListError(TrustStoreError):
    """A --ct-logs file that is not a log_list.json v3 (the message names the file and why)."""


class LogState(StrEnum):
    """log_list.json v3 states (Chrome's CT Log Lifecycle)."""

    PENDING = "pending"
    QUALIFIED = "qualified"
    USABLE = "usable"
    READONLY = "readonly"
    RETIRED = "retired"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True, kw_only=True)
class Log:
    log_id: bytes
    description: str
    operator: str
    key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey = field(compare=False)
    state: LogState | None  # None: the list gives no state (Chrome ignores such logs)
    state_since: dt.datetime | None
    interval_start: dt.datetime | None  # temporal_interval: the notAfter range it accepts
    interval_end: dt.datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class LogList:
    source: str
    sha256: str  # of the file, for scan.json
    timestamp: dt.datetime | None  # log_list_timestamp
    version: str
    logs: Mapping[bytes, Log]  # by log_id


def _time(value: object, where: str, source: str) -> dt.datetime:
    if not isinstance(value, str):
        raise LogListError(f"{source}: {where}: a timestamp must be an RFC 3339 string")
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise LogListError(f"{source}: {where}: {value!r} is not an RFC 3339 timestamp") from None
    if when.tzinfo is None:
        raise LogListError(f"{source}: {where}: {value!r} has no time zone")
    return when.astimezone(dt.UTC)


def _b64(value: object, where: str, source: str) -> bytes:
    if not isinstance(value, str):
        raise LogListError(f"{source}: {where}: expected a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise LogListError(f"{source}: {where}: not base64") from None


def _log(raw: object, operator: str, where: str, source: str) -> Log:
    if not isinstance(raw, dict):
        raise LogListError(f"{source}: {where}: a log must be an object")
    log_id = _b64(raw.get("log_id"), f"{where}.log_id", source)
    key_der = _b64(raw.get("key"), f"{where}.key", source)
    if len(log_id) != 32:
        raise LogListError(f"{source}: {where}.log_id: {len(log_id)} bytes, not 32")
    if hashlib.sha256(key_der).digest() != log_id:
        raise LogListError(f"{source}: {where}: log_id is not the SHA-256 of its key")
    try:
        key = serialization.load_der_public_key(key_der)
    except (ValueError, UnsupportedAlgorithm) as e:
        raise LogListError(f"{source}: {where}.key: not a public key: {e}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise LogListError(f"{source}: {where}.key: neither ECDSA nor RSA")
    state: LogState | None = None
    since: dt.datetime | None = None
    states = raw.get("state")
    if states is not None:
        if not isinstance(states, dict) or len(states) != 1:
            raise LogListError(f"{source}: {where}.state: exactly one state expected")
        ((name, body),) = states.items()
        try:
            state = LogState(name)
        except ValueError:
            raise LogListError(f"{source}: {where}.state: unknown state {name!r}") from None
        if not isinstance(body, dict):
            raise LogListError(f"{source}: {where}.state.{name}: an object expected")
        since = _time(body.get("timestamp"), f"{where}.state.{name}.timestamp", source)
    start = end = None
    interval = raw.get("temporal_interval")
    if interval is not None:
        if not isinstance(interval, dict):
            raise LogListError(f"{source}: {where}.temporal_interval: an object expected")
        start = _time(interval.get("start_inclusive"), f"{where}.temporal_interval", source)
        end = _time(interval.get("end_exclusive"), f"{where}.temporal_interval", source)
    description = raw.get("description")
    return Log(
        log_id=log_id,
        description=description if isinstance(description, str) else "",
        operator=operator,
        key=key,
        state=state,
        state_since=since,
        interval_start=start,
        interval_end=end,
    )


def read_log_list(data: bytes, *, source: str) -> LogList:
    """A log list in the log_list.json v3 schema (www.gstatic.com/ct/log_list/v3/): operators,
    each with `logs` (RFC 6962) and `tiled_logs` (static-ct-api), each log with base64 log_id
    and key, one state with its timestamp, and a temporal interval. LogListError for anything
    else, naming `source`."""
    if len(data) > MAX_LOG_LIST_BYTES:
        raise LogListError(f"{source}: larger than {MAX_LOG_LIST_BYTES} bytes")
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LogListError(f"{source}: not a log_list.json: not JSON ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("operators"), list):
        raise LogListError(f"{source}: not a log_list.json: no operators list")
    logs: dict[bytes, Log] = {}
    for i, op in enumerate(doc["operators"]):
        if not isinstance(op, dict) or not isinstance(op.get("name"), str):
            raise LogListError(f"{source}: operators[{i}]: an operator needs a name")
        for kind in ("logs", "tiled_logs"):
            entries = op.get(kind, [])
            if not isinstance(entries, list):
                raise LogListError(f"{source}: operators[{i}].{kind}: a list expected")
            for j, raw in enumerate(entries):
                log = _log(raw, op["name"], f"operators[{i}].{kind}[{j}]", source)
                if log.log_id in logs:
                    raise LogListError(f"{source}: operators[{i}].{kind}[{j}]: log listed twice")
                logs[log.log_id] = log
    if not logs:
        raise LogListError(f"{source}: a log_list.json with no logs")
    stamp = doc.get("log_list_timestamp")
    version = doc.get("version")
    return LogList(
        source=source,
        sha256=hashlib.sha256(data).hexdigest(),
        timestamp=None if stamp is None else _time(stamp, "log_list_timestamp", source),
        version=version if isinstance(version, str) else "",
        logs=logs,
    )
