"""Which protocol is spoken before TLS: the row's `starttls` cell over the --starttls option,
`auto` by the issue's port table, `none` for direct TLS. And how a server's text is quoted."""

from __future__ import annotations

import pytest

from scanner.model.types import StartTls
from scanner.net.starttls import choose, quote

# (option, cell, port) -> protocol spoken before TLS (None: TLS from the first byte)
CASES = [
    ("auto", None, 25, StartTls.SMTP),
    ("auto", None, 587, StartTls.SMTP),
    ("auto", None, 143, StartTls.IMAP),
    ("auto", None, 110, StartTls.POP3),
    ("auto", None, 21, StartTls.FTP),
    ("auto", None, 389, StartTls.LDAP),
    ("auto", None, 5222, StartTls.XMPP),
    ("auto", None, 5432, StartTls.POSTGRES),
    ("auto", None, 443, None),
    ("auto", None, 465, None),  # SMTP submission over implicit TLS (RFC 8314)
    ("auto", None, 993, None),
    ("auto", None, 636, None),
    ("none", None, 25, None),
    ("smtp", None, 443, StartTls.SMTP),
    ("auto", "none", 25, None),  # the cell overrides the option
    ("none", "imap", 8143, StartTls.IMAP),
    ("smtp", "auto", 5432, StartTls.POSTGRES),
    ("smtp", "auto", 443, None),
]


@pytest.mark.parametrize(("option", "cell", "port", "want"), CASES)
def test_choose(option: str, cell: str | None, port: int, want: StartTls | None) -> None:
    assert choose(option, cell, port) is want


def test_quote_makes_server_text_printable_and_short() -> None:
    assert quote(b"220 mail ready\r\n") == "'220 mail ready'"
    assert quote(b"554 \x1b[31mred\x07\r\n") == "'554 \\x1b[31mred\\x07'"
    assert quote("caf\u00e9") == "'caf\\xe9'"
    long = quote(b"x" * 1000, limit=20)
    assert long == "'" + "x" * 20 + "...'"
