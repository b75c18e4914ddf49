"""pandas summaries of a scan: counts, fix list, diff between scans. Pure."""
