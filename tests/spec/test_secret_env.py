"""Secret environment variables (issue 10): no template may read one, wherever it would go."""

from __future__ import annotations

import json

import pytest

from xai_pipelines.plan import check_plan, iter_jobs
from xai_pipelines.spec import SpecError, load_pipeline
from xai_pipelines.spec.secrets import ALWAYS_SECRET_ENV

from .conftest import HEAD

KEY = "xai-canary-0123456789abcdef"
TOKEN = "tok-canary-fedcba9876543210"


@pytest.fixture(autouse=True)
def _secrets(monkeypatch):
    monkeypatch.setenv("XAI_API_KEY", KEY)
    monkeypatch.setenv("XP_TEST_TOKEN", TOKEN)
    monkeypatch.setenv("XP_TEST_REGION", "eu")


def _problems(path) -> list:
    with pytest.raises(SpecError) as info:
        check_plan(load_pipeline(path))
    for problem in info.value.problems:
        assert KEY not in str(problem) and TOKEN not in str(problem)
    return list(info.value.problems)


ENV_KEY = "env: [XAI_API_KEY]\n"
ENV_TOKEN = "env:\n  XP_TEST_TOKEN: {secret: true}\n  XP_TEST_REGION: null\n"


@pytest.mark.parametrize(
    ("text", "line", "path"),
    [
        # a request: message, parameter, tool, turn
        (
            ENV_KEY
            + "chats:\n  - model: grok-4.3\n    messages: [{user: '{{ env.XAI_API_KEY }}'}]\n",
            4,
            "chats[0].messages[0].user",
        ),
        (
            ENV_KEY + "chats:\n  - model: grok-4.3\n    user: \"{{ env['XAI_API_KEY'] }}\"\n"
            "    messages: [{user: hi}]\n",
            4,
            "chats[0].user",
        ),
        (
            ENV_TOKEN + "chats:\n  - model: grok-4.3\n    messages: [{user: hi}]\n    tools:\n"
            "      - {type: mcp, server_url: 'https://m.example', authorization: 'Bearer {{ env.XP_TEST_TOKEN }}'}\n",
            9,
            "chats[0].tools[0].authorization",
        ),
        (
            ENV_TOKEN + "chats:\n  - model: grok-4.3\n    messages: [{user: hi}]\n"
            "    turns: [{user: '{{ env.XP_TEST_TOKEN }}'}]\n",
            8,
            "chats[0].turns[0].user",
        ),
        # an id, a file path, a var, the output directory, an expectation
        (
            ENV_KEY + "chats:\n  - model: grok-4.3\n    id: 'x-{{ env.XAI_API_KEY }}'\n"
            "    messages: [{user: hi}]\n",
            4,
            "chats[0].id",
        ),
        (
            ENV_TOKEN + "datasets:\n  d: {path: '{{ env.XP_TEST_TOKEN }}.jsonl'}\n"
            "chats:\n  - {model: grok-4.3, for_each: d, messages: [{user: hi}]}\n",
            6,
            "datasets.d.path",
        ),
        (
            ENV_KEY + "vars:\n  k: '{{ env.XAI_API_KEY | upper }}'\n"
            "chats:\n  - {model: grok-4.3, messages: [{user: '{{ k }}'}]}\n",
            5,
            "vars.k",
        ),
        (
            ENV_KEY + "chats:\n  - {model: grok-4.3, messages: [{user: hi}]}\n"
            "output:\n  dir: 'runs/{{ env.XAI_API_KEY }}'\n",
            6,
            "output.dir",
        ),
        (
            ENV_TOKEN + "chats:\n  - model: grok-4.3\n    messages: [{user: hi}]\n"
            "    expect: [{contains: '{{ env.XP_TEST_TOKEN }}'}]\n",
            8,
            "chats[0].expect[0].contains",
        ),
        (
            ENV_TOKEN
            + "images:\n  - {model: grok-imagine-image, prompt: '{{ env.XP_TEST_TOKEN }}'}\n",
            5,
            "images[0].prompt",
        ),
    ],
)
def test_a_template_naming_a_secret_is_refused_at_its_position(write, text, line, path):
    del line  # (the line is computed: the one of the reference)
    (problem,) = _problems(write(text))
    lines = (HEAD + text).splitlines()
    expected = next(i for i, t in enumerate(lines, 1) if "{{ env" in t)
    assert (problem.line, problem.path) == (expected, path)
    assert "is secret and cannot be used in a template" in problem.message
    assert "remove the reference" in problem.message


