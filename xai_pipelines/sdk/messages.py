"""Message helpers and the conversion of every accepted message form to protos.

``chat.create(messages=...)`` and ``Chat.append`` accept, interchangeably:

* the helpers' results: ``system("...")``, ``user("...", image(url))``,
  ``assistant("...")``, ``tool_result("...", tool_call_id)``;
* ``chat_pb2.Message`` protos;
* the JSON message form of docs/ARCHITECTURE.md, e.g. ``{"role": "user", "content":
  [{"type": "text", "text": "..."}, {"type": "image_url", "image_url": "..."}]}``;
* a :class:`~xai_pipelines.sdk.response.Response`: its turns as the official SDK
  replays them (:func:`response_messages`): one assistant message per answer, or, for
  an agentic single-call answer, one message per output (the assistant turns with
  their server-side tool calls, the ``tool`` outputs, the final answer), each with
  its reasoning and encrypted content.

Files: ``file("file-123")`` refers to an uploaded file; ``file(b"...")`` and
``file(Path("report.pdf"))`` carry local data, which the chat uploads through the
Files service when it is sent (once per client for each distinct content).
"""

from __future__ import annotations

import base64
import json
import mimetypes
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from xai_pipelines.proto import chat_pb2, image_pb2
from xai_pipelines.sdk.errors import RequestValidationError
from xai_pipelines.sdk.outputs import STATUS_NUMBERS, TOOL_CALL_TYPE_NUMBERS
from xai_pipelines.sdk.response import Response, ToolCall

