"""The event loop of runs and of the emulator: uvloop by default, asyncio with XAI_PIPELINES_LOOP."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

import uvloop
import yaml

from xai_pipelines import run_pipeline
from xai_pipelines.emulator import Emulator
from xai_pipelines.eventloop import DEFAULT_LOOP, LOOP_ENV, loop_choice, new_event_loop
from xai_pipelines.plan import ChatJob
from xai_pipelines.records import ResultLine
from xai_pipelines.run.executor import Executor, ExecutorOptions
from xai_pipelines.run.outcome import JobResult
from xai_pipelines.run.sink import ResultSink
from xai_pipelines.run.stats import RunStats
from xai_pipelines.store import OutputDir

JOBS = 6


def _pipeline(directory: Path) -> Path:
    path = directory / "loop.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "name": "loop",
                "defaults": {"model": "grok-4.20-non-reasoning", "max_tokens": 8, "seed": 1},
                "execution": {"concurrency": 3},
                "chats": [
                    {
                        "name": "q",
                        "id": "q-{{ repeat }}",
                        "repeat": JOBS,
                        "messages": [{"user": "A fact about {{ repeat }}."}],
                    }
                ],
            }
        )
    )
    return path


def _answers(out: Path) -> dict[str, str]:
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return {line["id"]: line["content"] for line in lines}


def _loop_of_a_run(tmp_path: Path) -> type[asyncio.AbstractEventLoop]:
    """The class of the loop the executor runs its jobs on."""
    seen: list[type[asyncio.AbstractEventLoop]] = []

    async def job(j: ChatJob) -> JobResult:
        seen.append(type(asyncio.get_running_loop()))
        return JobResult(ResultLine(id=j.id, digest=j.digest, model="m", kind="chat"))

    out = OutputDir(tmp_path / "o")
    out.create()
    with out.open_results(0.5) as results, out.open_errors(0.5) as errors:
        sink = ResultSink(results, errors, RunStats(), "run-1")
        job_ = ChatJob(id="j", request={"model": "m", "messages": []})
        assert Executor(job, sink, ExecutorOptions(concurrency=1)).run([job_]) == "completed"
    (loop_class,) = seen
    return loop_class


def test_runs_use_uvloop_by_default_and_asyncio_when_asked(tmp_path, monkeypatch):
    monkeypatch.delenv(LOOP_ENV, raising=False)
    assert DEFAULT_LOOP == "uvloop" and loop_choice() == "uvloop"
    assert _loop_of_a_run(tmp_path / "default") is uvloop.Loop
    monkeypatch.setenv(LOOP_ENV, "asyncio")
    assert loop_choice() == "asyncio"
    assert not issubclass(_loop_of_a_run(tmp_path / "asked"), uvloop.Loop)


def test_a_run_records_its_loop_and_both_loops_give_the_same_results(tmp_path, monkeypatch):
    pipeline = _pipeline(tmp_path)
    monkeypatch.delenv(LOOP_ENV, raising=False)
    fast = run_pipeline(pipeline, local=True, out=tmp_path / "uvloop")
    monkeypatch.setenv(LOOP_ENV, "asyncio")
    plain = run_pipeline(pipeline, local=True, out=tmp_path / "asyncio")
    assert fast.status == plain.status == "completed"
    assert (
        f"executor event loop: uvloop {uvloop.__version__}"
        in (tmp_path / "uvloop" / "run.log").read_text()
    )
    assert "executor event loop: asyncio" in (tmp_path / "asyncio" / "run.log").read_text()
    assert len(_answers(tmp_path / "uvloop")) == JOBS
    assert _answers(tmp_path / "uvloop") == _answers(tmp_path / "asyncio")


def test_the_emulator_serves_on_the_chosen_loop(monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="xai_pipelines.eventloop")
    for value, said in (("uvloop", f"uvloop {uvloop.__version__}"), ("asyncio", "asyncio")):
        monkeypatch.setenv(LOOP_ENV, value)
        with Emulator() as emu:
            assert emu.address
        assert f"emulator event loop: {said}" in caplog.text


def test_an_unknown_value_or_a_missing_uvloop_falls_back_to_asyncio(monkeypatch, caplog):
    monkeypatch.setenv(LOOP_ENV, "trio")
    with caplog.at_level(logging.WARNING, logger="xai_pipelines.eventloop"):
        loop = new_event_loop("test")
    loop.close()
    assert not isinstance(loop, uvloop.Loop)
    assert f"{LOOP_ENV}=trio is not one of asyncio, uvloop; using asyncio" in caplog.text

    caplog.clear()
    monkeypatch.setenv(LOOP_ENV, "uvloop")
    monkeypatch.setitem(sys.modules, "uvloop", None)  # what an install without uvloop sees
    assert loop_choice() == "asyncio"
    with caplog.at_level(logging.WARNING, logger="xai_pipelines.eventloop"):
        loop = new_event_loop("test")
    loop.close()
    assert not isinstance(loop, uvloop.Loop)
    assert "uvloop is not installed; using asyncio" in caplog.text
