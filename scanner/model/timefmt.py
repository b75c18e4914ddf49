"""Instants as the outputs write them: ISO 8601 in UTC, with a Z to the second (tables, CSV,
findings), or as `datetime.isoformat` writes it (the as-of of report headings and JSON)."""

from __future__ import annotations

import datetime as dt


def utc_z(value: dt.datetime) -> str:
    """An aware instant in UTC as `YYYY-MM-DDTHH:MM:SSZ`."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_iso(value: dt.datetime) -> str:
    """An aware instant in UTC as `YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`."""
    return value.astimezone(dt.UTC).isoformat()
