"""Validation like the hosted API: ranges, NOT_FOUND, and the catalog's capabilities."""

from __future__ import annotations

import copy

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2

from tests.emulator.conftest import chat_request, rpc_error
from xai_pipelines.catalog import load_catalog, parse_catalog
from xai_pipelines.emulator.catalog import Catalog
from xai_pipelines.emulator.errors import EmulatorError
from xai_pipelines.emulator.validation import check_image_url, validate_chat, validate_image
from xai_pipelines.proto import chat_pb2, image_pb2, models_pb2, tokenize_pb2

# A current model that takes stop and the penalties' ranges can be checked on.
PLAIN = "grok-4.20-non-reasoning"
NOT_FOUND_TEXT = (
    "The model {} does not exist or your team 00000000-0000-4000-8000-000000000000 does not "
    "have access to it. Please ensure you're using the correct API key. If you believe this "
    "is a mistake, please contact support and quote your team ID and the model name."
)

CASES = [
    (
        {"messages": []},
        grpc.StatusCode.INVALID_ARGUMENT,
        "messages must contain at least one message",
    ),
    ({"n": 0}, grpc.StatusCode.INVALID_ARGUMENT, "n must be in [1, 128], got 0"),
    (
        {"stop": [str(i) for i in range(9)], "model": PLAIN},
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
        {"frequency_penalty": 3, "model": PLAIN},
        grpc.StatusCode.INVALID_ARGUMENT,
        "frequency_penalty must be in [-2, 2]",
    ),
    ({"model": ""}, grpc.StatusCode.INVALID_ARGUMENT, "model must be set"),
    ({"model": "grok-99"}, grpc.StatusCode.NOT_FOUND, NOT_FOUND_TEXT.format("grok-99")),
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
        model=PLAIN,
        temperature=2.0,
        top_p=0.0,
        stop=[str(i) for i in range(8)],
        frequency_penalty=-2,
        n=1,
        max_tokens=1,
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
        assert err.details() == NOT_FOUND_TEXT.format("nope-model")


def test_models_lists_aliases_and_prices(stubs):
    lang = {
        m.name: m
        for m in stubs.models.ListLanguageModels(empty_pb2.Empty(), metadata=stubs.metadata).models
    }
    assert {"grok-4.3", "grok-4.7", "grok-4.20-0309-reasoning", "grok-build-0.1"} <= set(lang)
    # Retired names are served as aliases of the model that answers them.
    assert {"grok-4.3-latest", "grok-4", "grok-4-0709", "grok-3", "grok-3-mini"} <= set(
        lang["grok-4.3"].aliases
    )
    assert "grok-4" not in lang and "grok-3" not in lang
    for m in lang.values():
        assert (
            m.prompt_text_token_price > 0
            and m.completion_text_token_price > m.cached_prompt_token_price > 0
        )
    images = {
        m.name: m
        for m in stubs.models.ListImageGenerationModels(
            empty_pb2.Empty(), metadata=stubs.metadata
        ).models
    }
    assert images["grok-imagine-image"].image_price == 200_000_000
    assert "grok-2-image" in images["grok-imagine-image"].aliases
    for name, canonical in (
        ("grok-2-image-latest", "grok-imagine-image"),
        ("grok-imagine-image-pro", "grok-imagine-image-quality"),
    ):
        got = stubs.models.GetImageGenerationModel(
            models_pb2.GetModelRequest(name=name), metadata=stubs.metadata
        )
        assert got.name == canonical


def test_models_serve_the_catalog(stubs):
    catalog = load_catalog()
    lang = {
        m.name: m
        for m in stubs.models.ListLanguageModels(empty_pb2.Empty(), metadata=stubs.metadata).models
    }
    assert set(lang) == {m.name for m in catalog.language_models}
    for info in catalog.language_models:
        served = lang[info.name]
        assert served.max_prompt_length == info.context_length
        assert (
            served.prompt_text_token_price,
            served.cached_prompt_token_price,
            served.completion_text_token_price,
            served.prompt_image_token_price,
        ) == (
            info.prompt_text_token_price,
            info.cached_prompt_token_price,
            info.completion_text_token_price,
            info.prompt_image_token_price,
        )
        assert set(info.aliases) <= set(served.aliases)
        expected = [models_pb2.TEXT, models_pb2.IMAGE] if info.image_input else [models_pb2.TEXT]
        assert list(served.input_modalities) == expected
        assert list(served.output_modalities) == [models_pb2.TEXT]
    images = {
        m.name: m
        for m in stubs.models.ListImageGenerationModels(
            empty_pb2.Empty(), metadata=stubs.metadata
        ).models
    }
    assert set(images) == {m.name for m in catalog.image_models}
    for info in catalog.image_models:
        served = images[info.name]
        assert served.image_price == info.image_price
        assert served.max_prompt_length == info.max_prompt_length
        assert list(served.output_modalities) == [models_pb2.IMAGE]
        assert (models_pb2.IMAGE in served.input_modalities) == info.edit


def test_retired_names_are_served_by_their_redirect(stubs):
    for name in ("grok-4", "grok-4-0709", "grok-3", "grok-3-mini", "grok-4-fast-non-reasoning"):
        got = stubs.models.GetLanguageModel(
            models_pb2.GetModelRequest(name=name), metadata=stubs.metadata
        )
        assert got.name == "grok-4.3"
        r = stubs.complete(model=name, seed=1)
        assert r.model == "grok-4.3" and r.outputs[0].message.content
        # Billed at grok-4.3's prices ($1.25 / $2.50 per 1M tokens).
        u = r.usage
        assert (
            u.cost_in_usd_ticks
            == u.prompt_text_tokens * 12_500 + (u.completion_tokens + u.reasoning_tokens) * 25_000
        )


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
        ("ftp://x/y.png", "grok-4.3", "must be an http(s) URL or a base64 data URL"),
        ("data:text/plain;base64,AAAA", "grok-4.7", "has type 'text/plain'"),
        ("data:image/png;base64,!!!", "grok-4.3", "is not valid base64"),
        ("data:image/png,AAAA", "grok-build-0.1", "must be a base64 data URL"),
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
        model="grok-imagine-image",
        image=image_pb2.ImageUrlContent(image_url="data:image/gif;base64,AAAA"),
    )
    err = rpc_error(stubs.image.GenerateImage, request, metadata=stubs.metadata)
    assert (
        err.code() == grpc.StatusCode.INVALID_ARGUMENT
        and "image.image_url has type 'image/gif'" in err.details()
    )


