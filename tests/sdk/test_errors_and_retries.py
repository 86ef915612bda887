"""Errors mapped from real gRPC statuses, retries through the shared policy, deadlines."""

from __future__ import annotations

from concurrent import futures

import grpc
import pytest

from xai_pipelines.emulator import EmulatorConfig, FaultConfig
from xai_pipelines.proto import chat_pb2_grpc
from xai_pipelines.sdk import Client, user
from xai_pipelines.sdk.errors import (
    AuthenticationError,
    DeadlineExceededError,
    InternalServerError,
    InvalidRequestError,
    MissingApiKeyError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnavailableError,
    XaiError,
)

from .conftest import fast_policy

SECRET = "xai-secret-key-0123456789"


def heal_after(emu, failures: int):
    """An on_attempt hook that turns the emulator's faults off after ``failures`` failures."""
    seen: list[tuple[str, int]] = []

    def on_attempt(info):
        seen.append((info.error.code, info.attempt))
        if len(seen) >= failures:
            emu.set_faults(FaultConfig())

    return seen, on_attempt


def test_wrong_key_is_an_authentication_error_without_the_key(emulator_factory):
    emu = emulator_factory(EmulatorConfig(api_keys=("the-right-key",)))
    with (
        Client(api_key=SECRET, api_host=emu.address) as client,
        pytest.raises(AuthenticationError) as info,
    ):
        client.chat.create("grok-4.3", messages=[user("hi")]).sample()
    err = info.value
    assert err.code == "UNAUTHENTICATED" and err.__cause__ is not None
    for text in (str(err), repr(err), err.message):
        assert SECRET not in text
    assert emu.stats.calls["GetCompletion"] == 1  # auth errors are not retried


def test_status_codes_map_to_the_tree(client: Client):
    with pytest.raises(NotFoundError) as info:
        client.models.get_language_model("no-such-model")
    assert info.value.code == "NOT_FOUND" and "no-such-model" in info.value.message
    with pytest.raises(InvalidRequestError) as bad:
        client.chat.create("grok-4.3", messages=[user("hi")], temperature=5).sample()
    assert bad.value.code == "INVALID_ARGUMENT" and "temperature" in bad.value.message
    assert isinstance(bad.value, XaiError)


def test_missing_key_names_the_variable_and_local(monkeypatch):
    monkeypatch.delenv("XAI_API_KEY", raising=False)
    with pytest.raises(MissingApiKeyError) as info:
        Client()
    assert "XAI_API_KEY" in str(info.value) and "--local" in str(info.value)


def test_key_from_the_environment(emulator, monkeypatch):
    monkeypatch.setenv("XAI_API_KEY", emulator.api_key)
    with Client(api_host=emulator.address) as client:
        assert client.tokenize.count_tokens("hi", "grok-4.3") >= 1


@pytest.mark.parametrize(
    ("faults", "code"),
    [
        (FaultConfig(unavailable_rate=1.0), "UNAVAILABLE"),
        (FaultConfig(internal_rate=1.0), "INTERNAL"),
        (FaultConfig(resource_exhausted_rate=1.0), "RESOURCE_EXHAUSTED"),
    ],
)
def test_transient_errors_are_retried_until_success(emulator_factory, make_client, faults, code):
    emu = emulator_factory(EmulatorConfig(faults=faults))
    seen, heal = heal_after(emu, 2)
    client = make_client(emu, retry_policy=fast_policy(max_attempts=5, on_attempt=heal))
    r = client.chat.create("grok-4.3", messages=[user("hi")]).sample()
    assert r.attempts == 3 and seen == [(code, 1), (code, 2)]
    assert emu.stats.calls["GetCompletion"] == 3
    assert emu.stats.errors_injected[code] == 2


def test_retries_stop_when_attempts_run_out(emulator_factory, make_client):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(unavailable_rate=1.0)))
    client = make_client(emu, retry_policy=fast_policy(max_attempts=3))
    with pytest.raises(UnavailableError) as info:
        client.chat.create("grok-4.3", messages=[user("hi")]).sample()
    assert "injected fault" in info.value.message
    assert emu.stats.calls["GetCompletion"] == 3


def test_rate_limit_refusals_become_rate_limit_errors(emulator_factory, make_client):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(requests_per_minute=1)))
    client = make_client(emu, retry_policy=fast_policy(max_attempts=2))
    chat = client.chat.create("grok-4.3", messages=[user("hi")])
    chat.sample()
    with pytest.raises(RateLimitError):
        chat.sample()
    assert emu.stats.rate_limited == 2  # the second call and its one retry


