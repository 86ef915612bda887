"""Batch requests as the lines of a JSONL batch input file (the Files API path of batches).

Since 2026-03 a batch can be created from a JSONL file uploaded through the Files
API (``CreateBatchRequest.input_file_id``; the project's notes of the Batch API docs,
/work/shared/FIELD-NOTES.md "Batch API", read 2026-11-29). Each line is one request
in the OpenAI batch shape, ``{"custom_id", "method": "POST", "url", "body"}``, whose
``body`` is the REST request body of the endpoint ``url`` names, and one file may
mix chat completion and image requests (docs.litellm.ai/docs/providers/xai_batches,
updated 2026-10-09; batchwork.dev/providers/xai, which also says xAI's upload takes
no ``purpose``; both read 2026-11-29). docs.x.ai's own page
(docs.x.ai/developers/advanced-api-usage/batch-api) was reachable only in excerpts
that do not show the line format.

Not confirmed by any source reached (so kept conservative, see :class:`NotExpressibleError`):
that ``custom_id`` becomes the request's ``batch_request_id`` (the emulator assumes
it); the image line's ``url`` (``/v1/images/generations``, the REST image endpoint);
which chat body keys xAI's batch reader accepts beyond the OpenAI chat-completions
ones shown in the examples (``model``, ``messages``, ``max_tokens``, ``temperature``).

:func:`request_line` translates one :class:`~xai_pipelines.proto.batch_pb2.BatchRequest`
(a chat ``GetCompletionsRequest`` or a ``GenerateImageRequest``) into such a line,
field by field. A set field the REST body cannot carry (server-side tools, file
attachments, stored-conversation fields, image edits, ...) raises
:class:`NotExpressibleError` naming it, so that the caller can send that batch with
AddBatchRequests instead: nothing is dropped silently. The translation is pure: no
I/O, no client.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from xai_pipelines.proto import batch_pb2, chat_pb2, image_pb2

__all__ = [
    "CHAT_URL",
    "FILE_MAX_BYTES",
    "IMAGE_URL",
    "NotExpressibleError",
    "chat_body",
    "image_body",
    "jsonl_line",
    "request_line",
]

#: ``url`` of a chat line (the REST chat-completions endpoint).
CHAT_URL = "/v1/chat/completions"
#: ``url`` of an image line (the REST image-generations endpoint).
IMAGE_URL = "/v1/images/generations"

#: Largest file the Files API takes: 50 MB
#: (https://docs.x.ai/developers/rest-api-reference/files/upload, read 2026-11-29, as the
#: emulator's files_store.py cites it; an older page gave 48 MB, the newer one wins). No
#: source reached states a separate limit on batch input files, in bytes or lines.
FILE_MAX_BYTES = 50 * 1000 * 1000

#: REST role names (OpenAI chat-completions roles; ``developer`` as OpenAI names it).
ROLES: dict[int, str] = {
    chat_pb2.ROLE_USER: "user",
    chat_pb2.ROLE_ASSISTANT: "assistant",
    chat_pb2.ROLE_SYSTEM: "system",
    chat_pb2.ROLE_TOOL: "tool",
    chat_pb2.ROLE_DEVELOPER: "developer",
}
REASONING_EFFORTS: dict[int, str] = {
    chat_pb2.EFFORT_LOW: "low",
    chat_pb2.EFFORT_MEDIUM: "medium",
    chat_pb2.EFFORT_HIGH: "high",
    chat_pb2.EFFORT_NONE: "none",
    chat_pb2.EFFORT_XHIGH: "xhigh",
}
TOOL_MODES: dict[int, str] = {
    chat_pb2.TOOL_MODE_AUTO: "auto",
    chat_pb2.TOOL_MODE_NONE: "none",
    chat_pb2.TOOL_MODE_REQUIRED: "required",
}
FORMAT_TYPES: dict[int, str] = {
    chat_pb2.FORMAT_TYPE_TEXT: "text",
    chat_pb2.FORMAT_TYPE_JSON_OBJECT: "json_object",
    chat_pb2.FORMAT_TYPE_JSON_SCHEMA: "json_schema",
}
IMAGE_DETAILS: dict[int, str] = {
    image_pb2.DETAIL_AUTO: "auto",
    image_pb2.DETAIL_LOW: "low",
    image_pb2.DETAIL_HIGH: "high",
}
IMAGE_FORMATS: dict[int, str] = {
    image_pb2.IMG_FORMAT_URL: "url",
    image_pb2.IMG_FORMAT_BASE64: "b64_json",
}
IMAGE_QUALITIES: dict[int, str] = {
    image_pb2.IMG_QUALITY_LOW: "low",
    image_pb2.IMG_QUALITY_MEDIUM: "medium",
    image_pb2.IMG_QUALITY_HIGH: "high",
}
IMAGE_RESOLUTIONS: dict[int, str] = {
    image_pb2.IMG_RESOLUTION_1K: "1k",
    image_pb2.IMG_RESOLUTION_2K: "2k",
}
ASPECT_RATIOS: dict[int, str] = {
    image_pb2.IMG_ASPECT_RATIO_1_1: "1:1",
    image_pb2.IMG_ASPECT_RATIO_3_4: "3:4",
    image_pb2.IMG_ASPECT_RATIO_4_3: "4:3",
    image_pb2.IMG_ASPECT_RATIO_9_16: "9:16",
    image_pb2.IMG_ASPECT_RATIO_16_9: "16:9",
    image_pb2.IMG_ASPECT_RATIO_2_3: "2:3",
    image_pb2.IMG_ASPECT_RATIO_3_2: "3:2",
    image_pb2.IMG_ASPECT_RATIO_AUTO: "auto",
    image_pb2.IMG_ASPECT_RATIO_9_19_5: "9:19.5",
    image_pb2.IMG_ASPECT_RATIO_19_5_9: "19.5:9",
    image_pb2.IMG_ASPECT_RATIO_9_20: "9:20",
    image_pb2.IMG_ASPECT_RATIO_20_9: "20:9",
    image_pb2.IMG_ASPECT_RATIO_1_2: "1:2",
    image_pb2.IMG_ASPECT_RATIO_2_1: "2:1",
}
#: ``json_schema.name`` of a structured-output line: the proto carries no name, and
#: the OpenAI shape requires one.
SCHEMA_NAME = "output"

# Request fields copied under the same key (the REST body uses the proto's names).
_CHAT_SAME = frozenset(
    {
        "model", "user", "n", "max_tokens", "seed", "temperature", "top_p", "logprobs",
        "top_logprobs", "frequency_penalty", "presence_penalty", "parallel_tool_calls",
    }
)  # fmt: skip
_FLOATS = frozenset({"temperature", "top_p", "frequency_penalty", "presence_penalty"})
_IMAGE_SAME = frozenset({"prompt", "model", "n", "user"})


class NotExpressibleError(ValueError):
    """A set field of a request has no counterpart in the REST body of a JSONL line.

    Attributes:
        field: Where, as a path into the request (``messages[0].content[1].file``).
        reason: Why it cannot be written.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def _f32(value: float) -> float:
    """The shortest decimal that reads back as the same float32 (0.7, not 0.699999988)."""
    packed = struct.pack("<f", value)
    for digits in range(1, 10):
        short = float(f"{value:.{digits}g}")
        try:
            if struct.pack("<f", short) == packed:
                return short
        except OverflowError:  # rounded past the largest float32
            continue
    return value


