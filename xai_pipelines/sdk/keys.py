"""The API key as it may be sent: stripped and checked before any call.

The key travels as the ``authorization: Bearer <key>`` header. gRPC's ASCII
metadata values are printable ASCII and space (``ASCII-Value → 1*( %x20-%x7E )``,
https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md, read 2026-11-29);
grpcio refuses any other value on every call, as ``INTERNAL: Invalid metadata``
(observed with grpcio 1.85 on 2026-11-29), which says nothing about the key. A key
holds no spaces either, so the check allows visible ASCII (``!`` to ``~``) only. A
key copied with a trailing newline, or through an editor that turned a dash into
a typographic one, is the usual cause. :func:`clean_api_key` is the one check:
the sync :class:`~xai_pipelines.sdk.Client`, the async client and the CLI use it.
"""

from __future__ import annotations

import unicodedata

from xai_pipelines.sdk.errors import InvalidApiKeyError

__all__ = ["API_KEY_ENV", "clean_api_key"]

#: The environment variable that holds the key.
API_KEY_ENV = "XAI_API_KEY"

_HINT = (
    "keys are visible ASCII characters with no spaces; copy the key again "
    "from the xAI console (the key is not shown here)"
)


def _describe(char: str) -> str:
    """What kind of character ``char`` is, without showing a key character."""
    if char.isspace():
        return f"a whitespace character (U+{ord(char):04X})"
    if ord(char) < 0x20 or ord(char) == 0x7F:
        return f"a control character (U+{ord(char):04X})"
    name = unicodedata.name(char, "unnamed")
    return f"a non-ASCII character (U+{ord(char):04X} {name})"


def clean_api_key(raw: str, source: str = API_KEY_ENV) -> str:
    """The key without surrounding whitespace, checked to be sendable as a header value.

    Args:
        raw: The key as given (environment variable, option or argument).
        source: How messages name it (``XAI_API_KEY``, ``api_key``).

    Returns:
        The stripped key.

    Raises:
        InvalidApiKeyError: The key is blank, or holds a character other than
            visible ASCII (``!`` to ``~``). The message gives the 1-based position
            in ``raw`` and the kind of character, never the key.
    """
    key = raw.strip()
    if not key:
        raise InvalidApiKeyError(
            f"{source} is blank (only whitespace); set it to your xAI API key",
            source=source,
            position=0,
        )
    offset = len(raw) - len(raw.lstrip())
    for index, char in enumerate(key):
        if not "!" <= char <= "~":
            position = offset + index + 1
            raise InvalidApiKeyError(
                f"{source} contains {_describe(char)} at position {position}; {_HINT}",
                source=source,
                position=position,
            )
    return key
