"""The session's typed parts: what the runners share is one typed record that matches them."""

from __future__ import annotations

import inspect
from dataclasses import fields

from xai_pipelines.run.jobrun import JobRunner
from xai_pipelines.run.session import RunnerShared


def test_runner_shared_is_exactly_the_runners_shared_options() -> None:
    params = set(inspect.signature(JobRunner.__init__).parameters) - {"self", "client", "hooks"}
    assert {f.name for f in fields(RunnerShared)} == params


def test_kwargs_replaces_only_what_it_is_given() -> None:
    shared = RunnerShared(None, {}, "r", None, None, None)  # type: ignore[arg-type]
    assert shared.kwargs()["run_id"] == "r" and shared.kwargs(run_id="x")["run_id"] == "x"
    assert set(shared.kwargs(cache=1)) == {f.name for f in fields(RunnerShared)}
