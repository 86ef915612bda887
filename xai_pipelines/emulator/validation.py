"""Request validation with the hosted API's limits and the catalog's capabilities.

Range failures name the field and range (our wording). Capability failures use
the hosted API's wording where a source shows it (read 2026-11-29):

- unknown model, NOT_FOUND: "The model X does not exist or your team T does not
  have access to it. Please ensure you're using the correct API key. If you
  believe this is a mistake, please contact support and quote your team ID and
  the model name." (github.com/yihong0618/bilingual_book_maker/issues/464,
  github.com/elizaOS/eliza/issues/2578);
- a parameter the model refuses, INVALID_ARGUMENT: "Model X does not support
  parameter presencePenalty." with the field's JSON name and the model as
  requested (github.com/miaoxworld/NativeTavern/issues/83,
  github.com/BerriAI/litellm-docs/pull/817, github.com/BerriAI/litellm/pull/16265).

No source shows the wording for an effort value outside the model's set, an
image sent to a model without image input, or too many images; those messages
are ours, in the same shape.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

import jsonschema

from xai_pipelines.emulator.catalog import Catalog, ImageModelSpec, LanguageModelSpec
from xai_pipelines.emulator.errors import EmulatorError, invalid, not_found
from xai_pipelines.proto import chat_pb2, image_pb2

MAX_N = 128
MAX_STOP = 8
MAX_IMAGES = 10
EMULATOR_TEAM_ID = "00000000-0000-4000-8000-000000000000"
"""The team the emulator's NOT_FOUND messages name (the hosted API names the caller's team)."""
EFFORT_NAMES = {
    chat_pb2.EFFORT_LOW: "low",
    chat_pb2.EFFORT_MEDIUM: "medium",
    chat_pb2.EFFORT_HIGH: "high",
    chat_pb2.EFFORT_NONE: "none",
    chat_pb2.EFFORT_XHIGH: "xhigh",
}
_CHAT_FIELDS = chat_pb2.GetCompletionsRequest.DESCRIPTOR.fields_by_name
MAX_TOP_LOGPROBS = 8
MAX_IMAGE_BYTES = 10 * 1024 * 1024
IMAGE_MIME_TYPES = ("image/png", "image/jpeg", "image/jpg", "image/webp")


def _range(field: str, value: float, low: float, high: float) -> None:
    if math.isnan(value) or not low <= value <= high:
        raise invalid(f"{field} must be in [{low:g}, {high:g}], got {value:g}")


def parse_schema(text: str, field: str) -> dict[str, Any]:
    """Parse and check a JSON schema carried as a string.

    Args:
        text: The schema as JSON text.
        field: Request field the schema came from (named in errors).

    Returns:
        The schema as a dict.

    Raises:
        EmulatorError: INVALID_ARGUMENT when it is not JSON or not a valid schema.
    """
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise invalid(f"{field} is not valid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(schema, dict):
        raise invalid(f"{field} must be a JSON object schema")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        path = "/".join(str(p) for p in exc.path) or "(root)"
        raise invalid(f"{field} is not a valid JSON schema at {path}: {exc.message}") from None
    return schema


def check_image_url(url: str, field: str) -> None:
    """Check an image reference: an http(s) URL, or a base64 data URL of PNG/JPEG/WebP up to 10 MiB.

    Raises:
        EmulatorError: INVALID_ARGUMENT naming ``field``.
    """
    if url.startswith(("http://", "https://")):
        return
    if not url.startswith("data:"):
        raise invalid(f"{field} must be an http(s) URL or a base64 data URL")
    header, sep, data = url[5:].partition(",")
    mime, _, encoding = header.partition(";")
    if not sep or encoding != "base64":
        raise invalid(f"{field} must be a base64 data URL (data:<mime>;base64,<data>)")
    if mime.lower() not in IMAGE_MIME_TYPES:
        raise invalid(f"{field} has type {mime!r}; allowed: {', '.join(IMAGE_MIME_TYPES)}")
    if len(data) * 3 // 4 > MAX_IMAGE_BYTES:
        raise invalid(f"{field} is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MiB")
    try:
        base64.b64decode(data, validate=True)
    except binascii.Error:
        raise invalid(f"{field} is not valid base64") from None


def model_not_found(name: str) -> EmulatorError:
    """The hosted API's NOT_FOUND for a model name it does not know."""
    return not_found(
        f"The model {name} does not exist or your team {EMULATOR_TEAM_ID} does not have "
        "access to it. Please ensure you're using the correct API key. If you believe this "
        "is a mistake, please contact support and quote your team ID and the model name."
    )


