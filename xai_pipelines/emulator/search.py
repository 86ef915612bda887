"""Search emulation: deterministic citations for search_parameters and search tools."""

from __future__ import annotations

from dataclasses import dataclass

from xai_pipelines.emulator.conversation import digest
from xai_pipelines.proto import chat_pb2, usage_pb2

DEFAULT_SOURCES = 3


@dataclass(frozen=True)
class SearchResult:
    """What a request's search produced."""

    citations: tuple[str, ...]
    returned: bool  # whether citations go into the response
    tools_used: tuple[int, ...]


def run_search(request: chat_pb2.GetCompletionsRequest, key: bytes) -> SearchResult | None:
    """Citations for ``request`` when it enables search, else None.

    Live search runs when ``search_parameters.mode`` is ON or AUTO; server-side
    tools run when ``web_search`` or ``x_search`` tools are given. URLs are
    derived from the request digest, so they are stable.
    """
    kinds: list[str] = []
    tools: list[int] = []
    returned = False
    limit = DEFAULT_SOURCES
    params = request.search_parameters
    if request.HasField("search_parameters") and params.mode in (
        chat_pb2.ON_SEARCH_MODE,
        chat_pb2.AUTO_SEARCH_MODE,
    ):
        kinds.extend(s.WhichOneof("source") or "web" for s in params.sources)
        kinds = kinds or ["web", "x"]
        returned = params.return_citations
        if params.HasField("max_search_results"):
            limit = max(0, params.max_search_results)
    for tool in request.tools:
        kind = tool.WhichOneof("tool")
        if kind == "web_search":
            kinds.append("web")
            tools.append(usage_pb2.SERVER_SIDE_TOOL_WEB_SEARCH)
            returned = True
        elif kind == "x_search":
            kinds.append("x")
            tools.append(usage_pb2.SERVER_SIDE_TOOL_X_SEARCH)
            returned = True
    if not kinds:
        return None
    citations = []
    for i in range(limit):
        kind = kinds[i % len(kinds)]
        tag = digest(key, "citation", i).hex()[:12]
        if kind == "x":
            citations.append(f"https://x.com/emulated/status/{int(tag, 16)}")
        else:
            citations.append(f"https://{kind}.emulated.example/{tag}")
    return SearchResult(tuple(citations), returned, tuple(dict.fromkeys(tools)))
