"""Client configuration, channel pool and concurrency against the emulator."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from xai_pipelines.emulator import EmulatorConfig, FaultConfig
from xai_pipelines.sdk import Client, user
from xai_pipelines.sdk._channel import CHANNEL_OPTIONS, ChannelPool
from xai_pipelines.sdk.client import is_loopback

KEY = "sk-client-test-secret"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1:5000", True), ("localhost:1", True), ("[::1]:443", True), ("api.x.ai:443", False),
     ("10.0.0.1:443", False), ("api.x.ai", False)],
)  # fmt: skip
def test_loopback_detection(host, loopback):
    assert is_loopback(host) is loopback


def test_defaults_tls_for_remote_hosts_and_plaintext_for_loopback():
    remote = Client(api_key=KEY)
    assert remote.api_host == "api.x.ai:443" and not remote.insecure
    assert Client(api_key=KEY, api_host="example.com").api_host == "example.com:443"
    assert Client(api_key=KEY, api_host="127.0.0.1:1").insecure
    assert not Client(api_key=KEY, api_host="127.0.0.1:1", insecure=False).insecure
    assert Client(api_key=KEY, api_host="10.1.2.3:80", insecure=True).insecure
    for c in (remote,):
        assert KEY not in repr(c) and KEY not in str(vars(c))
        c.close()


def test_channel_options_disable_grpc_retries_and_set_limits():
    options = dict(CHANNEL_OPTIONS)
    assert options["grpc.enable_retries"] == 0
    assert options["grpc.max_receive_message_length"] == 20 * 1024 * 1024
    assert options["grpc.max_send_message_length"] == 20 * 1024 * 1024
    assert options["grpc.primary_user_agent"].startswith("xai-pipelines/")
    assert options["grpc.keepalive_time_ms"] > 0


def test_context_manager_closes_and_later_calls_fail(emulator):
    with Client(api_key=emulator.api_key, api_host=emulator.address) as client:
        assert client.tokenize.count_tokens("hello", "grok-4.3") > 0
    with pytest.raises(RuntimeError, match="closed"):
        client.tokenize.count_tokens("hello", "grok-4.3")


def test_extra_metadata_is_sent(emulator, make_client):
    client = make_client(emulator, metadata={"x-team": "evals"})
    assert client.chat.create("grok-4.3", messages=[user("hi")], max_tokens=2).sample().content


def test_pool_opens_channels_only_under_load():
    opened: list[int] = []

    def factory():
        opened.append(1)
        return grpc.insecure_channel("127.0.0.1:9")

    pool = ChannelPool(factory, max_channels=3, calls_per_channel=2)
    leases = [pool.lease() for _ in range(7)]
    chosen = [lease.__enter__() for lease in leases]
    assert pool.size == 3 and len(opened) == 3
    assert sorted(c.in_flight for c in set(chosen)) == [
        2,
        2,
        3,
    ]  # capped: the least loaded takes more
    for lease in leases:
        lease.__exit__(None, None, None)
    assert all(c.in_flight == 0 for c in chosen)
    with pool.lease() as again:
        assert again in chosen and pool.size == 3
    pool.close()


def test_more_than_100_concurrent_calls_succeed(emulator_factory, make_client):
    calls = 150
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(latency_s=0.5)))
    client = make_client(emu)
    barrier = threading.Barrier(calls)

    def one(i: int) -> str:
        chat = client.chat.create("grok-4.3", messages=[user(f"q{i}")], max_tokens=2)
        barrier.wait(timeout=60)
        return chat.sample().content

    with ThreadPoolExecutor(max_workers=calls) as pool:
        answers = list(pool.map(one, range(calls)))
    assert len(answers) == calls and all(answers)
    assert client.open_channels >= 2  # 150 in flight > 64 per channel
    assert emu.stats.calls["GetCompletion"] == calls


def test_interceptors_send_auth_version_user_agent_and_a_deadline():
    """A bare Chat servicer records what arrives on the wire."""
    from concurrent import futures

    from xai_pipelines.proto import chat_pb2, chat_pb2_grpc

    seen: list[tuple[dict[str, str], float | None]] = []

    class Recorder(chat_pb2_grpc.ChatServicer):
        def GetCompletion(self, request, context):
            seen.append((dict(context.invocation_metadata()), context.time_remaining()))
            reply = chat_pb2.GetChatCompletionResponse(id="r1", model=request.model)
            reply.outputs.add(message=chat_pb2.CompletionMessage(content="ok"))
            return reply

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    chat_pb2_grpc.add_ChatServicer_to_server(Recorder(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with Client(
            api_key=KEY, api_host=f"127.0.0.1:{port}", timeout=30, metadata={"x-team": "a"}
        ) as c:
            c.chat.create("grok-4.3", messages=[user("hi")]).sample()
            c.chat.create("grok-4.3", messages=[user("hi")], conversation_id="conv-9").sample(
                timeout=5
            )
    finally:
        server.stop(None)
    (meta, remaining), (second, short) = seen
    assert "x-grok-conv-id" not in meta and second["x-grok-conv-id"] == "conv-9"
    assert meta["authorization"] == f"Bearer {KEY}"
    assert meta["xai-sdk-version"].startswith("xai-pipelines-python/")
    assert meta["user-agent"].startswith("xai-pipelines/") and meta["x-team"] == "a"
    assert remaining is not None and 25 < remaining <= 30.5  # default deadline
    assert short is not None and short <= 5.5  # per-call timeout wins