def test_the_key_is_secret_even_when_listed_plainly():
    assert "XAI_API_KEY" in ALWAYS_SECRET_ENV
    from xai_pipelines.sdk.keys import API_KEY_ENV

    assert API_KEY_ENV in ALWAYS_SECRET_ENV  # the name the client reads the key from


def test_a_secret_read_by_a_computed_name_is_refused_when_rendered(write):
    path = write(
        ENV_TOKEN + "datasets:\n  d: {rows: [{n: XP_TEST_REGION}, {n: XP_TEST_TOKEN}]}\n"
        "chats:\n  - model: grok-4.3\n    for_each: d\n    id: 'r{{ row_index }}'\n"
        "    messages: [{user: '{{ env[row.n] }}'}]\n"
    )
    spec = load_pipeline(path)  # the first row reads a plain variable
    jobs = iter_jobs(spec)
    assert next(jobs).request["messages"][0]["content"] == "eu"
    with pytest.raises(SpecError, match=r"env\.XP_TEST_TOKEN is secret") as info:
        next(jobs)
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize("expr", ["env.values() | list", "env | dictsort", "env.items() | list"])
def test_walking_env_cannot_reach_a_secret(write, expr):
    path = write(
        ENV_TOKEN + "chats:\n  - {model: grok-4.3, messages: [{user: '{{ " + expr + " }}'}]}\n"
    )
    (job,) = iter_jobs(load_pipeline(path))  # a secret's value is never read into `env`
    content = job.request["messages"][0]["content"]
    assert "eu" in content and TOKEN not in content and "XP_TEST_TOKEN" not in content


def test_plain_entries_still_render_and_secrets_never_reach_the_spec(write):
    path = write(
        "env:\n  XP_TEST_TOKEN: {secret: true, default: fallback}\n  XP_TEST_REGION: {default: us}\n"
        "  XAI_API_KEY: null\n"
        "chats:\n  - {model: grok-4.3, messages: [{user: '{{ env.XP_TEST_REGION }} {{ env | length }}'}]}\n"
    )
    spec = load_pipeline(path)
    (job,) = iter_jobs(spec)
    assert job.request["messages"][0]["content"] == "eu 1"
    assert spec.to_dict()["spec"]["env"]["XP_TEST_TOKEN"] == {"secret": True, "default": "***"}
    dumped = json.dumps([spec.to_dict(), job.to_dict(), dict(spec.env)])
    assert "fallback" not in dumped  # a secret's default is a secret too
    assert KEY not in dumped and TOKEN not in dumped


def test_a_secret_entry_needs_no_value(write, monkeypatch):
    monkeypatch.delenv("XP_TEST_TOKEN")
    path = write(
        "env:\n  XP_TEST_TOKEN: {secret: true}\nchats:\n  - {model: grok-4.3, messages: [{user: hi}]}\n"
    )
    assert load_pipeline(path).name == "t"


def test_the_secret_marker_is_checked_by_the_schema(write):
    path = write(
        "env:\n  XP_TEST_TOKEN: {secret: yes}\nchats:\n  - {model: grok-4.3, messages: [{user: hi}]}\n"
    )
    (problem,) = _problems(path)
    assert problem.path == "env.XP_TEST_TOKEN.secret" and "true or false" in problem.message
