"""load_pipeline: the Spec API surface, overrides, typed sections, digest, to_dict."""

from __future__ import annotations

import pytest

from xai_pipelines.plan import iter_jobs
from xai_pipelines.spec import (
    Execution,
    PipelineSpec,
    RateLimit,
    Retries,
    SpecError,
    load_pipeline,
    load_pipeline_data,
    parse_assignment,
)

CHAT = """
vars: {topic: dogs}
chats:
  - model: grok-4
    messages:
      - user: "Tell me about {{ topic }}"
"""


def test_defaults_of_the_typed_spec(write):
    spec = load_pipeline(write(CHAT))
    assert isinstance(spec, PipelineSpec)
    assert spec.name == "t" and spec.path.name == "p.yaml" and spec.description == ""
    assert spec.execution == Execution()
    assert spec.execution.rate_limit == RateLimit(None, None)
    assert spec.execution.retries == Retries(5, 0.5, 30.0)
    assert spec.execution.timeout_s == 300.0 and spec.execution.job_timeout_s is None
    assert spec.execution.on_error == "continue" and spec.execution.mode == "online"
    assert spec.execution.budget_usd is None
    assert spec.output.dir == "runs/t"
    assert len(spec.chats) == 1 and spec.images == ()


def test_execution_section_and_durations(write):
    spec = load_pipeline(
        write(
            CHAT
            + """
execution:
  concurrency: 3
  rate_limit: {requests_per_minute: 60, tokens_per_minute: 1000}
  retries: {max_attempts: 2, initial_backoff: 250ms, max_backoff: 1m}
  timeout: 2
  job_timeout: 1.5h
  on_error: fail_fast
  budget_usd: 1.25
  mode: batch
output: {dir: "out/{{ name }}-{{ topic }}"}
"""
        )
    )
    e = spec.execution
    assert e.concurrency == 3 and e.rate_limit == RateLimit(60, 1000)
    assert e.retries == Retries(2, 0.25, 60.0)
    assert (e.timeout_s, e.job_timeout_s) == (2.0, 5400.0)
    assert (e.on_error, e.budget_usd, e.mode) == ("fail_fast", 1.25, "batch")
    assert spec.output.dir == "out/t-dogs"


def test_overrides_bare_keys_are_vars_and_dotted_paths_reach_anything(write):
    path = write(CHAT)
    spec = load_pipeline(
        path, overrides={"topic": "cats", "execution.concurrency": 8, "chats.0.temperature": 0.5}
    )
    (job,) = iter_jobs(spec)
    assert job.request["messages"][0]["content"] == "Tell me about cats"
    assert job.request["temperature"] == 0.5
    assert spec.execution.concurrency == 8
    assert spec.digest != load_pipeline(path).digest
    assert (
        spec.digest
        == load_pipeline(
            path,
            overrides={"topic": "cats", "execution.concurrency": 8, "chats.0.temperature": 0.5},
        ).digest
    )


def test_bad_override_is_reported_at_the_override(write):
    with pytest.raises(SpecError) as info:
        load_pipeline(
            write(CHAT), overrides={"execution.concurrency": "many", "chats.3.model": "x"}
        )
    report = str(info.value)
    assert "--set chats.3.model:1:1: chats.3.model: cannot set 'chats.3.model'" in report
    with pytest.raises(SpecError) as info:
        load_pipeline(write(CHAT), overrides={"execution.concurrency": "many"})
    assert (
        str(info.value)
        == '--set execution.concurrency:1:1: execution.concurrency: expected an integer, got "many"'
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("topic=cats", ("topic", "cats")),
        ("execution.concurrency=8", ("execution.concurrency", 8)),
        ("x=no", ("x", "no")),
        ("m=[a, b]", ("m", ["a", "b"])),
        ("s=a: b: c", ("s", "a: b: c")),
        ("e=", ("e", None)),
        ("r=16:9", ("r", "16:9")),
    ],
)
def test_parse_assignment(text, expected):
    assert parse_assignment(text) == expected


def test_parse_assignment_needs_a_key():
    with pytest.raises(SpecError, match="expected KEY=VALUE"):
        parse_assignment("no-equals-sign")


def test_to_dict_is_json_and_stable(write):
    import json

    spec = load_pipeline(write(CHAT + "defaults: {seed: 3}\n"))
    data = spec.to_dict()
    assert data["digest"] == spec.digest and data["spec"]["vars"] == {"topic": "dogs"}
    assert json.loads(json.dumps(data)) == data
    assert data["spec"]["defaults"]["seed"] == 3  # the seed lives in the jobs' requests


def test_load_pipeline_data_without_positions(tmp_path):
    with pytest.raises(SpecError) as info:
        load_pipeline_data(
            {"version": 1, "name": "x", "chats": [{"model": 3}]}, tmp_path / "p.yaml"
        )
    assert str(info.value).endswith("chats[0].model: expected a string, got 3")
    with pytest.raises(SpecError, match="expected a mapping at the top level, got a string"):
        load_pipeline_data("hello", tmp_path / "p.yaml")


def test_unreadable_and_oversized_files(tmp_path):
    with pytest.raises(SpecError, match="cannot read the pipeline"):
        load_pipeline(tmp_path / "missing.yaml")
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (5 * 1024 * 1024))
    with pytest.raises(SpecError, match="larger than"):
        load_pipeline(big)


def test_yaml_anchors_share_settings(write):
    spec = load_pipeline(
        write(
            """
x-common: &common {model: grok-4, temperature: 0.2}
""".replace("x-common", "vars")
            + """
chats:
  - <<: *common
    messages: [{user: a}]
  - <<: *common
    temperature: 0.9
    messages: [{user: b}]
"""
        )
    )
    a, b = iter_jobs(spec)
    assert (a.request["temperature"], b.request["temperature"]) == (0.2, 0.9)