def test_prompt_longer_than_the_model_accepts(stubs):
    long_text = "word " * 260_000
    err = rpc_error(stubs.complete, prompt=long_text, model="grok-build-0.1")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "model 'grok-build-0.1' accepts at most 256000" in err.details()


# --- capabilities from the catalog ---------------------------------------------------


@pytest.mark.parametrize(
    ("model", "fields", "shown"),
    [
        ("grok-4.3", {"stop": ["."]}, "stop"),
        ("grok-4.7", {"presence_penalty": 0.0}, "presencePenalty"),
        ("grok-4.5", {"frequency_penalty": 0.5}, "frequencyPenalty"),
        ("grok-4.20-0309-reasoning", {"stop": ["x"]}, "stop"),
        ("grok-build-0.1", {"presence_penalty": 1.0}, "presencePenalty"),
        ("grok-4", {"stop": ["."]}, "stop"),  # retired: named as requested
        (PLAIN, {"presence_penalty": 0.0}, "presencePenalty"),
    ],
)
def test_model_refuses_parameters_it_does_not_take(stubs, model, fields, shown):
    for call in (stubs.complete, stubs.stream):
        err = rpc_error(call, model=model, **fields)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.details() == f"Model {model} does not support parameter {shown}."


def test_non_reasoning_model_takes_stop_and_frequency_penalty(stubs):
    r = stubs.complete(model=PLAIN, seed=1, stop=["."], frequency_penalty=0.5)
    assert r.outputs[0].message.content and r.model == "grok-4.20-0309-non-reasoning"


