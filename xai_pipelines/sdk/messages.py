"""Message helpers and the conversion of every accepted message form to protos.

``chat.create(messages=...)`` and ``Chat.append`` accept, interchangeably:

* the helpers' results: ``system("...")``, ``user("...", image(url))``,
  ``assistant("...")``, ``tool_result("...", tool_call_id)``;
* ``chat_pb2.Message`` protos;
* the JSON message form of docs/ARCHITECTURE.md, e.g. ``{"role": "user", "content":
  [{"type": "text", "text": "..."}, {"type": "image_url", "image_url": "..."}]}``;
* a :class:`~xai_pipelines.sdk.response.Response` (its assistant turn, with tool calls
  and encrypted content).
"""

from __future__ import annotations

import base64
import json
import mimetypes
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from xai_pipelines.proto import chat_pb2, image_pb2
from xai_pipelines.sdk.errors import RequestValidationError
from xai_pipelines.sdk.response import Response, ToolCall

__all__ = [
    "ImageDetail",
    "assistant",
    "file",
    "image",
    "system",
    "to_message",
    "tool",
    "tool_result",
    "user",
]

ImageDetail = Literal["auto", "low", "high"]
ContentPart = str | chat_pb2.Content

_ROLES = {
    "system": chat_pb2.ROLE_SYSTEM,
    "user": chat_pb2.ROLE_USER,
    "assistant": chat_pb2.ROLE_ASSISTANT,
    "tool": chat_pb2.ROLE_TOOL,
    "function": chat_pb2.ROLE_FUNCTION,
    "developer": chat_pb2.ROLE_DEVELOPER,
}
_DETAILS = {
    "auto": image_pb2.DETAIL_AUTO,
    "low": image_pb2.DETAIL_LOW,
    "high": image_pb2.DETAIL_HIGH,
}
ROLE_NAMES = {v: k for k, v in _ROLES.items()}
_MESSAGE_KEYS = frozenset(
    {
        "role",
        "content",
        "tool_calls",
        "name",
        "encrypted_content",
        "tool_call_id",
        "reasoning_content",
    }
)


def _content(part: ContentPart) -> chat_pb2.Content:
    if isinstance(part, chat_pb2.Content):
        return part
    if isinstance(part, str):
        return chat_pb2.Content(text=part)
    raise RequestValidationError(
        f"message content must be text, image() or file(), not {type(part).__name__}"
    )


def _message(role: str, parts: Iterable[ContentPart], **fields: Any) -> chat_pb2.Message:
    return chat_pb2.Message(role=_ROLES[role], content=[_content(p) for p in parts], **fields)


def system(*content: ContentPart) -> chat_pb2.Message:
    """A system message."""
    return _message("system", content)


def user(*content: ContentPart) -> chat_pb2.Message:
    """A user message; parts may mix text, :func:`image` and :func:`file`."""
    return _message("user", content)


def assistant(*content: ContentPart, tool_calls: Iterable[ToolCall] = ()) -> chat_pb2.Message:
    """An assistant message (e.g. a scripted earlier answer)."""
    return _message("assistant", content, tool_calls=[_tool_call(c) for c in tool_calls])


def tool_result(result: str | Any, tool_call_id: str | None = None) -> chat_pb2.Message:
    """The result of a tool call, sent back as a ``tool`` message.

    Args:
        result: Text, or any JSON-able value (encoded as JSON).
        tool_call_id: The :attr:`ToolCall.id` this answers.
    """
    text = result if isinstance(result, str) else json.dumps(result)
    return _message("tool", [text], tool_call_id=tool_call_id)


def image(url: str | Path | bytes, detail: ImageDetail = "auto") -> chat_pb2.Content:
    """An image part: an ``https://`` URL, a ``data:`` URL, a local path or raw bytes."""
    return chat_pb2.Content(image_url=image_url_content(url, detail))


def file(file_id: str) -> chat_pb2.Content:
    """A part referring to an uploaded file by id."""
    return chat_pb2.Content(file=chat_pb2.FileContent(file_id=file_id))


def tool(
    name: str,
    description: str = "",
    parameters: Mapping[str, Any] | str | None = None,
    *,
    strict: bool = False,
) -> chat_pb2.Tool:
    """A client-side function tool.

    Args:
        name: Function name.
        description: What the function does (the model reads it).
        parameters: JSON schema of the arguments (dict or JSON text).
        strict: Ask for arguments that follow the schema exactly.
    """
    params = parameters if isinstance(parameters, str) else json.dumps(parameters or {})
    fn = chat_pb2.Function(name=name, description=description, parameters=params, strict=strict)
    return chat_pb2.Tool(function=fn)


