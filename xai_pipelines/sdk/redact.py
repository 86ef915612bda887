"""Keeping the API key out of text: error messages, log records.

One function, :func:`redact`, replaces every given secret and anything that looks
like a bearer credential (``Bearer <token>``, an ``xai-`` key) with ``[REDACTED]``.
The client uses it on every error message it converts (:mod:`~xai_pipelines.sdk._call`);
:class:`RedactingFilter` applies it to log records, traceback included, before a
handler writes them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

__all__ = ["REDACTED", "RedactingFilter", "redact"]

REDACTED = "[REDACTED]"

# ``authorization: Bearer <token>`` as gRPC metadata or an HTTP header prints it.
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
# The shape of an xAI API key (``xai-`` and a long run of key characters).
_XAI_KEY = re.compile(r"\bxai-[A-Za-z0-9_-]{20,}")


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with each of ``secrets`` and every bearer-looking credential replaced.

    Args:
        text: Any text that may hold a credential.
        secrets: Exact values to remove (an API key); empty and None values are skipped.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    return _XAI_KEY.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """A handler filter that redacts each record's message and traceback in place.

    The record's message is formatted once (``msg % args``) and redacted; its
    exception and stack text likewise, so a formatter only sees clean text.

    Args:
        secrets: Exact values to remove, besides bearer-looking credentials.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True
