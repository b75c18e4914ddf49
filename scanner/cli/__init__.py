"""The command line: a thin veneer over the library (`scanner.cli.main:main`)."""
