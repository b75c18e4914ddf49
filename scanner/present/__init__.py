"""Presentation: escaping of untrusted text, output formats, the HTML report. Pure."""
