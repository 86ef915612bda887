"""The assertion framework: what is checked, what a check says, and the registry by name.

An ``expect:`` entry is a mapping with exactly one assertion key (plus an
optional ``name`` label), e.g. ``{icontains: "Paris"}``. :func:`build_assertion`
turns it into an instance of the class registered under that key.
:class:`Assertion` is a template: :meth:`Assertion.evaluate` does the shared
work (applicability, errors, score clamping, the result record) and each
subclass implements only :meth:`Assertion.check`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

from xai_pipelines.records import ChatOutput, GraderUsage, ResultLine, Usage
from xai_pipelines.report.lines import as_output, as_result_line

Scope = Literal["output", "job"]

#: Keys of an ``expect`` entry that are not assertion types.
LABEL_KEYS = frozenset({"name"})

#: Longest excerpt of an output quoted in a reason.
QUOTE_CHARS = 80


class EvalConfigError(ValueError):
    """An ``expect`` entry that names no known assertion, or a malformed value."""


def quote(text: Any, limit: int = QUOTE_CHARS) -> str:
    """``text`` as a short ``repr`` for a reason (long texts are cut with an ellipsis)."""
    s = text if isinstance(text, str) else str(text)
    return repr(s if len(s) <= limit else s[: limit - 1] + "…")


@dataclass(frozen=True, init=False)
class Target:
    """What one assertion checks.

    Args:
        line: The job's result line (usage, latency, cost, images, request, turns); a
            plain dict is decoded into a :class:`~xai_pipelines.records.ResultLine`.
        output: The chat output checked (an entry of the line's ``outputs``), or None
            for job-level checks and image jobs.
    """

    line: ResultLine
    output: ChatOutput | None

    def __init__(
        self,
        line: ResultLine | Mapping[str, Any],
        output: ChatOutput | Mapping[str, Any] | None = None,
    ) -> None:
        object.__setattr__(self, "line", as_result_line(line))
        object.__setattr__(self, "output", None if output is None else as_output(output))

    @property
    def kind(self) -> str:
        """``chat`` or ``image``."""
        return self.line.kind

    @property
    def text(self) -> str:
        """The output's content (empty when there is none)."""
        return "" if self.output is None else self.output.content


@dataclass
class EvalContext:
    """What checks may use besides the target: the grader, and a ledger of its calls.

    Attributes:
        grader: Asks a model to grade an answer (None: model-graded checks fail).
        grader_calls: Grader calls made for this job.
        grader_usage: Summed usage of those calls.
    """

    grader: Any = None
    grader_calls: int = 0
    grader_usage: GraderUsage = field(default_factory=lambda: GraderUsage(cost_usd_ticks=0))

    def record_grader_usage(self, usage: Usage | Mapping[str, Any]) -> None:
        """Add one grader call's usage (cost stays None once any call lacked it)."""
        self.grader_calls += 1
        self.grader_usage = self.grader_usage + GraderUsage.of(usage)


@dataclass(frozen=True)
class Verdict:
    """What :meth:`Assertion.check` says.

    Attributes:
        passed: Whether the assertion holds.
        reason: Why, in a few words a reader of the report understands.
        score: 0..1 (default: 1 when passed, 0 otherwise).
    """

    passed: bool
    reason: str
    score: float | None = None


class Assertion(ABC):
    """One configured check; subclasses set :attr:`type` and implement :meth:`check`.

    Args:
        value: The value under the assertion's key (already templated by the plan).
        name: The entry's optional ``name`` label.

    Raises:
        EvalConfigError: When ``value`` is not what the type accepts.
    """

    #: The ``expect`` key this class answers to.
    type: ClassVar[str]
    #: ``output``: checked once per chat output; ``job``: once per job.
    scope: ClassVar[Scope] = "output"
    #: Job kinds the check applies to.
    kinds: ClassVar[frozenset[str]] = frozenset({"chat"})

    def __init__(self, value: Any, name: str | None = None) -> None:
        self.value = value
        self.name = name
        self.configure(value)

    def configure(self, value: Any) -> None:  # noqa: B027 - optional hook
        """Check and prepare ``value`` (override to parse it once)."""

    @abstractmethod
    def check(self, target: Target, ctx: EvalContext) -> Verdict | bool:
        """Check ``target``; a bare bool means pass/fail with a generic reason."""

    def evaluate(self, target: Target, ctx: EvalContext) -> dict[str, Any]:
        """Run :meth:`check` and build the result record.

        Returns:
            ``{"type", "name"?, "output", "pass", "score", "reason"}``; ``output`` is the
            checked output's index (None for job-level checks).
        """
        if target.kind not in self.kinds:
            verdict = Verdict(False, f"does not apply to {target.kind} jobs")
        else:
            try:
                result = self.check(target, ctx)
            # A faulty check (or a failed grader call) must cost one assertion, never the
            # job's result line: the API work was done and paid for.
            except Exception as exc:
                result = Verdict(False, f"error: {type(exc).__name__}: {exc}")
            verdict = (
                result
                if isinstance(result, Verdict)
                else Verdict(bool(result), "ok" if result else "failed")
            )
        score = verdict.score
        if score is None or not math.isfinite(score):
            score = 1.0 if verdict.passed else 0.0
        record: dict[str, Any] = {"type": self.type}
        if self.name:
            record["name"] = self.name
        record["output"] = None if target.output is None else target.output.index
        record["pass"] = verdict.passed
        record["score"] = round(min(1.0, max(0.0, float(score))), 4)
        record["reason"] = verdict.reason
        return record


_REGISTRY: dict[str, type[Assertion]] = {}

A = TypeVar("A", bound=type[Assertion])


def register(cls: A) -> A:
    """Class decorator: make ``cls`` the assertion of ``expect`` key ``cls.type``."""
    if cls.type in _REGISTRY and _REGISTRY[cls.type] is not cls:
        raise ValueError(f"assertion type {cls.type!r} is registered twice")
    _REGISTRY[cls.type] = cls
    return cls


def assertion_types() -> dict[str, type[Assertion]]:
    """Every registered assertion type, by ``expect`` key."""
    return dict(_REGISTRY)


def build_assertion(entry: Mapping[str, Any]) -> Assertion:
    """The assertion an ``expect`` entry describes.

    Raises:
        EvalConfigError: When the entry has no known key, several, or a bad value.
    """
    keys = [k for k in entry if k not in LABEL_KEYS]
    if len(keys) != 1:
        raise EvalConfigError(f"expected exactly one assertion key, got {sorted(keys)}")
    key = keys[0]
    cls = _REGISTRY.get(key)
    if cls is None:
        raise EvalConfigError(f"unknown assertion type {key!r}")
    name = entry.get("name")
    return cls(entry[key], None if name is None else str(name))
