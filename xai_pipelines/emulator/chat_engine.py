"""Chat completions: request in, deterministic response out (shared by Chat and BatchMgmt)."""

from __future__ import annotations

import base64
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from xai_pipelines.emulator import textgen
from xai_pipelines.emulator.catalog import Catalog, LanguageModelSpec, chat_cost_ticks
from xai_pipelines.emulator.conversation import (
    PromptCount,
    count_prompt,
    digest,
    expand_compacted,
    last_user_text,
    to_turn,
)
from xai_pipelines.emulator.errors import invalid
from xai_pipelines.emulator.jsongen import generate
from xai_pipelines.emulator.scripted import Script, ScriptedAnswer
from xai_pipelines.emulator.search import SearchResult, run_search
from xai_pipelines.emulator.store import CompletionStore
from xai_pipelines.emulator.tokenizer import count_tokens, split_tokens, truncate_tokens
from xai_pipelines.emulator.toolgen import choose_functions, generate_calls, make_call
from xai_pipelines.emulator.validation import validate_chat
from xai_pipelines.proto import chat_pb2, sample_pb2, usage_pb2
from xai_pipelines.proto._pool import Timestamp

SYSTEM_FINGERPRINT = "fp_xai_pipelines_emulator"
_EFFORT_NAMES = {
    chat_pb2.EFFORT_LOW: "low",
    chat_pb2.EFFORT_MEDIUM: "medium",
    chat_pb2.EFFORT_HIGH: "high",
    chat_pb2.EFFORT_NONE: "none",
    chat_pb2.EFFORT_XHIGH: "xhigh",
}
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
)


@dataclass
class _Output:
    content: str = ""
    reasoning: str = ""
    tool_calls: list[chat_pb2.ToolCall] = field(default_factory=list)
    finish_reason: int = sample_pb2.REASON_STOP


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


class ChatEngine:
    """Turns GetCompletionsRequest into GetChatCompletionResponse.

    Args:
        catalog: Models and prices.
        store: Stored/deferred completions (for previous_response_id and store_messages).
        script: Scripted answers, consulted first.
    """

    def __init__(
        self, catalog: Catalog, store: CompletionStore, script: Script | None = None
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.script = script or Script([])

    def complete(
        self, request: chat_pb2.GetCompletionsRequest
    ) -> chat_pb2.GetChatCompletionResponse:
        """Answer ``request``.

        Raises:
            EmulatorError: On an invalid request, unknown model or unknown previous response.
        """
        history = (
            self.store.history(request.previous_response_id) if request.previous_response_id else []
        )
        model = validate_chat(request, self.catalog, has_history=bool(history))
        messages = expand_compacted([*history, *request.messages])
        prompt = count_prompt(messages)
        if prompt.total > model.max_prompt_length:
            raise invalid(
                f"the prompt is {prompt.total} tokens; model {model.name!r} accepts at most "
                f"{model.max_prompt_length}"
            )
        key = self._key(request, model, messages)
        fmt = request.response_format
        # Already checked by validate_chat; parsed once here for every output.
        schema = (
            json.loads(fmt.schema) if fmt.format_type == chat_pb2.FORMAT_TYPE_JSON_SCHEMA else None
        )
        outputs = [
            self._output(request, model, messages, key, i, schema) for i in range(request.n or 1)
        ]
        response = chat_pb2.GetChatCompletionResponse(
            id=str(uuid.uuid4()),
            model=model.name,
            system_fingerprint=SYSTEM_FINGERPRINT,
            created=Timestamp(seconds=int(time.time())),
        )
        log_rng = random.Random(int.from_bytes(key[:8], "big"))
        for i, out in enumerate(outputs):
            message = chat_pb2.CompletionMessage(
                role=chat_pb2.ROLE_ASSISTANT,
                content=out.content,
                reasoning_content=out.reasoning,
                tool_calls=out.tool_calls,
            )
            if request.use_encrypted_content and out.reasoning:
                # Opaque to clients, like the hosted API's; only the emulator could read it back.
                message.encrypted_content = base64.b64encode(out.reasoning.encode()).decode()
            entry = response.outputs.add(index=i, finish_reason=out.finish_reason, message=message)
            if request.logprobs:
                entry.logprobs.CopyFrom(_logprobs(out.content, request.top_logprobs, log_rng))
        search = run_search(request, key)
        if search is not None and search.returned:
            response.citations.extend(search.citations)
        response.usage.CopyFrom(self._usage(model, prompt, outputs, search))
        if request.store_messages:
            self.store.save(messages, response)
        return response

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
        messages: list[chat_pb2.Message],
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
        turns = [to_turn(m) for m in messages]
        out = _Output()
        if self.catalog.is_reasoning(model):
            effort = _EFFORT_NAMES.get(request.reasoning_effort, "medium")
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
        else:
            text = textgen.answer_text(rng)
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
        model: LanguageModelSpec,
        prompt: PromptCount,
        outputs: list[_Output],
        search: SearchResult | None,
    ) -> usage_pb2.SamplingUsage:
        completion = 0
        reasoning = 0
        for out in outputs:
            completion += count_tokens(out.content)
            completion += sum(
                count_tokens(c.function.name) + count_tokens(c.function.arguments)
                for c in out.tool_calls
            )
            reasoning += count_tokens(out.reasoning)
        usage = usage_pb2.SamplingUsage(
            prompt_tokens=prompt.total,
            prompt_text_tokens=prompt.text_tokens,
            prompt_image_tokens=prompt.image_tokens,
            completion_tokens=completion,
            reasoning_tokens=reasoning,
            total_tokens=prompt.total + completion + reasoning,
        )
        usage.cost_in_usd_ticks = chat_cost_ticks(
            model, prompt.text_tokens, 0, completion, reasoning, prompt.image_tokens
        )
        if search is not None:
            usage.num_sources_used = len(search.citations)
            usage.server_side_tools_used.extend(search.tools_used)
        return usage