def unsupported(model_name: str, field: str) -> EmulatorError:
    """The hosted API's INVALID_ARGUMENT for a request field the model refuses."""
    descriptor = _CHAT_FIELDS.get(field)
    shown = descriptor.json_name if descriptor is not None else field
    return invalid(f"Model {model_name} does not support parameter {shown}.")


def resolve_language_model(catalog: Catalog, name: str) -> LanguageModelSpec:
    """The language model ``name`` denotes (a retired name gives its redirect); NOT_FOUND otherwise."""
    if not name:
        raise invalid("model must be set")
    model = catalog.language(name)
    if model is None:
        raise model_not_found(name)
    return model


def resolve_image_model(catalog: Catalog, name: str) -> ImageModelSpec:
    """The image model ``name`` denotes (a retired name gives its redirect); NOT_FOUND otherwise."""
    if not name:
        raise invalid("model must be set")
    model = catalog.image(name)
    if model is None:
        raise model_not_found(name)
    return model


def _is_set(request: chat_pb2.GetCompletionsRequest, field: str) -> bool:
    try:
        return request.HasField(field)
    except ValueError:  # a repeated field (stop) has no presence; it is set when non-empty
        return len(getattr(request, field)) > 0


def check_capabilities(
    request: chat_pb2.GetCompletionsRequest, catalog: Catalog, model: LanguageModelSpec
) -> None:
    """Refuse parameters the model does not take (catalog ``rejects`` and ``reasoning_efforts``).

    Raises:
        EmulatorError: INVALID_ARGUMENT naming the model as requested.
    """
    for field in model.rejected_params:
        if field in _CHAT_FIELDS and _is_set(request, field):
            raise unsupported(request.model, field)
    if not request.HasField("reasoning_effort"):
        return
    effort = EFFORT_NAMES.get(request.reasoning_effort)
    if effort is None:
        raise invalid(
            f"reasoning_effort must be one of {', '.join(EFFORT_NAMES.values())}, "
            f"got {request.reasoning_effort}"
        )
    # Models the emulator is told to treat as reasoning (EmulatorConfig.reasoning_models)
    # but the catalog lists without efforts take every value.
    accepted = model.reasoning_efforts or (
        tuple(EFFORT_NAMES.values()) if catalog.is_reasoning(model) and not model.reasoning else ()
    )
    if not accepted:
        raise unsupported(request.model, "reasoning_effort")
    if effort not in accepted:
        raise invalid(
            f"Model {request.model} does not support reasoning effort {effort} "
            f"(supported: {', '.join(accepted)})."
        )


