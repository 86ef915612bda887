"""Server-side tools: which the emulator runs for a request, and what each returns.

The hosted API runs server-side tools itself in an agentic loop and returns
the tool calls, their outputs and the final answer as several outputs of one
response (docs.x.ai "Tools / Overview", https://docs.x.ai/developers/tools/overview,
and "Agentic Tool Calling", https://docs.x.ai/docs/guides/tools/overview; read
2026-11-29). The emulator's loop is deterministic: each server-side tool of the
request is called once, in request order (an implicit ``attachment_search``
first when files are attached), at most ``max_turns`` calls; tool_choice
``none`` calls none. Each call is a completed ``ToolCall`` of the tool's
``ToolCallType``.

Tool outputs (the ``ROLE_TOOL`` outputs' content) are returned only when
``include`` asks for them (``*_CALL_OUTPUT`` options of chat.proto; "tool
outputs stay internal to the agent" otherwise); the image generation result
envelope is always returned (xai-sdk 1.21.0 ``Response.image_outputs`` reads it
without any include option). The content formats (JSON objects below) are the
emulator's own; the hosted formats are not documented.

Fees per call (``cost_in_usd_ticks``) come from the bundled catalog's
``tool_prices`` (docs.x.ai pricing: web, X and code $5, attachments $10,
collections $2.50 per 1,000 calls; https://docs.x.ai/developers/pricing, read
2026-11-29). MCP calls have no published per-call price and cost nothing here;
an ``image_generation`` call is charged as one image of ``IMAGE_TOOL_MODEL``
(no per-call price is published; this is the emulator's assumption).
"""

from __future__ import annotations

import ast
import base64
import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from xai_pipelines.catalog import load_catalog
from xai_pipelines.emulator import textgen
from xai_pipelines.emulator.attachments import Attachment
from xai_pipelines.emulator.conversation import Turn, digest
from xai_pipelines.emulator.errors import invalid
from xai_pipelines.emulator.imagegen import render
from xai_pipelines.emulator.search import SearchHit, web_results, x_results
from xai_pipelines.proto import chat_pb2, usage_pb2

#: Image model whose price an ``image_generation`` call costs.
IMAGE_TOOL_MODEL = "grok-imagine-image"
#: Side of the square PNG an ``image_generation`` call returns.
IMAGE_TOOL_SIDE = 128
#: Chunks ``attachment_search`` and ``collections_search`` return when the tool sets no limit.
DEFAULT_MATCHES = 3
_QUERY_CHARS = 120


@dataclass(frozen=True)
class ToolKind:
    """A server-side tool type and how it shows on the wire."""

    name: str  # the Tool oneof member (and the catalog's tool_prices key)
    call_type: int  # ToolCallType
    usage: int  # ServerSideTool
    include: int | None  # IncludeOption returning its output (None: always returned)


KINDS: dict[str, ToolKind] = {
    k.name: k
    for k in (
        ToolKind(
            "web_search",
            chat_pb2.TOOL_CALL_TYPE_WEB_SEARCH_TOOL,
            usage_pb2.SERVER_SIDE_TOOL_WEB_SEARCH,
            chat_pb2.INCLUDE_OPTION_WEB_SEARCH_CALL_OUTPUT,
        ),
        ToolKind(
            "x_search",
            chat_pb2.TOOL_CALL_TYPE_X_SEARCH_TOOL,
            usage_pb2.SERVER_SIDE_TOOL_X_SEARCH,
            chat_pb2.INCLUDE_OPTION_X_SEARCH_CALL_OUTPUT,
        ),
        ToolKind(
            "code_execution",
            chat_pb2.TOOL_CALL_TYPE_CODE_EXECUTION_TOOL,
            usage_pb2.SERVER_SIDE_TOOL_CODE_EXECUTION,
            chat_pb2.INCLUDE_OPTION_CODE_EXECUTION_CALL_OUTPUT,
        ),
        ToolKind(
            "collections_search",
            chat_pb2.TOOL_CALL_TYPE_COLLECTIONS_SEARCH_TOOL,
            usage_pb2.SERVER_SIDE_TOOL_COLLECTIONS_SEARCH,
            chat_pb2.INCLUDE_OPTION_COLLECTIONS_SEARCH_CALL_OUTPUT,
        ),
        ToolKind(
            "attachment_search",
            chat_pb2.TOOL_CALL_TYPE_ATTACHMENT_SEARCH_TOOL,
            usage_pb2.SERVER_SIDE_TOOL_ATTACHMENT_SEARCH,
            chat_pb2.INCLUDE_OPTION_ATTACHMENT_SEARCH_CALL_OUTPUT,
        ),
        ToolKind(
            "mcp",
            chat_pb2.TOOL_CALL_TYPE_MCP_TOOL,
            usage_pb2.SERVER_SIDE_TOOL_MCP,
            chat_pb2.INCLUDE_OPTION_MCP_CALL_OUTPUT,
        ),
        ToolKind(
            "image_generation",
            chat_pb2.TOOL_CALL_TYPE_IMAGE_GENERATION_TOOL,
            usage_pb2.SERVER_SIDE_TOOL_IMAGE_GENERATION,
            None,
        ),
    )
}


