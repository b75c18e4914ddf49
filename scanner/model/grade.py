"""The letters of the SSL Labs-style grade (hosts.parquet `grade`, `grade_basis`): computed
once per host by the run (scanner.analysis.grade) and carried on its result."""

from __future__ import annotations

from enum import StrEnum


class Grade(StrEnum):
    A = "A"
    A_MINUS = "A-"
    B = "B"
    C = "C"
    F = "F"
    M = "M"  # certificate name mismatch
    T = "T"  # certificate not trusted


class GradeBasis(StrEnum):
    CERTIFICATE = "certificate"
    CERTIFICATE_PROTOCOLS = "certificate+protocols"  # scans before the prober (issue 19)
    CERTIFICATE_PROTOCOLS_CIPHERS = "certificate+protocols+ciphers"
