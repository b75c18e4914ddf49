"""Instants as the outputs write them: ISO 8601 in UTC with a Z, to the second."""

from __future__ import annotations

import datetime as dt


def utc_z(value: dt.datetime) -> str:
    """An aware instant in UTC as `YYYY-MM-DDTHH:MM:SSZ`."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
