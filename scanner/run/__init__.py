"""Orchestration: the scan pipeline, the runner (input file to output folder), the Python API
and the offline check."""