def data_url(data: bytes, mime_type: str | None = None) -> str:
    """Encode bytes as a ``data:`` URL, sniffing the image type when not given."""
    from xai_pipelines.sdk.image_bytes import sniff_mime

    mime = mime_type or sniff_mime(data) or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def image_url_content(
    source: str | Path | bytes, detail: str = "auto"
) -> image_pb2.ImageUrlContent:
    """An ``ImageUrlContent`` from a URL, a data URL, a local path or bytes."""
    if detail not in _DETAILS:
        raise RequestValidationError(f"image detail must be auto, low or high, not {detail!r}")
    if isinstance(source, bytes):
        url = data_url(source)
    elif isinstance(source, Path):
        mime = mimetypes.guess_type(source.name)[0]
        url = data_url(source.read_bytes(), mime)
    elif isinstance(source, str) and source:
        url = source
    else:
        raise RequestValidationError("an image needs a URL, a data URL, a path or bytes")
    return image_pb2.ImageUrlContent(image_url=url, detail=_DETAILS[detail])


def _tool_call(call: ToolCall | Mapping[str, Any] | chat_pb2.ToolCall) -> chat_pb2.ToolCall:
    if isinstance(call, chat_pb2.ToolCall):
        return call
    if isinstance(call, ToolCall):
        name, args, call_id = call.name, call.arguments, call.id
    else:
        fn = call.get("function") or {}
        name = fn.get("name") or call.get("name") or ""
        args = fn.get("arguments", call.get("arguments", ""))
        call_id = call.get("id", "")
        if not name:
            raise RequestValidationError(f"tool call {call_id!r} has no function name")
    if not isinstance(args, str):
        args = json.dumps(args)
    return chat_pb2.ToolCall(
        id=call_id,
        type=chat_pb2.TOOL_CALL_TYPE_CLIENT_SIDE_TOOL,
        function=chat_pb2.FunctionCall(name=name, arguments=args),
    )


def _part(part: Any) -> chat_pb2.Content:
    if isinstance(part, str | chat_pb2.Content):
        return _content(part)
    if not isinstance(part, Mapping):
        raise RequestValidationError(f"content part must be a string or an object, not {part!r}")
    kind = part.get("type", "text")
    if kind == "text":
        return chat_pb2.Content(text=str(part.get("text", "")))
    if kind == "image_url":
        ref = part.get("image_url")
        url = ref.get("url") if isinstance(ref, Mapping) else ref
        detail = part.get("detail") or (ref.get("detail") if isinstance(ref, Mapping) else None)
        return image(url or "", detail or "auto")
    if kind == "file":
        return file(str(part.get("file_id", "")))
    raise RequestValidationError(f"unknown content part type {kind!r} (text, image_url, file)")


def _from_dict(data: Mapping[str, Any]) -> chat_pb2.Message:
    role = data.get("role")
    if role not in _ROLES:
        raise RequestValidationError(f"message role must be one of {sorted(_ROLES)}, not {role!r}")
    content = data.get("content")
    parts = [] if content is None else [content] if isinstance(content, str) else list(content)
    msg = chat_pb2.Message(
        role=_ROLES[role],
        content=[_part(p) for p in parts],
        tool_calls=[_tool_call(c) for c in data.get("tool_calls") or ()],
        name=data.get("name") or "",
        encrypted_content=data.get("encrypted_content") or "",
    )
    if data.get("tool_call_id") is not None:
        msg.tool_call_id = str(data["tool_call_id"])
    if data.get("reasoning_content") is not None:
        msg.reasoning_content = str(data["reasoning_content"])
    unknown = set(data) - _MESSAGE_KEYS
    if unknown:
        raise RequestValidationError(f"unknown message field(s): {', '.join(sorted(unknown))}")
    return msg


def from_response(response: Response) -> chat_pb2.Message:
    """The assistant turn of ``response``: text, tool calls and encrypted content."""
    msg = chat_pb2.Message(
        role=chat_pb2.ROLE_ASSISTANT, encrypted_content=response.encrypted_content
    )
    if response.content:
        msg.content.add(text=response.content)
    for output in response.proto.outputs:
        if output.index == response.index:
            msg.tool_calls.extend(output.message.tool_calls)
    return msg


def to_message(item: chat_pb2.Message | Mapping[str, Any] | Response) -> chat_pb2.Message:
    """Convert any accepted message form (see the module docstring) to a proto."""
    if isinstance(item, chat_pb2.Message):
        return item
    if isinstance(item, Response):
        return from_response(item)
    if isinstance(item, Mapping):
        return _from_dict(item)
    raise RequestValidationError(
        f"a message must be a dict, a Message or a Response, not {type(item).__name__}"
    )


def message_to_json(msg: chat_pb2.Message) -> dict[str, Any]:
    """A compact JSON view of a message (for telemetry); images shown by URL kind only."""
    parts: list[str] = []
    for part in msg.content:
        if part.HasField("text"):
            parts.append(part.text)
        elif part.HasField("image_url"):
            url = part.image_url.image_url
            parts.append("[image: data URL]" if url.startswith("data:") else f"[image: {url}]")
        else:
            parts.append(f"[file: {part.file.file_id}]")
    out: dict[str, Any] = {"role": ROLE_NAMES.get(msg.role, "unknown"), "content": "".join(parts)}
    if msg.tool_calls:
        out["tool_calls"] = [ToolCall.from_proto(c).to_dict() for c in msg.tool_calls]
    return out
