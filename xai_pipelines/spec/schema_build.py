"""Builds ``pipeline.schema.json`` (JSON Schema 2020-12) from Python.

Run ``python -m xai_pipelines.spec.schema_build`` after editing; it writes
``schemas/pipeline.schema.json`` and the packaged copy the CLI prints, and a
test fails when either is stale. Python lets the chat task reuse the chat
parameter properties while staying ``additionalProperties: false``.
"""

from __future__ import annotations

import json
from pathlib import Path

from xai_pipelines.defaults import markdown_table, schema_default
from xai_pipelines.spec.limits import MAX_CONCURRENCY, MAX_INT32, MAX_PROCESSES, limits_table
from xai_pipelines.spec.schema_params import ASSERTION, CHAT_PARAMS, IMAGE_PARAMS
from xai_pipelines.spec.schema_parts import (
    CONTENT_PART,
    DURATION,
    IDENT,
    IMAGE_INPUT,
    MESSAGE,
    RESPONSE_FORMAT,
    SCHEMA_ID,
    SEARCH_PARAMETERS,
    SOURCE,
    TOOL,
    TOOL_CALL,
    TOOL_CHOICE,
    Schema,
    count,
    obj,
    one_key_of,
    p,
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
                    count(1),
                    obj(
                        {
                            "size": p("Size", "Rows to keep.", count(1)),
                            "seed": p(
                                "Seed",
                                "Sampling seed.",
                                {"type": "integer", "minimum": -MAX_INT32, "maximum": MAX_INT32},
                                default=0,
                            ),
                        },
                        ("size",),
                    ),
                ]
            },
        ),
        "limit": p(
            "Limit",
            "Keep at most this many rows (after filter and sample).",
            count(),
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
            {"type": "integer", "minimum": 1, "maximum": MAX_CONCURRENCY},
            **schema_default("execution.concurrency"),
        ),
        "processes": p(
            "Processes",
            "Worker processes the online run's calls are spread over (each with its share "
            "of the concurrency and the rate limits); 1: all in the run's own process.",
            {"type": "integer", "minimum": 1, "maximum": MAX_PROCESSES},
            **schema_default("execution.processes"),
        ),
        "rate_limit": p(
            "Rate limit",
            "Client-side limits (unset = unlimited).",
            obj(
                {
                    "requests_per_minute": p(
                        "Requests/min",
                        "Requests per minute.",
                        {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_INT32},
                    ),
                    "tokens_per_minute": p(
                        "Tokens/min",
                        "Estimated tokens per minute.",
                        {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_INT32},
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
                        **schema_default("execution.retries.max_attempts"),
                    ),
                    "initial_backoff": p(
                        "Initial backoff",
                        "First wait (seconds or 500ms/2s/1m).",
                        DURATION,
                        **schema_default("execution.retries.initial_backoff"),
                    ),
                    "max_backoff": p(
                        "Max backoff",
                        "Longest wait.",
                        DURATION,
                        **schema_default("execution.retries.max_backoff"),
                    ),
                }
            ),
        ),
        "timeout": p(
            "Timeout",
            "Deadline per API call.",
            DURATION,
            **schema_default("execution.timeout"),
            examples=["120s"],
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
            **schema_default("execution.on_error"),
        ),
        "budget_usd": p(
            "Budget",
            "Stop starting jobs once the spend reaches this (USD); with mode: batch, the "
            "plan's cost ceiling must be within it before anything is submitted.",
            {"type": "number", "exclusiveMinimum": 0},
        ),
        "mode": p(
            "Mode",
            "Call the API directly, or submit a server-side batch.",
            {"enum": ["online", "batch"]},
            **schema_default("execution.mode"),
        ),
        "cache": p(
            "Response cache",
            "Reuse answers to identical requests across runs and output directories "
            "(errors are never cached; `--cache DIR` sets it from the command line).",
            obj(
                {
                    "dir": p(
                        "Directory",
                        "Cache directory (templated; relative to the current directory, "
                        "like output.dir).",
                        {"type": "string", "minLength": 1},
                        examples=[".xai-cache"],
                    ),
                    "ttl": p(
                        "Time to live",
                        "Entries older than this are not reused (default: no expiry).",
                        DURATION,
                        examples=["24h"],
                    ),
                },
                ("dir",),
            ),
            examples=[{"dir": ".xai-cache", "ttl": "24h"}],
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
                "Environment variables templates may read as `env.NAME`: a list of names (required), "
                "or names with defaults, or `{secret: true}` for one no template may read "
                "(XAI_API_KEY always is).",
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
                            "additionalProperties": {
                                "oneOf": [
                                    {"type": ["string", "null"]},
                                    obj(
                                        {
                                            "default": p(
                                                "Default",
                                                "Used when the variable is not set.",
                                                {"type": ["string", "null"]},
                                            ),
                                            "secret": p(
                                                "Secret",
                                                "No template may read it (validation error).",
                                                {"type": "boolean"},
                                            ),
                                        }
                                    ),
                                ]
                            },
                        },
                    ]
                },
                examples=[["USER"], {"REGION": "eu", "MCP_TOKEN": {"secret": True}}],
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
                examples=[{"model": "grok-4.3", "temperature": 0, "seed": 7}],
            ),
            "image_defaults": p(
                "Image defaults",
                "Parameters for every image job.",
                obj(IMAGE_PARAMS),
                examples=[{"model": "grok-imagine-image"}],
            ),
            "matrix": {
                "$ref": "#/$defs/matrix",
                "title": "Matrix",
                "description": "Chat parameter or var values to cross for every chat.",
                "examples": [{"model": ["grok-4.3", "grok-4.20-non-reasoning"]}],
            },
            "chats": p("Chats", "Chat jobs.", {"type": "array", "items": {"$ref": "#/$defs/chat"}}),
            "images": p(
                "Images", "Image jobs.", {"type": "array", "items": {"$ref": "#/$defs/image"}}
            ),
            "evals": p(
                "Evals",
                "Pipeline-wide eval settings.",
                obj(
                    {
                        "grader": p(
                            "Grader model",
                            "Model of every llm_rubric without its own `model` "
                            "(default: each job's own model).",
                            {"type": "string", "minLength": 1},
                            examples=["grok-4.3"],
                        ),
                        "fail_under": p(
                            "Fail under",
                            "The run exits 1 when the eval pass rate is below this rate "
                            "(0 to 1; `--fail-under` on the command line wins).",
                            {"type": "number", "minimum": 0, "maximum": 1},
                            examples=[0.9],
                        ),
                    }
                ),
                examples=[{"grader": "grok-4.3", "fail_under": 0.95}],
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
                            **schema_default("output.dir"),
                        )
                    }
                ),
            ),
        },
        ("version", "name"),
    ),
    "$defs": {
        "content_part": CONTENT_PART,
        "image_input": IMAGE_INPUT,
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
DOCS = Path(__file__).resolve().parents[2] / "docs" / "pipelines.md"
PACKAGED_COPY = Path(__file__).resolve().parents[1] / "schemas" / "pipeline.schema.json"


def render() -> str:
    """The schema file's exact text."""
    return json.dumps(ROOT, indent=2, ensure_ascii=False) + "\n"


def _with_table(doc: str, marker: str, table: str) -> str:
    begin_marker, end_marker = f"<!-- {marker}:begin -->\n", f"<!-- {marker}:end -->"
    head, begin, rest = doc.partition(begin_marker)
    _, end, tail = rest.partition(end_marker)
    if not begin or not end:
        raise ValueError(f"{DOCS} lacks the {begin_marker.strip()} ... {end_marker} markers")
    return head + begin + table + end + tail


def with_defaults_table(doc: str) -> str:
    """``doc`` (docs/pipelines.md) with its generated tables regenerated: the defaults
    (between the ``defaults`` markers) and the limits (between the ``limits`` markers)."""
    return _with_table(_with_table(doc, "defaults", markdown_table()), "limits", limits_table())


def main() -> None:
    """Write the repository copy and the packaged copy of the schema, and the docs' defaults table."""
    text = render()
    for path in (REPO_COPY, PACKAGED_COPY):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    DOCS.write_text(with_defaults_table(DOCS.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    main()
