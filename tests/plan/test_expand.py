"""iter_jobs: order, ids, seeds, repeat, matrix, request forms, determinism, laziness."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from xai_pipelines.plan import ChatJob, ImageJob, check_plan, iter_jobs, job_from_dict, job_seed
from xai_pipelines.spec import SpecError, load_pipeline

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"
ROWS = "".join(
    json.dumps({"country": c, "capital": k}) + "\n"
    for c, k in [("France", "Paris"), ("Japan", "Tokyo")]
)


def _jobs(path: Path, **kw):
    return list(iter_jobs(load_pipeline(path, **kw)))


def test_expansion_order_rows_then_matrix_then_repeat(write):
    path = write(
        """
defaults: {model: grok-4, seed: 11}
datasets: {d: {path: d.jsonl}}
matrix: {model: [grok-4, grok-3-mini], temperature: [0, 1]}
chats:
  - name: cap
    id: "{{ row.country }}-{{ matrix.model }}-{{ matrix.temperature }}"
    for_each: d
    repeat: 2
    messages: [{user: "Capital of {{ row.country }}? ({{ index }}/{{ row_index }})"}]
""",
        files={"d.jsonl": ROWS},
    )
    jobs = _jobs(path)
    assert len(jobs) == 2 * 4 * 2
    assert [j.id for j in jobs[:5]] == [
        "France-grok-4-0-r0",
        "France-grok-4-0-r1",
        "France-grok-4-1-r0",
        "France-grok-4-1-r1",
        "France-grok-3-mini-0-r0",
    ]
    assert [j.index for j in jobs] == list(range(16))
    assert jobs[9].request["messages"][0]["content"] == "Capital of Japan? (9/1)"
    assert jobs[9].meta["row"] == {"country": "Japan", "capital": "Tokyo"}
    assert jobs[9].meta["matrix"] == {"model": "grok-4", "temperature": 0}
    assert (jobs[9].meta["repeat"], jobs[9].meta["row_index"]) == (1, 1)
    assert jobs[9].meta["origin"].endswith("d.jsonl:2")
    assert all(j.task == "cap" and j.kind == "chat" for j in jobs)
    assert {j.seed for j in jobs[::2]} == {11}  # repeat 0 sends the pipeline seed itself
    assert {j.seed for j in jobs[1::2]} == {job_seed(11, 1, 2)} and job_seed(11, 1, 2) != 11
    assert all(j.request["seed"] == j.seed for j in jobs)
    assert jobs[2].request["temperature"] == 1 and jobs[4].model == "grok-3-mini"


def test_plan_is_deterministic_and_ids_stable_across_loads(write):
    path = write(
        "datasets: {d: {path: d.jsonl}}\nchats:\n  - {model: grok-4, for_each: d, messages: [{user: '{{ row.capital }}'}]}\n",
        files={"d.jsonl": ROWS},
    )
    a, b = _jobs(path), _jobs(path)
    assert [j.to_dict() for j in a] == [j.to_dict() for j in b]
    assert a[0].id.startswith("chat-0-") and len(a[0].id) == len("chat-0-") + 12
    assert a[0].id != a[1].id and a[0].digest != a[1].digest


def test_repeat_without_seed_derives_seeds_from_zero(write):
    path = write("chats:\n  - {model: grok-4, repeat: 3, messages: [{user: hi}]}\n")
    jobs = _jobs(path)
    assert [j.seed for j in jobs] == [0, job_seed(0, 1, 3), job_seed(0, 2, 3)]
    assert len({j.id for j in jobs}) == 3 and len({j.seed for j in jobs}) == 3
    single = _jobs(write("chats:\n  - {model: grok-4, messages: [{user: hi}]}\n"))
    assert single[0].seed is None and "seed" not in single[0].request


def test_seed_rule_is_documented_function():
    assert job_seed(None, 0, 1) is None
    assert job_seed(7, 0, 5) == 7
    seeds = {job_seed(7, r, 1000) for r in range(1000)}
    assert len(seeds) == 1000 and all(0 <= s <= 0x7FFFFFFF for s in seeds)
    assert job_seed(7, 3, 5) == job_seed(7, 3, 9)  # independent of the repeat count


def test_id_template_using_repeat_is_not_suffixed(write):
    jobs = _jobs(
        write(
            "chats:\n  - {model: grok-4, id: 'x-{{ repeat }}', repeat: 2, messages: [{user: hi}]}\n"
        )
    )
    assert [j.id for j in jobs] == ["x-0", "x-1"]


def test_matrix_over_vars_and_task_matrix(write):
    path = write(
        """