@dataclass
class ToolRun:
    """One executed server-side tool call."""

    kind: ToolKind
    call: chat_pb2.ToolCall
    output: str
    sources: list[tuple[str, str]] = field(default_factory=list)  # (kind "web"/"x", url)
    chunks: list[chat_pb2.CollectionsCitation] = field(default_factory=list)
    fee_ticks: int = 0


def server_tools(request: chat_pb2.GetCompletionsRequest) -> list[chat_pb2.Tool]:
    """The server-side (non-function) tools of ``request``."""
    return [t for t in request.tools if t.WhichOneof("tool") != "function"]


def plan(
    request: chat_pb2.GetCompletionsRequest, attachments: list[Attachment]
) -> list[tuple[ToolKind, chat_pb2.Tool]]:
    """The server-side calls the emulator makes for ``request``, in order.

    Raises:
        EmulatorError: INVALID_ARGUMENT for a server-side tool it cannot run as given.
    """
    if not request.tools and not attachments and not request.HasField("max_turns"):
        return []  # the common case, without the walk below
    calls: list[tuple[ToolKind, chat_pb2.Tool]] = []
    tools = server_tools(request)
    if attachments and not any(t.WhichOneof("tool") == "attachment_search" for t in tools):
        calls.append((KINDS["attachment_search"], chat_pb2.Tool(attachment_search={})))
    for i, tool in enumerate(request.tools):
        name = tool.WhichOneof("tool") or ""
        if name == "function":
            continue
        if name not in KINDS:
            raise invalid(f"tools[{i}]: {name or 'an empty tool'} is not a server-side tool")
        if name == "mcp" and not (tool.mcp.server_url and tool.mcp.server_label):
            raise invalid(f"tools[{i}].mcp needs server_label and server_url")
        calls.append((KINDS[name], tool))
    choice = request.tool_choice
    if choice.WhichOneof("tool_choice") == "mode" and choice.mode == chat_pb2.TOOL_MODE_NONE:
        return []
    if request.HasField("max_turns"):
        if request.max_turns < 1:
            raise invalid(f"max_turns must be at least 1, got {request.max_turns}")
        calls = calls[: request.max_turns]
    return calls


def run(
    calls: list[tuple[ToolKind, chat_pb2.Tool]],
    key: bytes,
    turns: list[Turn],
    attachments: list[Attachment],
    include: set[int],
) -> list[ToolRun]:
    """Execute ``calls`` for the request digested as ``key``."""
    if not calls:
        return []
    user_text = next((t.text for t in reversed(turns) if t.role == chat_pb2.ROLE_USER), "")
    user_images = next((t.images for t in reversed(turns) if t.role == chat_pb2.ROLE_USER), 0)
    query = " ".join(user_text.split())[:_QUERY_CHARS]
    prices = load_catalog().tool_prices
    runs = []
    for i, (kind, tool) in enumerate(calls):
        context = _Context(key, i, query, attachments, user_images)
        name, args, body, result = _RUNNERS[kind.name](tool, context)
        call = chat_pb2.ToolCall(
            id="call_" + digest(key, "server-tool", i).hex()[:24],
            type=kind.call_type,  # type: ignore[arg-type]
            status=chat_pb2.TOOL_CALL_STATUS_COMPLETED,
            function=chat_pb2.FunctionCall(name=name, arguments=json.dumps(args)),
        )
        shown = kind.include is None or kind.include in include
        result.kind, result.call = kind, call
        result.output = body if shown else ""
        result.fee_ticks = _fee(kind, prices)
        runs.append(result)
    return runs


def _fee(kind: ToolKind, prices: dict[str, int]) -> int:
    if kind.name == "image_generation":
        image = load_catalog().image(IMAGE_TOOL_MODEL)
        return image.image_price if image is not None else 0
    return prices.get(kind.name, 0)


@dataclass(frozen=True)
class _Context:
    key: bytes
    call: int
    query: str
    attachments: list[Attachment]
    user_images: int


_Result = tuple[str, dict[str, Any], str, ToolRun]


def _empty() -> ToolRun:
    return ToolRun(kind=KINDS["web_search"], call=chat_pb2.ToolCall(), output="")


def _hits_body(hits: list[SearchHit]) -> str:
    return json.dumps({"results": [h.__dict__ for h in hits]})


def _web(tool: chat_pb2.Tool, c: _Context) -> _Result:
    hits = web_results(c.key, c.call, tool.web_search)
    out = _empty()
    out.sources = [("web", h.url) for h in hits]
    return "web_search", {"query": c.query}, _hits_body(hits), out


def _x(tool: chat_pb2.Tool, c: _Context) -> _Result:
    hits = x_results(c.key, c.call, tool.x_search)
    out = _empty()
    out.sources = [("x", h.url) for h in hits]
    return "x_keyword_search", {"query": c.query}, _hits_body(hits), out


