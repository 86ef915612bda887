"""``xai-run init``: starter files that run at once offline, and never overwrite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xai_pipelines.cli.app import app
from xai_pipelines.cli.init_cmd import starter_files
from xai_pipelines.plan import ModelAuthority, check_models, iter_jobs
from xai_pipelines.spec import load_pipeline

XAI_RUN = [sys.executable, "-c", "from xai_pipelines.cli.app import main; main()"]
runner = CliRunner()


@pytest.mark.slow
def test_init_writes_a_starter_that_runs_at_once_with_local(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "starter")])
    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert written == [
        "starter/data/capitals.jsonl",
        "starter/pipeline.yaml",
        "starter/responses.yaml",
    ]
    pipeline = (tmp_path / "starter" / "pipeline.yaml").read_text()
    assert pipeline.count("\n#") >= 10  # commented
    spec = load_pipeline(tmp_path / "starter" / "pipeline.yaml")
    assert len(list(iter_jobs(spec))) == 8
    assert check_models(spec, ModelAuthority()).findings == ()  # no error, warning or note

    # the command the header prints, as a real process, from the directory above
    proc = subprocess.run(
        [*XAI_RUN, "starter/pipeline.yaml", "--local", "--responses", "starter/responses.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "evals: 7/8 jobs passed every assertion (87.5%)" in " ".join(proc.stdout.split())
    out = tmp_path / "runs" / "starter-eval"
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    failed = [line["id"] for line in lines if not line["scores"]["passed"]]
    assert failed == ["capital-australia-grok-4.20-non-reasoning"]
    assert (out / "summary.md").exists() and (out / "report.html").exists()


def test_init_defaults_to_the_current_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "pipeline.yaml").exists()
    assert "xai-run ./pipeline.yaml --local --responses ./responses.yaml" in result.output


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "s"
    (target / "data").mkdir(parents=True)
    (target / "responses.yaml").write_text("mine\n")
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 2
    assert f"not overwriting existing file(s): {target / 'responses.yaml'}" in result.output
    assert (target / "responses.yaml").read_text() == "mine\n"
    assert not (target / "pipeline.yaml").exists()
    assert not (target / "data" / "capitals.jsonl").exists()


def test_the_header_names_the_directory_it_was_written_to(tmp_path: Path) -> None:
    files = starter_files(Path("evals/first"))
    text = files[Path("evals/first/pipeline.yaml")]
    assert (
        "xai-run evals/first/pipeline.yaml --local --responses evals/first/responses.yaml" in text
    )
