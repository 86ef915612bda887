"""Hostile specs and data (issue 10): every case is one located SpecError, fast, never a traceback.

Template budget (steps, size, time), numbers out of range, deep data, linear vars,
and the concurrency cap shared by the schema and ``--concurrency``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from xai_pipelines.plan import check_plan, iter_jobs
from xai_pipelines.spec import SpecError, load_pipeline, parse_assignment, templating
from xai_pipelines.spec.flags import RunFlags, with_flags
from xai_pipelines.spec.limits import (
    MAX_CONCURRENCY,
    MAX_DEPTH,
    MAX_TEMPLATE_OUTPUT,
    MAX_TEMPLATE_STEPS,
)
from xai_pipelines.spec.loader import load_pipeline_data
from xai_pipelines.spec.templating import TemplateEngine, Tpl
from xai_pipelines.spec.yaml_source import Positions

FAST_S = 3.0  # every refusal below comes well within this, even on a busy machine


def _chat(content: str, extra: str = "", more: str = "") -> str:
    return f"""{extra}
chats:
  - model: grok-4.3
{more}    messages:
      - user: {json.dumps(content)}
"""


def _refused(path: Path, **kwargs: Any) -> SpecError:
    """Load and walk the whole plan (what `validate` does); return the SpecError, timed."""
    start = time.monotonic()
    with pytest.raises(SpecError) as info:
        check_plan(load_pipeline(path, **kwargs))
    assert time.monotonic() - start < FAST_S
    for problem in info.value.problems:
        assert "\n" not in problem.message
    return info.value


# -- template budget ---------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            "loop iterations",
        ),
        (
            "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}"
            "{% endfor %}{% endfor %}{% endfor %}",
            "loop iterations",
        ),
        ("{{ 'x' | center(10**9) }}", "argument of filter 'center' too large"),
        ("{{ 'x' | center(7999999) | center(8000001) }}", "argument of filter 'center'"),
        ("{{ 'a\nb' | indent(10**7) }}", "argument of filter 'indent'"),
        ("{{ ('x\n' * 3000000) | indent(4) }}", "result of filter 'indent' too large"),
        ("{{ ('x' * 5000000) | wordwrap(1) }}", "result of filter 'wordwrap' too large"),
        ("{{ ('x' * 4000000) | replace('x', 'yyy') }}", "result of filter 'replace' too large"),
        ("{{ (['x' * 1000000] * 100) | join }}", "result of filter 'join' too large"),
        ("{{ range(100000) | join('x' * 1000) }}", "result of filter 'join' too large"),
        ("{{ (['x' * 1000000] * 100) | tojson }}", "result of filter 'tojson' too large"),
        ("{{ '%s%s' | format('x' * 5000000, 'y' * 5000000) }}", "formatted value too large"),
        ("{{ '%09999999999d' | format(1) }}", "formatted field too large"),
        ("{{ '%0999999999d' % 1 }}", "formatted field too large"),
        ("{{ '%*d' % (10**9, 1) }}", "formatted field too large"),
        ("{{ '{:>999999999}'.format(1) }}", "formatted field too large"),
        ("{{ '{:{w}}'.format(1, w=10**9) }}", "formatted field too large"),
        ("{{ 'x'.ljust(10**9) }}", "argument too large"),
        ("{{ 'a\tb'.expandtabs(10**8) }}", "argument too large"),
        ("{{ ('\t' * 1000000).expandtabs(100) }}", "expandtabs() too large"),
        ("{{ ('x' * 4000000).replace('x', 'yyy') }}", "replace() too large"),
        ("{{ 'x' * 100000000 }}", "result of '*' too large"),
        ("{{ ['x'] * 100000000 }}", "result of '*' too large"),
        ("{{ ('x' * 5000000) + ('y' * 5000000) }}", "result of '+' too large"),
        ("{{ ('x' * 5000000) ~ ('y' * 5000000) }}", "concatenated string too large"),
        ("{{ (['x' * 1000000] * 100) ~ '' }}", "concatenated value too large"),
        ("{{ ['x' * 1000000] * 100 }}", "output too large"),
        ("{% for i in range(9) %}{{ 'x' * 1000000 }}{% endfor %}", "output too large"),
        ("{% for i in range(100) %}" + "x" * 100000 + "{% endfor %}", "output too large"),
        ("{{ [1] | batch(10**8, 'x') | list }}", "argument of filter 'batch'"),
        (
            "{% macro m(n) %}{% if n %}{{ m(n - 1) }}{{ m(n - 1) }}{% else %}{{ 'x' * 100000 }}"
            "{% endif %}{% endmacro %}{{ m(40) }}",
            "output too large",
        ),
        ("{{ [1, 2].append(3) }}", "unsafe"),
        ("{{ {'a': 1}.update({'b': 2}) }}", "unsafe"),
        ("{{ 10 ** 10 * 10 ** 10 * 10 ** 10 }}", ""),  # numbers stay numbers: fine
    ],
)
def test_template_bombs_are_refused_at_their_position(write, template, fragment):
    if not fragment:
        path = write(_chat(template))
        assert [j.request["messages"][0]["content"] for j in iter_jobs(load_pipeline(path))]
        return
    problem = _refused(write(_chat(template))).problems[0]
    assert fragment in problem.message
    assert "template over its budget" in problem.message or "unsafe" in problem.message
    assert "docs/pipelines.md" in problem.message or "unsafe" in problem.message
    assert (problem.line, problem.path) == (7, "chats[0].messages[0].user")


def test_the_budget_counts_every_loop_of_a_render_together(write):
    # A nested loop of n*n costs about 2n*n steps (each range(n) counts n, each iteration 1).
    nested = "{% for i in range(N) %}{% for j in range(N) %}{% endfor %}{% endfor %}"
    quarter = int((MAX_TEMPLATE_STEPS / 4) ** 0.5) - 5
    fine = nested.replace("N", str(quarter))
    assert list(iter_jobs(load_pipeline(write(_chat(fine + fine)))))  # two: within the budget
    assert "loop iterations" in _refused(write(_chat(fine * 3))).problems[0].message


def test_the_templates_of_one_job_share_the_output_limit(write):
    half = MAX_TEMPLATE_OUTPUT // 2 + 1
    text = "chats:\n  - model: grok-4.3\n    messages:\n"
    text += f"      - user: \"{{{{ 'x' * {half} }}}}\"\n" * 3
    problems = _refused(write(text)).problems
    assert problems[0].path == "chats[0].messages[1].user"  # the first one is fine
    assert "templates rendered together" in problems[0].message


def test_chained_vars_cannot_double_past_the_limit(write):
    chain = "".join(f"  v{i}: '{{{{ v{i - 1} }}}}{{{{ v{i - 1} }}}}'\n" for i in range(1, 40))
    path = write(_chat("{{ v39 | length }}", "vars:\n  v0: \"{{ 'x' * 100000 }}\"\n" + chain))
    problems = _refused(path).problems
    assert problems[0].path == "vars.v6" and "templates rendered together" in problems[0].message


def test_a_render_has_a_wall_clock_limit(monkeypatch):
    monkeypatch.setattr(templating, "MAX_TEMPLATE_SECONDS", -1.0)
    engine = TemplateEngine(Positions("p.yaml"))
    with pytest.raises(SpecError, match="rendering took longer than -1 s"):
        engine.render(Tpl("{% for i in range(3) %}{{ i }}{% endfor %}", ("x",)), {})


def test_honest_templates_render_as_before(write):
    path = write(
        """
