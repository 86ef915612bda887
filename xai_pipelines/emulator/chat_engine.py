"""Chat completions: request in, deterministic response out (shared by Chat and BatchMgmt).

Besides the plain answer the engine models, with sources in the modules named:

* server-side tools and attached files: an agentic response of several outputs
  (``server_tools``, ``attachments``), tool fees in ``cost_in_usd_ticks``;
* live search refused as the hosted API now does (``search``);
* prompt caching per ``x-grok-conv-id`` (``prompt_cache``);
* ``service_tier``: echoed in the response ("The response always includes a
  service_tier field indicating whether priority was granted"; priority "at a
  premium token price", docs.x.ai "Priority Processing",
  https://docs.x.ai/developers/advanced-api-usage/priority-processing, read
  2026-11-29). The emulator always grants priority; the premium is not published
  on the pages read, so priority requests cost the default rate here.
"""

from __future__ import annotations

import base64
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

from xai_pipelines.emulator import textgen
from xai_pipelines.emulator.attachments import AttachmentResolver, PublicLookup
from xai_pipelines.emulator.callctx import CallContext
from xai_pipelines.emulator.catalog import Catalog, LanguageModelSpec, chat_cost_ticks
from xai_pipelines.emulator.conversation import (
    PromptCount,
    Turn,
    digest,
    expand_compacted,
    last_user_text,
    message_tokens,
    to_turn,
)
from xai_pipelines.emulator.errors import invalid
from xai_pipelines.emulator.files_store import FileStore
from xai_pipelines.emulator.ids import new_uuid
from xai_pipelines.emulator.jsongen import generate
from xai_pipelines.emulator.prompt_cache import CachedMessage, PromptCache
from xai_pipelines.emulator.scripted import Script, ScriptedAnswer
from xai_pipelines.emulator.search import refuse_live_search
from xai_pipelines.emulator.server_tools import ToolRun, plan, run
from xai_pipelines.emulator.store import CompletionStore
from xai_pipelines.emulator.tokenizer import count_tokens, split_tokens, truncate_tokens
from xai_pipelines.emulator.toolgen import choose_functions, generate_calls, make_call
from xai_pipelines.emulator.validation import EFFORT_NAMES, validate_chat
from xai_pipelines.proto import chat_pb2, sample_pb2, usage_pb2

SYSTEM_FINGERPRINT = "fp_xai_pipelines_emulator"
# Fields that do not shape the generated text: excluding them keeps a
# max_tokens / stop cut a prefix of the uncut answer, and index 0 of n > 1 equal to n = 1.
_KEY_EXCLUDED = (
    "n",
    "max_tokens",
    "stop",
    "store_messages",
    "user",
    "previous_response_id",
    "logprobs",
    "top_logprobs",
    "service_tier",
    "include",
)


@dataclass
class _Output:
    content: str = ""
    reasoning: str = ""
    tool_calls: list[chat_pb2.ToolCall] = field(default_factory=list)
    finish_reason: int = sample_pb2.REASON_STOP
    citations: list[chat_pb2.InlineCitation] = field(default_factory=list)


def _cut(text: str, stops: list[str], max_tokens: int | None) -> tuple[str, int]:
    """Apply stop strings then max_tokens; natural ends are REASON_STOP."""
    positions = [p for p in (text.find(s) for s in stops) if p >= 0]
    if positions:
        text = text[: min(positions)]
    if max_tokens is not None:
        text, cut = truncate_tokens(text, max_tokens)
        if cut:
            return text, sample_pb2.REASON_MAX_LEN
    return text, sample_pb2.REASON_STOP


def _logprobs(text: str, top: int, rng: random.Random) -> chat_pb2.LogProbs:
    """Plausible, deterministic log probabilities for the tokens of ``text``."""
    out = chat_pb2.LogProbs()
    for token in split_tokens(text):
        lp = -rng.random() * 1.5
        entry = out.content.add(token=token, logprob=lp, bytes=token.encode("utf-8"))
        for j in range(top):
            alt = token if j == 0 else f"{token.strip()}_{j}"
            entry.top_logprobs.add(token=alt, logprob=lp - j * 0.7, bytes=alt.encode("utf-8"))
    return out


