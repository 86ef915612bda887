"""Every malformed pipeline under bad/ fails with exactly the expected problems and positions.

Each ``bad/NAME.yaml`` has a sidecar ``bad/NAME.expect``: one line per problem,
``[FILE:]LINE:COL: PATH: MESSAGE FRAGMENT`` (FILE defaults to the pipeline itself,
paths relative to bad/). Model names and parameters are checked against the small
fixed catalog of ``small_catalog.py`` (``model-*`` cases), not the bundled one.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xai_pipelines.cli.app import app
from xai_pipelines.plan import ModelAuthority, check_plan
from xai_pipelines.spec import SpecError, load_pipeline

from .small_catalog import SMALL

BAD = Path(__file__).parent / "bad"
CASES = sorted(BAD.glob("*.yaml"))
_LINE = re.compile(
    r"^(?:(?P<file>[^:]+):)?(?P<line>\d+):(?P<col>\d+): (?P<path>[^ ]+): (?P<frag>.+)$"
)


def _expected(case: Path) -> list[tuple[str, int, int, str, str]]:
    out = []
    for raw in case.with_suffix(".expect").read_text(encoding="utf-8").splitlines():
        m = _LINE.match(raw)
        assert m, f"bad expect line in {case.name}: {raw!r}"
        file = str(BAD / m["file"]) if m["file"] else str(case)
        out.append((file, int(m["line"]), int(m["col"]), m["path"], m["frag"]))
    return out


def test_corpus_is_large_enough():
    assert len(CASES) >= 40
    assert all(c.with_suffix(".expect").is_file() for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_bad_pipeline_reports_expected_problems(case: Path):
    with pytest.raises(SpecError) as info:
        check_plan(load_pipeline(case), models=ModelAuthority(SMALL))
    problems = info.value.problems
    expected = _expected(case)
    assert len(problems) == len(expected), info.value.report()
    for problem, (file, line, col, path, frag) in zip(problems, expected, strict=True):
        assert (problem.file, problem.line, problem.column, problem.path) == (file, line, col, path)
        assert frag in problem.message, f"{frag!r} not in {problem.message!r}"
        assert str(problem).startswith(f"{file}:{line}:{col}: {path}: ")


def test_problems_are_sorted_by_position():
    with pytest.raises(SpecError) as info:
        load_pipeline(BAD / "many-errors.yaml")
    lines = [(p.line, p.column) for p in info.value.problems]
    assert lines == sorted(lines) and len(lines) == 3
    assert str(info.value).count("\n") == 2


def test_cli_validate_reports_every_bad_file_and_exits_2():
    result = CliRunner().invoke(app, ["validate", *map(str, CASES)], env={"XAI_API_KEY": ""})
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    for case in CASES:
        assert str(case) in result.output or case.stem == "broken-data-row"
    assert result.exception is None or isinstance(result.exception, SystemExit)
