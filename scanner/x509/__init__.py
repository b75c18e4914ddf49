"""Certificates: parsing, path building, the diagnosis rules, chain files. Pure."""