def _named(table: dict[int, str], value: int, where: str) -> str:
    name = table.get(int(value))
    if name is None:
        raise NotExpressibleError(where, f"value {value} has no REST name")
    return name


def _json_value(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise NotExpressibleError(
            where, "is not JSON, and the REST body holds it as JSON"
        ) from None


def _unknown(where: str, what: str) -> NotExpressibleError:
    return NotExpressibleError(where, f"has no counterpart in the REST {what} body")


def _image_part(image: image_pb2.ImageUrlContent, where: str) -> dict[str, Any]:
    part: dict[str, Any] = {}
    for field, value in image.ListFields():
        if field.name == "image_url":
            part["url"] = value
        elif field.name == "detail":
            part["detail"] = _named(IMAGE_DETAILS, value, f"{where}.detail")
        else:  # file_id: an uploaded image, which a REST image_url part cannot name
            raise _unknown(f"{where}.{field.name}", "chat-completions")
    if "url" not in part:
        raise NotExpressibleError(where, "an image part without a URL")
    return {"type": "image_url", "image_url": part}


def _content(parts: Any, where: str) -> str | list[dict[str, Any]]:
    if len(parts) == 1 and parts[0].WhichOneof("content") == "text":
        return str(parts[0].text)
    out: list[dict[str, Any]] = []
    for i, part in enumerate(parts):
        kind = part.WhichOneof("content")
        if kind == "text":
            out.append({"type": "text", "text": part.text})
        elif kind == "image_url":
            out.append(_image_part(part.image_url, f"{where}[{i}].image_url"))
        else:  # a file attachment (or an empty part)
            raise _unknown(f"{where}[{i}].{kind or 'content'}", "chat-completions")
    return out


def _tool_call(call: chat_pb2.ToolCall, where: str) -> dict[str, Any]:
    if call.type != chat_pb2.TOOL_CALL_TYPE_CLIENT_SIDE_TOOL:
        raise NotExpressibleError(f"{where}.type", "only client-side function calls are written")
    if not call.HasField("function"):
        raise NotExpressibleError(where, "a tool call without a function")
    for field, _ in call.ListFields():
        if field.name not in ("id", "type", "function"):  # status, error_message
            raise _unknown(f"{where}.{field.name}", "chat-completions")
    fn = {"name": call.function.name, "arguments": call.function.arguments}
    return {"id": call.id, "type": "function", "function": fn}


def _message(message: chat_pb2.Message, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {"role": _named(ROLES, message.role, f"{where}.role")}
    for field, value in message.ListFields():
        name = field.name
        if name == "role":
            continue
        if name == "content":
            out["content"] = _content(value, f"{where}.content")
        elif name in ("name", "tool_call_id"):
            out[name] = value
        elif name == "tool_calls":
            out["tool_calls"] = [
                _tool_call(c, f"{where}.tool_calls[{i}]") for i, c in enumerate(value)
            ]
        else:  # reasoning_content, encrypted_content
            raise _unknown(f"{where}.{name}", "chat-completions")
    return out


def _tool(tool: chat_pb2.Tool, where: str) -> dict[str, Any]:
    kind = tool.WhichOneof("tool")
    if kind != "function":  # server-side tools: not part of the chat-completions body
        raise _unknown(f"{where}.{kind or 'tool'}", "chat-completions")
    fn = tool.function
    out: dict[str, Any] = {"name": fn.name}
    if fn.description:
        out["description"] = fn.description
    if fn.parameters:
        out["parameters"] = _json_value(fn.parameters, f"{where}.function.parameters")
    if fn.strict:
        out["strict"] = True
    return {"type": "function", "function": out}


def _tool_choice(choice: chat_pb2.ToolChoice, where: str) -> Any:
    kind = choice.WhichOneof("tool_choice")
    if kind == "mode":
        return _named(TOOL_MODES, choice.mode, f"{where}.mode")
    if kind == "function_name":
        return {"type": "function", "function": {"name": choice.function_name}}
    raise NotExpressibleError(where, "is set but chooses nothing")


def _response_format(fmt: chat_pb2.ResponseFormat, where: str) -> dict[str, Any]:
    kind = _named(FORMAT_TYPES, fmt.format_type, f"{where}.format_type")
    if kind != "json_schema":
        if fmt.HasField("schema"):
            raise NotExpressibleError(f"{where}.schema", f"a schema with format {kind}")
        return {"type": kind}
    if not fmt.HasField("schema"):
        raise NotExpressibleError(f"{where}.schema", "json_schema format without a schema")
    schema = _json_value(fmt.schema, f"{where}.schema")
    return {"type": "json_schema", "json_schema": {"name": SCHEMA_NAME, "schema": schema}}


def chat_body(request: chat_pb2.GetCompletionsRequest) -> dict[str, Any]:
    """The REST chat-completions body of ``request``.

    Raises:
        NotExpressibleError: A set field the body cannot carry.
    """
    body: dict[str, Any] = {}
    for field, value in request.ListFields():
        name = field.name
        if name in _FLOATS:
            body[name] = _f32(value)
        elif name in _CHAT_SAME:
            body[name] = value
        elif name == "messages":
            body["messages"] = [_message(m, f"messages[{i}]") for i, m in enumerate(value)]
        elif name == "stop":
            body["stop"] = list(value)
        elif name == "tools":
            body["tools"] = [_tool(t, f"tools[{i}]") for i, t in enumerate(value)]
        elif name == "tool_choice":
            body["tool_choice"] = _tool_choice(value, "tool_choice")
        elif name == "response_format":
            body["response_format"] = _response_format(value, "response_format")
        elif name == "reasoning_effort":
            body["reasoning_effort"] = _named(REASONING_EFFORTS, value, name)
        else:
            # search_parameters, previous_response_id, store_messages, use_encrypted_content,
            # max_turns, include, agent_count, service_tier, safety_identifier, guidelines:
            # gRPC (or Responses API) features with no confirmed chat-completions key.
            raise _unknown(name, "chat-completions")
    return body


def image_body(request: image_pb2.GenerateImageRequest) -> dict[str, Any]:
    """The REST image-generations body of ``request``.

    Raises:
        NotExpressibleError: A set field the body cannot carry (an edit's input images,
            storage options).
    """
    body: dict[str, Any] = {}
    for field, value in request.ListFields():
        name = field.name
        if name in _IMAGE_SAME:
            body[name] = value
        elif name == "format":
            body["response_format"] = _named(IMAGE_FORMATS, value, name)
        elif name == "quality":
            body["quality"] = _named(IMAGE_QUALITIES, value, name)
        elif name == "aspect_ratio":
            body["aspect_ratio"] = _named(ASPECT_RATIOS, value, name)
        elif name == "resolution":
            body["resolution"] = _named(IMAGE_RESOLUTIONS, value, name)
        else:  # image, images (edits: another endpoint), storage_options
            raise _unknown(name, "image-generations")
    return body


def request_line(request: batch_pb2.BatchRequest) -> dict[str, Any]:
    """One batch input line (as a dict) for ``request``, which must carry its id.

    Raises:
        NotExpressibleError: No ``batch_request_id``, a request kind other than chat or
            image, or a set field the REST body cannot carry (the field is named).
    """
    if not request.batch_request_id:
        raise NotExpressibleError("batch_request_id", "a line needs it as its custom_id")
    kind = request.WhichOneof("request")
    if kind == "completion_request":
        url, body = CHAT_URL, chat_body(request.completion_request)
    elif kind == "image_request":
        url, body = IMAGE_URL, image_body(request.image_request)
    else:
        raise NotExpressibleError(kind or "request", "only chat and image requests are written")
    return {"custom_id": request.batch_request_id, "method": "POST", "url": url, "body": body}


def jsonl_line(request: batch_pb2.BatchRequest) -> str:
    """:func:`request_line` as one line of JSON text, newline included.

    Raises:
        NotExpressibleError: As :func:`request_line`.
    """
    line = request_line(request)
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n"
