"""Core behaviour over real gRPC: lifecycle, auth, unary and streamed chat, images, models."""

from __future__ import annotations

import base64
import io

import grpc
from google.protobuf import empty_pb2
from PIL import Image

from tests.emulator.conftest import connect, rpc_error
from xai_pipelines.emulator import EmulatorConfig, FaultConfig
from xai_pipelines.proto import chat_pb2, image_pb2, models_pb2, sample_pb2, tokenize_pb2


def test_address_is_loopback_with_ephemeral_port(emulator):
    host, port = emulator.address.rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    assert emulator.http_url.startswith("http://127.0.0.1:")


def test_unary_completion_has_text_usage_and_cost(stubs):
    r = stubs.complete(prompt="Hi", seed=1, model="grok-4.7")
    out = r.outputs[0]
    assert out.message.role == chat_pb2.ROLE_ASSISTANT
    assert out.message.content
    assert out.finish_reason == sample_pb2.REASON_STOP
    assert r.model == "grok-4.7"
    u = r.usage
    assert u.prompt_tokens > 0 and u.completion_tokens > 0
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens + u.reasoning_tokens
    # $2 / $6 per 1M tokens; reasoning tokens are billed as output.
    assert (
        u.cost_in_usd_ticks
        == u.prompt_text_tokens * 20_000 + (u.completion_tokens + u.reasoning_tokens) * 60_000
    )


def test_stream_concatenates_to_unary_answer(stubs):
    unary = stubs.complete(prompt="Tell me something", seed=5)
    chunks = stubs.stream(prompt="Tell me something", seed=5)
    assert chunks[0].outputs[0].delta.role == chat_pb2.ROLE_ASSISTANT
    contents = [
        c.outputs[0].delta.content for c in chunks if c.outputs and c.outputs[0].delta.content
    ]
    assert len(contents) >= 3
    assert "".join(contents) == unary.outputs[0].message.content
    assert chunks[-1].outputs[0].finish_reason == sample_pb2.REASON_STOP
    assert chunks[-1].usage == unary.usage
    assert all(c.outputs[0].finish_reason == 0 for c in chunks[:-1])


def test_missing_and_wrong_key_are_unauthenticated_without_echo(emulator_factory):
    emu = emulator_factory(EmulatorConfig(api_keys=("right-key-123",)))
    assert emu.api_key == "right-key-123"
    good = connect(emu)
    assert good.complete().outputs
    bad = connect(emu, key="wrong-key-456")
    err = rpc_error(
        bad.chat.GetCompletion,
        chat_pb2.GetCompletionsRequest(model="grok-4"),
        metadata=bad.metadata,
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "wrong-key-456" not in err.details() and "right-key-123" not in err.details()
    err = rpc_error(good.chat.GetCompletion, chat_pb2.GetCompletionsRequest(model="grok-4"))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert emu.stats.unauthenticated == 2
    for s in (good, bad):
        s.channel.close()


def test_any_non_empty_key_accepted_by_default(emulator):
    s = connect(emulator, key="anything-at-all")
    assert s.complete().outputs
    empty = rpc_error(
        s.chat.GetCompletion,
        chat_pb2.GetCompletionsRequest(),
        metadata=(("authorization", "Bearer "),),
    )
    assert empty.code() == grpc.StatusCode.UNAUTHENTICATED
    s.channel.close()


def test_image_base64_is_decodable_png(stubs):
    r = stubs.image.GenerateImage(
        image_pb2.GenerateImageRequest(
            prompt="a red fox", model="grok-imagine-image", format=image_pb2.IMG_FORMAT_BASE64
        ),
        metadata=stubs.metadata,
    )
    data = r.images[0].base64
    assert data.startswith("data:image/png;base64,")
    img = Image.open(io.BytesIO(base64.b64decode(data.split(",", 1)[1])))
    img.load()
    assert img.size == (256, 256)
    assert r.images[0].respect_moderation
    assert r.usage.cost_in_usd_ticks == 200_000_000  # $0.02 per image


def test_models_and_tokenize(stubs):
    models = stubs.models.ListLanguageModels(empty_pb2.Empty(), metadata=stubs.metadata).models
    names = {m.name for m in models}
    assert {"grok-4.3", "grok-4.7", "grok-4.20-0309-non-reasoning"} <= names
    got = stubs.models.GetLanguageModel(
        models_pb2.GetModelRequest(name="grok-4.3-latest"), metadata=stubs.metadata
    )
    assert got.name == "grok-4.3" and "grok-4.3-latest" in got.aliases
    for model in ("grok-4.3", "grok-4"):
        answer = stubs.tokenize.TokenizeText(
            tokenize_pb2.TokenizeTextRequest(text="Hello, world!", model=model),
            metadata=stubs.metadata,
        )
        assert "".join(t.string_token for t in answer.tokens) == "Hello, world!"
        assert answer.model == "grok-4.3"


def test_public_api_is_exported():
    import xai_pipelines.emulator as pkg

    public = {name for name in dir(pkg) if not name.startswith("_") and name[0].isupper()}
    assert public == set(pkg.__all__)
    assert {"Emulator", "EmulatorConfig", "FaultConfig"} <= public


def test_faults_set_on_the_shared_emulator_are_set_here(emulator):
    emulator.set_faults(FaultConfig(unavailable_rate=1.0))
    assert emulator.faults.unavailable_rate == 1.0


def test_and_reset_after_the_test_that_set_them(emulator, stubs):
    assert emulator.faults == FaultConfig()
    assert stubs.complete().outputs
