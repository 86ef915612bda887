"""The parts of a chat answer: tool calls, tool outputs, generated images, inline citations.

With server-side tools (``web_search``, ``x_search``, ``code_execution``,
``image_generation`` ...) the hosted API runs an agentic loop inside one call and
returns it as several outputs: assistant turns carrying the tool calls, ``ROLE_TOOL``
outputs carrying what the tools returned, and the final assistant answer.
:class:`~xai_pipelines.sdk.response.Response` folds them into one answer and exposes
the pieces as the typed records below.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from xai_pipelines.proto import chat_pb2, usage_pb2
from xai_pipelines.sdk.errors import InvalidResponseError

__all__ = [
    "SERVER_SIDE_TOOL_TYPES",
    "ImageOutput",
    "InlineCitation",
    "ToolCall",
    "ToolOutput",
    "server_side_tool_usage",
]

# Wire enum -> the name used in the JSON request form (``tools: [{"type": ...}]``).
_TOOL_CALL_TYPES: dict[int, str] = {
    chat_pb2.TOOL_CALL_TYPE_INVALID: "unspecified",
    chat_pb2.TOOL_CALL_TYPE_CLIENT_SIDE_TOOL: "client_side_tool",
    chat_pb2.TOOL_CALL_TYPE_WEB_SEARCH_TOOL: "web_search",
    chat_pb2.TOOL_CALL_TYPE_X_SEARCH_TOOL: "x_search",
    chat_pb2.TOOL_CALL_TYPE_CODE_EXECUTION_TOOL: "code_execution",
    chat_pb2.TOOL_CALL_TYPE_COLLECTIONS_SEARCH_TOOL: "collections_search",
    chat_pb2.TOOL_CALL_TYPE_MCP_TOOL: "mcp",
    chat_pb2.TOOL_CALL_TYPE_ATTACHMENT_SEARCH_TOOL: "attachment_search",
    chat_pb2.TOOL_CALL_TYPE_IMAGE_GENERATION_TOOL: "image_generation",
}
TOOL_CALL_TYPE_NUMBERS = {name: number for number, name in _TOOL_CALL_TYPES.items()}
#: Tool call types the server runs itself.
SERVER_SIDE_TOOL_TYPES = frozenset(_TOOL_CALL_TYPES.values()) - {"unspecified", "client_side_tool"}

_STATUSES: dict[int, str] = {
    chat_pb2.TOOL_CALL_STATUS_IN_PROGRESS: "in_progress",
    chat_pb2.TOOL_CALL_STATUS_COMPLETED: "completed",
    chat_pb2.TOOL_CALL_STATUS_INCOMPLETE: "incomplete",
    chat_pb2.TOOL_CALL_STATUS_FAILED: "failed",
}
STATUS_NUMBERS = {name: number for number, name in _STATUSES.items()}

# The JSON envelope the image_generation tool returns in its ROLE_TOOL output
# (xai-sdk 1.21.0, chat.py ImageGenerationOutput and tests/server.py, read 2026-11-29).
_IMAGE_RESULT_TYPE = "image_generation_result"


@dataclass(frozen=True)
class ToolCall:
    """A tool call of the model: a client-side function, or a tool the server ran.

    Attributes:
        id: Call id, echoed back in the tool result (``tool_call_id``).
        name: Function (or server-side tool function) name.
        arguments: Arguments as the JSON text the model produced.
        type: ``client_side_tool`` for your functions; the server-side kind
            (``web_search``, ``x_search``, ``code_execution``, ``collections_search``,
            ``attachment_search``, ``mcp``, ``image_generation``); ``unspecified``
            when the server left the type unset.
        status: For server-side calls: ``in_progress``, ``completed``, ``incomplete``
            or ``failed``; None for client-side calls.
        error_message: Why a server-side call failed, when it did.
    """

    id: str
    name: str
    arguments: str
    type: str = "client_side_tool"
    status: str | None = None
    error_message: str | None = None

    @classmethod
    def from_proto(cls, call: chat_pb2.ToolCall) -> ToolCall:
        """Read a ``ToolCall``."""
        kind = _TOOL_CALL_TYPES.get(call.type, "unspecified")
        server_side = kind in SERVER_SIDE_TOOL_TYPES
        return cls(
            call.id,
            call.function.name,
            call.function.arguments,
            kind,
            _STATUSES.get(call.status, "in_progress") if server_side else None,
            call.error_message if call.HasField("error_message") else None,
        )

    @property
    def server_side(self) -> bool:
        """True for a tool the server ran (its result is in the response, not yours to send)."""
        return self.type in SERVER_SIDE_TOOL_TYPES

    def parsed_arguments(self) -> Any:
        """The arguments decoded from JSON."""
        return json.loads(self.arguments or "{}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the JSON request form of an assistant tool call)."""
        out: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "function": {"name": self.name, "arguments": self.arguments},
        }
        if self.status is not None:
            out["status"] = self.status
        if self.error_message is not None:
            out["error_message"] = self.error_message
        return out


