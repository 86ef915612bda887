"""A run expands its plan once, into plan.jsonl, and executes what plan.jsonl lists."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from xai_pipelines.emulator import Emulator
from xai_pipelines.plan import Job, iter_jobs
from xai_pipelines.run.session import PipelineRun, RunOptions
from xai_pipelines.spec import PipelineSpec
from xai_pipelines.store import read_jsonl

MakeSpec = Callable[..., PipelineSpec]


def _options(out: Path, emu: Emulator, **kw: Any) -> RunOptions:
    return RunOptions(
        out_dir=out, api_key=emu.api_key, endpoint=emu.address, progress="quiet", **kw
    )


def test_the_plan_is_expanded_once_and_the_run_executes_plan_jsonl(
    make_spec: MakeSpec, emulator: Emulator, tmp_path: Path
) -> None:
    spec = make_spec(jobs=6)
    expansions: list[int] = []

    def plan() -> Iterator[Job]:
        expansions.append(1)
        return iter_jobs(spec)

    out = tmp_path / "out"
    outcome = PipelineRun(spec, _options(out, emulator, limit=4), plan=plan).run()
    assert outcome.status == "completed" and len(expansions) == 1
    planned = [line["id"] for line in read_jsonl(out / "plan.jsonl")]
    ran = sorted(line["id"] for line in read_jsonl(out / "results.jsonl"))
    assert len(planned) == 4 and ran == sorted(planned)


def test_a_resume_expands_once_too_and_runs_only_what_is_left(
    make_spec: MakeSpec, emulator: Emulator, tmp_path: Path
) -> None:
    spec = make_spec(jobs=5)
    out = tmp_path / "out"
    PipelineRun(spec, _options(out, emulator, limit=2)).run()
    expansions: list[int] = []

    def plan() -> Iterator[Job]:
        expansions.append(1)
        return iter_jobs(spec)

    outcome = PipelineRun(spec, _options(out, emulator), plan=plan).run()
    assert outcome.status == "completed" and len(expansions) == 1
    lines = list(read_jsonl(out / "results.jsonl"))
    planned = {line["id"]: line["digest"] for line in read_jsonl(out / "plan.jsonl")}
    assert len(lines) == 5 == len(planned)
    assert {line["id"]: line["digest"] for line in lines} == planned
