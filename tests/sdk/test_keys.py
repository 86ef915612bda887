"""The API key is stripped and checked before any call; gRPC's "Invalid metadata" is final."""

from __future__ import annotations

import pytest

from xai_pipelines.emulator import Emulator, EmulatorConfig
from xai_pipelines.sdk import Client, user
from xai_pipelines.sdk.errors import InvalidApiKeyError, InvalidMetadataError, XaiError
from xai_pipelines.sdk.keys import clean_api_key
from xai_pipelines.sdk.retry import AttemptInfo

from .conftest import fast_policy

KEY = "xai-Key0123456789abcdefghij"


@pytest.mark.parametrize("raw", [KEY + "\n", KEY + "\r\n", f"  {KEY}\t", f"\n{KEY} "])
def test_surrounding_whitespace_is_stripped(raw: str) -> None:
    assert clean_api_key(raw) == KEY


@pytest.mark.parametrize(
    ("raw", "position", "kind"),
    [
        (KEY[:11] + "é" + KEY[11:], 12, "non-ASCII character (U+00E9"),
        (KEY[:4] + "\u2013" + KEY[5:], 5, "non-ASCII character (U+2013 EN DASH)"),
        (KEY[:6] + "\x01" + KEY[6:], 7, "control character (U+0001)"),
        (KEY[:6] + "\n" + KEY[6:], 7, "whitespace character (U+000A)"),
        (KEY[:6] + " " + KEY[6:], 7, "whitespace character (U+0020)"),
        (KEY[:6] + "\x7f" + KEY[6:], 7, "control character (U+007F)"),
        ("  " + KEY[:3] + "\u00a0" + KEY[3:], 6, "whitespace character (U+00A0)"),
    ],
    ids=["e-acute", "en-dash", "control", "inner-newline", "inner-space", "del", "nbsp"],
)
def test_a_bad_character_is_named_by_position_never_shown(
    raw: str, position: int, kind: str
) -> None:
    with pytest.raises(InvalidApiKeyError) as info:
        clean_api_key(raw)
    err = info.value
    assert err.position == position and err.source == "XAI_API_KEY"
    assert err.message.startswith(f"XAI_API_KEY contains a {kind}")
    assert f"at position {position}; keys are visible ASCII" in err.message
    assert isinstance(err, ValueError) and err.code == "INVALID_API_KEY"
    for text in (str(err), repr(err), err.message):
        assert KEY[:4] not in text and KEY[7:] not in text


@pytest.mark.parametrize("raw", ["", " ", "\n\t "])
def test_a_blank_key_is_refused(raw: str) -> None:
    with pytest.raises(InvalidApiKeyError, match="XAI_API_KEY is blank"):
        clean_api_key(raw)


def test_the_client_sends_the_stripped_key(emulator_factory) -> None:
    emu = emulator_factory(EmulatorConfig(api_keys=(KEY,)))
    with Client(api_key=KEY + "\n", api_host=emu.address) as client:
        reply = client.chat.create("grok-4.3", messages=[user("hi")], max_tokens=4).sample()
    assert reply.content


def test_the_client_refuses_a_bad_key_before_any_call(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = emulator.stats.calls.get("GetCompletion", 0)
    with pytest.raises(InvalidApiKeyError, match="api_key contains a non-ASCII"):
        Client(api_key="kéy", api_host=emulator.address)
    monkeypatch.setenv("XAI_API_KEY", "abc\u200b")
    with pytest.raises(InvalidApiKeyError, match=r"XAI_API_KEY contains a non-ASCII .* 4;"):
        Client(api_host=emulator.address)
    assert emulator.stats.calls.get("GetCompletion", 0) == before


def test_metadata_grpc_refuses_is_one_final_attempt(emulator: Emulator) -> None:
    """Before the key check, a bad key failed every call as INTERNAL and was retried."""
    attempts: list[AttemptInfo] = []
    policy = fast_policy(max_attempts=4, on_attempt=attempts.append)
    with (
        Client(
            api_key=emulator.api_key,
            api_host=emulator.address,
            retry_policy=policy,
            metadata={"x-note": "caf\u00e9\n"},
        ) as client,
        pytest.raises(XaiError) as info,
    ):
        client.chat.create("grok-4.3", messages=[user("hi")]).sample()
    err = info.value
    assert isinstance(err, InvalidMetadataError) and not err.retryable
    assert err.code == "INVALID_METADATA"
    assert [(a.attempt, a.will_retry) for a in attempts] == [(1, False)]
