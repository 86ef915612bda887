"""Schema of the chat and image request parameters and of ``expect`` assertions.

Part of the pipeline schema builder (see :mod:`xai_pipelines.spec.schema_build`).
"""

from __future__ import annotations

from xai_pipelines.spec.schema_parts import (
    ASPECT_RATIOS,
    FILE_OR_SCHEMA,
    Schema,
    count,
    obj,
    one_key_of,
    p,
)

INCLUDE_OPTIONS = [
    "web_search_call_output",
    "x_search_call_output",
    "code_execution_call_output",
    "collections_search_call_output",
    "attachment_search_call_output",
    "mcp_call_output",
    "inline_citations",
    "verbose_streaming",
    "code_execution_files_output",
]


CHAT_PARAMS: dict[str, Schema] = {
    "model": p(
        "Model",
        "Language model name or alias.",
        {"type": "string", "minLength": 1},
        examples=["grok-4.3"],
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
        count(1),
        examples=[256],
    ),
    "seed": p(
        "Seed",
        "Pipeline seed; each repeat gets a distinct seed derived from it (see docs).",
        count(),
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
    "max_turns": p("Max turns", "Server-side agent turns limit.", count(1)),
    "user": p("User id", "End-user identifier sent to the API.", {"type": "string"}),
    "safety_identifier": p(
        "Safety identifier", "A stable, hashed end-user id for abuse detection.", {"type": "string"}
    ),
    "service_tier": p(
        "Service tier", "Processing tier.", {"enum": ["default", "priority"]}, default="default"
    ),
    "agent_count": p("Agents", "Agents for multi-agent models.", {"enum": [4, 16]}),
    "include": p(
        "Include",
        "Extra outputs to return.",
        {"type": "array", "items": {"enum": INCLUDE_OPTIONS}, "uniqueItems": True},
        examples=[["inline_citations"]],
    ),
    "guidelines": p(
        "Guidelines",
        "Content policies the model follows.",
        {
            "type": "array",
            "items": obj(
                {
                    "category": p(
                        "Category", "Content category.", {"enum": ["nsfw", "violence", "profanity"]}
                    ),
                    "behavior": p(
                        "Behavior", "What to do.", {"enum": ["decline"]}, default="decline"
                    ),
                },
                ("category",),
            ),
        },
    ),
}

IMAGE_PARAMS: dict[str, Schema] = {
    "model": p(
        "Model",
        "Image generation model.",
        {"type": "string", "minLength": 1},
        examples=["grok-imagine-image"],
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
    "image_url": {
        "$ref": "#/$defs/image_input",
        "title": "Input image",
        "description": "An image to edit: a local file (uploaded once per run), a URL, a data "
        "URL, or `{file_id: ...}`.",
        "examples": ["photos/cat.png", {"file_id": "file-123"}],
    },
    "image_urls": p(
        "Reference images",
        "Several input images (each a local file, URL, data URL or `{file_id: ...}`).",
        {"type": "array", "items": {"$ref": "#/$defs/image_input"}, "minItems": 1},
        examples=[["ref/a.png", "https://example.com/b.jpg"]],
    ),
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
    "max_tokens": p("Max tokens", "Completion tokens at most this.", count()),
    "image_count": p("Image count", "Number of images returned.", count()),
    "max_length": p(
        "Max length",
        "The output is at most this many characters.",
        count(),
    ),
    "finish_reason": p(
        "Finish reason",
        "The output ended for this reason.",
        {"enum": ["stop", "length", "tool_calls", "max_context", "time_limit"]},
    ),
    "json_path": p(
        "JSON path",
        "The output is JSON with a value at `path` (`a.b[0]`), equal to `equals` when given.",
        obj(
            {
                "path": p(
                    "Path", "Where in the JSON, e.g. `a.b[0]`.", {"type": "string", "minLength": 1}
                ),
                "equals": p("Equals", "The value expected there (any JSON value)."),
            },
            ("path",),
        ),
    ),
    "tool_call": p(
        "Tool call",
        "The output calls a tool: this function name, or {name, arguments: schema (inline or file)}.",
        {
            "type": ["string", "object"],
            "properties": {
                "name": p("Function", "The function called.", {"type": "string"}),
                "arguments": p(
                    "Arguments schema",
                    "The call's arguments are valid against this schema (inline or file).",
                    FILE_OR_SCHEMA,
                ),
            },
            "additionalProperties": False,
        },
    ),
    "latency_ms_below": p(
        "Latency below",
        "The job took less than this many milliseconds.",
        {"type": "number", "minimum": 0},
    ),
    "cost_below": p(
        "Cost below",
        "The job cost less than this many US dollars.",
        {"type": "number", "minimum": 0},
    ),
    "llm_rubric": p(
        "Model-graded rubric",
        "A grader model judges the output: a rubric, or {rubric, model, threshold}; "
        "the model defaults to evals.grader, else the job's own model.",
        {
            "type": ["string", "object"],
            "properties": {
                "rubric": p(
                    "Rubric", "What the answer must do.", {"type": "string", "minLength": 1}
                ),
                "model": p(
                    "Grader model",
                    "Model that grades (wins over evals.grader).",
                    {"type": "string", "minLength": 1},
                ),
                "threshold": p(
                    "Threshold",
                    "Lowest passing score (0-1).",
                    {"type": "number", "minimum": 0, "maximum": 1},
                ),
            },
            "required": ["rubric"],
            "additionalProperties": False,
        },
    ),
}
ASSERTION = obj(
    {**ASSERTIONS, "name": p("Name", "A label for the report.", {"type": "string"})},
    oneOf=one_key_of(list(ASSERTIONS)),
    title="Assertion",
    description="One check on a job's output; exactly one assertion key (string values are templated).",
    examples=[{"icontains": "{{ row.capital }}"}],
)
