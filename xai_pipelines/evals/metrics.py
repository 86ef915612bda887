"""Assertions on what a job measured: max_tokens, finish_reason, image_count,
latency_ms_below and cost_below."""

from __future__ import annotations

from typing import Any

from xai_pipelines.evals.base import (
    Assertion,
    EvalConfigError,
    EvalContext,
    Target,
    Verdict,
    register,
)
from xai_pipelines.report.cost import TICKS_PER_USD
from xai_pipelines.report.lines import unset_or

FINISH_REASONS = ("stop", "length", "tool_calls", "max_context", "time_limit")
BOTH = frozenset({"chat", "image"})


def _number(type_name: str, value: Any, *, integer: bool = False) -> float:
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok or value < 0:
        kind = "an integer" if integer else "a number"
        raise EvalConfigError(f"{type_name}: expected {kind} >= 0, got {value!r}")
    return float(value)


@register
class MaxTokens(Assertion):
    """Completion tokens per output at most this (reasoning tokens not counted).

    The API reports usage per call, shared by the ``n`` outputs of a call and
    summed over the turns of a multi-turn job, so the check uses the job's
    completion tokens divided by its outputs.
    """

    type = "max_tokens"
    scope = "job"

    def configure(self, value: Any) -> None:
        """An integer >= 0."""
        _number(self.type, value, integer=True)

    def check(self, target: Target, ctx: EvalContext) -> Verdict:
        """Compare the per-output completion tokens."""
        outputs = max(1, len(unset_or(target.line.outputs, [])))
        tokens = target.line.usage.completion_tokens / outputs
        shown = f"{tokens:g} completion tokens" + (" per output" if outputs > 1 else "")
        ok = tokens <= self.value
        return Verdict(ok, f"{shown} ({'<=' if ok else '>'} {self.value})")


@register
class FinishReason(Assertion):
    """The output ended for this reason (``stop``, ``length``, ``tool_calls`` ...)."""

    type = "finish_reason"

    def configure(self, value: Any) -> None:
        """One of :data:`FINISH_REASONS`."""
        if value not in FINISH_REASONS:
            raise EvalConfigError(f"finish_reason: expected one of {FINISH_REASONS}, got {value!r}")

    def check(self, target: Target, ctx: EvalContext) -> Verdict:
        """Compare the output's finish reason."""
        got = None if target.output is None else target.output.finish_reason
        if got == self.value:
            return Verdict(True, f"finished with {got!r}")
        return Verdict(False, f"expected finish_reason {self.value!r}, got {got!r}")


@register
class ImageCount(Assertion):
    """The job returned this many images."""

    type = "image_count"
    scope = "job"
    kinds = BOTH

    def configure(self, value: Any) -> None:
        """An integer >= 0."""
        _number(self.type, value, integer=True)

    def check(self, target: Target, ctx: EvalContext) -> Verdict:
        """Count the saved images."""
        count = len(unset_or(target.line.images, []))
        if count == self.value:
            return Verdict(True, f"{count} images")
        return Verdict(False, f"expected {self.value} images, got {count}")


@register
class LatencyBelow(Assertion):
    """The job took less than this many milliseconds (rate-limit queueing excluded)."""

    type = "latency_ms_below"
    scope = "job"
    kinds = BOTH

    def configure(self, value: Any) -> None:
        """A number >= 0."""
        _number(self.type, value)

    def check(self, target: Target, ctx: EvalContext) -> Verdict:
        """Compare ``latency_s``."""
        latency = target.line.latency_s
        if latency is None:
            return Verdict(False, "latency unknown")
        ms = latency * 1000
        ok = ms < self.value
        return Verdict(ok, f"{ms:.0f} ms ({'<' if ok else '>='} {self.value:g} ms)")


@register
class CostBelow(Assertion):
    """The job cost less than this many US dollars (grader calls not included)."""

    type = "cost_below"
    scope = "job"
    kinds = BOTH

    def configure(self, value: Any) -> None:
        """A number >= 0 (USD)."""
        _number(self.type, value)

    def check(self, target: Target, ctx: EvalContext) -> Verdict:
        """Compare ``cost_usd_ticks``."""
        ticks = target.line.cost_usd_ticks
        if ticks is None:
            return Verdict(False, "cost unknown (no cost in the response, no price for the model)")
        usd = ticks / TICKS_PER_USD
        ok = usd < self.value
        return Verdict(ok, f"${usd:.6f} ({'<' if ok else '>='} ${self.value:g})")
