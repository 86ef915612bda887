"""Scripted answers: rules read from a YAML or JSONL file, first match wins.

Each rule is a mapping. Matching keys (at least one of ``match`` / ``regex``):

* ``match``: the last user message equals this text (surrounding whitespace ignored);
* ``regex``: ``re.search`` finds this pattern in the last user message;
* ``model`` (optional): the request's model name or its canonical name equals this.

Answer keys (exactly one):

* ``content``: this text;
* ``json``: this value, serialised as JSON text;
* ``tool_calls``: a list of ``{name, arguments}`` (arguments a mapping or JSON text).

Optional ``reasoning_content`` adds reasoning to any answer. A YAML file holds a
list of rules (or ``{rules: [...]}``); a ``.jsonl`` file holds one rule per line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_ANSWERS = ("content", "json", "tool_calls")


class ScriptError(ValueError):
    """A responses file that cannot be used; the message names the rule."""


@dataclass(frozen=True)
class ScriptedAnswer:
    """What a matched rule answers."""

    content: str
    tool_calls: tuple[tuple[str, str], ...]  # (name, JSON arguments)
    reasoning_content: str | None


@dataclass(frozen=True)
class Rule:
    """One scripted rule."""

    match: str | None
    regex: re.Pattern[str] | None
    model: str | None
    answer: ScriptedAnswer

    def matches(self, text: str, model_names: tuple[str, ...]) -> bool:
        """Whether this rule answers ``text`` for a request to one of ``model_names``."""
        if self.model is not None and self.model not in model_names:
            return False
        if self.match is not None and text.strip() != self.match.strip():
            return False
        return self.regex is None or self.regex.search(text) is not None


def _rule(raw: Any, where: str) -> Rule:
    if not isinstance(raw, dict):
        raise ScriptError(f"{where}: a rule must be a mapping")
    unknown = set(raw) - {"match", "regex", "model", "reasoning_content", *_ANSWERS}
    if unknown:
        raise ScriptError(f"{where}: unknown keys {sorted(unknown)}")
    if "match" not in raw and "regex" not in raw:
        raise ScriptError(f"{where}: needs 'match' or 'regex'")
    answers = [k for k in _ANSWERS if k in raw]
    if len(answers) != 1:
        raise ScriptError(f"{where}: needs exactly one of {list(_ANSWERS)}")
    try:
        regex = re.compile(str(raw["regex"])) if "regex" in raw else None
    except re.error as exc:
        raise ScriptError(f"{where}: bad regex: {exc}") from None
    calls: list[tuple[str, str]] = []
    for i, call in enumerate(raw.get("tool_calls") or []):
        if not isinstance(call, dict) or not call.get("name"):
            raise ScriptError(f"{where}: tool_calls[{i}] needs a name")
        args = call.get("arguments", {})
        calls.append((str(call["name"]), args if isinstance(args, str) else json.dumps(args)))
    if "tool_calls" in raw and not calls:
        raise ScriptError(f"{where}: tool_calls must not be empty")
    content = ""
    if "content" in raw:
        content = str(raw["content"])
    elif "json" in raw:
        content = json.dumps(raw["json"])
    reasoning = raw.get("reasoning_content")
    return Rule(
        match=None if raw.get("match") is None else str(raw["match"]),
        regex=regex,
        model=None if raw.get("model") is None else str(raw["model"]),
        answer=ScriptedAnswer(content, tuple(calls), None if reasoning is None else str(reasoning)),
    )


def load_rules(path: Path | str) -> list[Rule]:
    """Read rules from a YAML or JSONL file.

    Raises:
        ScriptError: When the file or a rule is malformed.
        OSError: When the file cannot be read.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        raws = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    raws.append((json.loads(line), f"{path}:{n}"))
                except json.JSONDecodeError as exc:
                    raise ScriptError(f"{path}:{n}: invalid JSON: {exc.msg}") from None
        return [_rule(raw, where) for raw, where in raws]
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScriptError(f"{path}: invalid YAML: {exc}") from None
    if isinstance(data, dict) and "rules" in data:
        data = data["rules"]
    if not isinstance(data, list):
        raise ScriptError(f"{path}: expected a list of rules")
    return [_rule(raw, f"{path}: rule {i + 1}") for i, raw in enumerate(data)]


class Script:
    """An ordered set of rules; the first that matches answers."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules

    def answer(self, text: str, model_names: tuple[str, ...]) -> ScriptedAnswer | None:
        """The answer of the first rule matching ``text``, or None."""
        for rule in self.rules:
            if rule.matches(text, model_names):
                return rule.answer
        return None
