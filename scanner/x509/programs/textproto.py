"""A small reader for the protobuf text format, the subset Chrome's root_store.textproto uses:
nested messages, repeated fields, strings, integers and identifiers (true, enum names), `#`
comments. No schema: the caller interprets the tree. Bounded: nesting depth and input size."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeAlias

MAX_DEPTH = 16
MAX_CHARS = 16 * 1024 * 1024


class TextprotoError(ValueError):
    """Text that is not protobuf text format (the message gives the line)."""


@dataclass(frozen=True, slots=True)
class Ident:
    """A bare identifier value: true/false or an enum name."""

    name: str


Value: TypeAlias = "str | int | Ident | Message"


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    value: Value
    line: int


@dataclass(frozen=True, slots=True)
class Message:
    fields: tuple[Field, ...]

    def all(self, name: str) -> list[Value]:
        return [f.value for f in self.fields if f.name == name]


_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\n\f\v]+|\#[^\n]*)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<number>-?(?:0[xX][0-9A-Fa-f]+|[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?[fF]?))
    |(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    |(?P<punct>[{}<>:,;\[\]])
    """,
    re.VERBOSE,
)
_ESCAPE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|(.))", re.DOTALL)
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _unescape(body: str, line: int) -> str:
    def one(m: re.Match[str]) -> str:
        octal, hexa, char = m.groups()
        if octal is not None:
            return chr(int(octal, 8))
        if hexa is not None:
            return chr(int(hexa, 16))
        if char in _SIMPLE:
            return _SIMPLE[char]
        if char in "\"'\\?":
            return char
        raise TextprotoError(f"line {line}: unknown escape \\{char}")

    return _ESCAPE.sub(one, body)


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str
    line: int


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos, line = 0, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise TextprotoError(f"line {line}: unexpected character {text[pos]!r}")
        kind = m.lastgroup
        assert kind is not None
        if kind != "space":
            out.append(_Tok(kind, m.group(), line))
        line += m.group().count("\n")
        pos = m.end()
    return out


class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.i = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            last = self.toks[-1].line if self.toks else 1
            raise TextprotoError(f"line {last}: unexpected end of text")
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.take()
        if tok.text != text:
            raise TextprotoError(f"line {tok.line}: expected {text!r}, found {tok.text!r}")

    def message(self, depth: int, close: str | None) -> Message:
        if depth > MAX_DEPTH:
            tok = self.peek()
            raise TextprotoError(f"line {tok.line if tok else 0}: nested deeper than {MAX_DEPTH}")
        fields: list[Field] = []
        while True:
            tok = self.peek()
            if tok is None:
                if close is not None:
                    self.take()  # raises: unexpected end
                return Message(tuple(fields))
            if close is not None and tok.text == close:
                self.take()
                return Message(tuple(fields))
            fields.extend(self.field(depth))

    def field(self, depth: int) -> list[Field]:
        name = self.take()
        if name.kind != "ident":
            raise TextprotoError(f"line {name.line}: expected a field name, found {name.text!r}")
        tok = self.peek()
        colon = tok is not None and tok.text == ":"
        if colon:
            self.take()
        tok = self.peek()
        if tok is not None and tok.text in ("{", "<"):
            values: list[Value] = [self.submessage(depth)]
        elif colon and tok is not None and tok.text == "[":
            values = self.list(depth)
        elif colon:
            values = [self.scalar()]
        else:
            found = tok.text if tok else "end of text"
            raise TextprotoError(
                f"line {name.line}: expected ':' or '{{' after {name.text}, found {found!r}"
            )
        tok = self.peek()
        if tok is not None and tok.text in (",", ";"):
            self.take()
        return [Field(name.text, v, name.line) for v in values]

    def submessage(self, depth: int) -> Message:
        open_ = self.take()
        return self.message(depth + 1, "}" if open_.text == "{" else ">")

    def list(self, depth: int) -> list[Value]:
        self.expect("[")
        out: list[Value] = []
        tok = self.peek()
        if tok is not None and tok.text == "]":
            self.take()
            return out
        while True:
            tok = self.peek()
            out.append(self.submessage(depth) if tok and tok.text in ("{", "<") else self.scalar())
            sep = self.take()
            if sep.text == "]":
                return out
            if sep.text != ",":
                raise TextprotoError(f"line {sep.line}: expected ',' or ']', found {sep.text!r}")

    def scalar(self) -> Value:
        tok = self.take()
        if tok.kind == "string":
            parts = [_unescape(tok.text[1:-1], tok.line)]
            nxt = self.peek()
            while nxt is not None and nxt.kind == "string":  # "a" "b" is "ab"
                parts.append(_unescape(self.take().text[1:-1], nxt.line))
                nxt = self.peek()
            return "".join(parts)
        if tok.kind == "number":
            try:
                return int(tok.text, 0)
            except ValueError:
                raise TextprotoError(
                    f"line {tok.line}: {tok.text} is not an integer (floats are not read)"
                ) from None
        if tok.kind == "ident":
            return Ident(tok.text)
        raise TextprotoError(f"line {tok.line}: expected a value, found {tok.text!r}")


def parse(text: str) -> Message:
    """The top-level message of `text`; TextprotoError if it is not protobuf text format."""
    if len(text) > MAX_CHARS:
        raise TextprotoError(f"larger than {MAX_CHARS} characters")
    return _Parser(_tokens(text)).message(0, None)
