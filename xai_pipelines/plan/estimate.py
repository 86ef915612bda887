"""Dry-run estimates: prompt tokens, completion bounds and a cost range for a plan.

Token heuristic (no network): ``ceil(characters / 4)`` for every text in the
request, plus 4 tokens per message, plus 256 tokens per image part. A multi-turn
chat makes ``1 + len(turns)`` calls, each resending the conversation so far.
When a tokenizer is at hand (the Tokenize RPC), :func:`tokenizer_ratio` measures
real/heuristic tokens on a few jobs and the plan's prompt tokens are scaled by it.

Cost range (prices in ticks per token and ticks per image, 1 USD = 10^10 ticks,
see docs/ARCHITECTURE.md "Prices and cost"):

* minimum: prompt tokens only (every reply empty), the grader's prompts included;
* maximum, a ceiling on what the API can bill: every call at its longest
  prompt, every output at its bound, and the grader's calls (``llm_rubric``,
  one per rubric and output) with the longest answer in their prompt.

The bound of an output. ``max_tokens`` bounds only the answer's content: "for
reasoning models and models that support function calls, the limit is only
applied to the main content and not to the reasoning content or function
calls" (xai-org/xai-proto, proto/xai/api/v1/chat.proto, ``GetCompletionsRequest.max_tokens``,
https://github.com/xai-org/xai-proto/blob/0361ed5897500148b6a0a518e076184ed9ab8109/proto/xai/api/v1/chat.proto,
read 2026-11-29). So a reasoning model's output (reasoning plus answer), and
that of any request with function tools, is bounded by the model's context
length minus the prompt; a non-reasoning model without tools by ``max_tokens``
(else the same context bound). Requests with server-side tools run an agentic
loop of several model turns that nothing in the request bounds: their maximum
is unbounded, as is that of a model the bundled catalog does not know (its
context length and whether it reasons are unknown). A call whose prompt reaches
the model's long-context threshold is billed at the long-context prices (the
catalog's, which the Models service does not report).

Image jobs cost ``n × image_price`` (plus the input price per reference image of
an edit) either way. The prompt side rests on the token heuristic, so the
ceiling is as true as that estimate (calibrate it with the Tokenize RPC).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from xai_pipelines.catalog import TICKS_PER_USD, ModelCatalog, ModelPrice, load_catalog
from xai_pipelines.plan.jobs import ChatJob, Job

TOKENS_PER_MESSAGE = 4
TOKENS_PER_IMAGE_PART = 256


#: Prompt tokens of a grader call besides its rubric, question and answer: the
#: system message, the prompt's wrapper, the verdict schema and the message
#: overheads (evals.grader builds that request; plan may not import evals, and a
#: test checks that this covers it).
GRADER_OVERHEAD_TOKENS = 256
#: ``max_tokens`` of a grader call (evals.grader.VERDICT_MAX_TOKENS; a test keeps them equal).
GRADER_MAX_TOKENS = 400
#: Server-side tool types run an agentic loop the request does not bound.
CLIENT_TOOL_TYPES = frozenset({"function"})


@functools.cache
def _catalog() -> ModelCatalog:
    return load_catalog()


def _catalog_chat_price(name: str, catalog: ModelCatalog) -> ModelPrice | None:
    return None if catalog.language(name) is None else catalog.price(name)


@dataclass(frozen=True)
class Prices:
    """Prices by model name (aliases included).

    Attributes:
        chat: Token prices of language models.
        image: Ticks per generated image.
        image_input: Ticks per reference image of an edit.
        source: Where the prices come from: ``models`` (the Models service) or
            ``catalog`` (the bundled catalog, when the service is not reachable).
    """

    chat: Mapping[str, ModelPrice] = field(default_factory=dict)
    image: Mapping[str, int] = field(default_factory=dict)
    image_input: Mapping[str, int] = field(default_factory=dict)
    source: str = "models"

    @classmethod
    def from_models(
        cls, language: Iterable[Any], image: Iterable[Any], catalog: ModelCatalog | None = None
    ) -> Prices:
        """From the SDK's ``LanguageModelInfo`` / ``ImageModelInfo`` lists (names and aliases).

        The Models service reports no long-context prices nor input-image prices;
        they are taken from ``catalog`` (default: the bundled one) where it knows the model.
        """
        catalog = catalog or _catalog()
        chat: dict[str, ModelPrice] = {}
        for m in language:
            # The service's own prices, with the catalog's long-context rates (it reports none).
            price = dataclasses.replace(
                _catalog_chat_price(m.name, catalog) or ModelPrice(),
                prompt_text_token_price=m.prompt_text_token_price,
                cached_prompt_token_price=m.cached_prompt_token_price,
                completion_text_token_price=m.completion_text_token_price,
            )
            for name in (m.name, *m.aliases):
                chat[name] = price
        images: dict[str, int] = {}
        inputs: dict[str, int] = {}
        for m in image:
            info = catalog.image(m.name)
            for name in (m.name, *m.aliases):
                images[name] = m.image_price
                inputs[name] = 0 if info is None else info.input_image_price
        return cls(chat, images, inputs)

    @classmethod
    def from_catalog(cls, catalog: ModelCatalog | None = None) -> Prices:
        """Every model of the bundled catalog (names, aliases and retired names)."""
        catalog = catalog or _catalog()
        chat: dict[str, ModelPrice] = {}
        for info in catalog.language_models:
            price = _catalog_chat_price(info.name, catalog)
            assert price is not None  # the catalog knows its own models
            for name in (info.name, *info.aliases, *catalog.retired_names(info.name)):
                chat[name] = price
        images: dict[str, int] = {}
        inputs: dict[str, int] = {}
        for im in catalog.image_models:
            for name in (im.name, *im.aliases, *catalog.retired_names(im.name)):
                images[name] = im.image_price
                inputs[name] = im.input_image_price
        return cls(chat, images, inputs, source="catalog")


@dataclass(frozen=True, slots=True)
class ModelLimits:
    """What bounds a model's outputs.

    Attributes:
        context_length: Longest prompt plus output, in tokens.
        reasoning: Whether it reasons (its reasoning is not bounded by ``max_tokens``).
        long_context_threshold: Prompt length from which the long-context rate applies.
    """

    context_length: int
    reasoning: bool
    long_context_threshold: int | None = None


def catalog_limits(name: str) -> ModelLimits | None:
    """The limits of ``name`` in the bundled catalog (a retired name gives its redirect's)."""
    info = _catalog().language(name)
    if info is None:
        return None
    return ModelLimits(info.context_length, info.reasoning, info.long_context_threshold)


def text_tokens(text: str) -> int:
    """Estimated tokens of a text: ``ceil(len / 4)``."""
    return math.ceil(len(text) / 4)


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a message in JSON request form (text parts joined by newlines)."""
    content = message.get("content", "")
    if isinstance(content, str):
        return content
    return "\n".join(str(p.get("text", "")) for p in content if p.get("type") == "text")


def tokenizer_ratio(jobs: Iterable[Job], count_tokens: Callable[[str, str], int]) -> float | None:
    """Real tokens / heuristic tokens over the message text of some chat jobs.

    ``count_tokens(text, model)`` is typically the Tokenize RPC
    (``client.tokenize.count_tokens``); the ratio scales the heuristic for the plan.
    """
    heuristic = actual = 0
    for job in jobs:
        if not isinstance(job, ChatJob):
            continue
        text = "\n".join(message_text(m) for m in (*job.request["messages"], *job.turns))
        if text:
            heuristic += text_tokens(text)
            actual += count_tokens(text, job.model)
    return actual / heuristic if heuristic else None


def message_tokens(message: Mapping[str, Any]) -> int:
    """Estimated prompt tokens of one message in JSON request form."""
    content = message.get("content", "")
    tokens = TOKENS_PER_MESSAGE
    if isinstance(content, str):
        return tokens + text_tokens(content)
    for part in content:
        if part.get("type") == "text":
            tokens += text_tokens(part.get("text", ""))
        elif part.get("type") == "image_url":
            tokens += TOKENS_PER_IMAGE_PART
    return tokens


@dataclass(frozen=True, slots=True)
class JobTokens:
    """Token bounds of one job (all calls of a multi-turn chat together)."""

    calls: int
    prompt_min: int
    prompt_max: int
    completion_max: int | None


def job_tokens(job: ChatJob) -> JobTokens:
    """Prompt tokens (min: replies empty; max: replies at max_tokens) and the completion bound."""
    request = job.request
    outputs = int(request.get("n") or 1)
    max_tokens = request.get("max_tokens")
    conversation = sum(message_tokens(m) for m in request["messages"])
    prompt_min = prompt_max = conversation
    for k, turn in enumerate(job.turns, 1):
        conversation += message_tokens(turn)
        prompt_min += conversation
        reply = (max_tokens or 0) + TOKENS_PER_MESSAGE
        prompt_max += conversation + k * reply
    calls = 1 + len(job.turns)
    completion = None if max_tokens is None else int(max_tokens) * outputs * calls
    return JobTokens(calls, prompt_min, prompt_max, completion)


@dataclass(frozen=True, slots=True)
class CallBound:
    """One call of the plan: its prompt (replies empty, replies at their bound) and outputs.

    Attributes:
        prompt_min: Prompt tokens when every earlier reply was empty.
        prompt_max: Prompt tokens when every earlier reply was at its bound (None: unbounded).
        outputs: Outputs the call generates (``n``).
        output_max: Billed tokens (completion plus reasoning) of one output at most
            (None: unbounded).
        content_max: Tokens of one output's answer at most (what a later turn or the
            grader reads; None: unbounded).
    """

    prompt_min: int
    prompt_max: int | None
    outputs: int
    output_max: int | None
    content_max: int | None


def _server_side_tools(request: Mapping[str, Any]) -> bool:
    return any(
        isinstance(t, Mapping) and t.get("type", "function") not in CLIENT_TOOL_TYPES
        for t in request.get("tools") or []
    )


def _output_bound(
    limits: ModelLimits | None,
    prompt: int,
    max_tokens: int | None,
    function_tools: bool,
    agentic: bool,
) -> tuple[int | None, int | None]:
    """``(output_max, content_max)`` of one output (see the module docstring)."""
    if agentic or limits is None:
        return None, max_tokens
    room = max(0, limits.context_length - prompt)
    content = room if max_tokens is None else min(max_tokens, room)
    if limits.reasoning or function_tools:
        return room, content
    return content, content


def chat_calls(
    job: ChatJob, limits: Callable[[str], ModelLimits | None] = catalog_limits
) -> list[CallBound]:
    """The calls of a chat job with their prompt and output bounds, in order."""
    request = job.request
    lim = limits(job.model)
    outputs = int(request.get("n") or 1)
    max_tokens = request.get("max_tokens")
    max_tokens = None if max_tokens is None else int(max_tokens)
    tools = [t for t in request.get("tools") or [] if isinstance(t, Mapping)]
    agentic = _server_side_tools(request)
    conversation = sum(message_tokens(m) for m in request["messages"])
    resent: int | None = 0  # earlier replies at their bound, resent as prompt
    calls: list[CallBound] = []
    for k in range(1 + len(job.turns)):
        if k:
            conversation += message_tokens(job.turns[k - 1])
        prompt_max = None if resent is None else conversation + resent
        if prompt_max is not None and lim is not None:
            prompt_max = min(prompt_max, lim.context_length)  # a longer prompt is refused
        output, content = _output_bound(lim, conversation, max_tokens, bool(tools), agentic)
        calls.append(CallBound(conversation, prompt_max, outputs, output, content))
        if resent is not None:
            resent = None if content is None else resent + content + TOKENS_PER_MESSAGE
    return calls


def last_user_text(job: ChatJob) -> str:
    """The text of the last user message a chat job sends (the grader's question)."""
    messages = [*job.request["messages"], *job.turns]
    users = [m for m in messages if isinstance(m, Mapping) and m.get("role") == "user"]
    return message_text(users[-1]) if users else ""


def rubrics(job: Job) -> list[tuple[str, str | None]]:
    """``(rubric, its own model or None)`` of each ``llm_rubric`` in the job's ``expect``."""
    out: list[tuple[str, str | None]] = []
    for entry in job.expect:
        value = entry.get("llm_rubric") if isinstance(entry, Mapping) else None
        if isinstance(value, str):
            out.append((value, None))
        elif isinstance(value, Mapping) and isinstance(value.get("rubric"), str):
            model = value.get("model")
            out.append((value["rubric"], model if isinstance(model, str) else None))
    return out


@dataclass
class ModelTotals:
    """Totals for one model (as the jobs' model or as the grader).

    ``*_normal`` and ``*_long`` split the tokens by the rate they are billed at.
    """

    kind: str
    jobs: int = 0
    calls: int = 0
    prompt_tokens: int = 0
    prompt_tokens_max: int = 0
    completion_tokens_max: int | None = 0
    images: int = 0
    input_images: int = 0
    low_prompt: list[int] = field(default_factory=lambda: [0, 0])
    high_prompt: list[int] = field(default_factory=lambda: [0, 0])
    high_output: list[int] = field(default_factory=lambda: [0, 0])
    unbounded: str | None = None

    def add_call(self, call: CallBound, threshold: int | None, why_unbounded: str) -> None:
        """Count one call."""
        self.calls += 1
        self.prompt_tokens += call.prompt_min
        self.low_prompt[threshold is not None and call.prompt_min >= threshold] += call.prompt_min
        if call.prompt_max is None or call.output_max is None:
            self.unbounded = self.unbounded or why_unbounded
            self.completion_tokens_max = None
            return
        long = threshold is not None and call.prompt_max >= threshold
        self.prompt_tokens_max += call.prompt_max
        self.high_prompt[long] += call.prompt_max
        self.high_output[long] += call.output_max * call.outputs
        if self.completion_tokens_max is not None:
            self.completion_tokens_max += call.output_max * call.outputs

    def cost_ticks(self, price: ModelPrice, prompt_scale: float) -> tuple[int, int | None]:
        """``(min, max)`` of a language model's calls (``max`` None: unbounded)."""
        low = 0
        for long in (False, True):
            low += round(self.low_prompt[long] * prompt_scale) * price.rates(long)[0]
        if self.unbounded is not None:
            return low, None
        high = 0
        for long in (False, True):
            prompt, completion = price.rates(long)
            high += round(self.high_prompt[long] * prompt_scale) * prompt
            high += self.high_output[long] * completion
        return low, high


@dataclass(frozen=True)
class CostRange:
    """A plan's cost range in ticks.

    Attributes:
        low: Every reply empty.
        high: The ceiling (None: unbounded; ``unbounded`` says why).
        grader_low: The grader's part of ``low``.
        grader_high: The grader's part of ``high`` (None: unbounded).
        unbounded: Why the ceiling is unbounded, by model.
    """

    low: int
    high: int | None
    grader_low: int = 0
    grader_high: int | None = 0
    unbounded: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Estimate:
    """Plan totals and cost range; feed jobs with :meth:`add`.

    Args:
        grader: The pipeline's ``evals.grader`` (the model of a rubric without its
            own; None: the job's own model grades it).
        limits: Context length and reasoning of a model (default: the bundled catalog).
    """

    models: dict[str, ModelTotals] = field(default_factory=dict)
    graders: dict[str, ModelTotals] = field(default_factory=dict)
    grader: str | None = None
    limits: Callable[[str], ModelLimits | None] = catalog_limits

    def add(self, job: Job) -> None:
        """Count one job (and the grader calls of its ``llm_rubric`` checks)."""
        totals = self.models.setdefault(job.model, ModelTotals(job.kind))
        totals.jobs += 1
        if not isinstance(job, ChatJob):
            totals.calls += 1
            totals.images += int(job.request.get("n") or 1)
            refs = job.request.get("image_urls") or []
            totals.input_images += len(refs) + (1 if job.request.get("image_url") else 0)
            return
        lim = self.limits(job.model)
        threshold = None if lim is None else lim.long_context_threshold
        why = (
            "server-side tools run an agentic loop the request does not bound"
            if _server_side_tools(job.request)
            else "not in the bundled catalog: its context length and reasoning are unknown"
        )
        calls = chat_calls(job, self.limits)
        for call in calls:
            totals.add_call(call, threshold, why)
        answer = calls[-1]
        for rubric, model in rubrics(job):
            self._grade(model or self.grader or job.model, rubric, job, answer)

    def _grade(self, model: str, rubric: str, job: ChatJob, answer: CallBound) -> None:
        totals = self.graders.setdefault(model, ModelTotals("grader"))
        lim = self.limits(model)
        prompt = GRADER_OVERHEAD_TOKENS + text_tokens(rubric) + text_tokens(last_user_text(job))
        prompt_max = None if answer.content_max is None else prompt + answer.content_max
        if prompt_max is not None and lim is not None:
            prompt_max = min(prompt_max, lim.context_length)
        output, _ = _output_bound(lim, prompt, GRADER_MAX_TOKENS, False, False)
        call = CallBound(prompt, prompt_max, 1, output, None)
        threshold = None if lim is None else lim.long_context_threshold
        why = (
            "grades answers with no bound"
            if prompt_max is None
            else "not in the bundled catalog: its context length and reasoning are unknown"
        )
        for _ in range(answer.outputs):  # one verdict per output
            totals.add_call(call, threshold, why)

    @property
    def prompt_tokens(self) -> int:
        """Estimated prompt tokens of the whole plan's jobs (replies empty; the grader apart)."""
        return sum(t.prompt_tokens for t in self.models.values())

    def unpriced(self, prices: Prices) -> list[str]:
        """Models (of the jobs or the grader) the price table does not know."""
        names = {
            name
            for name, t in self.models.items()
            if name not in (prices.chat if t.kind == "chat" else prices.image)
        }
        names.update(name for name in self.graders if name not in prices.chat)
        return sorted(names)

    def cost_range(self, prices: Prices, prompt_scale: float = 1.0) -> CostRange:
        """The cost range over priced models (``prompt_scale``: see :func:`tokenizer_ratio`)."""
        low = grader_low = 0
        high: int | None = 0
        grader_high: int | None = 0
        unbounded: dict[str, str] = {}
        for name, t in self.models.items():
            if t.kind == "image":
                cost = t.images * prices.image.get(name, 0)
                cost += t.input_images * prices.image_input.get(name, 0)
                low += cost
                high = None if high is None else high + cost
                continue
            price = prices.chat.get(name)
            if price is None:
                continue
            a, b = t.cost_ticks(price, prompt_scale)
            low += a
            high = None if high is None or b is None else high + b
            if t.unbounded:
                unbounded[name] = t.unbounded
        for name, t in self.graders.items():
            price = prices.chat.get(name)
            if price is None:
                continue
            a, b = t.cost_ticks(price, prompt_scale)
            grader_low += a
            grader_high = None if grader_high is None or b is None else grader_high + b
            if t.unbounded:
                unbounded[f"{name} (grader)"] = t.unbounded
        return CostRange(
            low + grader_low,
            None if high is None or grader_high is None else high + grader_high,
            grader_low,
            grader_high,
            unbounded,
        )

    def reasoning_models(self) -> list[str]:
        """Models of the plan (jobs or grader) whose reasoning ``max_tokens`` does not bound."""
        names = {*self.models, *self.graders}
        return sorted(n for n in names if (lim := self.limits(n)) is not None and lim.reasoning)

    def cost_report(self, prices: Prices, prompt_scale: float = 1.0) -> dict[str, Any]:
        """The ``cost`` of ``xai-run plan --json``: the range, the grader's part, and why.

        Returns:
            ``{available, source, min_usd, max_usd, min_ticks, max_ticks, grader_min_usd,
            grader_max_usd, unbounded, notes, unpriced_models}`` (``max_*`` None: unbounded).
        """
        r = self.cost_range(prices, prompt_scale)
        notes: list[str] = []
        if prices.source == "catalog":
            notes.append(
                f"prices from the bundled catalog (as of {_catalog().as_of}); "
                "the Models service was not asked"
            )
        reasoning = self.reasoning_models()
        if reasoning:
            notes.append(
                f"the maximum lets {', '.join(reasoning)} reason up to the context length: "
                "max_tokens bounds only the answer of a reasoning model (xai-proto chat.proto)"
            )
        notes += [f"no maximum for {name}: {why}" for name, why in sorted(r.unbounded.items())]
        return {
            "available": True,
            "source": prices.source,
            "min_usd": usd(r.low),
            "max_usd": None if r.high is None else usd(r.high),
            "min_ticks": r.low,
            "max_ticks": r.high,
            "grader_min_usd": usd(r.grader_low),
            "grader_max_usd": None if r.grader_high is None else usd(r.grader_high),
            "unbounded": dict(r.unbounded),
            "notes": notes,
            "unpriced_models": self.unpriced(prices),
        }

    def cost_ticks(self, prices: Prices, prompt_scale: float = 1.0) -> tuple[int, int | None]:
        """``(min, max)`` cost in ticks, the grader included; ``max`` None when unbounded."""
        r = self.cost_range(prices, prompt_scale)
        return r.low, r.high


def usd(ticks: int) -> float:
    """Ticks to US dollars."""
    return ticks / TICKS_PER_USD