datasets:
  d:
    rows:
      - {name: Ada, tags: [math, engines], notes: {born: 1815}}
chats:
  - model: grok-4.3
    for_each: d
    messages:
      - user: |-
          {% for t in row.tags %}{{ loop.index }}:{{ t | upper }}{{ ', ' if not loop.last }}{% endfor %}
          {{ row.name | center(9) }}|{{ '%05d' % row.notes.born }}|{{ '{:>6}'.format(row.name) }}
          {{ row.tags | join('/') }} {{ row | tojson }} {{ ('ab' * 3) ~ '!' }} {{ 1000 * 1001 }}
          {{ 'x' | indent(2) }} {{ 'a b c' | wordwrap(3) | length }} {{ 'aXb' | replace('X', '-') }}
"""
    )
    (job,) = iter_jobs(load_pipeline(path))
    assert job.request["messages"][0]["content"] == (
        "1:MATH, 2:ENGINES\n   Ada   |01815|   Ada\n"
        'math/engines {"name": "Ada", "notes": {"born": 1815}, "tags": ["math", "engines"]} '
        "ababab! 1001000\nx 5 a-b"
    )


def test_a_later_row_over_the_budget_fails_the_plan_walk_at_that_row(write):
    path = write(
        _chat(
            "{% for i in range(row.n) %}{% for j in range(row.n) %}{% endfor %}{% endfor %}ok",
            "datasets:\n  d: {path: d.jsonl}\n",
            "    for_each: d\n    id: 'r{{ row.n }}'\n",
        ),
        files={"d.jsonl": '{"n": 2}\n{"n": 3}\n{"n": 1000}\n'},
    )
    spec = load_pipeline(path)  # the probe renders the first row only: fine
    jobs = iter_jobs(spec)
    assert [next(jobs).id for _ in range(2)]
    with pytest.raises(SpecError) as info:
        next(jobs)
    (problem,) = info.value.problems
    assert "loop iterations" in problem.message and "d.jsonl:3" in problem.message
    assert "loop iterations" in _refused(path).problems[0].message  # validate: the same


# -- numbers -----------------------------------------------------------------

HUGE = "9" * 5000


@pytest.mark.parametrize(
    ("extra", "fragment", "where"),
    [
        (f"vars:\n  n: {HUGE}\n", "is out of range (at most 100 digits", "vars.n"),
        (f"vars:\n  n: -{HUGE}\n", "is out of range (at most 100 digits", "vars.n"),
        (f"vars:\n  n: {HUGE}.5\n", "is out of range (at most 100 digits", "vars.n"),
        (f"vars:\n  n: 1{'0' * 400}e-400\n", "is out of range", "vars.n"),
        (
            "execution:\n  retries:\n    initial_backoff: " + "9" * 56 + "\n",
            "out of range (expected a value <= 31536000",
            "execution.retries.initial_backoff",
        ),
        (
            "execution:\n  retries:\n    initial_backoff: 1e400\n",
            "number '1e400' is out of range",
            "execution.retries.initial_backoff",
        ),
        (
            "execution:\n  timeout: 99999999h\n",
            "expected a duration up to 31,536,000 s",
            "execution.timeout",
        ),
        ("execution:\n  timeout: " + "9" * 40 + "s\n", "expected a duration such as", ""),
        ("execution:\n  concurrency: 1000000\n", "expected a value <= 20000", ""),
        ("defaults:\n  max_tokens: " + "9" * 30 + "\n", "expected a value <= 2147483647", ""),
        (
            "datasets:\n  d: {rows: [{a: 1}], limit: " + "9" * 30 + "}\n",
            "expected a value <= 2147483647",
            "",
        ),
    ],
)
def test_numbers_out_of_range_are_located(write, extra, fragment, where):
    problems = _refused(write(_chat("hi", extra))).problems
    assert any(fragment in p.message for p in problems), problems
    assert all(p.line > 1 for p in problems)
    assert not where or any(p.path == where for p in problems)


@pytest.mark.parametrize("ext", ["jsonl", "json"])
def test_a_huge_integer_in_a_dataset_row_is_located(write, ext):
    row = '{"n": ' + HUGE + "}"
    data = f'{{"n": 1}}\n{row}\n' if ext == "jsonl" else f'[{{"n": 1}},\n {row}]'
    path = write(
        _chat("{{ row.n }}", "datasets:\n  d: {path: d." + ext + "}\n", "    for_each: d\n"),
        files={f"d.{ext}": data},
    )
    (problem,) = _refused(path).problems
    assert problem.file.endswith(f"d.{ext}") and problem.line == 2
    assert "number out of range (at most 4,300 digits" in problem.message


def test_set_refuses_a_huge_number_and_keeps_plain_text(write):
    with pytest.raises(SpecError) as info:
        parse_assignment(f"n={HUGE}")
    (problem,) = info.value.problems
    assert problem.file == "--set n" and "at most 100 digits" in problem.message
    assert parse_assignment(f"n='{HUGE}'") == ("n", HUGE)  # quoted: text
    assert parse_assignment("n=[unclosed") == ("n", "[unclosed")  # not YAML: text
    path = write(_chat("{{ n }}", "vars:\n  n: 1\n"))
    problems = _refused(path, overrides={"execution.concurrency": 10**30}).problems
    assert problems[0].file == "--set execution.concurrency"


def test_a_matrix_cannot_expand_a_row_into_too_many_jobs(write):
    values = "[" + ", ".join(str(i / 1000) for i in range(1000)) + "]"
    extra = f"matrix:\n  temperature: {values}\n  top_p: {values}\n"
    (problem,) = _refused(write(_chat("hi", extra))).problems
    assert problem.path == "matrix"
    assert "make 1,000,000 jobs of each row (at most 100,000" in problem.message
    temps = "[" + ", ".join(str(i / 10) for i in range(11)) + "]"
    path = write(_chat("hi", "", f"    repeat: 10000\n    matrix: {{temperature: {temps}}}\n"))
    (problem,) = _refused(path).problems
    assert problem.path == "chats[0].matrix" and "make 110,000 jobs" in problem.message
    path = write(_chat("hi", "", "    repeat: 10000\n    matrix: {temperature: [0, 1]}\n"))
    assert load_pipeline(path).tasks[0].repeat == 10000  # 20,000 per row: fine


# -- deep data ---------------------------------------------------------------


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(("ext", "depth"), [("jsonl", 100_000), ("json", 100_000), ("jsonl", 65)])
def test_deep_dataset_rows_are_refused_with_their_line(write, ext, depth):
    row = '{"n": ' + _nested(depth) + "}"
    data = f'{{"n": 1}}\n{row}\n' if ext == "jsonl" else f'[{{"n": 1}},\n {row}]'
    path = write(
        _chat("{{ row.n }}", "datasets:\n  d: {path: d." + ext + "}\n", "    for_each: d\n"),
        files={f"d.{ext}": data},
    )
    (problem,) = _refused(path).problems
    assert (problem.file.endswith(f"d.{ext}"), problem.line) == (True, 2)
    assert f"nested deeper than {MAX_DEPTH} levels" in problem.message


def test_rows_as_deep_as_the_limit_are_fine(write):
    path = write(
        _chat("{{ row.n | length }}", "datasets:\n  d: {path: d.jsonl}\n", "    for_each: d\n"),
        files={"d.jsonl": '{"n": ' + _nested(MAX_DEPTH - 1) + "}\n"},
    )
    assert len(list(iter_jobs(load_pipeline(path)))) == 1


@pytest.mark.parametrize("depth", [100_000, MAX_DEPTH + 2])
def test_deep_yaml_is_refused(write, depth):
    flow = _nested(depth)
    (problem,) = _refused(write(_chat("hi", f"vars:\n  x: {flow}\n"))).problems
    assert "nest" in problem.message


def test_a_deep_yaml_dataset_is_refused(write):
    path = write(
        _chat("{{ row.n }}", "datasets:\n  d: {path: d.yaml}\n", "    for_each: d\n"),
        files={"d.yaml": "- n: " + _nested(MAX_DEPTH + 2) + "\n"},
    )
    (problem,) = _refused(path).problems
    assert problem.file.endswith("d.yaml") and f"deeper than {MAX_DEPTH}" in problem.message


# -- vars are built in linear time ---------------------------------------------


@pytest.mark.slow
def test_many_vars_build_in_linear_time():
    count = 150_000
    data: dict[str, Any] = {
        "version": 1,
        "name": "t",
        "vars": {f"v{i}": f"x{i}" for i in range(count)},
        "chats": [{"model": "grok-4.3", "messages": [{"user": "{{ last }}"}]}],
    }
    data["vars"]["last"] = "{{ v" + str(count - 1) + " }}-{{ name }}"
    start = time.process_time()
    spec = load_pipeline_data(data, Path("p.yaml"))
    assert time.process_time() - start < 10  # ~1.5 s; it took minutes when quadratic
    (job,) = iter_jobs(spec)
    assert job.request["messages"][0]["content"] == f"x{count - 1}-t"


class _NoIteration(Mapping[str, Any]):
    """A mapping that refuses to be walked: using it must cost lookups, never a copy."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("walked every name")

    def __len__(self) -> int:
        return len(self.data)