_SERVICE_TIERS = (
    usage_pb2.SERVICE_TIER_UNSPECIFIED,
    usage_pb2.SERVICE_TIER_DEFAULT,
    usage_pb2.SERVICE_TIER_PRIORITY,
)


@dataclass(frozen=True)
class _Prompt:
    """What the model reads: the conversation, attached files and tool results."""

    count: PromptCount
    cached_tokens: int


class ChatEngine:
    """Turns GetCompletionsRequest into GetChatCompletionResponse.

    Args:
        catalog: Models and prices.
        store: Stored/deferred completions (for previous_response_id and store_messages).
        script: Scripted answers, consulted first.
        files: The Files service's store (attachments); None: no files exist.
        public_lookup: Maps a URL to one of the emulator's public files.
        prompt_cache: Served prompts per conversation id; None: a fresh cache.
    """

    def __init__(
        self,
        catalog: Catalog,
        store: CompletionStore,
        script: Script | None = None,
        files: FileStore | None = None,
        public_lookup: PublicLookup | None = None,
        prompt_cache: PromptCache | None = None,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.script = script or Script([])
        self.files = files or FileStore(quota_bytes=0)
        self.public_lookup = public_lookup
        self.prompt_cache = prompt_cache or PromptCache()

    def complete(
        self, request: chat_pb2.GetCompletionsRequest, call: CallContext | None = None
    ) -> chat_pb2.GetChatCompletionResponse:
        """Answer ``request``.

        Args:
            request: The request.
            call: Who calls (files are looked up for this key; the conversation id
                drives prompt caching). None for internal callers such as the batch
                worker: files of any key resolve and nothing is cached.

        Raises:
            EmulatorError: On an invalid request, unknown model, unknown previous
                response or unknown attached file.
        """
        refuse_live_search(request)
        history = (
            self.store.history(request.previous_response_id) if request.previous_response_id else []
        )
        model = validate_chat(request, self.catalog, has_history=bool(history))
        if request.service_tier not in _SERVICE_TIERS:
            raise invalid(f"service_tier {request.service_tier} is not a known service tier")
        messages = expand_compacted([*history, *request.messages])
        resolver = AttachmentResolver(
            self.files, call.key_id if call is not None else None, self.public_lookup
        )
        attachments = resolver.resolve(messages)
        key = self._key(request, model, messages)
        turns = [to_turn(m) for m in messages]
        calls = plan(request, attachments)
        if calls and (request.n or 1) > 1:
            raise invalid("n must be 1 when server-side tools run (or files are attached)")
        runs = run(calls, key, turns, attachments, set(request.include))
        prompt = self._prompt(messages, resolver, runs, model, call)
        if prompt.count.total > model.max_prompt_length:
            raise invalid(
                f"the prompt is {prompt.count.total} tokens; model {model.name!r} accepts at most "
                f"{model.max_prompt_length}"
            )
        fmt = request.response_format
        # Already checked by validate_chat; parsed once here for every output.
        schema = (
            json.loads(fmt.schema) if fmt.format_type == chat_pb2.FORMAT_TYPE_JSON_SCHEMA else None
        )
        outputs = [
            self._output(request, model, turns, key, i, schema) for i in range(request.n or 1)
        ]
        response = chat_pb2.GetChatCompletionResponse(
            id=new_uuid(),
            model=model.name,
            system_fingerprint=SYSTEM_FINGERPRINT,
            service_tier=(
                usage_pb2.SERVICE_TIER_PRIORITY
                if request.service_tier == usage_pb2.SERVICE_TIER_PRIORITY
                else usage_pb2.SERVICE_TIER_DEFAULT
            ),
        )
        response.created.seconds = int(time.time())
        for tool_run in runs:
            _add_tool_outputs(response, tool_run)
        citations = [url for r in runs for _, url in r.sources]
        if runs and chat_pb2.INCLUDE_OPTION_INLINE_CITATIONS in request.include:
            plain = fmt.format_type in (chat_pb2.FORMAT_TYPE_INVALID, chat_pb2.FORMAT_TYPE_TEXT)
            _cite_inline(outputs[0], runs, plain)
        log_rng = random.Random(int.from_bytes(key[:8], "big")) if request.logprobs else None
        for out in outputs:
            # Filled in place: a message built apart would be copied into the response.
            entry = response.outputs.add(
                index=len(response.outputs), finish_reason=out.finish_reason
            )
            message = entry.message
            message.role = chat_pb2.ROLE_ASSISTANT
            message.content = out.content
            message.reasoning_content = out.reasoning
            if out.tool_calls:
                message.tool_calls.extend(out.tool_calls)
            if out.citations:
                message.citations.extend(out.citations)
            if request.use_encrypted_content and out.reasoning:
                # Opaque to clients, like the hosted API's; only the emulator could read it back.
                message.encrypted_content = base64.b64encode(out.reasoning.encode()).decode()
            if log_rng is not None:
                entry.logprobs.CopyFrom(_logprobs(out.content, request.top_logprobs, log_rng))
        if citations:
            response.citations.extend(dict.fromkeys(citations))
        self._usage(response.usage, model, prompt, outputs, runs)
        if request.store_messages:
            self.store.save(messages, response)
        return response

    def _prompt(
        self,
        messages: list[chat_pb2.Message],
        resolver: AttachmentResolver,
        runs: list[ToolRun],
        model: LanguageModelSpec,
        call: CallContext | None,
    ) -> _Prompt:
        per_message = [message_tokens(m, resolver.text) for m in messages]
        # The agent reads every tool result before it answers.
        tool_tokens = sum(count_tokens(r.output) for r in runs)
        count = PromptCount(
            text_tokens=sum(c.text_tokens for c in per_message) + tool_tokens,
            image_tokens=sum(c.image_tokens for c in per_message),
        )
        if call is None or not call.conv_id:  # nothing is cached without a conversation id
            return _Prompt(count, 0)
        served = [
            CachedMessage(digest(m), c.text_tokens)
            for m, c in zip(messages, per_message, strict=True)
        ]
        return _Prompt(count, self.prompt_cache.serve(call.conv_id, model.name, served))

    def _key(
        self,
        request: chat_pb2.GetCompletionsRequest,
        model: LanguageModelSpec,
        messages: list[chat_pb2.Message],
    ) -> bytes:
        shaped = chat_pb2.GetCompletionsRequest()
        shaped.CopyFrom(request)
        for name in _KEY_EXCLUDED:
            shaped.ClearField(name)
        del shaped.messages[:]
        shaped.messages.extend(messages)
        shaped.model = model.name
        return digest(shaped)

    def _output(
        self,
        request: chat_pb2.GetCompletionsRequest,
        model: LanguageModelSpec,
        turns: list[Turn],
        key: bytes,
        index: int,
        schema: Any,
    ) -> _Output:
        varies = (
            not request.HasField("seed")
            and request.HasField("temperature")
            and request.temperature > 0
        )
        rng = textgen.answer_rng(
            key, index, request.seed if request.HasField("seed") else None, varies
        )
        out = _Output()
        if self.catalog.is_reasoning(model):
            asked = (
                EFFORT_NAMES.get(request.reasoning_effort)
                if request.HasField("reasoning_effort")
                else None
            )
            effort = self.catalog.reasoning_effort(request.model, model, asked)
            out.reasoning = textgen.reasoning_text(rng, effort)
        scripted = self.script.answer(last_user_text(turns), (request.model, model.name))
        if scripted is not None:
            return self._scripted(request, scripted, out, rng)
        functions = choose_functions(request, turns)
        if functions:
            out.tool_calls = generate_calls(functions, rng)
            out.finish_reason = sample_pb2.REASON_TOOL_CALLS
            return out
        if schema is not None:
            text = json.dumps(generate(schema, rng))
        elif request.response_format.format_type == chat_pb2.FORMAT_TYPE_JSON_OBJECT:
            text = json.dumps(
                {"answer": textgen.sentence(rng), "confidence": round(rng.random(), 2)}
            )
        elif request.stop:  # the stops apply to the whole answer
            text = textgen.answer_text(rng)
        else:  # only what a max_tokens cut keeps
            text = textgen.answer_text(
                rng, request.max_tokens if request.HasField("max_tokens") else None
            )
        out.content, out.finish_reason = self._cut(request, text)
        return out

    def _scripted(
        self,
        request: chat_pb2.GetCompletionsRequest,
        answer: ScriptedAnswer,
        out: _Output,
        rng: random.Random,
    ) -> _Output:
        if answer.reasoning_content is not None:
            out.reasoning = answer.reasoning_content
        if answer.tool_calls:
            out.tool_calls = [make_call(name, args, rng) for name, args in answer.tool_calls]
            out.finish_reason = sample_pb2.REASON_TOOL_CALLS
            return out
        out.content, out.finish_reason = self._cut(request, answer.content)
        return out

    @staticmethod
    def _cut(request: chat_pb2.GetCompletionsRequest, text: str) -> tuple[str, int]:
        return _cut(
            text, list(request.stop), request.max_tokens if request.HasField("max_tokens") else None
        )

    @staticmethod
    def _usage(
        usage: usage_pb2.SamplingUsage,
        model: LanguageModelSpec,
        prompt: _Prompt,
        outputs: list[_Output],
        runs: list[ToolRun],
    ) -> None:
        """Fill ``usage`` (the response's own, so nothing is copied)."""
        usage.SetInParent()
        completion = 0
        reasoning = 0
        calls = [c for out in outputs for c in out.tool_calls] + [r.call for r in runs]
        for out in outputs:
            completion += count_tokens(out.content)
            reasoning += count_tokens(out.reasoning)
        completion += sum(
            count_tokens(c.function.name) + count_tokens(c.function.arguments) for c in calls
        )
        text = prompt.count.text_tokens
        usage.prompt_tokens = prompt.count.total
        usage.prompt_text_tokens = text
        usage.cached_prompt_text_tokens = prompt.cached_tokens
        usage.prompt_image_tokens = prompt.count.image_tokens
        usage.completion_tokens = completion
        usage.reasoning_tokens = reasoning
        usage.total_tokens = prompt.count.total + completion + reasoning
        usage.cost_in_usd_ticks = chat_cost_ticks(
            model,
            text - prompt.cached_tokens,
            prompt.cached_tokens,
            completion,
            reasoning,
            prompt.count.image_tokens,
        ) + sum(r.fee_ticks for r in runs)
        if runs:
            usage.server_side_tools_used.extend(r.kind.usage for r in runs)


def _add_tool_outputs(response: chat_pb2.GetChatCompletionResponse, tool_run: ToolRun) -> None:
    """The assistant's server-side call, then the tool's output (ROLE_TOOL)."""
    response.outputs.add(
        index=len(response.outputs),
        message=chat_pb2.CompletionMessage(
            role=chat_pb2.ROLE_ASSISTANT, tool_calls=[tool_run.call]
        ),
    )
    response.outputs.add(
        index=len(response.outputs),
        message=chat_pb2.CompletionMessage(
            role=chat_pb2.ROLE_TOOL, tool_calls=[tool_run.call], content=tool_run.output
        ),
    )


def _cite_inline(out: _Output, runs: list[ToolRun], plain: bool) -> None:
    """Inline citations: markdown links ``[[n]](url)`` appended to a plain, finished answer.

    "Inline Citations (response.inline_citations): Markdown-style links (e.g.,
    [[1]](https://x.ai/news)) embedded directly into the response text ... Must be
    explicitly enabled" (docs.x.ai "Search Tools",
    https://docs.x.ai/docs/guides/tools/search-tools, read 2026-11-29).
    Collections and attachment matches are cited without a link.
    """
    if not plain or out.tool_calls or out.finish_reason != sample_pb2.REASON_STOP:
        return
    n = 0
    for tool_run in runs:
        for kind, url in tool_run.sources[:1]:
            n += 1
            marker = f" [[{n}]]({url})"
            start = len(out.content) + 1
            out.content += marker
            cite = chat_pb2.InlineCitation(id=str(n), start_index=start, end_index=len(out.content))
            if kind == "x":
                cite.x_citation.url = url
            else:
                cite.web_citation.url = url
            out.citations.append(cite)
        for chunk in tool_run.chunks[:1]:
            n += 1
            out.citations.append(
                chat_pb2.InlineCitation(
                    id=str(n),
                    start_index=len(out.content),
                    end_index=len(out.content),
                    collections_citation=chunk,
                )
            )
