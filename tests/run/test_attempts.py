"""The run layer's on_attempt hook: error lines, rate-limit cut, deadline, abort."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from xai_pipelines.plan import ChatJob
from xai_pipelines.run.adaptive import AdaptiveConcurrency
from xai_pipelines.run.attempts import AttemptHooks
from xai_pipelines.run.outcome import JobFailed
from xai_pipelines.run.ratelimit import RateLimiter
from xai_pipelines.run.sink import ResultSink
from xai_pipelines.run.stats import RunStats
from xai_pipelines.sdk.errors import CancelledError, RateLimitError, UnavailableError
from xai_pipelines.sdk.retry import AttemptInfo
from xai_pipelines.store import OutputDir, read_jsonl

JOB = ChatJob(id="j0", request={"model": "m", "messages": [{"role": "user", "content": "x"}]})


@pytest.fixture
def hooks(tmp_path: Path) -> Iterator[AttemptHooks]:
    out = OutputDir(tmp_path)
    out.create()
    with out.open_results() as results, out.open_errors() as errors:
        yield AttemptHooks(
            ResultSink(results, errors, RunStats(), "run-1"),
            RateLimiter(),
            threading.Event(),
            AdaptiveConcurrency(8),
        )


def _errors(tmp_path: Path) -> list[tuple[str, int, bool]]:
    return [(e["code"], e["attempt"], e["final"]) for e in read_jsonl(tmp_path / "errors.jsonl")]


def test_a_retried_attempt_is_booked_and_a_final_one_left_to_the_executor(
    hooks: AttemptHooks, tmp_path: Path
) -> None:
    with hooks.scope(JOB, None) as scope:
        hooks.on_attempt(AttemptInfo(1, UnavailableError("down"), 0.01, will_retry=True))
        hooks.on_attempt(AttemptInfo(2, UnavailableError("down"), 0.0, will_retry=False))
    assert scope.failed_attempts == 1
    hooks.sink.errors.sync()
    assert _errors(tmp_path) == [("UNAVAILABLE", 1, False)]
    assert hooks.adaptive is not None and hooks.adaptive.cuts == 0


def test_a_rate_limit_error_cuts_the_calls_in_flight(hooks: AttemptHooks) -> None:
    assert hooks.adaptive is not None
    with hooks.scope(JOB, None) as scope:
        hooks.acquire(0)
        assert hooks.adaptive.in_flight == 1 and scope.place_since is not None
        hooks.on_attempt(AttemptInfo(1, RateLimitError("slow down"), 0.01, will_retry=True))
        assert hooks.adaptive.in_flight == 0  # waits for its retry without a place
    assert hooks.adaptive.cuts == 1 and hooks.adaptive.limit < 8


def test_a_sporadic_refusal_waits_one_window_and_an_overload_the_growing_backoff(
    hooks: AttemptHooks,
) -> None:
    adaptive = hooks.adaptive
    assert adaptive is not None
    with hooks.scope(JOB, None) as scope:  # few calls seen: not well over a limit
        hooks.on_attempt(AttemptInfo(3, RateLimitError("slow down"), 4.4, will_retry=True))
        assert 1.0 <= 4.4 + scope.extra_wait_s <= 1.2  # one window (plus jitter), not 4.4 s
        hooks.on_attempt(AttemptInfo(1, UnavailableError("down"), 4.4, will_retry=True))
        assert scope.extra_wait_s == 0  # other errors keep the policy's backoff
    for _ in range(adaptive.settings.min_samples):  # most recent calls refused: overloaded
        adaptive.note_rate_limited()
    assert adaptive.overloaded()
    with hooks.scope(JOB, None) as scope:
        hooks.on_attempt(AttemptInfo(3, RateLimitError("slow down"), 4.4, will_retry=True))
        assert scope.extra_wait_s == 0


def test_a_backoff_past_the_job_deadline_fails_the_job(hooks: AttemptHooks) -> None:
    with hooks.scope(JOB, 0.05), pytest.raises(JobFailed) as failed:
        hooks.on_attempt(AttemptInfo(1, UnavailableError("down"), 5.0, will_retry=True))
    assert failed.value.code == "DEADLINE_EXCEEDED"


def test_abort_fails_the_job_and_ends_a_backoff_at_once(hooks: AttemptHooks) -> None:
    hooks.abort.set()
    with hooks.scope(JOB, None), pytest.raises(JobFailed) as failed:
        hooks.on_attempt(AttemptInfo(1, UnavailableError("down"), 0.01, will_retry=True))
    assert failed.value.code == "CANCELLED"

    policy = hooks.policy(max_attempts=3, initial_backoff_s=30.0, max_backoff_s=30.0)
    hooks.abort.clear()
    calls: list[int] = []

    def flaky(attempt: int) -> None:
        calls.append(attempt)
        threading.Timer(0.05, hooks.abort.set).start()
        raise UnavailableError("down")

    started = time.monotonic()
    with pytest.raises(CancelledError):
        policy.call(flaky)
    assert calls == [1] and time.monotonic() - started < 5


def test_each_thread_and_each_task_books_attempts_to_its_own_job(hooks: AttemptHooks) -> None:
    """The scope lives in a context variable: concurrent jobs on threads or asyncio tasks never mix."""
    import asyncio

    seen: dict[str, str | None] = {}
    both_in_scope = threading.Barrier(2)

    def on_thread(job_id: str) -> None:
        with hooks.scope(ChatJob(id=job_id, request=JOB.request), None):
            both_in_scope.wait(timeout=5)
            current = hooks.current
            seen[job_id] = None if current is None else current.job.id

    threads = [threading.Thread(target=on_thread, args=(f"t{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    async def on_task(job_id: str) -> None:
        with hooks.scope(ChatJob(id=job_id, request=JOB.request), None):
            await asyncio.sleep(0.01)  # the other task enters its scope meanwhile
            current = hooks.current
            seen[job_id] = None if current is None else current.job.id

    async def both() -> None:
        await asyncio.gather(on_task("a0"), on_task("a1"))

    asyncio.run(both())
    assert seen == {"t0": "t0", "t1": "t1", "a0": "a0", "a1": "a1"}
    assert hooks.current is None


def test_an_aborted_run_starts_no_call_on_the_event_loop(hooks: AttemptHooks) -> None:
    """After an abort (a failed write), ``aacquire`` refuses even with a free place and no
    rate limit, as ``acquire`` does, and leaves no place taken."""

    async def take() -> None:
        with hooks.scope(JOB, None):
            await hooks.aacquire(0)

    asyncio.run(take())  # a free place: taken, and given back when the scope ended
    hooks.abort.set()
    with pytest.raises(JobFailed) as failed:
        asyncio.run(take())
    assert failed.value.code == "CANCELLED"
    assert hooks.adaptive is not None and hooks.adaptive.in_flight == 0