vars: {lang: en}
matrix: {lang: [en, fr]}
chats:
  - model: grok-4
    id: "{{ lang }}-{{ matrix.max_tokens }}"
    matrix: {max_tokens: [8, 16]}
    messages: [{user: "in {{ lang }}"}]
images:
  - {model: grok-2-image, prompt: "a fox {{ matrix.n }}", matrix: {n: [1, 2], format: [url]}}
"""
    )
    jobs = _jobs(path)
    assert [j.id for j in jobs[:4]] == ["en-8", "en-16", "fr-8", "fr-16"]
    assert (
        jobs[2].request["messages"][0]["content"] == "in fr" and jobs[3].request["max_tokens"] == 16
    )
    images = [j for j in jobs if isinstance(j, ImageJob)]
    assert [j.request for j in images] == [
        {"prompt": "a fox 1", "model": "grok-2-image", "n": 1, "image_format": "url"},
        {"prompt": "a fox 2", "model": "grok-2-image", "n": 2, "image_format": "url"},
    ]
    assert images[0].seed is None


def test_chat_request_form():
    png = (DATA / "img" / "a.png").read_bytes()
    path = DATA / "full-request.yaml"
    (job,) = _jobs(path)
    assert isinstance(job, ChatJob) and job.mode == "defer"
    r = job.request
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    assert r["messages"] == [
        {"role": "system", "content": "Be terse."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": data_url, "detail": "high"},
                {"type": "file", "file_id": "file-1"},
            ],
        },
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
            ],
        },
        {"role": "tool", "content": '{"temp": 20}', "tool_call_id": "call_1"},
    ]
    assert job.turns == ({"role": "user", "content": "And tomorrow?"},)
    assert r["response_format"] == {
        "type": "json_schema",
        "schema": {"type": "object"},
        "name": "answer",
    }
    assert r["tools"][0]["parameters"] == {
        "type": "object",
        "properties": {"city": {"type": "string"}},
    }
    assert r["tools"][1]["parameters"] == {"type": "object", "properties": {}}
    assert r["tools"][2:] == [
        {"type": "web_search", "allowed_domains": ["example.com"]},
        {"type": "code_execution"},
        {"type": "attachment_search", "limit": 3},
        {"type": "image_generation", "action": "generate"},
    ]
    assert r["stop"] == ["END"] and r["temperature"] == 0.7 and r["model"] == "grok-4"
    assert r["search_parameters"]["sources"][1] == {"type": "rss", "links": ["https://x/rss"]}
    expected = {
        "top_p": 0.9,
        "max_tokens": 32,
        "n": 2,
        "logprobs": True,
        "top_logprobs": 2,
        "frequency_penalty": 0.1,
        "presence_penalty": -0.1,
        "reasoning_effort": "high",
        "tool_choice": {"function": "get_weather"},
        "parallel_tool_calls": False,
        "store_messages": True,
        "previous_response_id": "resp-1",
        "use_encrypted_content": True,
        "max_turns": 3,
        "user": "alice",
    }
    assert {k: r[k] for k in expected} == expected
    assert "mode" not in r
    assert job_from_dict(json.loads(json.dumps(job.to_dict()))).digest == job.digest


def test_image_jobs_from_prompts_file_dataset_and_input_image(write):
    png = b"\x89PNG\r\n\x1a\nimg"
    path = write(
        """
image_defaults: {model: grok-2-image, n: 2}
datasets: {d: {path: d.jsonl}}
images:
  - {name: p, id: "p-{{ index }}", prompts_file: prompts.txt, aspect_ratio: "16:9", resolution: 2k, quality: high}
  - {name: r, for_each: d, prompt: "{{ row.capital }} skyline", format: url, n: 1, user: bob}
  - {name: e, prompt: edit, image_file: in.png, repeat: 2}