def validate_chat(
    request: chat_pb2.GetCompletionsRequest, catalog: Catalog, has_history: bool = False
) -> LanguageModelSpec:
    """Check a chat request; returns its model.

    Args:
        request: The request.
        catalog: Models to resolve against.
        has_history: Whether earlier messages come from ``previous_response_id``.

    Raises:
        EmulatorError: INVALID_ARGUMENT or NOT_FOUND.
    """
    model = resolve_language_model(catalog, request.model)
    if not request.messages and not has_history:
        raise invalid("messages must contain at least one message")
    for i, message in enumerate(request.messages):
        if message.role == chat_pb2.INVALID_ROLE:
            raise invalid(f"messages[{i}].role must be set")
        if message.role == chat_pb2.ROLE_TOOL and not message.content:
            raise invalid(f"messages[{i}] (tool result) must have content")
        for j, part in enumerate(message.content):
            if part.WhichOneof("content") != "image_url":
                continue
            field = f"messages[{i}].content[{j}].image_url"
            if not model.accepts_images:
                raise invalid(f"{field}: Model {request.model} does not support image input.")
            if part.image_url.WhichOneof("source") == "image_url":
                check_image_url(part.image_url.image_url, field)
    check_capabilities(request, catalog, model)
    if request.HasField("n"):
        _range("n", request.n, 1, MAX_N)
    if request.HasField("max_tokens") and request.max_tokens < 1:
        raise invalid(f"max_tokens must be at least 1, got {request.max_tokens}")
    if len(request.stop) > MAX_STOP:
        raise invalid(f"stop must have at most {MAX_STOP} sequences, got {len(request.stop)}")
    if any(not s for s in request.stop):
        raise invalid("stop sequences must not be empty")
    if request.HasField("temperature"):
        _range("temperature", request.temperature, 0, 2)
    if request.HasField("top_p"):
        _range("top_p", request.top_p, 0, 1)
    if request.HasField("top_logprobs"):
        _range("top_logprobs", request.top_logprobs, 0, MAX_TOP_LOGPROBS)
    if request.HasField("frequency_penalty"):
        _range("frequency_penalty", request.frequency_penalty, -2, 2)
    if request.HasField("presence_penalty"):
        _range("presence_penalty", request.presence_penalty, -2, 2)
    fmt = request.response_format
    if fmt.format_type == chat_pb2.FORMAT_TYPE_JSON_SCHEMA:
        if not fmt.HasField("schema"):
            raise invalid("response_format.schema is required for json_schema")
        parse_schema(fmt.schema, "response_format.schema")
    names: set[str] = set()
    for i, tool in enumerate(request.tools):
        if tool.WhichOneof("tool") != "function":
            continue
        fn = tool.function
        if not fn.name:
            raise invalid(f"tools[{i}].function.name must be set")
        if fn.name in names:
            raise invalid(f"tools[{i}].function.name {fn.name!r} is defined twice")
        names.add(fn.name)
        if fn.parameters:
            parse_schema(fn.parameters, f"tools[{i}].function.parameters")
    choice = request.tool_choice
    if choice.WhichOneof("tool_choice") == "function_name" and choice.function_name not in names:
        raise invalid(f"tool_choice names function {choice.function_name!r}, which is not in tools")
    if (
        choice.WhichOneof("tool_choice") == "mode"
        and choice.mode == chat_pb2.TOOL_MODE_REQUIRED
        and not request.tools
    ):
        raise invalid("tool_choice 'required' needs at least one tool")
    return model


def validate_image(request: image_pb2.GenerateImageRequest, catalog: Catalog) -> ImageModelSpec:
    """Check an image request; returns its model.

    Raises:
        EmulatorError: INVALID_ARGUMENT or NOT_FOUND.
    """
    model = resolve_image_model(catalog, request.model)
    if not request.prompt.strip():
        raise invalid("prompt must not be empty")
    if len(request.prompt) > model.max_prompt_length:
        raise invalid(
            f"prompt must be at most {model.max_prompt_length} characters, got {len(request.prompt)}"
        )
    if request.HasField("n"):
        _range("n", request.n, 1, min(MAX_IMAGES, model.max_images))
    inputs = [("image", request.image)] if request.HasField("image") else []
    inputs += [(f"images[{i}]", image) for i, image in enumerate(request.images)]
    if inputs and not model.edit:
        raise invalid(f"Model {request.model} does not support image input.")
    if len(inputs) > model.max_input_images:
        raise invalid(
            f"Model {request.model} takes at most {model.max_input_images} input images, "
            f"got {len(inputs)}."
        )
    for field, image in inputs:
        if image.WhichOneof("source") == "image_url":
            check_image_url(image.image_url, f"{field}.image_url")
    if request.format not in (
        image_pb2.IMG_FORMAT_INVALID,
        image_pb2.IMG_FORMAT_BASE64,
        image_pb2.IMG_FORMAT_URL,
    ):
        raise invalid(f"format {request.format} is not a known image format")
    return model
