"""The lines of a batch input file, read back into batch requests (the server's side).

A batch created with ``input_file_id`` takes its requests from a JSONL file stored
with the Files service. Each line is ``{"custom_id", "method": "POST", "url",
"body"}`` with the REST body of the endpoint ``url`` names (the OpenAI batch shape:
docs.litellm.ai/docs/providers/xai_batches, updated 2026-10-09;
batchwork.dev/providers/xai; both read 2026-11-29). The emulator takes ``custom_id``
as the request's ``batch_request_id`` (an assumption no source reached confirms).

This is the emulator's own reading of the format, written apart from the client's
writer (``xai_pipelines/sdk/batch_file.py``) so that a test of one against the other
checks two beliefs, not one. It reads the chat-completions keys the emulator models
and refuses any other key by name: a line that cannot be read becomes a failed
request of the batch (INVALID_ARGUMENT, the line number and what is wrong), the
others run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from xai_pipelines.emulator.batch_state import CHAT_ENDPOINT, IMAGE_ENDPOINT
from xai_pipelines.proto import batch_pb2, chat_pb2, image_pb2

_ROLES = {
    "user": chat_pb2.ROLE_USER,
    "assistant": chat_pb2.ROLE_ASSISTANT,
    "system": chat_pb2.ROLE_SYSTEM,
    "tool": chat_pb2.ROLE_TOOL,
    "developer": chat_pb2.ROLE_DEVELOPER,
}
_EFFORTS = {
    "low": chat_pb2.EFFORT_LOW,
    "medium": chat_pb2.EFFORT_MEDIUM,
    "high": chat_pb2.EFFORT_HIGH,
    "none": chat_pb2.EFFORT_NONE,
    "xhigh": chat_pb2.EFFORT_XHIGH,
}
_MODES = {
    "auto": chat_pb2.TOOL_MODE_AUTO,
    "none": chat_pb2.TOOL_MODE_NONE,
    "required": chat_pb2.TOOL_MODE_REQUIRED,
}
_DETAILS = {
    "auto": image_pb2.DETAIL_AUTO,
    "low": image_pb2.DETAIL_LOW,
    "high": image_pb2.DETAIL_HIGH,
}
_IMAGE_FORMATS = {"url": image_pb2.IMG_FORMAT_URL, "b64_json": image_pb2.IMG_FORMAT_BASE64}
_QUALITIES = {
    "low": image_pb2.IMG_QUALITY_LOW,
    "medium": image_pb2.IMG_QUALITY_MEDIUM,
    "high": image_pb2.IMG_QUALITY_HIGH,
}
_RESOLUTIONS = {"1k": image_pb2.IMG_RESOLUTION_1K, "2k": image_pb2.IMG_RESOLUTION_2K}


def _ratio_number(name: str) -> int:
    enum = "AUTO" if name == "auto" else name.replace(".", "_").replace(":", "_")
    return int(image_pb2.ImageAspectRatio.Value(f"IMG_ASPECT_RATIO_{enum}"))


_RATIOS = {
    r: _ratio_number(r)
    for r in ("1:1", "3:4", "4:3", "9:16", "16:9", "2:3", "3:2", "auto", "9:19.5", "19.5:9",
              "9:20", "20:9", "1:2", "2:1")
}  # fmt: skip


class LineError(ValueError):
    """A line of a batch input file the emulator cannot read (the message says where)."""


@dataclass(frozen=True)
class ParsedLine:
    """One line read: its request (with ``batch_request_id``), endpoint and model, or why
    it cannot run (``error``; ``request_id`` is then ``custom_id`` when readable, else
    ``line-<number>``)."""

    request_id: str
    endpoint: str
    model: str
    request: batch_pb2.BatchRequest | None = None
    error: str | None = None


def _want(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise LineError(f"{where} must be a number, not a boolean")
    if not isinstance(value, kind):
        name = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise LineError(f"{where} must be {_article(name)}, got {type(value).__name__}")
    return value


def _article(name: str) -> str:
    words = {"str": "a string", "int": "an integer", "float": "a number", "dict": "an object",
             "list": "an array", "bool": "a boolean"}  # fmt: skip
    return " or ".join(words.get(n, n) for n in name.split(" or "))


def _pick(table: Mapping[str, int], value: Any, where: str) -> int:
    if not isinstance(value, str) or value not in table:
        raise LineError(f"{where} must be one of {', '.join(table)}, got {value!r}")
    return table[value]


def _keys(obj: Mapping[str, Any], allowed: set[str] | frozenset[str], where: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise LineError(
            f"{where}.{extra[0]} is not a key the emulator reads (it reads: "
            f"{', '.join(sorted(allowed))})"
        )


def _schema_text(value: Any, where: str) -> str:
    _want(value, dict, where)
    return json.dumps(value)


def _content(message: chat_pb2.Message, value: Any, where: str) -> None:
    if isinstance(value, str):
        message.content.add(text=value)
        return
    for i, part in enumerate(_want(value, list, where)):
        at = f"{where}[{i}]"
        _want(part, dict, at)
        kind = part.get("type")
        if kind == "text":
            _keys(part, {"type", "text"}, at)
            message.content.add(text=_want(part.get("text"), str, f"{at}.text"))
        elif kind == "image_url":
            _keys(part, {"type", "image_url"}, at)
            image = _want(part.get("image_url"), dict, f"{at}.image_url")
            _keys(image, {"url", "detail"}, f"{at}.image_url")
            content = message.content.add().image_url
            content.image_url = _want(image.get("url"), str, f"{at}.image_url.url")
            if "detail" in image:
                content.detail = _pick(_DETAILS, image["detail"], f"{at}.image_url.detail")  # type: ignore[assignment]
        else:
            raise LineError(f"{at}.type must be text or image_url, got {kind!r}")


def _tool_call(value: Any, where: str) -> chat_pb2.ToolCall:
    _want(value, dict, where)
    _keys(value, {"id", "type", "function"}, where)
    if value.get("type", "function") != "function":
        raise LineError(f"{where}.type must be function")
    fn = _want(value.get("function"), dict, f"{where}.function")
    _keys(fn, {"name", "arguments"}, f"{where}.function")
    call = chat_pb2.ToolCall(
        id=_want(value.get("id", ""), str, f"{where}.id"),
        type=chat_pb2.TOOL_CALL_TYPE_CLIENT_SIDE_TOOL,
    )
    call.function.name = _want(fn.get("name"), str, f"{where}.function.name")
    call.function.arguments = _want(fn.get("arguments", ""), str, f"{where}.function.arguments")
    return call


def _message(value: Any, where: str) -> chat_pb2.Message:
    _want(value, dict, where)
    _keys(value, {"role", "content", "name", "tool_calls", "tool_call_id"}, where)
    message = chat_pb2.Message(role=_pick(_ROLES, value.get("role"), f"{where}.role"))  # type: ignore[arg-type]
    if value.get("content") is not None:
        _content(message, value["content"], f"{where}.content")
    if "name" in value:
        message.name = _want(value["name"], str, f"{where}.name")
    for i, call in enumerate(_want(value.get("tool_calls", []), list, f"{where}.tool_calls")):
        message.tool_calls.append(_tool_call(call, f"{where}.tool_calls[{i}]"))
    if "tool_call_id" in value:
        message.tool_call_id = _want(value["tool_call_id"], str, f"{where}.tool_call_id")
    return message


def _tool(value: Any, where: str) -> chat_pb2.Tool:
    _want(value, dict, where)
    _keys(value, {"type", "function"}, where)
    if value.get("type") != "function":
        raise LineError(f"{where}.type must be function (server-side tools are not read)")
    fn = _want(value.get("function"), dict, f"{where}.function")
    _keys(fn, {"name", "description", "parameters", "strict"}, f"{where}.function")
    tool = chat_pb2.Tool()
    tool.function.name = _want(fn.get("name"), str, f"{where}.function.name")
    tool.function.description = _want(
        fn.get("description", ""), str, f"{where}.function.description"
    )
    if "parameters" in fn:
        tool.function.parameters = _schema_text(fn["parameters"], f"{where}.function.parameters")
    tool.function.strict = _want(fn.get("strict", False), bool, f"{where}.function.strict")
    return tool


def _tool_choice(request: chat_pb2.GetCompletionsRequest, value: Any) -> None:
    if isinstance(value, str):
        request.tool_choice.mode = _pick(_MODES, value, "body.tool_choice")  # type: ignore[assignment]
        return
    _want(value, dict, "body.tool_choice")
    fn = _want(value.get("function"), dict, "body.tool_choice.function")
    request.tool_choice.function_name = _want(fn.get("name"), str, "body.tool_choice.function.name")


def _response_format(request: chat_pb2.GetCompletionsRequest, value: Any) -> None:
    where = "body.response_format"
    _want(value, dict, where)
    fmt = request.response_format
    kind = value.get("type")
    if kind == "text":
        fmt.format_type = chat_pb2.FORMAT_TYPE_TEXT
    elif kind == "json_object":
        fmt.format_type = chat_pb2.FORMAT_TYPE_JSON_OBJECT
    elif kind == "json_schema":
        spec = _want(value.get("json_schema"), dict, f"{where}.json_schema")
        fmt.format_type = chat_pb2.FORMAT_TYPE_JSON_SCHEMA
        fmt.schema = _schema_text(spec.get("schema"), f"{where}.json_schema.schema")
    else:
        raise LineError(f"{where}.type must be text, json_object or json_schema, got {kind!r}")


def _scalar(kind: type | tuple[type, ...]) -> Callable[[Any, str, Any], None]:
    def put(request: Any, name: str, value: Any) -> None:
        setattr(request, name, _want(value, kind, f"body.{name}"))

    return put


def _chat_key(handler: Callable[[chat_pb2.GetCompletionsRequest, Any], None]) -> Any:
    return lambda request, _name, value: handler(request, value)


def _messages(request: chat_pb2.GetCompletionsRequest, value: Any) -> None:
    for i, m in enumerate(_want(value, list, "body.messages")):
        request.messages.append(_message(m, f"body.messages[{i}]"))


def _stop(request: chat_pb2.GetCompletionsRequest, value: Any) -> None:
    stops = [value] if isinstance(value, str) else _want(value, list, "body.stop")
    request.stop.extend(_want(s, str, "body.stop[]") for s in stops)


def _tools(request: chat_pb2.GetCompletionsRequest, value: Any) -> None:
    for i, t in enumerate(_want(value, list, "body.tools")):
        request.tools.append(_tool(t, f"body.tools[{i}]"))


def _effort(request: chat_pb2.GetCompletionsRequest, value: Any) -> None:
    request.reasoning_effort = _pick(_EFFORTS, value, "body.reasoning_effort")  # type: ignore[assignment]


_NUMBER = (int, float)
_CHAT_KEYS: dict[str, Callable[[Any, str, Any], None]] = {
    "model": _scalar(str),
    "user": _scalar(str),
    "n": _scalar(int),
    "max_tokens": _scalar(int),
    "seed": _scalar(int),
    "temperature": _scalar(_NUMBER),
    "top_p": _scalar(_NUMBER),
    "logprobs": _scalar(bool),
    "top_logprobs": _scalar(int),
    "frequency_penalty": _scalar(_NUMBER),
    "presence_penalty": _scalar(_NUMBER),
    "parallel_tool_calls": _scalar(bool),
    "messages": _chat_key(_messages),
    "stop": _chat_key(_stop),
    "tools": _chat_key(_tools),
    "tool_choice": _chat_key(_tool_choice),
    "response_format": _chat_key(_response_format),
    "reasoning_effort": _chat_key(_effort),
}


def _image_enum(table: Mapping[str, int], field: str) -> Callable[[Any, str, Any], None]:
    def put(request: Any, name: str, value: Any) -> None:
        setattr(request, field, _pick(table, value, f"body.{name}"))

    return put


_IMAGE_KEYS: dict[str, Callable[[Any, str, Any], None]] = {
    "prompt": _scalar(str),
    "model": _scalar(str),
    "n": _scalar(int),
    "user": _scalar(str),
    "response_format": _image_enum(_IMAGE_FORMATS, "format"),
    "quality": _image_enum(_QUALITIES, "quality"),
    "aspect_ratio": _image_enum(_RATIOS, "aspect_ratio"),
    "resolution": _image_enum(_RESOLUTIONS, "resolution"),
}


def _body(request: Any, body: Mapping[str, Any], keys: Mapping[str, Callable[..., None]]) -> None:
    _keys(body, frozenset(keys), "body")
    for name, value in body.items():
        if value is None:
            continue
        try:
            keys[name](request, name, value)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, LineError):
                raise
            raise LineError(f"body.{name}: {exc}") from None


def parse_line(text: str) -> tuple[str, str, str, batch_pb2.BatchRequest]:
    """``(request_id, endpoint, model, request)`` of one line.

    Raises:
        LineError: What is wrong with the line (its ``custom_id`` is in ``args[1]`` when
            it could be read).
    """
    try:
        line = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LineError(f"not JSON ({exc.msg})") from None
    _want(line, dict, "the line")
    custom_id = line.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise LineError("custom_id must be a non-empty string")
    try:
        _keys(line, {"custom_id", "method", "url", "body"}, "line")
        if line.get("method", "POST") != "POST":
            raise LineError(f"method must be POST, got {line.get('method')!r}")
        url = line.get("url")
        body = _want(line.get("body"), dict, "body")
        out = batch_pb2.BatchRequest(batch_request_id=custom_id)
        if url == CHAT_ENDPOINT:
            out.completion_request.SetInParent()  # the kind is set even for an empty body
            _body(out.completion_request, body, _CHAT_KEYS)
            model = out.completion_request.model
        elif url == IMAGE_ENDPOINT:
            out.image_request.SetInParent()
            _body(out.image_request, body, _IMAGE_KEYS)
            model = out.image_request.model
        else:
            raise LineError(f"url must be {CHAT_ENDPOINT} or {IMAGE_ENDPOINT}, got {url!r}")
    except LineError as exc:
        raise LineError(str(exc), custom_id) from None
    return custom_id, str(url), model, out


def read_lines(data: bytes) -> Iterator[ParsedLine]:
    """Every non-blank line of a batch input file, read or with its error."""
    for number, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
            request_id, endpoint, model, request = parse_line(text)
        except UnicodeDecodeError:
            yield ParsedLine(f"line-{number}", "", "", error=f"line {number}: not UTF-8")
        except LineError as exc:
            rid = exc.args[1] if len(exc.args) > 1 else f"line-{number}"
            yield ParsedLine(rid, "", "", error=f"line {number}: {exc.args[0]}")
        else:
            yield ParsedLine(request_id, endpoint, model, request)
