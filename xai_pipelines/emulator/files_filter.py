"""The ``filter`` expression of ListFiles: parse once, then test files against it.

Grammar (the fields and operators xai-sdk 1.21.0 documents for ``files.list``;
read 2026-11-29)::

    expr       := term ("OR" term)*
    term       := factor ("AND" factor)*
    factor     := "NOT" factor | "(" expr ")" | comparison
    comparison := FIELD ("=" | "!=" | ">" | ">=" | "<" | "<=") VALUE
    VALUE      := "quoted string" | number | null

Fields: ``file_id``, ``name`` (or ``file_name``), ``size_bytes``, ``content_type``,
``created_at``, ``expires_at``, ``public_url``, ``public_url_expires_at``. Times
compare as RFC 3339 timestamps; ``= null`` matches an unset field. The
documented fields ``upload_status`` and ``user_defined_id`` have no counterpart
in the emulator and are refused. Keywords are case-insensitive.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from xai_pipelines.emulator.errors import invalid
from xai_pipelines.emulator.files_store import StoredFile

_TOKEN = re.compile(
    r"\s*(?:(?P<str>\"(?:[^\"\\]|\\.)*\")|(?P<op>!=|>=|<=|=|>|<)|(?P<paren>[()])"
    r"|(?P<num>-?\d+(?:\.\d+)?)|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"
)
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_TIME_FIELDS = ("created_at", "expires_at", "public_url_expires_at")
_UNSUPPORTED = ("upload_status", "user_defined_id")

Predicate = Callable[[StoredFile], bool]


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise invalid(f"filter: unexpected text at position {pos}: {text[pos : pos + 12]!r}")
        kind = m.lastgroup or ""
        out.append(_Tok(kind, m.group(kind)))
        pos = m.end()
    return out


def _time(value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"filter: {value!r} is not an RFC 3339 timestamp") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _ts(seconds: float | None) -> dt.datetime | None:
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.UTC)


def _field_value(record: StoredFile, name: str) -> Any:
    values: dict[str, Any] = {
        "file_id": record.file_id,
        "name": record.filename,
        "file_name": record.filename,
        "size_bytes": record.size,
        "content_type": record.content_type,
        "created_at": _ts(record.created_at),
        "expires_at": _ts(record.expires_at),
        "public_url": record.public_token,
        "public_url_expires_at": _ts(record.public_expires_at),
    }
    return values[name]


class _Parser:
    def __init__(self, tokens: list[_Tok]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek_word(self, word: str) -> bool:
        tok = self.tokens[self.pos] if self.pos < len(self.tokens) else None
        return tok is not None and tok.kind == "word" and tok.text.upper() == word

    def take(self) -> _Tok:
        if self.pos >= len(self.tokens):
            raise invalid("filter: the expression ends too early")
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def expr(self) -> Predicate:
        parts = [self.term()]
        while self.peek_word("OR"):
            self.take()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else (lambda f: any(p(f) for p in parts))

    def term(self) -> Predicate:
        parts = [self.factor()]
        while self.peek_word("AND"):
            self.take()
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else (lambda f: all(p(f) for p in parts))

    def factor(self) -> Predicate:
        if self.peek_word("NOT"):
            self.take()
            inner = self.factor()
            return lambda f: not inner(f)
        tok = self.take()
        if tok.kind == "paren" and tok.text == "(":
            inner = self.expr()
            close = self.take()
            if close.text != ")":
                raise invalid("filter: missing ')'")
            return inner
        if tok.kind != "word":
            raise invalid(f"filter: expected a field name, got {tok.text!r}")
        return self.comparison(tok.text.lower())

    def comparison(self, name: str) -> Predicate:
        if name in _UNSUPPORTED:
            raise invalid(f"filter: field {name!r} is not supported by the emulator")
        known = ("file_id", "name", "file_name", "size_bytes", "content_type", "public_url")
        if name not in known + _TIME_FIELDS:
            raise invalid(f"filter: unknown field {name!r}")
        op = self.take()
        if op.kind != "op":
            raise invalid(f"filter: expected an operator after {name!r}, got {op.text!r}")
        raw = self.take()
        value: Any
        if raw.kind == "word" and raw.text.lower() == "null":
            value = None
        elif raw.kind == "str":
            text = re.sub(r"\\(.)", r"\1", raw.text[1:-1])
            value = _time(text) if name in _TIME_FIELDS else text
        elif raw.kind == "num" and name == "size_bytes":
            value = float(raw.text)
        else:
            raise invalid(f"filter: {raw.text!r} is not a value for {name!r}")
        test = _OPS[op.text]

        def predicate(record: StoredFile) -> bool:
            actual = _field_value(record, name)
            if value is None or actual is None:
                if op.text not in ("=", "!="):
                    return False
                return test(actual is None, value is None)
            return bool(test(actual, value))

        return predicate


def parse_filter(text: str) -> Predicate:
    """Compile a filter expression.

    Raises:
        EmulatorError: INVALID_ARGUMENT naming the problem.
    """
    tokens = _tokens(text)
    if not tokens:
        return lambda f: True
    parser = _Parser(tokens)
    predicate = parser.expr()
    if parser.pos != len(tokens):
        raise invalid(f"filter: unexpected {tokens[parser.pos].text!r}")
    return predicate
