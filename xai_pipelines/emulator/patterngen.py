"""Strings matching a regular expression, for JSON-schema ``pattern`` keywords.

Walks the parse tree of Python's own regex parser (``re._parser``; JSON-schema
patterns are ECMA-262, whose common subset Python parses the same way) and
emits one matching string. Lookarounds and other rare constructs are not
supported: the caller then falls back to plain text.
"""

from __future__ import annotations

import random
import re
import re._parser as sre  # type: ignore[import-not-found,unused-ignore]
import string
from re._constants import (  # type: ignore[import-not-found,unused-ignore]
    ANY,
    AT,
    ATOMIC_GROUP,
    BRANCH,
    CATEGORY,
    CATEGORY_DIGIT,
    CATEGORY_NOT_DIGIT,
    CATEGORY_NOT_SPACE,
    CATEGORY_NOT_WORD,
    CATEGORY_SPACE,
    CATEGORY_WORD,
    GROUPREF,
    IN,
    LITERAL,
    MAX_REPEAT,
    MIN_REPEAT,
    NEGATE,
    NOT_LITERAL,
    POSSESSIVE_REPEAT,
    RANGE,
    SUBPATTERN,
)
from typing import Any

_PRINTABLE = string.ascii_letters + string.digits + " -_.,:;!?@#/"
_CATEGORIES = {
    CATEGORY_DIGIT: string.digits,
    CATEGORY_NOT_DIGIT: string.ascii_letters,
    CATEGORY_WORD: string.ascii_letters + string.digits + "_",
    CATEGORY_NOT_WORD: " -.,",
    CATEGORY_SPACE: " ",
    CATEGORY_NOT_SPACE: string.ascii_letters + string.digits,
}
#: Extra repetitions beyond a quantifier's minimum (keeps strings short).
_EXTRA_REPEATS = 3


class _Unsupported(Exception):
    pass


def _in_set(items: list[tuple[Any, Any]], char: str) -> bool:
    code = ord(char)
    for op, arg in items:
        if op is LITERAL and code == arg:
            return True
        if op is RANGE and arg[0] <= code <= arg[1]:
            return True
        if op is CATEGORY and char in _CATEGORIES.get(arg, ""):
            return True
    return False


def _pick_from_set(items: list[tuple[Any, Any]], rng: random.Random) -> str:
    negated = bool(items) and items[0][0] is NEGATE
    members = items[1:] if negated else items
    candidates = [c for c in _PRINTABLE if _in_set(members, c) != negated]
    if not candidates and not negated:
        candidates = [chr(arg) for op, arg in members if op is LITERAL]
        candidates += [chr(arg[0]) for op, arg in members if op is RANGE]
    if not candidates:
        raise _Unsupported("empty character set")
    return rng.choice(candidates)


def _emit(tree: Any, rng: random.Random, groups: dict[int, str]) -> str:
    out: list[str] = []
    for op, arg in tree:
        if op is LITERAL:
            out.append(chr(arg))
        elif op is NOT_LITERAL:
            out.append(next(c for c in _PRINTABLE if ord(c) != arg))
        elif op is ANY:
            out.append(rng.choice(string.ascii_letters))
        elif op is IN:
            out.append(_pick_from_set(arg, rng))
        elif op in (MAX_REPEAT, MIN_REPEAT, POSSESSIVE_REPEAT):
            low, high, sub = arg
            count = rng.randint(low, min(high, low + _EXTRA_REPEATS))
            out.extend(_emit(sub, rng, groups) for _ in range(count))
        elif op is SUBPATTERN:
            group, _add, _del, sub = arg
            text = _emit(sub, rng, groups)
            if group is not None:
                groups[group] = text
            out.append(text)
        elif op is ATOMIC_GROUP:
            out.append(_emit(arg, rng, groups))
        elif op is BRANCH:
            out.append(_emit(rng.choice(arg[1]), rng, groups))
        elif op is GROUPREF:
            out.append(groups.get(arg, ""))
        elif op is AT:
            continue  # anchors constrain position, not content
        else:
            raise _Unsupported(str(op))
    return "".join(out)


def string_matching(pattern: str, rng: random.Random) -> str | None:
    """A string ``re.search(pattern, s)`` accepts, or None when it cannot make one."""
    try:
        tree = sre.parse(pattern)
        text = _emit(tree, rng, {})
    except (re.error, _Unsupported, RecursionError):
        return None
    return text if re.search(pattern, text) else None
