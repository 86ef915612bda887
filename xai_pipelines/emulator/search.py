"""Search results of the server-side ``web_search`` and ``x_search`` tools, and live search.

Results are stable: their URLs, titles and snippets derive from the request
digest, so the same request finds the same sources. ``web_search`` honours
``allowed_domains`` (results come from them) and ``excluded_domains`` (never
from them); ``x_search`` honours ``allowed_x_handles`` / ``excluded_x_handles``.

Live search (``search_parameters``) is gone from the hosted API: since January
2026 a request carrying it is refused with HTTP 410 and the message below
(reports of 2026-01-26..2026-05-29: vercel/ai#15713, "verified live against
api.x.ai across grok-4.3 / grok-3-latest and all search modes";
langchain-ai/langchain#34919; dify-official-plugins#2493; the live-search page
of docs.x.ai announced the deprecation for 2026-01-12). docs.x.ai does not say
which gRPC status code carries it; the emulator answers INVALID_ARGUMENT with
the hosted message (read 2026-11-29). The older behaviour (citations,
``num_sources_used``, $25 per 1,000 sources) is no longer modelled.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from xai_pipelines.emulator import textgen
from xai_pipelines.emulator.conversation import digest
from xai_pipelines.emulator.errors import EmulatorError, invalid
from xai_pipelines.proto import chat_pb2

#: What the hosted API answers to any request with ``search_parameters``.
LIVE_SEARCH_GONE = (
    "Live search is deprecated. Please switch to the Agent Tools API: "
    "https://docs.x.ai/docs/guides/tools/overview"
)
#: Sources one search call returns.
RESULTS_PER_SEARCH = 3
_DOMAINS = ("news.emulated.example", "docs.emulated.example", "blog.emulated.example")
_HANDLES = ("emulated_news", "emulated_dev", "emulated_ops")


def refuse_live_search(request: chat_pb2.GetCompletionsRequest) -> None:
    """Refuse ``search_parameters`` as the hosted API does (see the module docstring)."""
    if request.HasField("search_parameters"):
        raise live_search_gone()


def live_search_gone() -> EmulatorError:
    """The error a request with ``search_parameters`` gets."""
    return invalid(LIVE_SEARCH_GONE)


@dataclass(frozen=True)
class SearchHit:
    """One search result."""

    title: str
    url: str
    snippet: str


def _rng(key: bytes, *salt: object) -> random.Random:
    return random.Random(int.from_bytes(digest(key, *salt)[:8], "big"))


def web_results(key: bytes, call: int, tool: chat_pb2.WebSearch) -> list[SearchHit]:
    """The results of ``web_search`` call number ``call`` of the request digested as ``key``."""
    rng = _rng(key, "web", call)
    excluded = {d.lower() for d in tool.excluded_domains}
    domains = [d for d in (tool.allowed_domains or _DOMAINS) if d.lower() not in excluded]
    domains = domains or [f"site{call}.emulated.example"]
    hits = []
    for i in range(RESULTS_PER_SEARCH):
        tag = digest(key, "web", call, i).hex()[:12]
        hits.append(
            SearchHit(
                title=textgen.short_phrase(rng, 2, 5).title(),
                url=f"https://{domains[i % len(domains)]}/{tag}",
                snippet=textgen.sentence(rng),
            )
        )
    return hits


def x_results(key: bytes, call: int, tool: chat_pb2.XSearch) -> list[SearchHit]:
    """The results of ``x_search`` call number ``call`` (posts on x.com)."""
    rng = _rng(key, "x", call)
    excluded = {h.lower().lstrip("@") for h in tool.excluded_x_handles}
    handles = [h.lstrip("@") for h in (tool.allowed_x_handles or _HANDLES)]
    handles = [h for h in handles if h.lower() not in excluded] or ["emulated"]
    hits = []
    for i in range(RESULTS_PER_SEARCH):
        post = int(digest(key, "x", call, i).hex()[:15], 16)
        handle = handles[i % len(handles)]
        hits.append(
            SearchHit(
                title=f"@{handle}",
                url=f"https://x.com/{handle}/status/{post}",
                snippet=textgen.sentence(rng),
            )
        )
    return hits
