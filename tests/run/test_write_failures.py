"""Whole runs whose output directory fails under them: a full tmpfs, an immutable results file.

What must hold (issue 10, item 1): the first failed write stops dispatch and no
call is made after it; every call that was made has its result on disk or
counted in the one message; the manifest says ``failed``; no torn line is left;
the CLI prints one line and exits 1 without a traceback; a rerun, once the
disk is writable again, resumes and completes. The emulator runs with a small
latency so the failure lands while calls are in flight, and its counters say
how many calls were made and when.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.small_fs import ext4, fill, set_immutable, tmpfs
from xai_pipelines.cli.app import app
from xai_pipelines.emulator import Emulator, EmulatorConfig, FaultConfig
from xai_pipelines.plan import ChatJob, Job
from xai_pipelines.records import ResultLine
from xai_pipelines.run.batch_mode import BatchSettings
from xai_pipelines.run.executor import Executor, ExecutorOptions, WorkerError
from xai_pipelines.run.outcome import JobFailed, JobResult
from xai_pipelines.run.runlog import RUN_LOG, run_log
from xai_pipelines.run.session import (
    SPACE_RESERVE,
    OutputWriteError,
    PipelineRun,
    RunOptions,
    RunResources,
)
from xai_pipelines.run.sink import ResultSink
from xai_pipelines.run.stats import RunStats
from xai_pipelines.spec import PipelineSpec
from xai_pipelines.store import OutputDir, WriteError
from xai_pipelines.store.resume import ResumeState

MakeSpec = Callable[..., PipelineSpec]
Data = Callable[..., dict[str, Any]]
JOBS = 60
CONCURRENCY = 4
#: Enough for a call to be in flight on every worker when the disk fails.
LATENCY = FaultConfig(latency_s=0.03)
METHOD = {"chat": "GetCompletion", "image": "GenerateImage"}


class WatchedRun(PipelineRun):
    """A run that watches its calls around the first failed write.

    ``started_after`` counts calls that passed the run's gate (``acquire``, or
    ``aacquire`` on the event loop, taken right before every call) once the failure was known:
    it must stay 0. A call that passed the gate before may reach the emulator
    a moment after the failure (it was already under way); ``gate_passes`` must
    equal the calls the emulator saw, so no call escaped the count.
    """

    def __init__(self, spec: PipelineSpec, options: RunOptions, emu: Emulator, kind: str) -> None:
        super().__init__(spec, options)
        self.emu = emu
        self.method = METHOD[kind]
        self.failed = threading.Event()
        self.calls_at_failure: int | None = None
        self.gate_passes = 0
        self.started_after = 0
        self.on_failure: Callable[[], None] = lambda: None
        self._count = threading.Lock()

    def _open(self, *args: Any) -> RunResources:
        res = super()._open(*args)
        res.sink.on_write_failure(self._failed)  # after the executor's own listener
        gate = res.hooks.acquire

        def watched(estimate: int) -> None:
            after = self.failed.is_set()
            gate(estimate)  # raises when the run stopped calling
            with self._count:
                self.gate_passes += 1
                self.started_after += after

        res.hooks.acquire = watched  # type: ignore[method-assign]
        agate = res.hooks.aacquire

        async def awatched(estimate: int) -> None:  # the online runners' gate (event loop)
            after = self.failed.is_set()
            await agate(estimate)
            with self._count:
                self.gate_passes += 1
                self.started_after += after

        res.hooks.aacquire = awatched  # type: ignore[method-assign]
        return res

    def _failed(self, failure: WriteError) -> None:
        self.calls_at_failure = self.emu.stats.calls.get(self.method, 0)
        self.failed.set()
        self.on_failure()


class Filler:
    """Fills the file system once (from the watcher thread); ``free`` gives the space back.

    ``free`` may run on a worker at the first failed write, which can come while
    ``fill`` is still writing: it waits for the filler to be complete.
    """

    def __init__(self, fs: Path) -> None:
        self.fs = fs
        self.path: Path | None = None
        self.done = threading.Event()

    def fill(self) -> None:
        self.path = fill(self.fs)
        self.done.set()

    def free(self) -> None:
        assert self.done.wait(10) and self.path is not None
        self.path.unlink()


def _options(out: Path, emu: Emulator) -> RunOptions:
    return RunOptions(out_dir=out, api_key=emu.api_key, endpoint=emu.address, progress="quiet")


def _when_lines(path: Path, count: int, action: Callable[[], object]) -> threading.Thread:
    """Run ``action`` once ``path`` holds ``count`` lines (mid-run)."""

    def watch() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if path.read_bytes().count(b"\n") >= count:
                    action()
                    return
            except FileNotFoundError:
                pass
            time.sleep(0.002)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _ids_on_disk(out: Path) -> list[str]:
    """Ids of the result lines, checking that every line is whole JSON (no torn line)."""
    data = (out / "results.jsonl").read_bytes()
    assert data.endswith(b"\n"), "results.jsonl ends in a torn line"
    return [json.loads(raw)["id"] for raw in data.splitlines()]


def _lost(message: str) -> int:
    found = re.search(r"; (\d+) finished results? could not be saved;", message)
    if found:
        return int(found.group(1))
    assert "; every finished result was saved;" in message, message
    return 0


def _status(out: Path) -> str:
    return str(json.loads((out / "manifest.json").read_text())["status"])


def _chats(make_spec: MakeSpec, pipeline_data: Data) -> PipelineSpec:
    data = pipeline_data(jobs=JOBS, execution={"concurrency": CONCURRENCY})
    data["defaults"]["model"] = "grok-4.20-non-reasoning"  # current: no retirement warning
    return make_spec(data=data)


def _check_failed_run(run: WatchedRun, out: Path, message: str, emu: Emulator) -> list[str]:
    """Every paid call accounted for, none after the failure, manifest failed, no litter."""
    on_disk = _ids_on_disk(out)
    calls = emu.stats.calls[run.method]
    assert run.calls_at_failure is not None
    assert run.started_after == 0, "a call was started after the write failed"
    assert calls == run.gate_passes
    assert calls - run.calls_at_failure < CONCURRENCY  # at most the calls already under way
    assert calls == len(on_disk) + _lost(message), "a finished result was lost silently"
    assert len(set(on_disk)) == len(on_disk)
    assert len(on_disk) >= 10 and calls < JOBS  # the failure landed mid-run and stopped it
    assert _status(out) == "failed"
    assert not (out / SPACE_RESERVE).exists()
    assert not [p for p in out.rglob(".*") if p.name != ".lock"]  # no temp files
    return on_disk


def _rerun_completes(spec: PipelineSpec, out: Path, emu: Emulator, before: list[str]) -> None:
    calls = emu.stats.calls["GetCompletion"]
    outcome = PipelineRun(spec, _options(out, emu)).run()
    assert outcome.status == "completed"
    ids = _ids_on_disk(out)
    assert sorted(ids) == sorted(f"q-{i}" for i in range(JOBS))  # each job once
    assert emu.stats.calls["GetCompletion"] - calls == JOBS - len(before)  # nothing paid twice
    assert _status(out) == "completed"


def test_a_disk_that_fills_up_mid_run_stops_the_calls_and_reports_what_was_not_saved(
    make_spec: MakeSpec, emulator_factory: Callable[..., Emulator], pipeline_data: Data
) -> None:
    emu = emulator_factory(EmulatorConfig(faults=LATENCY))
    spec = _chats(make_spec, pipeline_data)
    with tmpfs("4m") as fs:
        out = fs / "out"
        filler = Filler(fs)
        _when_lines(out / "results.jsonl", 10, filler.fill)
        run = WatchedRun(spec, _options(out, emu), emu, "chat")
        with pytest.raises(OutputWriteError) as caught:
            run.run()
        message = str(caught.value)
        assert re.fullmatch(
            rf"cannot write {re.escape(str(out))}/\S+: \[Errno 28\] No space left on device; "
            r"\d+ finished results? could not be saved; free space and rerun to resume",
            message,
        ), message
        assert 1 <= _lost(message) <= CONCURRENCY  # only what was in flight
        before = _check_failed_run(run, out, message, emu)

        filler.free()  # space comes back
        _rerun_completes(spec, out, emu, before)


def test_a_disk_full_for_a_moment_keeps_the_finished_results_and_writes_them_at_the_end(
    make_spec: MakeSpec, emulator_factory: Callable[..., Emulator], pipeline_data: Data
) -> None:
    emu = emulator_factory(EmulatorConfig(faults=LATENCY))
    spec = _chats(make_spec, pipeline_data)
    with tmpfs("4m") as fs:
        out = fs / "out"
        filler = Filler(fs)
        _when_lines(out / "results.jsonl", 10, filler.fill)
        run = WatchedRun(spec, _options(out, emu), emu, "chat")
        run.on_failure = filler.free  # the space returns at once
        with pytest.raises(OutputWriteError) as caught:
            run.run()
        message = str(caught.value)
        assert message.endswith(
            "No space left on device; every finished result was saved; "
            "free space and rerun to resume"
        ), message
        before = _check_failed_run(run, out, message, emu)
        assert len(before) == emu.stats.calls["GetCompletion"]
        _rerun_completes(spec, out, emu, before)


def test_an_immutable_results_file_mid_run_stops_the_run_loudly(
    make_spec: MakeSpec, emulator_factory: Callable[..., Emulator], pipeline_data: Data
) -> None:
    emu = emulator_factory(EmulatorConfig(faults=LATENCY))
    spec = _chats(make_spec, pipeline_data)
    with ext4(16) as fs:
        out = fs / "out"
        results = out / "results.jsonl"
        _when_lines(results, 10, lambda: set_immutable(results))
        run = WatchedRun(spec, _options(out, emu), emu, "chat")
        with pytest.raises(OutputWriteError) as caught:
            run.run()
        message = str(caught.value)
        assert re.fullmatch(
            rf"cannot write {re.escape(str(results))}: \[Errno 1\] Operation not permitted; "
            rf"\d+ finished results? could not be saved; make {re.escape(str(results))} "
            r"writable and rerun to resume",
            message,
        ), message
        before = _check_failed_run(run, out, message, emu)

        set_immutable(results, on=False)
        _rerun_completes(spec, out, emu, before)


@pytest.mark.parametrize("space_returns", [False, True], ids=["stays-full", "space-returns"])
def test_images_that_do_not_fit_stop_the_run_and_no_line_names_a_missing_file(
    make_spec: MakeSpec,
    emulator_factory: Callable[..., Emulator],
    pipeline_data: Data,
    space_returns: bool,
) -> None:
    emu = emulator_factory(EmulatorConfig(faults=LATENCY))
    data = pipeline_data(jobs=1, execution={"concurrency": CONCURRENCY})
    data["images"] = [
        {
            "name": "img",
            "id": "img-{{ repeat }}",
            "repeat": JOBS,
            "prompt": "a red fox, take {{ repeat }}",
            "model": "grok-imagine-image",
            "format": "base64",
        }
    ]
    spec = make_spec(data=data)
    with tmpfs("4m") as fs:
        out = fs / "out"
        filler = Filler(fs)
        _when_lines(out / "results.jsonl", 10, filler.fill)
        run = WatchedRun(spec, _options(out, emu), emu, "image")
        if space_returns:  # the kept image bytes and lines are written at the end
            run.on_failure = filler.free
        with pytest.raises(OutputWriteError) as caught:
            run.run()
        message = str(caught.value)
        assert "[Errno 28] No space left on device" in message
        assert (_lost(message) == 0) == space_returns, message
        lines = [json.loads(raw) for raw in (out / "results.jsonl").read_bytes().splitlines()]
        calls = emu.stats.calls["GenerateImage"] + emu.stats.calls.get("GetCompletion", 0)
        assert run.started_after == 0 and calls == run.gate_passes  # (and the one chat job)
        assert calls == len(lines) + _lost(message)
        images = [line for line in lines if line["kind"] == "image"]
        assert images and emu.stats.calls["GenerateImage"] < JOBS
        for line in images:  # a line on disk means its image is too
            for img in line["images"]:
                assert (out / img["path"]).stat().st_size == img["bytes"]
        assert _status(out) == "failed"


def test_the_cli_prints_one_line_and_exits_1_without_a_traceback(
    make_spec: MakeSpec,
    emulator_factory: Callable[..., Emulator],
    pipeline_data: Data,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emu = emulator_factory(EmulatorConfig(faults=LATENCY))
    spec = _chats(make_spec, pipeline_data)
    monkeypatch.setenv("XAI_API_KEY", emu.api_key)
    with tmpfs("4m") as fs:
        out = fs / "out"
        _when_lines(out / "results.jsonl", 10, lambda: fill(fs))
        result = CliRunner().invoke(
            app,
            ["run", str(spec.path), "--out", str(out), "--endpoint", emu.address, "--quiet"],
        )
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.stderr
        assert result.exception is None or isinstance(result.exception, SystemExit)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(f"error: cannot write {out}/")
        assert "[Errno 28] No space left on device" in lines[0]
        assert lines[0].endswith("free space and rerun to resume")
        assert _status(out) == "failed"


def test_error_lines_that_cannot_be_written_stop_dispatch_and_are_written_once_they_can(
    tmp_path: Path,
) -> None:
    started: list[str] = []

    def run_job(job: Job) -> JobResult:
        started.append(job.id)
        time.sleep(0.01)
        raise JobFailed("INVALID_ARGUMENT", "refused", attempts=1)

    with ext4(8) as fs:
        out = OutputDir(fs / "out")
        out.create()
        with out.open_results() as results, out.open_errors() as errors:
            set_immutable(out.errors)
            sink = ResultSink(results, errors, RunStats(), "run-1")
            executor = Executor(run_job, sink, ExecutorOptions(concurrency=2))
            assert executor.run(_job(i) for i in range(40)) == "failed"
            assert sink.write_failure is not None and sink.write_failure.path == out.errors
            assert len(started) <= 3  # the failing one, one in flight, one racing the latch
            kept = sink.unsaved_errors
            assert kept == len(started) and sink.unsaved_results == 0
            assert sink.failure_message() == (
                f"cannot write {out.errors}: [Errno 1] Operation not permitted; every finished "
                f"result was saved; {kept} error line{'s' if kept != 1 else ''} could not be "
                f"saved; make {out.errors} writable and rerun to resume"
            )
            set_immutable(out.errors, on=False)
            assert sink.flush() == 0 and sink.unsaved_errors == 0
        assert sorted(line.id for line in out.error_lines()) == sorted(started)


def _job(i: int) -> Job:
    return ChatJob(
        id=f"j{i}", request={"model": "m", "messages": [{"role": "user", "content": str(i)}]}
    )


def test_an_error_in_a_worker_outside_the_job_reaches_the_run_and_run_log_has_its_traceback(
    tmp_path: Path,
) -> None:
    out = OutputDir(tmp_path)
    out.create()
    started: list[str] = []

    def run_job(job: Job) -> JobResult:
        started.append(job.id)

        def recorded() -> None:  # runs on the worker, after the line is written
            raise RuntimeError("the cache broke")

        result = JobResult(ResultLine(id=job.id, digest=job.digest, model="m", kind="chat"))
        result.recorded = recorded
        time.sleep(0.01)
        return result

    with (
        run_log(out.root / RUN_LOG),
        out.open_results() as results,
        out.open_errors() as errors,
    ):
        sink = ResultSink(results, errors, RunStats(), "run-1")
        executor = Executor(run_job, sink, ExecutorOptions(concurrency=2), resume=ResumeState())
        with pytest.raises(WorkerError, match="RuntimeError: the cache broke") as caught:
            executor.run(_job(i) for i in range(50))
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert len(started) <= 4  # dispatch stopped at the first one
    log = (out.root / RUN_LOG).read_text()
    assert "the worker raised RuntimeError; the run stops" in log
    assert "Traceback (most recent call last)" in log
    assert "RuntimeError: the cache broke" in log


def test_a_batch_whose_results_cannot_be_written_is_collected_by_the_rerun_not_paid_again(
    make_spec: MakeSpec, emulator_factory: Callable[..., Emulator], pipeline_data: Data
) -> None:
    emu = emulator_factory()
    data = pipeline_data(jobs=12, execution={"mode": "batch"})
    data["defaults"]["model"] = "grok-4.20-non-reasoning"
    spec = make_spec(data=data)
    fast = BatchSettings(page_size=4, poll_initial_s=0.01, poll_max_s=0.05, submit="requests")
    with tmpfs("4m") as fs:
        out = fs / "out"
        filled: list[Path] = []

        def notify(message: str) -> None:  # the disk fills once the batch holds every request
            if message.startswith("added"):
                filled.append(fill(fs))

        options = RunOptions(
            out_dir=out, api_key=emu.api_key, endpoint=emu.address, progress="quiet",
            batch=fast, notify=notify,
        )  # fmt: skip
        with pytest.raises(OutputWriteError, match=r"\[Errno 28\] No space left on device"):
            PipelineRun(spec, options).run()
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["status"] == "failed"
        assert manifest["batch"].get("collected") is not True
        assert emu.stats.calls["CreateBatch"] == 1
        added = emu.stats.calls["AddBatchRequests"]

        filled[0].unlink()
        options.notify = None
        assert PipelineRun(spec, options).run().status == "completed"
        assert emu.stats.calls["CreateBatch"] == 1  # re-attached: nothing paid twice
        assert emu.stats.calls["AddBatchRequests"] == added
        assert sorted(_ids_on_disk(out)) == sorted(f"q-{i}" for i in range(12))
