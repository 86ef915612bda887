"""Templating: sandbox, strict undefined, env allowlist, literal braces, positions."""

from __future__ import annotations

import pytest

from xai_pipelines.plan import iter_jobs
from xai_pipelines.spec import SpecError, load_pipeline


def _user(path):
    return [job.request["messages"][0]["content"] for job in iter_jobs(load_pipeline(path))]


def _chat(content: str, extra: str = "") -> str:
    return f"""{extra}
chats:
  - model: grok-4
    messages:
      - user: {content}
"""


def test_vars_name_and_filters(write):
    path = write(
        _chat(
            '"{{ greeting | upper }} from {{ name }}: {{ who }}"',
            "vars:\n  who: '{{ greeting }} world'\n  greeting: hi\n",
        )
    )
    with pytest.raises(SpecError, match="undefined variable 'greeting'"):
        load_pipeline(path)  # vars render in order: a var sees only the ones before it
    path = write(
        _chat(
            '"{{ greeting | upper }} from {{ name }}: {{ who }}"',
            "vars:\n  greeting: hi\n  who: '{{ greeting }} world'\n",
        )
    )
    assert _user(path) == ["HI from t: hi world"]


def test_literal_braces(write):
    path = write(_chat("\"{{ '{{' }} x }} and {% raw %}{{ y }}{% endraw %}\""))
    assert _user(path) == ["{{ x }} and {{ y }}"]


def test_plain_strings_with_single_braces_are_not_templates(write):
    path = write(_chat("'JSON like {\"a\": 1} stays'"))
    assert _user(path) == ['JSON like {"a": 1} stays']


def test_env_only_through_the_allowlist(write, monkeypatch):
    monkeypatch.setenv("XP_TEST_REGION", "eu-west")
    monkeypatch.delenv("XP_TEST_UNSET", raising=False)
    path = write(
        _chat(
            '"{{ env.XP_TEST_REGION }} {{ env.XP_TEST_UNSET }}"',
            "env:\n  XP_TEST_REGION: null\n  XP_TEST_UNSET: fallback\n",
        )
    )
    assert _user(path) == ["eu-west fallback"]
    path = write(_chat("\"{{ env['XP_TEST_REGION'] }}\"", "env: [XP_TEST_OTHER]\n"))
    monkeypatch.setenv("XP_TEST_OTHER", "x")
    with pytest.raises(SpecError, match="'XP_TEST_REGION' is not listed in env:"):
        load_pipeline(path)


def test_env_values_do_not_leak_into_to_dict(write, monkeypatch):
    monkeypatch.setenv("XP_TEST_TOKEN", "sekret-value")
    path = write(
        _chat(
            '"{{ env.XP_TEST_TOKEN }}"', "env: [XP_TEST_TOKEN]\nvars:\n  api_key: literal-secret\n"
        )
    )
    spec = load_pipeline(path)
    dumped = repr(spec.to_dict())
    assert "sekret-value" not in dumped and "literal-secret" not in dumped
    assert spec.to_dict()["spec"]["vars"]["api_key"] == "***"


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("{{ ''.__class__ }}", "unsafe"),
        ("{{ row }}", "uses 'row' but the entry has no for_each"),
        ("{{ (2 ** 64) ** 64 }}", "exponent too large"),
        ("{{ 10 ** 100 }}", "exponent too large"),
        ("{{ 'x' * 100000000 }}", "too large"),
        ("{{ 1 / 0 }}", "division by zero"),
        ("{% import 'x' as y %}", "no loader"),
        ("{{ lipsum() }}", "undefined variable 'lipsum'"),
        ("{{ range(10**7) | list }}", "template error"),
    ],
)
def test_sandbox_refuses(write, expr, fragment):
    path = write(_chat(f'"{expr}"'))
    with pytest.raises(SpecError) as info:
        load_pipeline(path)
    (problem,) = info.value.problems
    assert fragment in problem.message
    assert (problem.line, problem.column) == (7, 15)


def test_template_error_in_block_scalar_points_at_its_line(write):
    path = write("""
chats:
  - model: grok-4
    messages:
      - user: |
          line one
          line two {{ oops(
""")
    with pytest.raises(SpecError) as info:
        load_pipeline(path)
    (problem,) = info.value.problems
    assert "template syntax error" in problem.message
    assert problem.line == 9  # "line two", below the "|" on line 7


def test_every_string_field_is_templated(write):
    path = write("""
vars: {sys: be brief, model: grok-4, word: stop-here, schema_name: answer}
chats:
  - model: "{{ model }}"
    user: "user-{{ name }}"
    stop: ["{{ word }}"]
    response_format: {json_schema: {type: object, description: "{{ sys }}"}, name: "{{ schema_name }}"}
    messages:
      - system: "{{ sys }}"
      - user: [{text: "{{ word }}"}, {image_url: "https://x/{{ name }}.png"}]
    expect: [{contains: "{{ word }}"}]
""")
    (job,) = iter_jobs(load_pipeline(path))
    r = job.request
    assert r["model"] == "grok-4" and r["user"] == "user-t" and r["stop"] == ["stop-here"]
    assert r["response_format"] == {
        "type": "json_schema",
        "schema": {"type": "object", "description": "be brief"},
        "name": "answer",
    }
    assert r["messages"][1]["content"] == [
        {"type": "text", "text": "stop-here"},
        {"type": "image_url", "image_url": "https://x/t.png", "detail": "auto"},
    ]
    assert job.expect == ({"contains": "stop-here"},)


def test_file_paths_and_filters_are_templated_with_pipeline_names(write, monkeypatch):
    monkeypatch.setenv("XP_TEST_SPLIT", "dev")
    path = write(
        """
env: [XP_TEST_SPLIT]
vars: {group: b, schemas: s}
datasets:
  d: {path: "data/{{ env.XP_TEST_SPLIT }}.jsonl", where: {g: "{{ group }}"}}
chats:
  - model: grok-4
    for_each: d
    response_format: {json_schema: "{{ schemas }}/answer.json"}
    messages: [{user: "{{ row.q }}"}]
images:
  - {model: grok-2-image, prompts_file: "prompts/{{ name }}.txt"}
""",
        files={
            "data/dev.jsonl": '{"g": "a", "q": "no"}\n{"g": "b", "q": "yes"}\n',
            "s/answer.json": '{"type": "object"}',
            "prompts/t.txt": "a fox\n",
        },
    )
    chat, image = iter_jobs(load_pipeline(path))
    assert chat.request["messages"][0]["content"] == "yes"
    assert chat.request["response_format"]["schema"] == {"type": "object"}
    assert image.request["prompt"] == "a fox"


def test_templated_path_errors_are_reported_once(write):
    path = write(
        "datasets:\n  d: {path: 'data/{{ split }}.jsonl'}\nchats:\n  - {model: grok-4, for_each: d, messages: [{user: hi}]}\n"
    )
    with pytest.raises(SpecError) as info:
        load_pipeline(path)
    assert [p.message for p in info.value.problems] == ["undefined variable 'split'"]