__all__ = [
    "ImageDetail",
    "assistant",
    "developer",
    "file",
    "image",
    "response_messages",
    "system",
    "to_message",
    "to_messages",
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


def developer(*content: ContentPart) -> chat_pb2.Message:
    """A developer message: instructions from the application, above the user's.

    Models up to grok-4.1 treat it as a system message (xai-sdk 1.21.0, chat.developer,
    read 2026-11-29).
    """
    return _message("developer", content)


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


def file(
    source: str | bytes | os.PathLike[str],
    *,
    filename: str | None = None,
    mime_type: str | None = None,
) -> chat_pb2.Content:
    """A file part: an uploaded file's id, or local data to upload.

    Args:
        source: A file id (``str``), the file's bytes, or a local path (``Path``).
            Local data is uploaded through the Files service when the chat is sent,
            once per client for each distinct content (by sha256); the message then
            refers to the file id.
        filename: Name for the upload (default: the path's name).
        mime_type: MIME type of local data, if you know it.

    Raises:
        RequestValidationError: For an empty id or data, an unreadable path, or a
            filename/mime_type given with a file id.
    """
    if isinstance(source, str):
        if not source:
            raise RequestValidationError("file() needs a file id, bytes or a path")
        if filename is not None or mime_type is not None:
            raise RequestValidationError("filename and mime_type go with local data, not a file id")
        return chat_pb2.Content(file=chat_pb2.FileContent(file_id=source))
    if isinstance(source, bytes | bytearray):
        data, name = bytes(source), filename
    elif isinstance(source, os.PathLike):
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise RequestValidationError(f"cannot read file {path}: {exc.strerror}") from None
        name = filename or path.name
    else:
        raise RequestValidationError(
            f"file() takes a file id, bytes or a path, not {type(source).__name__}"
        )
    if not data:
        raise RequestValidationError("file() was given no data (an empty file)")
    content = chat_pb2.FileContent(data=data)
    if name:
        content.filename = name
    if mime_type:
        content.mime_type = mime_type
    return chat_pb2.Content(file=content)


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


def image_detail(detail: str) -> Any:
    """The ``ImageDetail`` enum value of ``auto``, ``low`` or ``high``."""
    if detail not in _DETAILS:
        raise RequestValidationError(f"image detail must be auto, low or high, not {detail!r}")
    return _DETAILS[detail]


def image_url_content(
    source: str | Path | bytes, detail: str = "auto"
) -> image_pb2.ImageUrlContent:
    """An ``ImageUrlContent`` from a URL, a data URL, a local path or bytes."""
    level = image_detail(detail)
    if isinstance(source, bytes):
        url = data_url(source)
    elif isinstance(source, Path):
        mime = mimetypes.guess_type(source.name)[0]
        url = data_url(source.read_bytes(), mime)
    elif isinstance(source, str) and source:
        url = source
    else:
        raise RequestValidationError("an image needs a URL, a data URL, a path or bytes")
    return image_pb2.ImageUrlContent(image_url=url, detail=level)


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
    if isinstance(call, Mapping):
        kind, status = call.get("type") or "client_side_tool", call.get("status")
    else:
        kind, status = call.type, call.status
    kind = "client_side_tool" if kind == "function" else kind  # the OpenAI-style name
    if kind not in TOOL_CALL_TYPE_NUMBERS:
        raise RequestValidationError(f"tool call {call_id!r} has an unknown type {kind!r}")
    if status is not None and status not in STATUS_NUMBERS:
        raise RequestValidationError(f"tool call {call_id!r} has an unknown status {status!r}")
    out = chat_pb2.ToolCall(
        id=call_id,
        type=TOOL_CALL_TYPE_NUMBERS[kind],  # type: ignore[arg-type]
        function=chat_pb2.FunctionCall(name=name, arguments=args),
    )
    if status is not None:
        out.status = STATUS_NUMBERS[status]  # type: ignore[assignment]
    return out


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
        if part.get("path") is not None:
            return file(
                Path(str(part["path"])),
                filename=part.get("filename"),
                mime_type=part.get("mime_type"),
            )
        return file(str(part.get("file_id", "")))
    raise RequestValidationError(f"unknown content part type {kind!r} (text, image_url, file)")


def _from_dict(data: Mapping[str, Any]) -> chat_pb2.Message:
    role = data.get("role")
    content = data.get("content")
    if type(content) is str and len(data) == 2 and role in _ROLES:
        # {"role": ..., "content": "text"}, most messages: the proto the general path
        # below builds for it, without its field-by-field reading
        return chat_pb2.Message(role=_ROLES[role], content=[chat_pb2.Content(text=content)])
    if role not in _ROLES:
        raise RequestValidationError(f"message role must be one of {sorted(_ROLES)}, not {role!r}")
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


def _replayed(
    message: chat_pb2.CompletionMessage,
    content: str,
    tool_calls: Iterable[chat_pb2.ToolCall],
    reasoning: str,
    encrypted: str,
) -> chat_pb2.Message:
    role = message.role or chat_pb2.ROLE_ASSISTANT
    msg = chat_pb2.Message(role=role, content=[chat_pb2.Content(text=content)])
    msg.tool_calls.extend(tool_calls)
    if reasoning:
        msg.reasoning_content = reasoning
    msg.encrypted_content = encrypted
    # A tool output names the call it answers: the server pairs replayed tool turns
    # with their calls by tool_call_id (xai-sdk 1.21.0, chat._replay_tool_call_id).
    if role == chat_pb2.ROLE_TOOL and message.tool_calls:
        msg.tool_call_id = message.tool_calls[0].id
    return msg


def response_messages(response: Response) -> list[chat_pb2.Message]:
    """The turns that replay ``response`` in a conversation, as the official SDK replays them.

    An answer of a batch is one message: its final text, reasoning and encrypted
    content, and its tool calls. A single-call answer is one message per output, so
    an agentic answer replays its server-side tool calls, the tools' outputs and the
    final answer in order.
    """
    if response.aggregated:
        return [
            _replayed(
                o.message,
                o.message.content,
                o.message.tool_calls,
                o.message.reasoning_content,
                o.message.encrypted_content,
            )
            for o in response.outputs
        ]
    calls = [c for o in response.outputs if o.message.role != chat_pb2.ROLE_TOOL
             for c in o.message.tool_calls]  # fmt: skip
    final = chat_pb2.CompletionMessage(role=chat_pb2.ROLE_ASSISTANT)
    return [
        _replayed(
            final,
            response.content,
            calls,
            response.reasoning_content,
            response.encrypted_content,
        )
    ]


def to_messages(
    item: chat_pb2.Message | Mapping[str, Any] | Response,
) -> list[chat_pb2.Message]:
    """Convert any accepted message form (see the module docstring) to protos."""
    if type(item) is dict:  # the JSON request form: the common case, checked first
        return [_from_dict(item)]
    if isinstance(item, chat_pb2.Message):
        return [item]
    if isinstance(item, Response):
        return response_messages(item)
    if isinstance(item, Mapping):
        return [_from_dict(item)]
    raise RequestValidationError(
        f"a message must be a dict, a Message or a Response, not {type(item).__name__}"
    )


def to_message(item: chat_pb2.Message | Mapping[str, Any] | Response) -> chat_pb2.Message:
    """Convert one message form to one proto (a Response must replay as one message).

    Raises:
        RequestValidationError: For a malformed message, or an agentic Response that
            replays as several messages (use :func:`to_messages`).
    """
    messages = to_messages(item)
    if len(messages) != 1:
        raise RequestValidationError(
            f"this response replays as {len(messages)} messages; use to_messages()"
        )
    return messages[0]


def message_to_json(msg: chat_pb2.Message) -> dict[str, Any]:
    """A compact JSON view of a message (for telemetry); images shown by URL kind only."""
    parts: list[str] = []
    for part in msg.content:
        if part.HasField("text"):
            parts.append(part.text)
        elif part.HasField("image_url"):
            url = part.image_url.image_url
            parts.append("[image: data URL]" if url.startswith("data:") else f"[image: {url}]")
        elif part.file.file_id:
            parts.append(f"[file: {part.file.file_id}]")
        else:
            name = part.file.filename or "unnamed"
            parts.append(f"[file: {name}, {len(part.file.data)} bytes to upload]")
    out: dict[str, Any] = {"role": ROLE_NAMES.get(msg.role, "unknown"), "content": "".join(parts)}
    if msg.tool_calls:
        out["tool_calls"] = [ToolCall.from_proto(c).to_dict() for c in msg.tool_calls]
    return out
