"""Client-side tool calls: when the emulator calls a function, and with what arguments.

Decision, for the function tools of a request:

* the last message is a tool result, or tool_choice is ``none``: no call (answer in text);
* tool_choice names a function: call it;
* tool_choice ``required``: call the functions the last user message mentions,
  or the first function when it mentions none;
* ``auto`` (the default): call the functions the last user message mentions
  (by full name, or by all the words of the name other than verbs like "get":
  ``get_weather`` is mentioned by "weather"), or the first function when it asks
  for a tool ("use a tool", "call the function", ...); otherwise answer in text.

With ``parallel_tool_calls`` false only the first chosen function is called.
Arguments are generated from the function's parameter schema, so they validate.
"""

from __future__ import annotations

import json
import random
import re

from xai_pipelines.emulator.conversation import Turn, digest
from xai_pipelines.emulator.jsongen import generate
from xai_pipelines.proto import chat_pb2

_ASKS_FOR_TOOL = re.compile(
    r"\b(use|call|invoke|run)\s+(a|the|your|any)?\s*(tool|function)s?\b", re.I
)


def call_id(rng: random.Random) -> str:
    """A tool call id in the hosted API's style."""
    return "call_" + "".join(rng.choice("0123456789abcdef") for _ in range(24))


def make_call(name: str, arguments: str, rng: random.Random) -> chat_pb2.ToolCall:
    """A completed client-side function call."""
    return chat_pb2.ToolCall(
        id=call_id(rng),
        type=chat_pb2.TOOL_CALL_TYPE_CLIENT_SIDE_TOOL,
        status=chat_pb2.TOOL_CALL_STATUS_COMPLETED,
        function=chat_pb2.FunctionCall(name=name, arguments=arguments),
    )


_VERBS = frozenset(
    [
        "get",
        "set",
        "fetch",
        "do",
        "run",
        "call",
        "make",
        "list",
        "create",
        "update",
        "delete",
        "find",
        "search",
        "lookup",
        "query",
    ]
)


def _mentioned(text: str, name: str) -> bool:
    """Whether ``text`` names the function: its full name, or all its non-verb words."""
    lowered = text.lower()
    if name.lower() in lowered:
        return True
    parts = [p for p in re.split(r"[_\W]+|(?<=[a-z])(?=[A-Z])", name) if p]
    words = [p.lower() for p in parts if p.lower() not in _VERBS] or [p.lower() for p in parts]
    present = set(re.findall(r"\w+", lowered))
    return all(w in present for w in words)


def choose_functions(
    request: chat_pb2.GetCompletionsRequest, turns: list[Turn]
) -> list[chat_pb2.Function]:
    """The functions to call for this request (empty: answer in text)."""
    functions = [t.function for t in request.tools if t.WhichOneof("tool") == "function"]
    if not functions or not turns or turns[-1].role == chat_pb2.ROLE_TOOL:
        return []
    choice = request.tool_choice
    kind = choice.WhichOneof("tool_choice")
    if kind == "mode" and choice.mode == chat_pb2.TOOL_MODE_NONE:
        return []
    if kind == "function_name":
        return [f for f in functions if f.name == choice.function_name][:1]
    user_text = turns[-1].text if turns[-1].role == chat_pb2.ROLE_USER else ""
    chosen = [f for f in functions if _mentioned(user_text, f.name)]
    required = kind == "mode" and choice.mode == chat_pb2.TOOL_MODE_REQUIRED
    if not chosen and (required or _ASKS_FOR_TOOL.search(user_text)):
        chosen = functions[:1]
    if request.HasField("parallel_tool_calls") and not request.parallel_tool_calls:
        chosen = chosen[:1]
    return chosen


def generate_calls(
    functions: list[chat_pb2.Function], rng: random.Random
) -> list[chat_pb2.ToolCall]:
    """Calls to ``functions`` with schema-valid arguments (parameters were validated earlier)."""
    calls = []
    for fn in functions:
        schema = (
            json.loads(fn.parameters) if fn.parameters else {"type": "object", "properties": {}}
        )
        args = generate(
            schema, random.Random(int.from_bytes(digest(rng.random(), fn.name)[:8], "big"))
        )
        calls.append(make_call(fn.name, json.dumps(args), rng))
    return calls
