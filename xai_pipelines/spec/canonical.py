"""Canonical JSON: the one deterministic serialization digests are computed over."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import msgspec


def canonical_json(value: Any) -> str:
    """Serialize ``value`` deterministically: sorted keys, no spaces, UTF-8 kept."""
    fast = plain_json_bytes(value, sort_keys=True, proxies=True)
    if fast is not None:
        return fast.decode()
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain
    )


def plain_json_bytes(value: Any, *, sort_keys: bool = False, proxies: bool = False) -> bytes | None:
    """Compact JSON of ``value`` by msgspec (several times faster than ``json.dumps``),
    or ``None`` when ``json.dumps`` might write other bytes: ``value`` is not
    :func:`is_plain_json`, or msgspec refuses it (a lone surrogate).

    For the values it encodes the bytes are ``json.dumps(value, ensure_ascii=False,
    separators=(",", ":"), sort_keys=sort_keys)`` encoded as UTF-8 (sorting by UTF-8
    bytes is sorting by code point). ``proxies``: read-only mapping proxies are
    written as objects (as :func:`canonical_json`'s ``default`` does; bare
    ``json.dumps`` refuses them).
    """
    if not is_plain_json(value, proxies):
        return None
    try:
        return (_SORTED if sort_keys else _COMPACT).encode(value)
    except UnicodeEncodeError:
        return None


def is_plain_json(value: Any, proxies: bool = True) -> bool:
    """True when ``value`` holds only str, int, bool, None, lists, tuples and dicts
    with str keys (and read-only mapping proxies, with ``proxies``): values msgspec
    and ``json.dumps`` write byte for byte alike. A float, a set or a date is not
    (json writes ``1e+16`` and ``NaN``, refuses sets and dates; msgspec writes
    ``1e16`` and ``null``, an array, a string)."""
    # a loop over a stack, not recursion: this runs for every plan line and digest
    stack = [value]
    pop, push = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            continue
        if kind is dict or (proxies and kind is MappingProxyType):
            for key in item:
                if type(key) is not str:
                    return False
            push(item.values())
        elif kind is list or kind is tuple:
            push(item)
        else:
            return False
    return True


def encode_mapping(value: Any) -> Any:
    """msgspec's ``enc_hook`` for mappings that are not dicts (a job's read-only ``meta``).

    msgspec's protocol: ``NotImplementedError`` says "unsupported type", and the
    encoder raises it to its caller as a ``TypeError``.
    """
    if type(value) is MappingProxyType or isinstance(value, Mapping):  # (exact type: no ABC check)
        return dict(value)
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


_SORTED = msgspec.json.Encoder(order="sorted", enc_hook=encode_mapping)
_COMPACT = msgspec.json.Encoder(enc_hook=encode_mapping)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple | frozenset | set):
        return list(value)
    raise TypeError(f"not JSON-serializable: {type(value).__name__}")


def digest(value: Any, length: int = 16) -> str:
    """Hex SHA-256 of the canonical JSON of ``value``, cut to ``length`` characters."""
    data = plain_json_bytes(value, sort_keys=True, proxies=True)
    if data is None:
        data = canonical_json(value).encode()
    return hashlib.sha256(data).hexdigest()[:length]
