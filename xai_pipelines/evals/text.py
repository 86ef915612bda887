"""Assertions on an output's text: equals, contains, icontains, not_contains, starts_with,
regex and max_length."""

from __future__ import annotations

import re
from abc import abstractmethod
from typing import Any

from xai_pipelines.evals.base import (
    Assertion,
    EvalConfigError,
    EvalContext,
    Target,
    Verdict,
    quote,
    register,
)


class TextAssertion(Assertion):
    """A check of the output text against a string value.

    Subclasses implement :meth:`holds` and :meth:`describe`; the reason is the
    description when the check holds, ``expected to <description>, got <text>``
    otherwise.
    """

    def configure(self, value: Any) -> None:
        """The value must be a string."""
        if not isinstance(value, str):
            raise EvalConfigError(f"{self.type}: expected a string, got {type(value).__name__}")

    @abstractmethod
    def holds(self, text: str) -> bool:
        """Whether ``text`` satisfies the assertion."""

    @abstractmethod
    def describe(self) -> str:
        """The expectation in words, e.g. ``contain 'Paris'``."""

    def check(self, target: Target, ctx: EvalContext) -> Verdict:
        """Apply :meth:`holds` to the output text."""
        phrase = self.describe()
        if self.holds(target.text):
            return Verdict(True, phrase)
        return Verdict(False, f"expected to {phrase}, got {quote(target.text)}")


@register
class Equals(TextAssertion):
    """The output equals the value, surrounding whitespace ignored."""

    type = "equals"

    def holds(self, text: str) -> bool:
        return text.strip() == self.value.strip()

    def describe(self) -> str:
        return f"equal {quote(self.value)}"


@register
class Contains(TextAssertion):
    """The output contains the value."""

    type = "contains"

    def holds(self, text: str) -> bool:
        return self.value in text

    def describe(self) -> str:
        return f"contain {quote(self.value)}"


@register
class IContains(TextAssertion):
    """The output contains the value, ignoring case."""

    type = "icontains"

    def holds(self, text: str) -> bool:
        return self.value.casefold() in text.casefold()

    def describe(self) -> str:
        return f"contain {quote(self.value)} (any case)"


@register
class NotContains(TextAssertion):
    """The output does not contain the value."""

    type = "not_contains"

    def holds(self, text: str) -> bool:
        return self.value not in text

    def describe(self) -> str:
        return f"not contain {quote(self.value)}"


@register
class StartsWith(TextAssertion):
    """The output starts with the value (leading whitespace of the output ignored)."""

    type = "starts_with"

    def holds(self, text: str) -> bool:
        return text.lstrip().startswith(self.value)

    def describe(self) -> str:
        return f"start with {quote(self.value)}"


@register
class Regex(TextAssertion):
    """``re.search`` finds the pattern in the output."""

    type = "regex"

    def configure(self, value: Any) -> None:
        """The value must be a valid regular expression."""
        super().configure(value)
        try:
            self.pattern = re.compile(value)
        except re.error as exc:
            raise EvalConfigError(f"regex: invalid pattern: {exc}") from None

    def holds(self, text: str) -> bool:
        return self.pattern.search(text) is not None

    def describe(self) -> str:
        return f"match /{self.value}/"


@register
class MaxLength(Assertion):
    """The output is at most this many characters long."""

    type = "max_length"

    def configure(self, value: Any) -> None:
        """The value must be a non-negative integer."""
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise EvalConfigError(f"max_length: expected an integer >= 0, got {value!r}")

    def check(self, target: Target, ctx: EvalContext) -> Verdict:
        """Compare the output's length in characters."""
        length = len(target.text)
        ok = length <= self.value
        return Verdict(ok, f"{length} characters ({'<=' if ok else '>'} {self.value})")
