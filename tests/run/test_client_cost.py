"""What keeps a job's client CPU low (issue 11 item 4) without changing behaviour:
the collector's settings while jobs run, the plan's digests read back, no-op spans."""

from __future__ import annotations

import gc
import threading

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from xai_pipelines.plan import ChatJob, job_from_dict
from xai_pipelines.run.gctune import GEN0_THRESHOLD, calm_gc
from xai_pipelines.sdk import telemetry


def test_calm_gc_freezes_and_raises_the_threshold_then_restores_both():
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    with calm_gc():
        assert gc.get_threshold()[0] == max(GEN0_THRESHOLD, before[0])
        assert gc.get_freeze_count() > 0
        with calm_gc():  # nested (or another executor's thread): one setting
            assert gc.get_threshold()[0] == max(GEN0_THRESHOLD, before[0])
        assert gc.get_freeze_count() > 0  # the inner exit did not unfreeze
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1  # cycles made while calm are still collected
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_calm_gc_is_restored_by_the_last_of_concurrent_users():
    before = gc.get_threshold()
    inside = threading.Event()
    leave = threading.Event()

    def other() -> None:
        with calm_gc():
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=other)
    with calm_gc():
        thread.start()
        assert inside.wait(10)
    assert gc.get_threshold()[0] == max(GEN0_THRESHOLD, before[0])  # the other still runs
    leave.set()
    thread.join(10)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_a_job_read_back_from_its_plan_line_keeps_the_digest_written():
    job = ChatJob(id="a", request={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    line = job.to_dict()
    assert job_from_dict(line).digest == job.digest
    # the line's digest is the job's: it is not hashed again
    assert job_from_dict({**line, "digest": "d" * 64}).digest == "d" * 64
    # a line without one (an older writer) still gets it computed
    assert job_from_dict({k: v for k, v in line.items() if k != "digest"}).digest == job.digest


def test_recording_is_false_only_for_no_op_tracers():
    assert not telemetry.recording(trace.NoOpTracer())
    assert telemetry.recording(TracerProvider().get_tracer("t"))
    proxy = trace.ProxyTracerProvider().get_tracer("t")
    # a proxy records once a global provider is installed; not before
    expected = not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert telemetry.recording(proxy) is expected
