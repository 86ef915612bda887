"""Settings are defined once: the schema, the typed spec and the docs' table agree with xai_pipelines/defaults.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from xai_pipelines.defaults import DEFAULTS, SETTINGS, seconds, setting
from xai_pipelines.spec import Cache, load_pipeline, pipeline_schema
from xai_pipelines.spec.flags import RunFlags, with_flags
from xai_pipelines.spec.schema_build import DOCS, with_defaults_table

CHAT = """
chats:
  - model: grok-4.3
    messages:
      - user: hi
"""


def _schema_node(key: str) -> dict[str, Any]:
    schema = pipeline_schema()
    node: dict[str, Any] = schema
    for part in key.split("."):
        node = node["properties"][part]
        if "$ref" in node:
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


@pytest.mark.parametrize("s", SETTINGS, ids=lambda s: s.key)
def test_the_schema_default_is_the_table_s(s: Any) -> None:
    node = _schema_node(s.key)
    if s.default is None:
        assert "default" not in node
    else:
        assert node["default"] == s.default


def test_the_docs_table_is_generated() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert text == with_defaults_table(text), "run python -m xai_pipelines.spec.schema_build"
    for s in SETTINGS:
        assert f"| `{s.key}` |" in text


def test_a_page_without_the_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="markers"):
        with_defaults_table("# no table here\n")


def test_the_typed_spec_takes_its_defaults_from_the_table(write: Callable[..., Path]) -> None:
    spec = load_pipeline(write(CHAT))
    e = spec.execution
    assert e.concurrency == DEFAULTS["execution.concurrency"]
    assert e.retries.max_attempts == DEFAULTS["execution.retries.max_attempts"]
    assert e.retries.initial_backoff_s == seconds(DEFAULTS["execution.retries.initial_backoff"])
    assert e.retries.max_backoff_s == seconds(DEFAULTS["execution.retries.max_backoff"])
    assert e.timeout_s == seconds(DEFAULTS["execution.timeout"])
    assert e.on_error == DEFAULTS["execution.on_error"] and e.mode == DEFAULTS["execution.mode"]
    assert e.cache is None and spec.evals.fail_under is None
    assert spec.output.dir == "runs/t"


def test_setting_reads_the_document_then_the_default() -> None:
    data = {"execution": {"retries": {"max_attempts": 2}}}
    assert setting(data, "execution.retries.max_attempts") == 2
    assert (
        setting(data, "execution.retries.max_backoff") == DEFAULTS["execution.retries.max_backoff"]
    )
    assert setting({}, "execution.concurrency") == DEFAULTS["execution.concurrency"]


def test_flags_override_the_settings_but_not_the_digest(
    write: Callable[..., Path], tmp_path: Path
) -> None:
    path = write(CHAT + "execution: {cache: {dir: c, ttl: 60}}\nevals: {fail_under: 0.5}\n")
    spec = load_pipeline(path)
    assert with_flags(spec, RunFlags()) is spec
    flagged = with_flags(
        spec, RunFlags(concurrency=3, fail_fast=True, fail_under=0.9, cache_dir=tmp_path / "f")
    )
    assert flagged.execution.concurrency == 3 and flagged.execution.on_error == "fail_fast"
    assert flagged.execution.cache == Cache((tmp_path / "f").absolute(), 60.0)
    assert flagged.evals.fail_under == 0.9
    assert flagged.digest == spec.digest and flagged.resolved == spec.resolved
    assert spec.execution.concurrency == DEFAULTS["execution.concurrency"]  # not mutated
    assert with_flags(spec, RunFlags(no_cache=True)).execution.cache is None
    plain = load_pipeline(write(CHAT, name="plain.yaml"))
    assert with_flags(plain, RunFlags(cache_dir=tmp_path / "f")).execution.cache == Cache(
        (tmp_path / "f").absolute(), None
    )


def test_the_run_layer_has_no_defaults_of_its_own() -> None:
    from xai_pipelines.run.executor import ExecutorOptions
    from xai_pipelines.spec import Execution

    options, execution = ExecutorOptions(), Execution()
    assert options.concurrency == execution.concurrency and options.on_error == execution.on_error


def test_the_client_retry_policy_defaults_are_the_pipelines() -> None:
    from xai_pipelines.sdk.retry import RetryPolicy
    from xai_pipelines.spec import Execution

    policy, retries = RetryPolicy(), Execution().retries
    assert (policy.max_attempts, policy.initial_backoff, policy.max_backoff) == (
        retries.max_attempts,
        retries.initial_backoff_s,
        retries.max_backoff_s,
    )
