"""Input parsing: CSV rows to targets, host names, option values. Pure."""