def test_a_templated_var_costs_lookups_not_a_copy_of_the_vars_before_it():
    engine = TemplateEngine(Positions("p.yaml"))
    names = _NoIteration({"a": "1", "name": "t"})
    assert engine.check_syntax("{{ a }}{% if a %}{{ name }}{% endif %}", ("v",), names.keys()) == []
    tpl = Tpl("{{ a }}{% if a %}-{{ name }}{% endif %}", ("v",))
    assert engine.render(tpl, names) == "1-t"


# -- the concurrency cap: one number for the schema and the flag ------------------


def test_concurrency_flag_is_capped_like_the_spec(write):
    spec = load_pipeline(write(_chat("hi")))
    assert with_flags(spec, RunFlags(concurrency=MAX_CONCURRENCY)).execution.concurrency == 20_000
    for bad in (MAX_CONCURRENCY + 1, 1_000_000, 0):
        with pytest.raises(SpecError) as info:
            with_flags(spec, RunFlags(concurrency=bad))
        (problem,) = info.value.problems
        assert problem.file == "--concurrency"
        assert f"expected 1 to 20,000 jobs in flight, got {bad:,}" in problem.message
    path = write(_chat("hi", f"execution:\n  concurrency: {MAX_CONCURRENCY + 1}\n"))
    assert "<= 20000" in _refused(path).problems[0].message


