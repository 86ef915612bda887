"""Building ``GetCompletionsRequest`` protos from the JSON request form (pure, no I/O).

One builder serves sample, stream, defer and batch requests. Parameters take the
JSON-able values of docs/ARCHITECTURE.md ("JSON request form"); string choices
(``reasoning_effort="low"``, ``tool_choice="required"`` ...) are mapped to proto
enums by the private tables below. Proto values (``chat_pb2.Tool``,
``chat_pb2.ResponseFormat`` ...) are accepted as they are.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from google.protobuf import json_format, timestamp_pb2

from xai_pipelines.proto import chat_pb2, usage_pb2
from xai_pipelines.proto._pool import Timestamp
from xai_pipelines.sdk.errors import RequestValidationError
from xai_pipelines.sdk.messages import to_messages

_REASONING_EFFORTS = {
    "low": chat_pb2.EFFORT_LOW,
    "medium": chat_pb2.EFFORT_MEDIUM,
    "high": chat_pb2.EFFORT_HIGH,
    "none": chat_pb2.EFFORT_NONE,
    "xhigh": chat_pb2.EFFORT_XHIGH,
}
_TOOL_MODES = {
    "auto": chat_pb2.TOOL_MODE_AUTO,
    "none": chat_pb2.TOOL_MODE_NONE,
    "required": chat_pb2.TOOL_MODE_REQUIRED,
}
_FORMATS = {
    "text": chat_pb2.FORMAT_TYPE_TEXT,
    "json_object": chat_pb2.FORMAT_TYPE_JSON_OBJECT,
    "json_schema": chat_pb2.FORMAT_TYPE_JSON_SCHEMA,
}
_SEARCH_MODES = {
    "off": chat_pb2.OFF_SEARCH_MODE,
    "on": chat_pb2.ON_SEARCH_MODE,
    "auto": chat_pb2.AUTO_SEARCH_MODE,
}
_SERVICE_TIERS = {
    "default": usage_pb2.SERVICE_TIER_DEFAULT,
    "priority": usage_pb2.SERVICE_TIER_PRIORITY,
}
_AGENT_COUNTS = {4: chat_pb2.AGENT_COUNT_4, 16: chat_pb2.AGENT_COUNT_16}
_TOOL_FIELDS = {
    "function": chat_pb2.Function,
    "web_search": chat_pb2.WebSearch,
    "x_search": chat_pb2.XSearch,
    "code_execution": chat_pb2.CodeExecution,
    "collections_search": chat_pb2.CollectionsSearch,
    "mcp": chat_pb2.MCP,
    "attachment_search": chat_pb2.AttachmentSearch,
    "image_generation": chat_pb2.ImageGeneration,
}
_SOURCE_TYPES = ("web", "news", "x", "rss")

# Scalar parameters copied as they are (name -> expected Python types).
_SCALARS: dict[str, tuple[type, ...]] = {
    "temperature": (int, float),
    "top_p": (int, float),
    "frequency_penalty": (int, float),
    "presence_penalty": (int, float),
    "max_tokens": (int,),
    "seed": (int,),
    "n": (int,),
    "top_logprobs": (int,),
    "max_turns": (int,),
    "logprobs": (bool,),
    "parallel_tool_calls": (bool,),
    "store_messages": (bool,),
    "use_encrypted_content": (bool,),
    "user": (str,),
    "previous_response_id": (str,),
    "safety_identifier": (str,),
}


def _fail(message: str) -> RequestValidationError:
    return RequestValidationError(message)


def _choice(table: Mapping[Any, Any], name: str, value: Any) -> Any:
    if isinstance(value, str):
        value = value.lower()
    try:
        return table[value]
    except (KeyError, TypeError):
        options = ", ".join(str(k) for k in table)
        raise _fail(f"{name} must be one of {options}; got {value!r}") from None


def _timestamp(value: Any, name: str) -> Any:
    if isinstance(value, Timestamp):
        return value
    if isinstance(value, timestamp_pb2.Timestamp):  # protobuf's own class: another pool
        return Timestamp(seconds=value.seconds, nanos=value.nanos)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise _fail(f"{name} must be a date like 2026-01-31, got {value!r}") from None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, dt.datetime):
        raise _fail(f"{name} must be a date, got {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def _parse_into(message: Any, data: Mapping[str, Any], where: str) -> None:
    try:
        json_format.ParseDict(dict(data), message)
    except json_format.ParseError as exc:
        raise _fail(f"{where}: {exc}") from None


def _with_dates(data: Mapping[str, Any], where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    rest = dict(data)
    dates: dict[str, Any] = {
        k: _timestamp(rest.pop(k), f"{where}.{k}") for k in ("from_date", "to_date") if k in rest
    }
    return rest, dates


def build_tool(spec: chat_pb2.Tool | Mapping[str, Any]) -> chat_pb2.Tool:
    """A ``Tool`` from its JSON form (``{"type": "function", "name": ..., "parameters": {...}}``)."""
    if isinstance(spec, chat_pb2.Tool):
        return spec
    if not isinstance(spec, Mapping):
        raise _fail(f"a tool must be an object, got {spec!r}")
    data = dict(spec)
    kind = data.pop("type", "function")
    if kind not in _TOOL_FIELDS:
        raise _fail(f"tool type must be one of {', '.join(_TOOL_FIELDS)}; got {kind!r}")
    if kind == "function":
        fn = data.pop("function", None)
        data = {**data, **(fn or {})}
        if not data.get("name"):
            raise _fail("a function tool needs a name")
        if not isinstance(data.get("parameters", ""), str):
            data["parameters"] = json.dumps(data["parameters"])
    rest, dates = _with_dates(data, f"tools[{kind}]")
    message = _TOOL_FIELDS[kind]()
    _parse_into(message, rest, f"tools[{kind}]")
    for key, ts in dates.items():
        getattr(message, key).CopyFrom(ts)
    return chat_pb2.Tool(**{kind: message})


def build_tool_choice(value: Any) -> chat_pb2.ToolChoice:
    """``"auto" | "none" | "required" | {"function": name}`` as a ``ToolChoice``."""
    if isinstance(value, chat_pb2.ToolChoice):
        return value
    if isinstance(value, Mapping):
        fn = value.get("function")
        name = fn.get("name") if isinstance(fn, Mapping) else fn
        if not isinstance(name, str) or not name:
            raise _fail('tool_choice object must be {"function": "<name>"}')
        return chat_pb2.ToolChoice(function_name=name)
    return chat_pb2.ToolChoice(mode=_choice(_TOOL_MODES, "tool_choice", value))


def build_response_format(value: Any) -> chat_pb2.ResponseFormat:
    """``"text" | "json_object" | {"type": "json_schema", "schema": {...}}`` as a proto."""
    if isinstance(value, chat_pb2.ResponseFormat):
        return value
    if isinstance(value, str):
        if value == "json_schema":
            raise _fail('response_format json_schema needs a schema: {"type": "json_schema", ...}')
        return chat_pb2.ResponseFormat(format_type=_choice(_FORMATS, "response_format", value))
    if isinstance(value, Mapping):
        kind = value.get("type", "json_schema" if "schema" in value else None)
        fmt = chat_pb2.ResponseFormat(format_type=_choice(_FORMATS, "response_format.type", kind))
        schema = value.get("schema", value.get("json_schema"))
        if kind == "json_schema":
            if not isinstance(schema, Mapping | str):
                raise _fail("response_format json_schema needs a schema object")
            fmt.schema = schema if isinstance(schema, str) else json.dumps(schema)
        return fmt
    from xai_pipelines.sdk._structured import json_schema_for

    return build_response_format({"type": "json_schema", "schema": json_schema_for(value)})


def build_search_parameters(value: Any) -> chat_pb2.SearchParameters:
    """Live-search parameters from their JSON form."""
    if isinstance(value, chat_pb2.SearchParameters):
        return value
    if not isinstance(value, Mapping):
        raise _fail("search_parameters must be an object")
    data, dates = _with_dates(value, "search_parameters")
    params = chat_pb2.SearchParameters(**dates)
    if "mode" in data:
        params.mode = _choice(_SEARCH_MODES, "search_parameters.mode", data.pop("mode"))
    for source in data.pop("sources", None) or ():
        params.sources.append(_source(source))
    _parse_into(params, data, "search_parameters")
    return params


def _source(source: Any) -> chat_pb2.Source:
    if isinstance(source, chat_pb2.Source):
        return source
    if not isinstance(source, Mapping) or source.get("type") not in _SOURCE_TYPES:
        raise _fail(f"a search source needs a type among {', '.join(_SOURCE_TYPES)}: {source!r}")
    rest = {k: v for k, v in source.items() if k != "type"}
    result = chat_pb2.Source()
    target = getattr(result, source["type"])
    target.SetInParent()  # an empty source ({"type": "news"}) must still be set
    _parse_into(target, rest, f"search source {source['type']}")
    return result


def _guideline(value: Any) -> chat_pb2.Guideline:
    if isinstance(value, chat_pb2.Guideline):
        return value
    if not isinstance(value, Mapping):
        raise _fail("a guideline must be {category: ..., behavior: ...}")
    category = f"GUIDELINE_CATEGORY_{str(value.get('category', '')).upper()}"
    behavior = f"GUIDELINE_BEHAVIOR_{str(value.get('behavior', 'decline')).upper()}"
    try:
        policy = chat_pb2.PolicyGuideline(
            category=chat_pb2.GuidelineCategory.Value(category),
            behavior=chat_pb2.GuidelineBehavior.Value(behavior),
        )
    except ValueError:
        raise _fail(f"unknown guideline {dict(value)!r}") from None
    return chat_pb2.Guideline(policy=policy)


def _include(value: Any) -> int:
    if isinstance(value, int):
        return value
    try:
        return chat_pb2.IncludeOption.Value(f"INCLUDE_OPTION_{str(value).upper()}")
    except ValueError:
        raise _fail(f"unknown include option {value!r}") from None


def _set_repeated(request: chat_pb2.GetCompletionsRequest, name: str, items: list[Any]) -> None:
    field = getattr(request, name)
    del field[:]
    field.extend(items)


_BUILDERS: dict[str, Callable[[chat_pb2.GetCompletionsRequest, Any], None]] = {
    "stop": lambda r, v: _set_repeated(r, "stop", [v] if isinstance(v, str) else list(v)),
    "tools": lambda r, v: _set_repeated(r, "tools", [build_tool(t) for t in v]),
    "tool_choice": lambda r, v: r.tool_choice.CopyFrom(build_tool_choice(v)),
    "response_format": lambda r, v: r.response_format.CopyFrom(build_response_format(v)),
    "search_parameters": lambda r, v: r.search_parameters.CopyFrom(build_search_parameters(v)),
    "reasoning_effort": lambda r, v: setattr(
        r, "reasoning_effort", _choice(_REASONING_EFFORTS, "reasoning_effort", v)
    ),
    "service_tier": lambda r, v: setattr(
        r, "service_tier", _choice(_SERVICE_TIERS, "service_tier", v)
    ),
    "agent_count": lambda r, v: setattr(r, "agent_count", _choice(_AGENT_COUNTS, "agent_count", v)),
    "include": lambda r, v: _set_repeated(r, "include", [_include(i) for i in v]),
    "guidelines": lambda r, v: _set_repeated(r, "guidelines", [_guideline(g) for g in v]),
}

#: Every parameter ``chat.create`` accepts besides ``model`` and ``messages``.
CHAT_PARAMETERS = frozenset(_SCALARS) | frozenset(_BUILDERS)


def apply_params(request: chat_pb2.GetCompletionsRequest, params: Mapping[str, Any]) -> None:
    """Set ``params`` (JSON request form) on ``request``; None values are skipped.

    Raises:
        RequestValidationError: For an unknown parameter or a value of the wrong kind.
    """
    unknown = set(params) - CHAT_PARAMETERS
    if unknown:
        raise _fail(f"unknown chat parameter(s): {', '.join(sorted(unknown))}")
    for name, value in params.items():
        if value is None:
            continue
        if name in _BUILDERS:
            _BUILDERS[name](request, value)
            continue
        kinds = _SCALARS[name]
        if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
            expected = " or ".join(k.__name__ for k in kinds)
            raise _fail(f"{name} must be {expected}, got {value!r}")
        setattr(request, name, value)


def check_conversation_id(value: Any) -> str | None:
    """Validate the ``conversation_id`` key of the JSON request form.

    It is not a request field: the chat sends it as ``x-grok-conv-id`` metadata
    (see :data:`CONVERSATION_ID_METADATA`).
    """
    if value is not None and (not isinstance(value, str) or not value):
        raise _fail(f"conversation_id must be a non-empty string, got {value!r}")
    return value


#: The gRPC metadata key that groups calls of one conversation so they hit the prompt
#: cache (docs.x.ai prompt caching, "maximizing cache hits", read 2026-11-29).
CONVERSATION_ID_METADATA = "x-grok-conv-id"


def build_chat_request(
    model: str,
    messages: Iterable[Any] = (),
    *,
    conversation_id: str | None = None,
    **params: Any,
) -> chat_pb2.GetCompletionsRequest:
    """A ``GetCompletionsRequest`` from the JSON request form.

    Args:
        model: Model name.
        messages: Messages in any accepted form (see :mod:`xai_pipelines.sdk.messages`).
        conversation_id: Accepted and checked, but not part of the proto: the chat
            sends it as metadata (``ChatClient.create``).
        **params: Any of :data:`CHAT_PARAMETERS`.

    Raises:
        RequestValidationError: When a message or parameter is malformed.
    """
    if not isinstance(model, str) or not model:
        raise _fail("model must be a non-empty string")
    if type(messages) is not list and isinstance(messages, str | Mapping):
        raise _fail("messages must be a list of messages")
    check_conversation_id(conversation_id)
    converted: list[chat_pb2.Message] = []
    for message in messages:
        converted += to_messages(message)
    # given to the constructor, not extended one by one: each extend copies its messages
    request = chat_pb2.GetCompletionsRequest(model=model, messages=converted)
    apply_params(request, params)
    return request


_TRACED = (
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "n",
    "frequency_penalty",
    "presence_penalty",
)


def request_params(request: chat_pb2.GetCompletionsRequest) -> dict[str, Any]:
    """The telemetry-relevant scalar parameters set on ``request``."""
    out: dict[str, Any] = {}
    for name in _TRACED:
        if request.HasField(name):
            value = getattr(request, name)
            out[name] = round(value, 6) if isinstance(value, float) else value  # float32 on wire
    if request.stop:
        out["stop"] = list(request.stop)
    return out
