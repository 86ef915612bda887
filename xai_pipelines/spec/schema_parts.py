"""Schema building blocks: helpers, and the message, tool and search shapes of a chat request.

Part of the pipeline schema builder (see :mod:`xai_pipelines.spec.schema_build`).
"""

from __future__ import annotations

from typing import Any

from xai_pipelines.spec.limits import MAX_DURATION_S, MAX_INT32

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


#: A duration: seconds, or a number with a unit. At most :data:`MAX_DURATION_S`
#: (the schema bounds the number; the loader checks the string's value).
DURATION_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,9})?(ms|s|m|h)$"
DURATION = {
    "oneOf": [
        {"type": "number", "minimum": 0, "maximum": MAX_DURATION_S},
        {"type": "string", "pattern": DURATION_PATTERN},
    ]
}


def count(minimum: int = 0) -> Schema:
    """An integer count from ``minimum`` to :data:`MAX_INT32`."""
    return {"type": "integer", "minimum": minimum, "maximum": MAX_INT32}


FILE_OR_SCHEMA = {"type": ["object", "string"]}
DATE = {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
ASPECT_RATIOS = ["1:1", "3:4", "4:3", "9:16", "16:9", "2:3", "3:2", "auto"]
ASPECT_RATIOS += ["9:19.5", "19.5:9", "9:20", "20:9", "1:2", "2:1"]

PART_TYPES = {"text": "text", "image_url": "image_url", "image_file": "image_url"}
PART_TYPES |= {"file_id": "file", "path": "file"}
CONTENT_PART = obj(
    {
        "type": p(
            "Part type",
            "Optional, as in the API's request form; must agree with the part's key "
            "(`file` for `path` and `file_id`, where it is required with `path`).",
            {"enum": ["text", "image_url", "file"]},
        ),
        "text": p("Text", "A text part (templated).", {"type": "string"}),
        "image_url": p(
            "Image URL",
            "An image by URL or data URL (PNG/JPG/WebP, up to 10 MiB), or OpenAI-style "
            "`{url, detail}`.",
            {
                "oneOf": [
                    {"type": "string"},
                    obj(
                        {
                            "url": p("URL", "The image URL or data URL.", {"type": "string"}),
                            "detail": p(
                                "Image detail",
                                "How closely the model looks at the image.",
                                {"enum": ["auto", "low", "high"]},
                            ),
                        },
                        ("url",),
                    ),
                ]
            },
        ),
        "image_file": p(
            "Image file",
            "An image file next to the pipeline, sent as a base64 data URL.",
            {"type": "string"},
            examples=["images/cat.png"],
        ),
        "file_id": p("File id", "A file already uploaded to the API.", {"type": "string"}),
        "path": p(
            "File",
            "A local file to attach (relative to the pipeline), uploaded once per run by "
            "its sha256; with `type: file`.",
            {"type": "string", "minLength": 1},
            examples=["docs/report.pdf"],
        ),
        "detail": p(
            "Image detail",
            "How closely the model looks at the image.",
            {"enum": ["auto", "low", "high"]},
            default="auto",
        ),
    },
    oneOf=one_key_of(list(PART_TYPES)),
    dependentRequired={"path": ["type"]},
    allOf=[
        {
            "if": {"required": [key, "type"]},
            "then": {
                "properties": {
                    "type": p("Part type", f"`{kind}` for a `{key}` part.", {"const": kind})
                }
            },
        }
        for key, kind in PART_TYPES.items()
    ],
    title="Content part",
    description="One part of a message: text, an image (URL or file), or a file "
    "(`{type: file, path: ...}` or `{file_id: ...}`).",
)

IMAGE_INPUT = {
    "title": "Input image",
    "description": "A local image file (relative to the pipeline; PNG, JPEG or WebP), an "
    "http(s) URL, a data URL, or `{file_id: ...}` for a file already uploaded.",
    "oneOf": [
        {"type": "string", "minLength": 1},
        obj(
            {"file_id": p("File id", "An uploaded file.", {"type": "string", "minLength": 1})},
            ("file_id",),
        ),
    ],
}

TOOL_CALL = obj(
    {
        "id": p("Call id", "The id the tool result refers to.", {"type": "string"}),
        "type": p("Type", "Optional, as OpenAI writes it.", {"const": "function"}),
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

#: Roles of a message, each also a key of the short form (``- user: Hi``).
MESSAGE_ROLES = ["system", "developer", "user", "assistant", "tool"]

MESSAGE = obj(
    {
        "system": p("System", "A system message (templated).", {"type": "string"}),
        "developer": p(
            "Developer",
            "A developer message: the application's instructions (templated).",
            {"type": "string"},
        ),
        "user": p(
            "User",
            "A user message: text, or a list of parts (text and images).",
            {"type": ["string", "array"], "items": {"$ref": "#/$defs/content_part"}},
            examples=["What is the capital of {{ row.country }}?"],
        ),
        "assistant": p("Assistant", "An assistant message (a prior reply).", {"type": "string"}),
        "tool": p("Tool result", "The result of a tool call, as text.", {"type": "string"}),
        "role": p(
            "Role",
            "OpenAI-style message: its role (with `content`).",
            {"enum": MESSAGE_ROLES},
        ),
        "content": p(
            "Content",
            "OpenAI-style message: text, or a list of parts (null only for an assistant "
            "message with `tool_calls`).",
            {"type": ["string", "array", "null"], "items": {"$ref": "#/$defs/content_part"}},
            examples=["What is the capital of {{ row.country }}?"],
        ),
        "name": p("Name", "A name for the message's author.", {"type": "string"}),
        "tool_call_id": p("Tool call id", "The call a tool result answers.", {"type": "string"}),
        "tool_calls": p(
            "Tool calls",
            "Tool calls made by an assistant message.",
            {"type": "array", "items": {"$ref": "#/$defs/tool_call"}},
        ),
    },
    oneOf=one_key_of([*MESSAGE_ROLES, "role"]),
    dependentRequired={"content": ["role"]},
    allOf=[
        {
            "if": {"not": {"required": ["role"]}},
            "then": {"dependentRequired": {"tool_call_id": ["tool"], "tool_calls": ["assistant"]}},
        }
    ],
    title="Message",
    description="One message, written as `role: content` (system, developer, user, assistant "
    "or tool), or OpenAI-style as `{role: ..., content: ...}`.",
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
        "limit": p("Limit", "Maximum chunks returned.", count(1)),
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
ATTACHMENT_TOOL = obj(
    {
        "type": p("Type", "Tool type.", {"const": "attachment_search"}),
        "limit": p("Limit", "Maximum chunks returned.", count(1)),
    },
    ("type",),
)
IMAGE_GENERATION_TOOL = obj(
    {
        "type": p("Type", "Tool type.", {"const": "image_generation"}),
        "action": p("Action", "What the tool should do with images.", {"type": "string"}),
    },
    ("type",),
)
TOOL_TYPES = {
    "function": FUNCTION_TOOL,
    "web_search": WEB_SEARCH_TOOL,
    "x_search": X_SEARCH_TOOL,
    "code_execution": CODE_TOOL,
    "collections_search": COLLECTIONS_TOOL,
    "mcp": MCP_TOOL,
    "attachment_search": ATTACHMENT_TOOL,
    "image_generation": IMAGE_GENERATION_TOOL,
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
        "post_favorite_count": p("Min favorites", "Minimum favorites of a post.", count()),
        "post_view_count": p("Min views", "Minimum views of a post.", count()),
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