def test_limits_are_what_the_docs_say():
    from xai_pipelines.spec.schema import subschema

    concurrency = subschema("$defs", "execution", "properties", "concurrency")
    assert concurrency["maximum"] == MAX_CONCURRENCY
    assert MAX_TEMPLATE_OUTPUT >= 8_000_000  # a 2M-token prompt fits


def test_closing_brackets_in_strings_do_not_hide_deep_yaml(write):
    extra = "vars:\n  s: '" + "}]" * 5000 + "'\n  x: " + "[" * 3000 + "]" * 3000 + "\n"
    (problem,) = _refused(write(_chat("hi", extra))).problems
    assert f"nesting deeper than {MAX_DEPTH} levels" in problem.message and problem.line == 5


@pytest.mark.parametrize(
    ("more", "path"),
    [("    repeat: 2.0\n", "chats[0].repeat"), ("    max_tokens: 8.0\n", "chats[0].max_tokens")],
)
def test_integer_settings_refuse_floats(write, more, path):
    # JSON Schema counts 2.0 as an integer; range(), islice() and the API's fields do not.
    (problem,) = _refused(write(_chat("hi", "", more))).problems
    assert (problem.path, problem.message) == (path, f"expected an integer, got {more.split()[-1]}")


def test_a_file_name_with_a_nul_character_is_a_located_problem(write):
    path = write(_chat("hi", 'datasets:\n  d: {path: "a\\0b.jsonl"}\n', "    for_each: d\n"))
    (problem,) = _refused(path).problems
    assert problem.path == "datasets.d.path" and "contains a NUL character" in problem.message