def test_invalid_argument_is_never_retried(emulator_factory, make_client):
    emu = emulator_factory()
    reports: list = []
    client = make_client(emu, retry_policy=fast_policy(max_attempts=5, on_attempt=reports.append))
    with pytest.raises(InvalidRequestError):
        client.chat.create("grok-4.3", messages=[user("hi")], top_p=3).sample()
    assert emu.stats.calls["GetCompletion"] == 1
    assert [(r.attempt, r.will_retry, r.delay) for r in reports] == [(1, False, 0.0)]


def test_max_retries_shorthand(emulator_factory, make_client):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(internal_rate=1.0)))
    client = make_client(emu, retry_policy=None, max_retries=1)
    assert client.retry_policy.max_attempts == 2
    with pytest.raises(InternalServerError):
        client.chat.create("grok-4.3", messages=[user("x")]).sample()
    assert emu.stats.calls["GetCompletion"] == 2


def test_stream_broken_before_the_first_chunk_is_reopened(emulator_factory, make_client):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(cut_stream_after=0)))
    seen, heal = heal_after(emu, 1)
    client = make_client(emu, retry_policy=fast_policy(on_attempt=heal))
    chat = client.chat.create("grok-4.3", messages=[user("Stream it.")], seed=5, max_tokens=20)
    items = list(chat.stream())
    assert {c.attempt for _, c in items} == {2}
    final = items[-1][0]
    assert final.attempts == 2 and final.content == chat.sample().content
    assert emu.stats.streams_cut == 1 and seen == [("UNAVAILABLE", 1)]


def test_stream_broken_midway_restarts_from_the_start(emulator_factory, make_client):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(cut_stream_after=2)))
    seen, heal = heal_after(emu, 1)
    client = make_client(emu, retry_policy=fast_policy(on_attempt=heal))
    chat = client.chat.create("grok-4.3", messages=[user("Stream it.")], seed=5, max_tokens=20)
    items = list(chat.stream())
    attempts = [c.attempt for _, c in items]
    assert attempts[:2] == [1, 1] and set(attempts[2:]) == {2}
    final = items[-1][0]
    second_attempt_text = "".join(c.content for _, c in items if c.attempt == 2)
    assert final.content == second_attempt_text == chat.sample().content  # partial output discarded
    assert seen == [("UNAVAILABLE", 1)]


def test_stream_failures_surface_as_xai_errors(emulator_factory, make_client):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(cut_stream_after=1)))
    client = make_client(emu, retry_policy=fast_policy(max_attempts=2))
    with pytest.raises(UnavailableError):
        list(client.chat.create("grok-4.3", messages=[user("x")], max_tokens=20).stream())


def test_deadline_exceeded_is_raised_and_not_retried(emulator_factory, make_client):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(latency_s=2.0)))
    client = make_client(emu, timeout=0.2)
    with pytest.raises(DeadlineExceededError) as info:
        client.chat.create("grok-4.3", messages=[user("slow")]).sample()
    assert info.value.code == "DEADLINE_EXCEEDED"
    assert emu.stats.calls["GetCompletion"] == 1
    per_call = make_client(emu)
    with pytest.raises(DeadlineExceededError):
        per_call.chat.create("grok-4.3", messages=[user("slow")]).sample(timeout=0.2)


def test_internal_server_error_class(emulator_factory, make_client):
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(internal_rate=1.0)))
    client = make_client(emu, retry_policy=fast_policy(max_attempts=1))
    with pytest.raises(InternalServerError):
        client.image.sample("a fox")


def test_request_id_from_trailing_metadata_is_kept():
    """A servicer that fails like the hosted API, with a request id in the trailers."""

    class Failing(chat_pb2_grpc.ChatServicer):
        def GetCompletion(self, request, context):
            context.set_trailing_metadata((("x-request-id", "req-42"),))
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "team has no access to grok-4")

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    chat_pb2_grpc.add_ChatServicer_to_server(Failing(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with (
            Client(api_key=SECRET, api_host=f"127.0.0.1:{port}") as client,
            pytest.raises(XaiError) as info,
        ):
            client.chat.create("grok-4.3", messages=[user("hi")]).sample()
    finally:
        server.stop(None)

    err = info.value
    assert isinstance(err, PermissionDeniedError) and err.request_id == "req-42"
    assert str(err) == "PERMISSION_DENIED: team has no access to grok-4 (request id req-42)"
    assert isinstance(err.__cause__, grpc.RpcError)


def test_abandoned_stream_frees_its_channel_lease(client: Client):
    stream = client.chat.create(
        "grok-4.3", messages=[user("A long story")], max_tokens=200
    ).stream()
    next(stream)
    assert client._pool._channels[0].in_flight == 1
    stream.close()
    assert client._pool._channels[0].in_flight == 0