""",
        files={"prompts.txt": "# c\none\n\ntwo\n", "d.jsonl": ROWS, "in.png": png},
    )
    jobs = _jobs(path)
    assert [j.id for j in jobs[:2]] == ["p-0", "p-1"]
    assert jobs[1].request == {
        "prompt": "two",
        "model": "grok-2-image",
        "n": 2,
        "aspect_ratio": "16:9",
        "resolution": "2k",
        "quality": "high",
    }
    assert jobs[2].request == {
        "prompt": "Paris skyline",
        "model": "grok-2-image",
        "n": 1,
        "image_format": "url",
        "user": "bob",
    }
    assert jobs[4].request["image_url"].startswith("data:image/png;base64,")
    assert jobs[4].id != jobs[5].id  # same request twice: the repeat index is in the digest id
    assert all(isinstance(j, ImageJob) for j in jobs)


def test_duplicate_ids_are_found_without_keeping_the_plan(write):
    path = write(
        "chats:\n  - {model: grok-4, messages: [{user: hi}]}\n  - {model: grok-4, messages: [{user: hi}], name: chat-0b}\n"
    )
    assert len(_jobs(path)) == 2  # digest ids include the task name
    dup = write(
        "datasets: {d: {rows: [{a: 1}, {a: 1}]}}\nchats:\n  - {model: grok-4, for_each: d, messages: [{user: '{{ row.a }}'}]}\n"
    )
    with pytest.raises(SpecError, match="duplicate job id 'chat-0-"):
        _jobs(dup)
    stream = iter_jobs(load_pipeline(dup))
    assert next(stream).id.startswith(
        "chat-0-"
    )  # lazy: the first job comes before the duplicate is seen


def test_row_errors_surface_with_row_origin(write):
    path = write(
        "datasets: {d: {path: d.jsonl}}\nchats:\n  - {model: grok-4, for_each: d, messages: [{user: '{{ row.capital }}'}]}\n",
        files={"d.jsonl": ROWS + '{"country": "Peru"}\n'},
    )
    spec = load_pipeline(path)  # the first row is fine
    with pytest.raises(SpecError) as info:
        check_plan(spec)
    (problem,) = info.value.problems
    assert problem.line == 5 and "undefined field 'capital'" in problem.message
    assert problem.message.endswith("d.jsonl:3)")


def test_example_pipelines_plan():
    counts = {
        p.name: check_plan(load_pipeline(p)).count
        for p in sorted((ROOT / "pipelines").glob("*.yaml"))
    }
    assert {k: counts[k] for k in ("batch-generation.yaml", "eval.yaml", "images.yaml")} == {
        "batch-generation.yaml": 13,
        "eval.yaml": 43,
        "images.yaml": 8,
    }
    jobs = list(iter_jobs(load_pipeline(ROOT / "pipelines" / "eval.yaml")))
    kinds = {j.task: j for j in jobs}
    assert kinds["interview"].turns and kinds["interview"].mode == "stream"
    assert kinds["facts"].request["response_format"]["type"] == "json_schema"
    assert kinds["flag"].request["n"] == 2 and kinds["flag"].expect == ({"image_count": 2},)
    assert {j.model for j in jobs if j.kind == "chat"} == {"grok-4.3", "grok-4.20-non-reasoning"}
    assert any(a.get("icontains") == "Paris" for j in jobs for a in j.expect)


def test_matrix_key_naming_a_parameter_sets_the_parameter_even_if_a_var_has_that_name(write):
    path = write(
        "vars: {model: ignored}\nmatrix: {model: [grok-4, grok-3]}\nchats:\n  - {messages: [{user: '{{ model }}'}]}\n"
    )
    jobs = _jobs(path)
    assert [j.model for j in jobs] == ["grok-4", "grok-3"]
    assert {j.request["messages"][0]["content"] for j in jobs} == {"ignored"}


def test_a_huge_matrix_is_never_materialized(write):
    values = "[" + ", ".join(f"v{i}" for i in range(10)) + "]"

    def pipeline(keys: int) -> str:
        matrix = "".join(f"  k{k}: {values}\n" for k in range(keys))  # 10^keys cells
        names = ", ".join(f"k{k}: x" for k in range(keys))
        return (
            f"vars: {{{names}}}\nmatrix:\n{matrix}chats:\n"
            f"  - {{model: grok-4, messages: [{{user: '{{{{ k{keys - 1} }}}}'}}]}}\n"
        )

    with pytest.raises(SpecError, match="make 10,000,000,000 jobs of each row"):
        load_pipeline(write(pipeline(10)))  # (issue 10: walking it in validate takes days)
    path = write(pipeline(5))  # 10^5 cells: the most one row may make
    stream = iter_jobs(load_pipeline(path))
    first, second = next(stream), next(stream)
    assert (first.request["messages"][0]["content"], second.request["messages"][0]["content"]) == (
        "v0",
        "v1",
    )
