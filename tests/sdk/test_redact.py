"""Secret redaction of text and log records (the key, bearer tokens, xAI-shaped keys)."""

from __future__ import annotations

import io
import logging

from xai_pipelines.sdk.redact import REDACTED, RedactingFilter, redact

KEY = "canary-key-7f3a9b"


def test_redact_removes_the_given_secret_and_bearer_shaped_credentials():
    text = f"key {KEY}; authorization: Bearer abcDEF123456789; xai-{'Z' * 40} end"
    out = redact(text, [KEY, None, ""])
    assert KEY not in out and "abcDEF123456789" not in out and "xai-ZZZZ" not in out
    assert out == f"key {REDACTED}; authorization: Bearer {REDACTED}; {REDACTED} end"


def test_redact_leaves_ordinary_text_alone():
    hint = "send the header 'authorization: Bearer <api key>'"
    assert redact(hint) == hint
    assert redact("grok-4.3 answered in 0.2s", [KEY]) == "grok-4.3 answered in 0.2s"


def test_the_filter_redacts_message_arguments_and_traceback():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter([KEY]))
    logger = logging.getLogger("tests.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise RuntimeError(f"failed with {KEY}")
        except RuntimeError:
            logger.exception("calling with %s and Bearer %s", KEY, "tok-1234567890")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    text = stream.getvalue()
    assert KEY not in text and "tok-1234567890" not in text
    assert "Traceback" in text and f"RuntimeError: failed with {REDACTED}" in text
