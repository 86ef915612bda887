"""Validation like the hosted API: INVALID_ARGUMENT / NOT_FOUND naming the field and range."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import empty_pb2

from tests.emulator.conftest import rpc_error
from xai_pipelines.emulator.errors import EmulatorError
from xai_pipelines.emulator.validation import check_image_url
from xai_pipelines.proto import chat_pb2, image_pb2, models_pb2, tokenize_pb2

CASES = [
    (
        {"messages": []},
        grpc.StatusCode.INVALID_ARGUMENT,
        "messages must contain at least one message",
    ),
    ({"n": 0}, grpc.StatusCode.INVALID_ARGUMENT, "n must be in [1, 128], got 0"),
    (
        {"stop": [str(i) for i in range(9)]},
        grpc.StatusCode.INVALID_ARGUMENT,
        "stop must have at most 8 sequences, got 9",
    ),
    (
        {"temperature": 2.5},
        grpc.StatusCode.INVALID_ARGUMENT,
        "temperature must be in [0, 2], got 2.5",
    ),
    ({"temperature": -0.1}, grpc.StatusCode.INVALID_ARGUMENT, "temperature must be in [0, 2]"),
    ({"top_p": 1.5}, grpc.StatusCode.INVALID_ARGUMENT, "top_p must be in [0, 1], got 1.5"),
    ({"max_tokens": 0}, grpc.StatusCode.INVALID_ARGUMENT, "max_tokens must be at least 1"),
    ({"top_logprobs": 9}, grpc.StatusCode.INVALID_ARGUMENT, "top_logprobs must be in [0, 8]"),
    (
        {"frequency_penalty": 3},
        grpc.StatusCode.INVALID_ARGUMENT,
        "frequency_penalty must be in [-2, 2]",
    ),
    ({"model": ""}, grpc.StatusCode.INVALID_ARGUMENT, "model must be set"),
    ({"model": "grok-99"}, grpc.StatusCode.NOT_FOUND, "'grok-99'"),
    (
        {"messages": [chat_pb2.Message(content=[chat_pb2.Content(text="x")])]},
        grpc.StatusCode.INVALID_ARGUMENT,
        "messages[0].role must be set",
    ),
]


@pytest.mark.parametrize(("fields", "code", "text"), CASES, ids=[c[2][:30] for c in CASES])
def test_chat_validation(stubs, fields, code, text):
    for call in (stubs.complete, stubs.stream):
        err = rpc_error(call, **fields)
        assert err.code() == code
        assert text in err.details()


def test_boundaries_are_accepted(stubs):
    r = stubs.complete(
        temperature=2.0, top_p=0.0, stop=[str(i) for i in range(8)], n=1, max_tokens=1
    )
    assert len(r.outputs) == 1


def test_unknown_model_not_found_in_models_and_tokenize(stubs):
    for call, request in (
        (stubs.models.GetLanguageModel, models_pb2.GetModelRequest(name="nope-model")),
        (stubs.models.GetImageGenerationModel, models_pb2.GetModelRequest(name="nope-model")),
        (stubs.models.GetEmbeddingModel, models_pb2.GetModelRequest(name="nope-model")),
        (
            stubs.tokenize.TokenizeText,
            tokenize_pb2.TokenizeTextRequest(text="x", model="nope-model"),
        ),
    ):
        err = rpc_error(call, request, metadata=stubs.metadata)
        assert err.code() == grpc.StatusCode.NOT_FOUND
        assert "nope-model" in err.details()


def test_models_lists_aliases_and_prices(stubs):
    lang = {
        m.name: m
        for m in stubs.models.ListLanguageModels(empty_pb2.Empty(), metadata=stubs.metadata).models
    }
    assert {"grok-4", "grok-3", "grok-3-mini", "grok-4-fast-non-reasoning"} <= set(lang)
    assert "grok-4-latest" in lang["grok-4"].aliases
    for m in lang.values():
        assert (
            m.prompt_text_token_price > 0
            and m.completion_text_token_price > m.cached_prompt_token_price > 0
        )
    images = stubs.models.ListImageGenerationModels(
        empty_pb2.Empty(), metadata=stubs.metadata
    ).models
    assert images[0].name == "grok-2-image" and images[0].image_price == 700_000_000
    got = stubs.models.GetImageGenerationModel(
        models_pb2.GetModelRequest(name="grok-2-image-latest"), metadata=stubs.metadata
    )
    assert got.name == "grok-2-image"


def image_message(url: str) -> chat_pb2.Message:
    return chat_pb2.Message(
        role=chat_pb2.ROLE_USER,
        content=[
            chat_pb2.Content(text="look"),
            chat_pb2.Content(image_url=image_pb2.ImageUrlContent(image_url=url)),
        ],
    )


@pytest.mark.parametrize(
    ("url", "model", "text"),
    [
        ("ftp://x/y.png", "grok-4", "must be an http(s) URL or a base64 data URL"),
        ("data:text/plain;base64,AAAA", "grok-4", "has type 'text/plain'"),
        ("data:image/png;base64,!!!", "grok-4", "is not valid base64"),
        ("data:image/png,AAAA", "grok-4", "must be a base64 data URL"),
        ("https://example.com/cat.png", "grok-3", "does not accept image input"),
    ],
)
def test_bad_image_inputs(stubs, url, model, text):
    err = rpc_error(stubs.complete, messages=[image_message(url)], model=model)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "messages[0].content[1].image_url" in err.details() and text in err.details()


def test_oversized_image_input_is_refused():
    # Checked on the function: a 14 MiB request over gRPC would only slow the suite down.
    with pytest.raises(EmulatorError) as info:
        check_image_url("data:image/png;base64," + "A" * (14 * 1024 * 1024), "image_url")
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "image_url is larger than 10 MiB" in info.value.message
    check_image_url("data:image/webp;base64," + "A" * 1024, "image_url")


def test_image_edit_input_is_checked(stubs):
    request = image_pb2.GenerateImageRequest(
        prompt="edit",
        model="grok-2-image",
        image=image_pb2.ImageUrlContent(image_url="data:image/gif;base64,AAAA"),
    )
    err = rpc_error(stubs.image.GenerateImage, request, metadata=stubs.metadata)
    assert (
        err.code() == grpc.StatusCode.INVALID_ARGUMENT
        and "image.image_url has type 'image/gif'" in err.details()
    )


def test_prompt_longer_than_the_model_accepts(stubs):
    long_text = "word " * 140_000
    err = rpc_error(stubs.complete, prompt=long_text, model="grok-3")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "model 'grok-3' accepts at most 131072" in err.details()
