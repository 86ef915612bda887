"""The executor with an in-process job function: bounded in-flight, lazy plan, stops."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from xai_pipelines.plan import ChatJob
from xai_pipelines.records import ResultLine
from xai_pipelines.run.executor import Executor, ExecutorOptions
from xai_pipelines.run.outcome import JobFailed, JobResult
from xai_pipelines.run.sink import ResultSink
from xai_pipelines.run.stats import RunStats
from xai_pipelines.sdk.errors import AuthenticationError
from xai_pipelines.store import OutputDir, ResumeState, read_jsonl


def _job(i: int) -> ChatJob:
    return ChatJob(
        id=f"j{i}", request={"model": "m", "messages": [{"role": "user", "content": str(i)}]}
    )


def _ok(job: ChatJob, cost: int = 0) -> JobResult:
    return JobResult(ResultLine(id=job.id, digest=job.digest, model="m", kind="chat"), 3, 0, cost)


class CountingPlan:
    """A lazy plan that tracks how far it was pulled ahead of finished jobs."""

    def __init__(self, n: int, stats: RunStats) -> None:
        self.n = n
        self.stats = stats
        self.pulled = 0
        self.max_ahead = 0

    def __iter__(self) -> Iterator[ChatJob]:
        for i in range(self.n):
            self.pulled += 1
            finished = self.stats.done + self.stats.failed + self.stats.skipped
            self.max_ahead = max(self.max_ahead, self.pulled - finished)
            yield _job(i)


_open: list[ResultSink] = []


def _sink(tmp_path: Path, stats: RunStats) -> ResultSink:
    out = OutputDir(tmp_path)
    out.create()
    sink = ResultSink(out.open_results(), out.open_errors(), stats, "run-1")
    _open.append(sink)
    return sink


@pytest.fixture(autouse=True)
def _close_sinks() -> Iterator[None]:
    yield
    while _open:
        sink = _open.pop()
        sink.results.close()
        sink.errors.close()


@pytest.mark.parametrize("jobs", [2_500, 10_000])
def test_a_plan_is_consumed_lazily_with_a_lookahead_independent_of_its_size(
    tmp_path: Path, jobs: int
) -> None:
    """The executor pulls at most one job beyond those in flight, whatever the plan's length.

    The bound is a constant (concurrency + 1), checked at two sizes four times apart.
    """
    stats = RunStats()
    sink = _sink(tmp_path, stats)
    plan = CountingPlan(jobs, stats)
    ex = Executor(_ok, sink, ExecutorOptions(concurrency=8))
    assert ex.run(plan) == "completed"
    sink.results.close()
    assert plan.pulled == jobs and stats.done == jobs
    assert plan.max_ahead <= 8 + 1  # in flight + the one being handed over
    ids = {line["id"] for line in read_jsonl(tmp_path / "results.jsonl")}
    assert len(ids) == jobs


def test_concurrency_is_bounded_and_used(tmp_path: Path) -> None:
    stats = RunStats()
    lock = threading.Lock()
    running, peak = 0, 0
    barrier = threading.Barrier(4, timeout=10)

    def run(job: ChatJob) -> JobResult:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        if job.id in {"j0", "j1", "j2", "j3"}:
            barrier.wait()  # all four slots must be busy at once
        with lock:
            running -= 1
        return _ok(job)

    assert (
        Executor(run, _sink(tmp_path, stats), ExecutorOptions(concurrency=4)).run(
            _job(i) for i in range(40)
        )
        == "completed"
    )
    assert peak == 4


def test_failures_continue_or_fail_fast(tmp_path: Path) -> None:
    def run(job: ChatJob) -> JobResult:
        if job.id == "j3":
            raise JobFailed("INVALID_ARGUMENT", "bad request", attempts=1)
        return _ok(job)

    stats = RunStats()
    status = Executor(run, _sink(tmp_path / "a", stats), ExecutorOptions(concurrency=1)).run(
        _job(i) for i in range(10)
    )
    assert status == "failed" and stats.done == 9 and stats.failed == 1
    errors = list(read_jsonl(tmp_path / "a" / "errors.jsonl"))
    assert (
        errors[0]["id"] == "j3" and errors[0]["final"] and errors[0]["code"] == "INVALID_ARGUMENT"
    )

    stats = RunStats()
    opts = ExecutorOptions(concurrency=1, on_error="fail_fast")
    status = Executor(run, _sink(tmp_path / "b", stats), opts).run(_job(i) for i in range(10))
    assert status == "failed" and stats.done == 3 and stats.failed == 1


def test_a_refused_key_stops_dispatch_even_with_continue(tmp_path: Path) -> None:
    def run(job: ChatJob) -> JobResult:
        if job.id == "j2":
            refused = AuthenticationError("invalid key")
            raise JobFailed(refused.code, refused.message, attempts=1) from refused
        return _ok(job)

    stats = RunStats()
    opts = ExecutorOptions(concurrency=1, on_error="continue")
    status = Executor(run, _sink(tmp_path, stats), opts).run(_job(i) for i in range(10))
    assert status == "failed" and stats.done == 2 and stats.failed == 1


def test_a_crashing_runner_fails_the_job_not_the_run(tmp_path: Path) -> None:
    def run(job: ChatJob) -> JobResult:
        raise RuntimeError("boom")

    stats = RunStats()
    assert Executor(run, _sink(tmp_path, stats), ExecutorOptions()).run([_job(0)]) == "failed"
    assert stats.errors_by_code == {"CLIENT_ERROR": 1}


def test_budget_stops_dispatch(tmp_path: Path) -> None:
    stats = RunStats()
    opts = ExecutorOptions(concurrency=1, budget_usd=0.000001)  # 10,000 ticks
    ex = Executor(lambda job: _ok(job, cost=3000), _sink(tmp_path, stats), opts)
    assert ex.run(_job(i) for i in range(100)) == "budget_exhausted"
    assert stats.done == 4 and stats.cost_ticks == 12000


def test_resume_state_skips_finished_jobs_by_id_and_digest(tmp_path: Path) -> None:
    stats = RunStats()
    seen: list[str] = []

    def run(job: ChatJob) -> JobResult:
        seen.append(job.id)
        return _ok(job)

    resume = ResumeState(finished={"j0": _job(0).digest, "j1": "stale-digest"})
    ex = Executor(run, _sink(tmp_path, stats), ExecutorOptions(concurrency=1), resume=resume)
    assert ex.run(_job(i) for i in range(3)) == "completed"
    assert seen == ["j1", "j2"] and stats.skipped == 1


def test_stop_event_interrupts_and_grace_expiry_aborts(tmp_path: Path) -> None:
    stats = RunStats()
    stop = threading.Event()
    release = threading.Event()

    def run(job: ChatJob) -> JobResult:
        if job.id == "j1":
            stop.set()
        if job.id == "j0":
            release.wait(10)  # outlives the grace period
        return _ok(job)

    opts = ExecutorOptions(concurrency=2, grace_s=0.2)
    ex = Executor(run, _sink(tmp_path, stats), opts, stop=stop)
    assert ex.run(_job(i) for i in range(50)) == "interrupted"
    assert ex.abort.is_set()
    release.set()
    assert stats.done + stats.in_flight <= 2


def test_options_validate() -> None:
    with pytest.raises(ValueError):
        ExecutorOptions(concurrency=0)


def test_a_plan_that_cannot_be_read_further_fails_the_run_with_its_error(tmp_path: Path) -> None:
    """The plan's error is raised by run(); the jobs finished before it are recorded."""

    def plan() -> Iterator[ChatJob]:
        yield from (_job(i) for i in range(5))
        raise ValueError("plan.jsonl:6: damaged JSON line")

    stats = RunStats()
    ex = Executor(_ok, _sink(tmp_path, stats), ExecutorOptions(concurrency=1))
    with pytest.raises(ValueError, match="damaged JSON line"):
        ex.run(plan())
    assert stats.done == 5


def test_jobs_run_on_at_most_concurrency_workers_and_few_for_a_small_plan(tmp_path: Path) -> None:
    """Workers pull jobs one after another: never more tasks than ``concurrency`` (plus
    the loop's own), and a 3-job plan at concurrency 5,000 starts a handful, not 5,000."""
    import asyncio

    def tasks_seen(jobs: int, concurrency: int) -> int:
        peak = 0

        async def run(job: ChatJob) -> JobResult:
            nonlocal peak
            peak = max(peak, len(asyncio.all_tasks()))
            await asyncio.sleep(0.001)
            return _ok(job)

        stats = RunStats()
        ex = Executor(run, _sink(tmp_path / f"{jobs}-{concurrency}", stats),
                      ExecutorOptions(concurrency=concurrency))  # fmt: skip
        assert ex.run(_job(i) for i in range(jobs)) == "completed"
        assert stats.done == jobs
        return peak

    # besides the workers: the run's main task, the idle wait it times out on, and
    # the one worker started by the last job taken, which finds the plan ended
    assert tasks_seen(200, 8) <= 8 + 3
    assert tasks_seen(3, 5_000) <= 3 + 3