def test_problems_quote_control_characters_as_escapes(write):
    extra = 'datasets:\n  d: {path: "no\\n\\u202e\\e[31mpe.jsonl"}\n'
    (problem,) = _refused(write(_chat("hi", extra, "    for_each: d\n"))).problems
    assert "does not exist" in problem.message
    assert "\n" not in str(problem) and "\x1b" not in str(problem) and "\u202e" not in str(problem)
    assert "no\\n\\u202e\\x1b[31mpe.jsonl" in problem.message


def test_an_empty_where_list_is_reported_not_a_crash(write):
    extra = "datasets:\n  d:\n    rows: [{g: a}]\n    where: {g: []}\n"
    (problem,) = _refused(write(_chat("hi", extra, "    for_each: d\n"))).problems
    assert problem.path == "datasets.d.where"
    assert 'filter where {"g": []} matches none of the 1 rows' in problem.message


@pytest.mark.parametrize(
    ("row", "shown"),
    [('{"a": 1e400}', "inf"), ('{"a": [NaN]}', "nan"), ('{"a": {"b": -Infinity}}', "-inf")],
)
def test_non_finite_numbers_in_rows_are_refused(write, row, shown):
    path = write(
        _chat("{{ row.a }}", "datasets:\n  d: {path: d.jsonl}\n", "    for_each: d\n"),
        files={"d.jsonl": '{"a": 1.5}\n' + row + "\n"},
    )
    (problem,) = _refused(path).problems
    assert (problem.line, problem.message) == (
        2,
        f"non-finite number {shown} (rows hold finite numbers only)",
    )
