"""Builds ``pipeline.schema.json`` (JSON Schema 2020-12) from Python.

Run ``python -m xai_pipelines.spec.schema_build`` after editing; it writes
``schemas/pipeline.schema.json`` and the packaged copy the CLI prints, and a
test fails when either is stale. Python lets the chat task reuse the chat
parameter properties while staying ``additionalProperties: false``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA_ID = "https://github.com/xai-pipelines/xai-pipelines/schemas/pipeline.schema.json"
IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"
Schema = dict[str, Any]


def p(title: str, description: str, schema: Schema | None = None, **extra: Any) -> Schema:
    """A property schema with its title and description."""
    return {"title": title, "description": description, **(schema or {}), **extra}


def obj(properties: dict[str, Schema], required: tuple[str, ...] = (), **extra: Any) -> Schema:
    """A closed object."""
    out: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        out["required"] = list(required)
    return {**out, **extra}


def strings(title: str, description: str, **extra: Any) -> Schema:
    """A list of strings."""
    return p(title, description, {"type": "array", "items": {"type": "string"}}, **extra)


def one_key_of(keys: list[str]) -> list[Schema]:
    """``oneOf`` branches meaning "exactly one of these keys"."""
    return [{"required": [k]} for k in keys]


DURATION = {
    "oneOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?(ms|s|m|h)$"},
    ]
}
FILE_OR_SCHEMA = {"type": ["object", "string"]}
DATE = {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
ASPECT_RATIOS = ["1:1", "3:4", "4:3", "9:16", "16:9", "2:3", "3:2", "auto"]
ASPECT_RATIOS += ["9:19.5", "19.5:9", "9:20", "20:9", "1:2", "2:1"]

CONTENT_PART = obj(
    {
        "text": p("Text", "A text part (templated).", {"type": "string"}),
        "image_url": p(
            "Image URL",
            "An image by URL or data URL (PNG/JPG/WebP, up to 10 MiB).",
            {"type": "string"},
        ),
        "image_file": p(
            "Image file",
            "An image file next to the pipeline, sent as a base64 data URL.",
            {"type": "string"},
            examples=["images/cat.png"],
        ),
        "file_id": p("File id", "A file already uploaded to the API.", {"type": "string"}),
        "detail": p(
            "Image detail",
            "How closely the model looks at the image.",
            {"enum": ["auto", "low", "high"]},
            default="auto",
        ),
    },
    oneOf=one_key_of(["text", "image_url", "image_file", "file_id"]),
    title="Content part",
    description="One part of a message: text, an image (URL or file) or an uploaded file.",
)

TOOL_CALL = obj(
    {
        "id": p("Call id", "The id the tool result refers to.", {"type": "string"}),
        "function": p(
            "Function call",
            "The function called and its arguments.",
            obj(
                {
                    "name": p("Name", "Function name.", {"type": "string"}),
                    "arguments": p(
                        "Arguments",
                        "Arguments as a JSON string or an object.",
                        {"type": ["string", "object"]},
                    ),
                },
                ("name",),
            ),
        ),
    },
    ("id", "function"),
    title="Tool call",
    description="A tool call made by the assistant in an earlier turn.",
)

MESSAGE = obj(
    {
        "system": p("System", "A system message (templated).", {"type": "string"}),
        "user": p(
            "User",
            "A user message: text, or a list of parts (text and images).",
            {"type": ["string", "array"], "items": {"$ref": "#/$defs/content_part"}},
            examples=["What is the capital of {{ row.country }}?"],
        ),
        "assistant": p("Assistant", "An assistant message (a prior reply).", {"type": "string"}),
        "tool": p("Tool result", "The result of a tool call, as text.", {"type": "string"}),
        "tool_call_id": p("Tool call id", "The call a tool result answers.", {"type": "string"}),
        "tool_calls": p(
            "Tool calls",
            "Tool calls made by an assistant message.",
            {"type": "array", "items": {"$ref": "#/$defs/tool_call"}},
        ),
    },
    oneOf=one_key_of(["system", "user", "assistant", "tool"]),
    dependentRequired={"tool_call_id": ["tool"], "tool_calls": ["assistant"]},
    title="Message",
    description="One message, written as `role: content` (system, user, assistant or tool).",
)

FUNCTION_TOOL = obj(
    {
        "type": p("Type", "Tool type.", {"const": "function"}),
        "name": p(
            "Name",
            "Function name the model calls.",
            {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,64}$"},
        ),
        "description": p("Description", "What the function does.", {"type": "string"}),
        "parameters": p(
            "Parameters",
            "JSON Schema of the arguments, inline or a file next to the pipeline.",
            FILE_OR_SCHEMA,
            default={"type": "object", "properties": {}},
        ),
        "strict": p(
            "Strict",
            "Ask the model to follow the schema exactly.",
            {"type": "boolean"},
            default=False,
        ),
    },
    ("type", "name"),
)
WEB_SEARCH_TOOL = obj(
    {
        "type": p("Type", "Tool type.", {"const": "web_search"}),
        "excluded_domains": strings("Excluded domains", "Domains never searched."),
        "allowed_domains": strings("Allowed domains", "Only these domains are searched."),
        "enable_image_understanding": p(
            "Image understanding", "Let the tool look at images.", {"type": "boolean"}
        ),
        "enable_image_search": p(
            "Image search", "Let the tool search images.", {"type": "boolean"}
        ),
        "user_location": p(
            "User location",
            "Where the user is, to localise results.",
            obj(
                {
                    k: p(k.title(), f"User {k}.", {"type": "string"})
                    for k in ("country", "city", "region", "timezone")
                }
            ),
        ),
    },
    ("type",),
)
X_SEARCH_TOOL = obj(
    {
        "type": p("Type", "Tool type.", {"const": "x_search"}),
        "from_date": p("From date", "Earliest post date (YYYY-MM-DD).", DATE),
        "to_date": p("To date", "Latest post date (YYYY-MM-DD).", DATE),
        "allowed_x_handles": strings("Allowed handles", "Only posts by these handles."),
        "excluded_x_handles": strings("Excluded handles", "Never posts by these handles."),
        "enable_image_understanding": p(
            "Image understanding", "Let the tool look at images.", {"type": "boolean"}
        ),
        "enable_video_understanding": p(
            "Video understanding", "Let the tool look at videos.", {"type": "boolean"}
        ),
    },
    ("type",),
)
CODE_TOOL = obj({"type": p("Type", "Tool type.", {"const": "code_execution"})}, ("type",))
COLLECTIONS_TOOL = obj(
    {
        "type": p("Type", "Tool type.", {"const": "collections_search"}),
        "collection_ids": strings("Collections", "Collections to search.", minItems=1),
        "limit": p("Limit", "Maximum chunks returned.", {"type": "integer", "minimum": 1}),
        "instructions": p("Instructions", "Search instructions.", {"type": "string"}),
    },
    ("type", "collection_ids"),
)
MCP_TOOL = obj(
    {
        "type": p("Type", "Tool type.", {"const": "mcp"}),
        "server_label": p("Label", "Name of the MCP server.", {"type": "string"}),
        "server_description": p("Description", "What the server offers.", {"type": "string"}),
        "server_url": p("URL", "Server URL.", {"type": "string"}),
        "allowed_tool_names": strings("Allowed tools", "Only these tools of the server."),
        "authorization": p(
            "Authorization", "Authorization header value (use {{ env.NAME }}).", {"type": "string"}
        ),
        "extra_headers": p(
            "Headers",
            "Extra HTTP headers.",
            {"type": "object", "additionalProperties": {"type": "string"}},
        ),
    },
    ("type", "server_url"),
)
TOOL_TYPES = {
    "function": FUNCTION_TOOL,
    "web_search": WEB_SEARCH_TOOL,
    "x_search": X_SEARCH_TOOL,
    "code_execution": CODE_TOOL,
    "collections_search": COLLECTIONS_TOOL,
    "mcp": MCP_TOOL,
}
TOOL = {
    "title": "Tool",
    "description": "A tool the model may call: a client-side function or a server-side tool.",
    "type": "object",
    "required": ["type"],
    "properties": {"type": p("Type", "Tool type.", {"enum": list(TOOL_TYPES)})},
    "allOf": [
        {"if": {"properties": {"type": {"const": name}}, "required": ["type"]}, "then": schema}
        for name, schema in TOOL_TYPES.items()
    ],
}

SOURCE_TYPES = {
    "web": {
        "excluded_websites": strings("Excluded", "Websites never used."),
        "allowed_websites": strings("Allowed", "Only these websites."),
        "country": p("Country", "ISO alpha-2 country code.", {"type": "string"}),
        "safe_search": p("Safe search", "Filter unsafe results.", {"type": "boolean"}),
    },
    "news": {
        "excluded_websites": strings("Excluded", "Websites never used."),
        "country": p("Country", "ISO alpha-2 country code.", {"type": "string"}),
        "safe_search": p("Safe search", "Filter unsafe results.", {"type": "boolean"}),
    },
    "x": {
        "included_x_handles": strings("Included handles", "Only posts by these handles."),
        "excluded_x_handles": strings("Excluded handles", "Never posts by these handles."),
        "post_favorite_count": p(
            "Min favorites", "Minimum favorites of a post.", {"type": "integer", "minimum": 0}
        ),
        "post_view_count": p(
            "Min views", "Minimum views of a post.", {"type": "integer", "minimum": 0}
        ),
    },
    "rss": {"links": strings("Links", "RSS feed URLs.", minItems=1)},
}
SOURCE = {
    "title": "Search source",
    "description": "Where live search looks: web, news, x or rss.",
    "type": "object",
    "required": ["type"],
    "properties": {"type": p("Type", "Source type.", {"enum": list(SOURCE_TYPES)})},
    "allOf": [
        {
            "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
            "then": obj({"type": p("Type", "Source type.", {"const": name}), **props}),
        }
        for name, props in SOURCE_TYPES.items()
    ],
}

SEARCH_PARAMETERS = obj(
    {
        "mode": p(
            "Mode", "Whether the model searches.", {"enum": ["auto", "on", "off"]}, default="auto"
        ),
        "return_citations": p(
            "Citations", "Return the sources used.", {"type": "boolean"}, default=True
        ),
        "max_search_results": p(
            "Max results",
            "Maximum sources considered.",
            {"type": "integer", "minimum": 1, "maximum": 50},
        ),
        "from_date": p("From date", "Earliest date (YYYY-MM-DD).", DATE),
        "to_date": p("To date", "Latest date (YYYY-MM-DD).", DATE),
        "sources": p(
            "Sources", "Where to search.", {"type": "array", "items": {"$ref": "#/$defs/source"}}
        ),
    },
    title="Search parameters",
    description="Live search settings.",
)

RESPONSE_FORMAT = {
    "title": "Response format",
    "description": "`text`, `json_object`, or `{json_schema: <schema or file>, name: ...}` for structured output.",
    "default": "text",
    "examples": ["json_object", {"json_schema": "schemas/answer.json", "name": "answer"}],
    "oneOf": [
        {"enum": ["text", "json_object"]},
        obj(
            {
                "json_schema": p(
                    "JSON schema",
                    "The schema the reply must follow, inline or a file.",
                    FILE_OR_SCHEMA,
                ),
                "name": p("Name", "A name for the schema.", {"type": "string"}),
            },
            ("json_schema",),
        ),
    ],
}

TOOL_CHOICE = {
    "title": "Tool choice",
    "description": "`auto`, `none`, `required`, or `{function: NAME}` to force one function.",
    "default": "auto",
    "oneOf": [
        {"enum": ["auto", "none", "required"]},
        obj(
            {"function": p("Function", "Function the model must call.", {"type": "string"})},
            ("function",),
        ),
    ],
}

CHAT_PARAMS: dict[str, Schema] = {
    "model": p(
        "Model",
        "Language model name or alias.",
        {"type": "string", "minLength": 1},
        examples=["grok-4"],
    ),
    "mode": p(
        "Mode",
        "How to call the API: one unary call, a stream, or a deferred completion (polled).",
        {"enum": ["sample", "stream", "defer"]},
        default="sample",
    ),
    "temperature": p(
        "Temperature",
        "Sampling temperature.",
        {"type": "number", "minimum": 0, "maximum": 2},
        examples=[0, 0.7],
    ),
    "top_p": p("Top p", "Nucleus sampling mass.", {"type": "number", "minimum": 0, "maximum": 1}),
    "max_tokens": p(
        "Max tokens",
        "Maximum completion tokens per output.",
        {"type": "integer", "minimum": 1},
        examples=[256],
    ),
    "seed": p(
        "Seed",
        "Pipeline seed; each repeat gets a distinct seed derived from it (see docs).",
        {"type": "integer", "minimum": 0, "maximum": 2147483647},
        examples=[7],
    ),
    "stop": p(
        "Stop",
        "Stop sequences (at most 8).",
        {"type": ["string", "array"], "items": {"type": "string"}, "maxItems": 8},
    ),
    "n": p(
        "Outputs",
        "Outputs per request (1-128).",
        {"type": "integer", "minimum": 1, "maximum": 128},
        default=1,
    ),
    "logprobs": p(
        "Log probs", "Return token log probabilities.", {"type": "boolean"}, default=False
    ),
    "top_logprobs": p(
        "Top log probs",
        "Alternatives per token (needs logprobs).",
        {"type": "integer", "minimum": 0, "maximum": 8},
    ),
    "frequency_penalty": p(
        "Frequency penalty",
        "Penalise frequent tokens.",
        {"type": "number", "minimum": -2, "maximum": 2},
    ),
    "presence_penalty": p(
        "Presence penalty",
        "Penalise tokens already present.",
        {"type": "number", "minimum": -2, "maximum": 2},
    ),
    "reasoning_effort": p(
        "Reasoning effort",
        "How much the model reasons (reasoning models only).",
        {"enum": ["none", "low", "medium", "high", "xhigh"]},
    ),
    "response_format": {
        "$ref": "#/$defs/response_format",
        "title": "Response format",
        "description": "Output format.",
    },
    "tools": p(
        "Tools", "Tools the model may call.", {"type": "array", "items": {"$ref": "#/$defs/tool"}}
    ),
    "tool_choice": {
        "$ref": "#/$defs/tool_choice",
        "title": "Tool choice",
        "description": "Which tool the model must use.",
    },
    "parallel_tool_calls": p(
        "Parallel tool calls", "Allow several calls in one turn.", {"type": "boolean"}, default=True
    ),
    "search_parameters": {
        "$ref": "#/$defs/search_parameters",
        "title": "Search",
        "description": "Live search settings.",
    },
    "store_messages": p(
        "Store messages",
        "Keep the conversation server-side (for previous_response_id).",
        {"type": "boolean"},
        default=False,
    ),
    "previous_response_id": p(
        "Previous response", "Continue a stored conversation.", {"type": "string"}
    ),
    "use_encrypted_content": p(
        "Encrypted content",
        "Return encrypted reasoning content.",
        {"type": "boolean"},
        default=False,
    ),
    "max_turns": p(
        "Max turns", "Server-side agent turns limit.", {"type": "integer", "minimum": 1}
    ),
    "user": p("User id", "End-user identifier sent to the API.", {"type": "string"}),
}

IMAGE_PARAMS: dict[str, Schema] = {
    "model": p(
        "Model",
        "Image generation model.",
        {"type": "string", "minLength": 1},
        examples=["grok-2-image"],
    ),
    "n": p(
        "Images",
        "Images per request (1-10).",
        {"type": "integer", "minimum": 1, "maximum": 10},
        default=1,
    ),
    "format": p(
        "Format",
        "Receive images as base64 bytes or as URLs.",
        {"enum": ["base64", "url"]},
        default="base64",
    ),
    "aspect_ratio": p(
        "Aspect ratio", "Image aspect ratio.", {"enum": ASPECT_RATIOS}, examples=["16:9"]
    ),
    "resolution": p("Resolution", "Output resolution.", {"enum": ["1k", "2k"]}),
    "quality": p("Quality", "Output quality.", {"enum": ["low", "medium", "high"]}),
    "image_url": p("Input image URL", "An image to edit (URL or data URL).", {"type": "string"}),
    "image_file": p(
        "Input image file", "An image to edit, next to the pipeline.", {"type": "string"}
    ),
    "user": p("User id", "End-user identifier sent to the API.", {"type": "string"}),
}

ASSERTIONS: dict[str, Schema] = {
    "equals": p("Equals", "The output equals this text (after trimming).", {"type": "string"}),
    "contains": p("Contains", "The output contains this text.", {"type": "string"}),
    "icontains": p(
        "Contains (any case)", "The output contains this text, ignoring case.", {"type": "string"}
    ),
    "not_contains": p(
        "Does not contain", "The output does not contain this text.", {"type": "string"}
    ),
    "starts_with": p("Starts with", "The output starts with this text.", {"type": "string"}),
    "regex": p("Regex", "The output matches this regular expression (search).", {"type": "string"}),
    "is_json": p("Is JSON", "The output parses as JSON.", {"const": True}),
    "json_schema": p(
        "JSON schema",
        "The output is JSON valid against this schema (inline or file).",
        FILE_OR_SCHEMA,
    ),
    "max_tokens": p(
        "Max tokens", "Completion tokens at most this.", {"type": "integer", "minimum": 0}
    ),
    "image_count": p(
        "Image count", "Number of images returned.", {"type": "integer", "minimum": 0}
    ),
}
ASSERTION = obj(
    {**ASSERTIONS, "name": p("Name", "A label for the report.", {"type": "string"})},
    oneOf=one_key_of(list(ASSERTIONS)),
    title="Assertion",
    description="One check on a job's output; exactly one assertion key (string values are templated).",
    examples=[{"icontains": "{{ row.capital }}"}],
)

TASK_COMMON: dict[str, Schema] = {
    "name": p(
        "Task name",
        "Name of this entry (default chat-N / image-N); `task` in templates.",
        {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]*$"},
    ),
    "id": p(
        "Job id",
        "Template for each job's id; default: task name plus a digest of the request.",
        {"type": "string", "minLength": 1},
        examples=["capital-{{ row.country }}"],
    ),
    "description": p("Description", "What this entry is for.", {"type": "string"}),
    "for_each": p(
        "Dataset", "Run once per row of this dataset (`row` in templates).", {"type": "string"}
    ),
    "repeat": p(
        "Repeat",
        "Run each job this many times (distinct ids and seeds).",
        {"type": "integer", "minimum": 1, "maximum": 10000},
        default=1,
    ),
    "matrix": {
        "$ref": "#/$defs/matrix",
        "title": "Matrix",
        "description": "Parameter or var values to cross (adds to the top-level matrix).",
    },
    "expect": p(
        "Expectations",
        "Assertions on the output.",
        {"type": "array", "items": {"$ref": "#/$defs/assertion"}},
    ),
}

CHAT_TASK = obj(
    {
        **TASK_COMMON,
        "messages": p(
            "Messages",
            "The conversation sent.",
            {"type": "array", "items": {"$ref": "#/$defs/message"}, "minItems": 1},
        ),
        "turns": p(
            "Turns",
            "Further messages, each sent after the previous reply is appended (multi-turn).",
            {"type": "array", "items": {"$ref": "#/$defs/message"}},
        ),
        **CHAT_PARAMS,
    },
    ("messages",),
    title="Chat",
    description="A chat conversation, expanded over its dataset, matrix and repeat.",
)
IMAGE_TASK = obj(
    {
        **TASK_COMMON,
        "prompt": p(
            "Prompt",
            "The prompt (templated); with prompts_file, defaults to the line.",
            {"type": "string"},
        ),
        "prompts_file": p(
            "Prompts file",
            "A text file, one prompt per line (blank and # lines skipped).",
            {"type": "string"},
        ),
        **IMAGE_PARAMS,
    },
    title="Image job",
    description="Image generation, one job per prompt (and per row, matrix cell, repeat).",
)

DATASET = obj(
    {
        "path": p(
            "Path",
            "Data file relative to the pipeline.",
            {"type": "string"},
            examples=["data/capitals.jsonl"],
        ),
        "rows": p("Rows", "Inline rows.", {"type": "array", "items": {"type": "object"}}),
        "format": p(
            "Format",
            "File format (default: from the extension).",
            {"enum": ["jsonl", "csv", "json", "yaml", "lines"]},
        ),
        "where": p(
            "Filter",
            "Keep rows whose fields equal these values (a list means any of them).",
            {
                "type": "object",
                "additionalProperties": {"type": ["string", "number", "boolean", "null", "array"]},
            },
            examples=[{"continent": "Europe"}],
        ),
        "sample": p(
            "Sample",
            "Keep a seeded random sample of this many rows (after the filter).",
            {
                "oneOf": [
                    {"type": "integer", "minimum": 1},
                    obj(
                        {
                            "size": p("Size", "Rows to keep.", {"type": "integer", "minimum": 1}),
                            "seed": p("Seed", "Sampling seed.", {"type": "integer"}, default=0),
                        },
                        ("size",),
                    ),
                ]
            },
        ),
        "limit": p(
            "Limit",
            "Keep at most this many rows (after filter and sample).",
            {"type": "integer", "minimum": 0},
        ),
        "description": p("Description", "What the data is.", {"type": "string"}),
    },
    oneOf=one_key_of(["path", "rows"]),
    title="Dataset",
    description="Rows to expand jobs over: a JSONL, CSV, JSON or YAML list file, a text file, or inline rows.",
)

EXECUTION = obj(
    {
        "concurrency": p(
            "Concurrency",
            "Jobs in flight at once.",
            {"type": "integer", "minimum": 1, "maximum": 4096},
            default=8,
        ),
        "rate_limit": p(
            "Rate limit",
            "Client-side limits (unset = unlimited).",
            obj(
                {
                    "requests_per_minute": p(
                        "Requests/min",
                        "Requests per minute.",
                        {"type": "number", "exclusiveMinimum": 0},
                    ),
                    "tokens_per_minute": p(
                        "Tokens/min",
                        "Estimated tokens per minute.",
                        {"type": "number", "exclusiveMinimum": 0},
                    ),
                }
            ),
        ),
        "retries": p(
            "Retries",
            "Retry policy for transient errors.",
            obj(
                {
                    "max_attempts": p(
                        "Attempts",
                        "Attempts per call, first included.",
                        {"type": "integer", "minimum": 1, "maximum": 100},
                        default=5,
                    ),
                    "initial_backoff": p(
                        "Initial backoff",
                        "First wait (seconds or 500ms/2s/1m).",
                        DURATION,
                        default="0.5s",
                    ),
                    "max_backoff": p("Max backoff", "Longest wait.", DURATION, default="30s"),
                }
            ),
        ),
        "timeout": p(
            "Timeout", "Deadline per API call.", DURATION, default="300s", examples=["120s"]
        ),
        "job_timeout": p(
            "Job timeout",
            "Deadline per job, retries and turns included.",
            DURATION,
            examples=["10m"],
        ),
        "on_error": p(
            "On error",
            "Keep going after a failed job, or stop the run.",
            {"enum": ["continue", "fail_fast"]},
            default="continue",
        ),
        "budget_usd": p(
            "Budget",
            "Stop starting jobs once the spend reaches this (USD).",
            {"type": "number", "exclusiveMinimum": 0},
        ),
        "mode": p(
            "Mode",
            "Call the API directly, or submit a server-side batch.",
            {"enum": ["online", "batch"]},
            default="online",
        ),
    },
    title="Execution",
    description="How the plan runs.",
)

ROOT: Schema = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "xai-pipelines pipeline",
    "description": "A declarative pipeline of chat and image jobs for the xAI API.",
    **obj(
        {
            "$schema": p(
                "Schema", "The schema this file follows (for editors).", {"type": "string"}
            ),
            "version": p("Version", "Pipeline format version.", {"const": 1}, default=1),
            "name": p(
                "Name",
                "Pipeline name (`name` in templates).",
                {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]*$"},
                examples=["capitals"],
            ),
            "description": p("Description", "What the pipeline does.", {"type": "string"}),
            "env": p(
                "Environment",
                "Environment variables templates may read as `env.NAME`: a list of names (required), or names with defaults.",
                {
                    "oneOf": [
                        {
                            "type": "array",
                            "items": {"type": "string", "pattern": IDENT},
                            "uniqueItems": True,
                        },
                        {
                            "type": "object",
                            "propertyNames": {"pattern": IDENT},
                            "additionalProperties": {"type": ["string", "null"]},
                        },
                    ]
                },
                examples=[["USER"], {"REGION": "eu"}],
            ),
            "vars": p(
                "Variables",
                "Values available by name in every template (strings are templated too).",
                {"type": "object", "propertyNames": {"pattern": IDENT}},
                examples=[{"system": "Answer briefly."}],
            ),
            "datasets": p(
                "Datasets",
                "Named datasets for `for_each`.",
                {
                    "type": "object",
                    "propertyNames": {"pattern": IDENT},
                    "additionalProperties": {"$ref": "#/$defs/dataset"},
                },
            ),
            "defaults": p(
                "Chat defaults",
                "Parameters for every chat (a chat's own values win).",
                obj(CHAT_PARAMS),
                examples=[{"model": "grok-4", "temperature": 0, "seed": 7}],
            ),
            "image_defaults": p(
                "Image defaults",
                "Parameters for every image job.",
                obj(IMAGE_PARAMS),
                examples=[{"model": "grok-2-image"}],
            ),
            "matrix": {
                "$ref": "#/$defs/matrix",
                "title": "Matrix",
                "description": "Chat parameter or var values to cross for every chat.",
                "examples": [{"model": ["grok-4", "grok-3-mini"]}],
            },
            "chats": p("Chats", "Chat jobs.", {"type": "array", "items": {"$ref": "#/$defs/chat"}}),
            "images": p(
                "Images", "Image jobs.", {"type": "array", "items": {"$ref": "#/$defs/image"}}
            ),
            "execution": {
                "$ref": "#/$defs/execution",
                "title": "Execution",
                "description": "How the plan runs.",
            },
            "output": p(
                "Output",
                "Where results go.",
                obj(
                    {
                        "dir": p(
                            "Directory",
                            "Output directory (templated; relative to the current directory).",
                            {"type": "string", "minLength": 1},
                            default="runs/{{ name }}",
                        )
                    }
                ),
            ),
        },
        ("version", "name"),
    ),
    "$defs": {
        "content_part": CONTENT_PART,
        "tool_call": TOOL_CALL,
        "message": MESSAGE,
        "tool": TOOL,
        "source": SOURCE,
        "search_parameters": SEARCH_PARAMETERS,
        "response_format": RESPONSE_FORMAT,
        "tool_choice": TOOL_CHOICE,
        "assertion": ASSERTION,
        "chat": CHAT_TASK,
        "image": IMAGE_TASK,
        "dataset": DATASET,
        "execution": EXECUTION,
        "matrix": {
            "title": "Matrix",
            "description": "Each key (a parameter or a var) maps to the values to cross.",
            "type": "object",
            "additionalProperties": {"type": "array", "minItems": 1},
        },
    },
}

REPO_COPY = Path(__file__).resolve().parents[2] / "schemas" / "pipeline.schema.json"
PACKAGED_COPY = Path(__file__).resolve().parents[1] / "schemas" / "pipeline.schema.json"


def render() -> str:
    """The schema file's exact text."""
    return json.dumps(ROOT, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    """Write the repository copy and the packaged copy."""
    text = render()
    for path in (REPO_COPY, PACKAGED_COPY):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