@dataclass(frozen=True)
class ToolOutput:
    """What a server-side tool returned (a ``ROLE_TOOL`` output of the reply).

    Attributes:
        index: The output's index in the reply.
        content: The tool's result text (for ``image_generation``, a JSON envelope).
        tool_calls: The call(s) this output answers.
    """

    index: int
    content: str
    tool_calls: tuple[ToolCall, ...] = ()

    @property
    def tool_call_id(self) -> str | None:
        """The id of the call this output answers."""
        return self.tool_calls[0].id if self.tool_calls else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "index": self.index,
            "content": self.content,
            "tool_call_id": self.tool_call_id,
            "tool_calls": [c.to_dict() for c in self.tool_calls],
        }


@dataclass(frozen=True)
class ImageOutput:
    """An image made by the server-side ``image_generation`` tool.

    Attributes:
        index: Index of the ``ROLE_TOOL`` output that carried it.
        tool_call: The completed call that made it (``imagine_text_to_image`` or
            ``imagine_image_to_image``).
        data_url: The image as a ``data:image/...;base64,`` URL.
        image_uuid: Short id the model uses to refer to the image in later turns.
    """

    index: int
    tool_call: ToolCall
    data_url: str = field(repr=False)
    image_uuid: str = ""

    @property
    def mime_type(self) -> str:
        """MIME type from the data URL, e.g. ``image/jpeg``."""
        return self.data_url.removeprefix("data:").split(";", 1)[0]

    @property
    def image(self) -> bytes:
        """The decoded image bytes."""
        return base64.b64decode(self.data_url.split("base64,", 1)[1])

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (without the image data)."""
        return {
            "index": self.index,
            "tool_call_id": self.tool_call.id,
            "mime_type": self.mime_type,
            "image_uuid": self.image_uuid,
        }

    @classmethod
    def from_tool_output(cls, output: ToolOutput, call: ToolCall) -> ImageOutput:
        """Read the result envelope of a completed ``image_generation`` call.

        Raises:
            InvalidResponseError: When the envelope is not JSON of the expected shape.
        """
        problem = f"image_generation output {output.index} is not an image result envelope"
        try:
            envelope = json.loads(output.content)
        except json.JSONDecodeError:
            raise InvalidResponseError(f"{problem}: {output.content[:64]!r}") from None
        if not isinstance(envelope, dict) or envelope.get("__type") != _IMAGE_RESULT_TYPE:
            raise InvalidResponseError(f"{problem}: {output.content[:64]!r}")
        data_url = envelope.get("result")
        if not isinstance(data_url, str) or not data_url.startswith("data:image/"):
            raise InvalidResponseError(f"{problem}: its result is not a data:image URL")
        try:
            base64.b64decode(data_url.split("base64,", 1)[1], validate=True)
        except (IndexError, binascii.Error):
            raise InvalidResponseError(f"{problem}: its result is not base64 data") from None
        uuid = envelope.get("image_uuid")
        return cls(output.index, call, data_url, uuid if isinstance(uuid, str) else "")


@dataclass(frozen=True)
class InlineCitation:
    """Where in the answer text a source is cited (with ``include=["inline_citations"]``).

    Attributes:
        id: Display number, e.g. ``"1"``.
        start_index: First character of the cited span in the answer.
        end_index: End of the span (exclusive).
        source: ``web``, ``x``, ``collections`` or None.
        url: The web or X source URL.
        file_id: The collections document's file id.
        chunk_id: The collections chunk id.
    """

    id: str
    start_index: int
    end_index: int
    source: str | None = None
    url: str | None = None
    file_id: str | None = None
    chunk_id: str | None = None

    @classmethod
    def from_proto(cls, c: chat_pb2.InlineCitation) -> InlineCitation:
        """Read an ``InlineCitation``."""
        kind = c.WhichOneof("citation")
        source = kind.removesuffix("_citation") if kind else None
        url = file_id = chunk_id = None
        if kind == "web_citation":
            url = c.web_citation.url
        elif kind == "x_citation":
            url = c.x_citation.url
        elif kind == "collections_citation":
            file_id, chunk_id = c.collections_citation.file_id, c.collections_citation.chunk_id
        return cls(c.id, c.start_index, c.end_index, source, url, file_id, chunk_id)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


def server_side_tool_usage(usage: usage_pb2.SamplingUsage) -> dict[str, int]:
    """Calls per server-side tool (``{"web_search": 2}``) from ``server_side_tools_used``."""
    counts: dict[str, int] = {}
    for number in usage.server_side_tools_used:
        try:
            name = usage_pb2.ServerSideTool.Name(number).removeprefix("SERVER_SIDE_TOOL_").lower()
        except ValueError:  # a tool newer than our protos
            name = f"tool_{number}"
        counts[name] = counts.get(name, 0) + 1
    return counts