@pytest.mark.parametrize(
    ("model", "effort", "text"),
    [
        (
            "grok-4.20-0309-reasoning",
            chat_pb2.EFFORT_LOW,
            "does not support parameter reasoningEffort.",
        ),
        ("grok-build-0.1", chat_pb2.EFFORT_HIGH, "does not support parameter reasoningEffort."),
        (PLAIN, chat_pb2.EFFORT_LOW, "does not support parameter reasoningEffort."),
        ("grok-4.3", chat_pb2.EFFORT_XHIGH, "does not support reasoning effort xhigh"),
        ("grok-4.7", chat_pb2.EFFORT_NONE, "does not support reasoning effort none"),
        ("grok-4.6", chat_pb2.EFFORT_XHIGH, "does not support reasoning effort xhigh"),
    ],
)
def test_reasoning_effort_outside_the_models_values_is_refused(stubs, model, effort, text):
    err = rpc_error(stubs.complete, model=model, reasoning_effort=effort)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details().startswith(f"Model {model} ") and text in err.details()


@pytest.mark.parametrize(
    ("model", "effort"),
    [
        ("grok-4.3", chat_pb2.EFFORT_NONE),
        ("grok-4.3", chat_pb2.EFFORT_HIGH),
        ("grok-4.7", chat_pb2.EFFORT_XHIGH),
        ("grok-4.20-multi-agent", chat_pb2.EFFORT_XHIGH),
        ("grok-3-mini", chat_pb2.EFFORT_HIGH),  # retired: served by grok-4.3
    ],
)
def test_reasoning_effort_within_the_models_values_is_accepted(stubs, model, effort):
    assert stubs.complete(model=model, reasoning_effort=effort, seed=1).outputs


def _catalog_with(edit: dict) -> Catalog:
    """The bundled catalog with grok-build-0.1's and grok-imagine-image's rows changed."""
    from importlib import resources

    data = yaml.safe_load(
        resources.files("xai_pipelines.catalog").joinpath("models.yaml").read_text()
    )
    data = copy.deepcopy(data)
    for table in ("language_models", "image_models"):
        for row in data[table]:
            row.update(edit.get(row["name"], {}))
    return Catalog(catalog=parse_catalog(data))


def test_image_in_messages_of_a_text_only_model_is_refused():
    catalog = _catalog_with({"grok-build-0.1": {"image_input": False}})
    request = chat_request(model="grok-build-0.1", messages=[image_message("https://x/y.png")])
    with pytest.raises(EmulatorError) as info:
        validate_chat(request, catalog)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.message == (
        "messages[0].content[1].image_url: Model grok-build-0.1 does not support image input."
    )
    validate_chat(chat_request(model="grok-build-0.1"), catalog)


def test_image_request_over_the_models_max_n_is_refused():
    catalog = _catalog_with({"grok-imagine-image": {"max_images": 4, "edit": False}})
    request = image_pb2.GenerateImageRequest(prompt="p", model="grok-imagine-image", n=5)
    with pytest.raises(EmulatorError) as info:
        validate_image(request, catalog)
    assert info.value.message == "n must be in [1, 4], got 5"
    request.n = 4
    validate_image(request, catalog)
    request.image.image_url = "https://x/y.png"
    with pytest.raises(EmulatorError) as info:
        validate_image(request, catalog)
    assert info.value.message == "Model grok-imagine-image does not support image input."


def test_image_request_over_the_models_input_images_is_refused(stubs):
    url = "https://example.com/ref.png"
    refs = [image_pb2.ImageUrlContent(image_url=url) for _ in range(4)]
    request = image_pb2.GenerateImageRequest(prompt="mix", model="grok-imagine-image", images=refs)
    err = rpc_error(stubs.image.GenerateImage, request, metadata=stubs.metadata)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == "Model grok-imagine-image takes at most 3 input images, got 4."
    del request.images[3]
    assert len(stubs.image.GenerateImage(request, metadata=stubs.metadata).images) == 1
    request.image.image_url = url
    err = rpc_error(stubs.image.GenerateImage, request, metadata=stubs.metadata)
    assert "takes at most 3 input images, got 4." in err.details()


def test_unknown_image_model_is_not_found(stubs):
    for name in ("dall-e-3", "grok-4.3"):
        request = image_pb2.GenerateImageRequest(prompt="p", model=name)
        err = rpc_error(stubs.image.GenerateImage, request, metadata=stubs.metadata)
        assert err.code() == grpc.StatusCode.NOT_FOUND
        assert err.details() == NOT_FOUND_TEXT.format(name)
