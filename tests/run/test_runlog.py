"""``run.log``: opened for a run and closed after, DEBUG by default, worker tracebacks, no key."""

from __future__ import annotations

import logging
from pathlib import Path

from xai_pipelines.plan import ChatJob
from xai_pipelines.run.executor import Executor, ExecutorOptions
from xai_pipelines.run.outcome import JobResult
from xai_pipelines.run.runlog import PACKAGE_LOGGER, run_log
from xai_pipelines.run.sink import ResultSink
from xai_pipelines.run.stats import RunStats
from xai_pipelines.store import OutputDir

KEY = "canary-run-log-key-1234"


def _job(i: int) -> ChatJob:
    return ChatJob(
        id=f"j{i}", request={"model": "m", "messages": [{"role": "user", "content": str(i)}]}
    )


def test_a_worker_bug_leaves_its_traceback_in_run_log(tmp_path: Path) -> None:
    def buggy(job: ChatJob) -> JobResult:
        return {}["no such key"]  # a runner bug, not an API error

    out = OutputDir(tmp_path / "o")
    out.create()
    stats = RunStats()
    with (
        run_log(out.root / "run.log", [KEY]),
        out.open_results(0.5) as results,
        out.open_errors(0.5) as errors,
    ):
        sink = ResultSink(results, errors, stats, "run-1")
        status = Executor(buggy, sink, ExecutorOptions(concurrency=1)).run([_job(0)])
    assert status == "failed" and stats.errors_by_code == {"CLIENT_ERROR": 1}
    text = (out.root / "run.log").read_text()
    assert "ERROR" in text and "job j0: the runner raised KeyError" in text
    assert "Traceback (most recent call last)" in text and "KeyError: 'no such key'" in text


def test_run_log_is_debug_by_default_redacts_and_is_detached_after(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    package = logging.getLogger(PACKAGE_LOGGER)
    before = (package.level, list(package.handlers))
    logger = logging.getLogger("xai_pipelines.run.something")
    with run_log(path, [KEY]):
        logger.debug("attempt 1 failed with %s", KEY)
        logger.info("authorization: Bearer %s", "abcdefghijklmnop")
    logger.warning("after the run")
    text = path.read_text()
    assert "DEBUG" in text and "attempt 1 failed with [REDACTED]" in text
    assert "Bearer [REDACTED]" in text and "abcdefghijklmnop" not in text and KEY not in text
    assert "after the run" not in text
    assert (package.level, list(package.handlers)) == before


def test_a_set_package_level_is_the_files_level(tmp_path: Path) -> None:
    package = logging.getLogger(PACKAGE_LOGGER)
    previous = package.level
    package.setLevel(logging.WARNING)
    try:
        with run_log(tmp_path / "run.log"):
            logging.getLogger("xai_pipelines.x").info("quiet")
            logging.getLogger("xai_pipelines.x").warning("loud")
    finally:
        package.setLevel(previous)
    text = (tmp_path / "run.log").read_text()
    assert "loud" in text and "quiet" not in text
