"""A filter that keeps nothing (dataset ``where``, ``--only``) is a warning naming it and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from xai_pipelines.cli.app import app
from xai_pipelines.plan import check_plan
from xai_pipelines.plan.filters import empty_where, only_matches_nothing
from xai_pipelines.spec import SpecError, load_pipeline

runner = CliRunner()

PIPELINE = """\
version: 1
name: f
output: {{dir: {out}}}
defaults: {{model: grok-4.20-non-reasoning, max_tokens: 8}}
datasets:
  countries:
    path: countries.csv
    where: {{continent: {continent}}}
  unused:
    rows: [{{a: 1}}]
    where: {{a: 2}}
chats:
  - name: capital
    for_each: countries
    messages: [{{user: "Capital of {{{{ row.country }}}}?"}}]
  - name: hello
    messages: [{{user: hi}}]
"""
CSV = "country,continent\nFrance,Europe\nJapan,Asia\nPeru,South America\n"


def _write(tmp_path: Path, continent: str = "Europe") -> Path:
    (tmp_path / "countries.csv").write_text(CSV)
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE.format(out=tmp_path / "out", continent=continent))
    return path


def test_a_where_that_keeps_rows_or_an_unused_dataset_is_fine(tmp_path: Path) -> None:
    spec = load_pipeline(_write(tmp_path))
    assert empty_where(spec) == []  # `unused` keeps nothing, but no task runs over it
    assert check_plan(spec).count == 2


def test_a_where_that_keeps_nothing_is_located_and_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "Eurpe")
    spec = load_pipeline(path)
    (problem,) = empty_where(spec)
    assert str(problem) == (
        f"{path}:8:12: datasets.countries.where: warning: filter where "
        f'{{"continent": "Eurpe"}} matches none of the 3 rows of '
        f"{spec.datasets['countries'].display}: task 'capital' would run no job"
    )
    with pytest.raises(SpecError) as info:
        check_plan(load_pipeline(path))
    assert info.value.problems == (problem,)


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_validate_and_plan_exit_2_on_an_empty_where(tmp_path: Path, command: str) -> None:
    result = runner.invoke(app, [command, str(_write(tmp_path, "Eurpe")), "--offline"])
    assert result.exit_code == 2, result.output
    assert "datasets.countries.where: warning: filter where" in result.output


def test_run_refuses_an_empty_where_before_writing_anything(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", str(_write(tmp_path, "Eurpe")), "--local"])
    assert result.exit_code == 2, result.output
    assert "matches none of the 3 rows of" in result.output
    assert "countries.csv: task 'capital' would run no job" in result.output
    assert not (tmp_path / "out").exists()


def test_only_matching_nothing_is_a_warning_and_exit_2(tmp_path: Path) -> None:
    path = _write(tmp_path)
    assert only_matches_nothing(load_pipeline(path), "capital-*") is None
    assert only_matches_nothing(load_pipeline(path), "hello") is None  # a task name
    result = runner.invoke(app, ["run", str(path), "--local", "--only", "captal*"])
    assert result.exit_code == 2, result.output
    assert (
        "warning: filter --only 'captal*' matches no job id or task name of the plan "
        "(2 jobs; tasks: capital, hello)"
    ) in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()


def test_only_that_matches_runs(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["run", str(_write(tmp_path)), "--local", "--quiet", "--only", "hello"]
    )
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "out" / "results.jsonl").read_text().splitlines()) == 1