_ARITH = re.compile(r"[-+(]*\d[\d.\s]*(?:[-+*/%]+[\s(]*\d[\d.\s)]*)+")
_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
    ast.FloorDiv: operator.floordiv,
}


def _arith(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _arith(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _arith(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _BINOPS[type(node.op)](_arith(node.left), _arith(node.right))  # type: ignore[no-any-return]
    raise ValueError("not plain arithmetic")


def _code(tool: chat_pb2.Tool, c: _Context) -> _Result:
    """Python the emulator can run itself: arithmetic found in the question, else a word count."""
    stdout = None
    for match in _ARITH.finditer(c.query):
        expr = match.group(0).strip()
        try:
            value = _arith(ast.parse(expr, mode="eval"))
        except (SyntaxError, ValueError, ZeroDivisionError, OverflowError):
            continue
        code = f"result = {expr}\nprint(result)"
        stdout = f"{value}\n"
        break
    if stdout is None:
        code = f"text = {c.query!r}\nprint(len(text.split()))"
        stdout = f"{len(c.query.split())}\n"
    body = json.dumps({"stdout": stdout, "stderr": "", "exit_code": 0})
    return "code_execution", {"code": code}, body, _empty()


def _chunks(text: str) -> list[str]:
    parts = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    out: list[str] = []
    for part in parts:
        words = part.split()
        out.extend(" ".join(words[i : i + 60]) for i in range(0, len(words), 60))
    return out


def _attachments(tool: chat_pb2.Tool, c: _Context) -> _Result:
    limit = tool.attachment_search.limit if tool.attachment_search.HasField("limit") else 0
    wanted = {w.lower() for w in re.findall(r"\w+", c.query) if len(w) > 2}
    scored = []
    for n, att in enumerate(c.attachments):
        for k, chunk in enumerate(_chunks(att.text)):
            overlap = len(wanted & {w.lower() for w in re.findall(r"\w+", chunk)})
            scored.append((-overlap, n, k, att, chunk))
    scored.sort(key=lambda s: (s[0], s[1], s[2]))
    out = _empty()
    results = []
    for neg, _, k, att, chunk in scored[: limit or DEFAULT_MATCHES]:
        score = -neg / max(1, len(wanted))
        chunk_id = f"{att.file_id or 'inline'}:{k}"
        results.append({"file_id": att.file_id, "filename": att.name, "chunk_id": chunk_id,
                        "content": chunk, "score": round(score, 3)})  # fmt: skip
        out.chunks.append(
            chat_pb2.CollectionsCitation(
                file_id=att.file_id, chunk_id=chunk_id, chunk_content=chunk, score=score
            )
        )
    return "attachment_search", {"query": c.query}, json.dumps({"results": results}), out


def _collections(tool: chat_pb2.Tool, c: _Context) -> _Result:
    spec = tool.collections_search
    limit = spec.limit if spec.HasField("limit") else DEFAULT_MATCHES
    rng = textgen.answer_rng(c.key, c.call, None, False)
    out = _empty()
    matches = []
    for k in range(max(0, limit)):
        tag = digest(c.key, "collections", c.call, k).hex()
        hit = chat_pb2.CollectionsCitation(
            file_id=f"file_{tag[:8]}-{tag[8:12]}-{tag[12:16]}-{tag[16:20]}-{tag[20:32]}",
            chunk_id=tag[32:48],
            chunk_content=textgen.sentence(rng),
            score=round(1.0 - 0.1 * k, 3),
            collection_ids=list(spec.collection_ids),
        )
        out.chunks.append(hit)
        matches.append({"file_id": hit.file_id, "chunk_id": hit.chunk_id,
                        "chunk_content": hit.chunk_content, "score": hit.score})  # fmt: skip
    args = {"query": c.query, "collection_ids": list(spec.collection_ids)}
    return "collections_search", args, json.dumps({"matches": matches}), out


def _mcp(tool: chat_pb2.Tool, c: _Context) -> _Result:
    spec = tool.mcp
    name = spec.allowed_tool_names[0] if spec.allowed_tool_names else "search"
    rng = textgen.answer_rng(c.key, c.call, None, False)
    body = {"server_label": spec.server_label, "tool": name,
            "content": [{"type": "text", "text": textgen.sentence(rng)}]}  # fmt: skip
    return name, {"query": c.query}, json.dumps(body), _empty()


def _image(tool: chat_pb2.Tool, c: _Context) -> _Result:
    png = render(c.query, c.call, IMAGE_TOOL_SIDE, IMAGE_TOOL_SIDE, "image_generation")
    envelope = {
        "__type": "image_generation_result",
        "result": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        "image_uuid": digest(c.key, "image", c.call).hex()[:16],
    }
    name = "imagine_image_to_image" if c.user_images else "imagine_text_to_image"
    return name, {"prompt": c.query}, json.dumps(envelope), _empty()


_RUNNERS: dict[str, Callable[[chat_pb2.Tool, _Context], _Result]] = {
    "web_search": _web,
    "x_search": _x,
    "code_execution": _code,
    "attachment_search": _attachments,
    "collections_search": _collections,
    "mcp": _mcp,
    "image_generation": _image,
}
