"""``execution: {mode: batch}`` end to end against the emulator's BatchMgmt, over real gRPC."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from xai_pipelines.cli.app import app
from xai_pipelines.cli.connect import open_api
from xai_pipelines.emulator import Emulator, EmulatorConfig, FaultConfig
from xai_pipelines.run.batch_mode import BatchSettings
from xai_pipelines.run.session import PipelineRun, RunInputError, RunOptions
from xai_pipelines.sdk import Client
from xai_pipelines.spec import PipelineSpec
from xai_pipelines.store import read_jsonl

MakeSpec = Callable[..., PipelineSpec]
Data = Callable[..., dict[str, Any]]
#: Tests of the AddBatchRequests path pin it; the JSONL file path has its own tests
#: (tests/run/test_batch_file_mode.py) and the parametrized comparison below.
FAST = BatchSettings(page_size=4, poll_initial_s=0.01, poll_max_s=0.05, submit="requests")
#: Line fields that differ between two runs of the same job by nature.
VOLATILE = {"run_id", "finished_at", "latency_s", "ttft_s"}


def _data(pipeline_data: Data, mode: str = "batch", jobs: int = 6) -> dict[str, Any]:
    return pipeline_data(
        jobs=jobs,
        execution={"mode": mode},
        extra_chats=[
            {
                "name": "many",
                "id": "many",
                "n": 2,
                "messages": [{"system": "Be brief."}, {"user": "Name a colour."}],
            }
        ],
        images=[
            {
                "name": "img",
                "id": "fox",
                "prompt": "a red fox",
                "model": "grok-2-image",
                "n": 2,
                "format": "url",
            },
            {
                "name": "one",
                "id": "owl",
                "prompt": "an owl",
                "model": "grok-2-image",
                "format": "base64",
            },
        ],
    )


def _run(spec: PipelineSpec, out: Path, emu: Emulator, **kw: Any) -> Any:
    kw.setdefault("batch", FAST)
    opts = RunOptions(
        out_dir=out, api_key=emu.api_key, endpoint=emu.address, progress="quiet", **kw
    )
    return PipelineRun(spec, opts).run()


def _by_id(out: Path) -> dict[str, dict[str, Any]]:
    return {line["id"]: line for line in read_jsonl(out / "results.jsonl")}


def _content(line: dict[str, Any], out: Path) -> dict[str, Any]:
    """A result line without what differs by nature; image bytes instead of their URLs."""
    kept = {k: v for k, v in line.items() if k not in VOLATILE}
    for o in kept.get("outputs", []):
        o.pop("response_id")
    for image in kept.get("images", []):
        image["url"] = bool(image["url"])
        image["data"] = (out / image["path"]).read_bytes()
    return kept


@pytest.mark.parametrize("submit", ["requests", "file"])
def test_batch_results_match_an_online_run_job_for_job(
    make_spec: MakeSpec,
    pipeline_data: Data,
    emulator_factory: Callable[..., Emulator],
    tmp_path: Path,
    submit: str,
) -> None:
    # Both submission paths (AddBatchRequests, a JSONL input file) give the online lines.
    emu = emulator_factory()
    online = _run(make_spec(data=_data(pipeline_data, "online")), tmp_path / "online", emu)
    calls_before = dict(emu.stats.calls)
    batch_spec = make_spec(data=_data(pipeline_data))
    settings = dataclasses.replace(FAST, submit=submit)
    outcome = _run(batch_spec, tmp_path / "batch", emu, batch=settings)
    assert (online.status, outcome.status, outcome.exit_code) == ("completed", "completed", 0)
    calls = Counter(emu.stats.calls) - Counter(calls_before)
    if submit == "requests":  # 9 jobs, pages of 4
        assert calls["CreateBatch"] == 1 and calls["AddBatchRequests"] == 3
        assert calls["UploadFile"] == 0
    else:
        assert calls["CreateBatch"] == 1 and calls["AddBatchRequests"] == 0
        assert calls["UploadFile"] == 1
    assert calls["GetCompletion"] == 0 and calls["GenerateImage"] == 0
    a, b = _by_id(tmp_path / "online"), _by_id(tmp_path / "batch")
    assert set(a) == set(b) == {*(f"q-{i}" for i in range(6)), "many", "fox", "owl"}
    for job_id in a:
        assert _content(b[job_id], tmp_path / "batch") == _content(a[job_id], tmp_path / "online")
    assert len(b["many"]["outputs"]) == 2 and b["fox"]["usage"]["images"] == 2
    assert all(line["latency_s"] is None for line in b.values())
    usage_a = json.loads((tmp_path / "online" / "usage.json").read_text())["totals"]
    usage_b = json.loads((tmp_path / "batch" / "usage.json").read_text())["totals"]
    for key in ("jobs", "failed", "requests", "tokens", "images", "cost_usd_ticks"):
        assert usage_b[key] == usage_a[key], key
    assert usage_b["cost_usd"] > 0 and usage_b["tokens"]["completion"] > 0
    manifest = json.loads((tmp_path / "batch" / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["batch"]["batch_id"].startswith("batch_")
    assert manifest["batch"]["requests"] == 9 and manifest["batch"]["spec_digest"]
    assert manifest["batch"]["submitted"] == submit and manifest["batch"]["added"] == 9
    assert ("input_file_id" in manifest["batch"]) == (submit == "file")
    assert not list((tmp_path / "batch").glob(".batch-*"))  # spool and input file removed
    assert "emulator-key" not in (tmp_path / "batch" / "manifest.json").read_text()


def test_restarted_run_reattaches_to_its_batch_instead_of_resubmitting(
    make_spec: MakeSpec, pipeline_data: Data, emulator_factory: Callable[..., Emulator], tmp_path
) -> None:
    # 0.3 s per request: the batch cannot be finished at the first poll, where Ctrl-C lands
    emu = emulator_factory(EmulatorConfig(batch_request_delay_s=0.3))
    spec = make_spec(jobs=6, execution={"mode": "batch"})
    out = tmp_path / "out"
    messages: list[str] = []
    run = PipelineRun(
        spec,
        RunOptions(out_dir=out, api_key=emu.api_key, endpoint=emu.address, progress="quiet",
                   batch=FAST, notify=messages.append),
    )  # fmt: skip

    def ctrl_c_after_submit(message: str) -> None:
        messages.append(message)
        if message.startswith("added"):
            run.interrupts.stop.set()

    run.options.notify = ctrl_c_after_submit
    first = run.run()
    assert (first.status, first.exit_code) == ("interrupted", 130)
    assert any("re-attach" in m and "cancel" in m for m in messages)
    added = emu.stats.calls["AddBatchRequests"]
    assert emu.stats.calls["CreateBatch"] == 1 and added == 2
    manifest = json.loads((out / "manifest.json").read_text())
    batch_id = manifest["batch"]["batch_id"]
    messages.clear()
    second = _run(spec, out, emu, notify=messages.append)
    assert (second.status, second.exit_code) == ("completed", 0)
    assert emu.stats.calls["CreateBatch"] == 1 and emu.stats.calls["AddBatchRequests"] == added
    assert f"re-attached to batch {batch_id}" in messages
    ids = Counter(line["id"] for line in read_jsonl(out / "results.jsonl"))
    assert ids == Counter({f"q-{i}": 1 for i in range(6)})
    assert json.loads((out / "manifest.json").read_text())["batch"]["batch_id"] == batch_id
    third = _run(spec, out, emu)  # all done: nothing is sent
    assert third.status == "completed" and third.stats["skipped"] == 6
    assert emu.stats.calls["CreateBatch"] == 1


@pytest.mark.slow
def test_cancelled_and_failed_requests_are_reported_and_retried_in_a_new_batch(
    make_spec: MakeSpec, pipeline_data: Data, emulator_factory: Callable[..., Emulator], tmp_path
) -> None:
    emu = emulator_factory(EmulatorConfig(batch_request_delay_s=0.3))
    data = pipeline_data(
        jobs=4,
        execution={"mode": "batch"},
        extra_chats=[{"name": "bad", "id": "bad", "model": "grok-99",
                      "messages": [{"user": "hi"}]}],
    )  # fmt: skip
    spec = make_spec(data=data)
    out = tmp_path / "out"
    run = PipelineRun(
        spec,
        RunOptions(out_dir=out, api_key=emu.api_key, endpoint=emu.address, progress="quiet",
                   batch=FAST),
    )  # fmt: skip
    run.options.notify = lambda m: run.interrupts.stop.set() if m.startswith("added") else None
    assert run.run().status == "interrupted"
    batch_id = json.loads((out / "manifest.json").read_text())["batch"]["batch_id"]
    with Client(api_key=emu.api_key, api_host=emu.address) as client:
        client.batch.cancel(batch_id)
    outcome = _run(spec, out, emu)
    assert (outcome.status, outcome.exit_code) == ("failed", 1)
    finals = {e["id"]: e for e in read_jsonl(out / "errors.jsonl") if e["final"]}
    done = set(_by_id(out))
    assert done | set(finals) == {"q-0", "q-1", "q-2", "q-3", "bad"} and not done & set(finals)
    assert {e["code"] for e in finals.values()} <= {"CANCELLED", "NOT_FOUND", "INVALID_ARGUMENT"}
    assert any(e["code"] == "CANCELLED" and batch_id in e["message"] for e in finals.values())
    # the run ended: its batch is collected, so a re-run submits what is left as a new batch
    emu_calls = emu.stats.calls["CreateBatch"]
    again = _run(spec, out, emu)
    assert emu.stats.calls["CreateBatch"] == emu_calls + 1
    assert set(_by_id(out)) == {"q-0", "q-1", "q-2", "q-3"} and again.status == "failed"
    last = [e for e in read_jsonl(out / "errors.jsonl") if e["final"]][-1]
    assert last["id"] == "bad" and last["code"] in {"NOT_FOUND", "INVALID_ARGUMENT"}


def test_local_run_resubmits_when_the_recorded_batch_is_gone(
    make_spec: MakeSpec, tmp_path: Path
) -> None:
    spec = make_spec(jobs=3, execution={"mode": "batch"})
    out = tmp_path / "out"
    with open_api(local=True, emulator_config=EmulatorConfig(batch_request_delay_s=0.3)) as api:
        opts = RunOptions(out_dir=out, api_key=api.api_key, endpoint=api.address, local=True,
                          progress="quiet", batch=FAST)  # fmt: skip
        run = PipelineRun(spec, opts)
        opts.notify = lambda m: run.interrupts.stop.set() if m.startswith("added") else None
        assert run.run().status == "interrupted"
    messages: list[str] = []
    with open_api(local=True) as api:  # a new emulator: the recorded batch is gone
        local = RunOptions(out_dir=out, api_key=api.api_key, endpoint=api.address, local=True,
                           progress="quiet", batch=FAST, notify=messages.append)  # fmt: skip
        outcome = PipelineRun(spec, local).run()
    assert outcome.status == "completed" and len(_by_id(out)) == 3
    assert any("is gone from the server" in m for m in messages)


@pytest.mark.parametrize(
    ("chat", "words"),
    [
        ({"mode": "stream"}, ["'s-0'", "'s'", "mode: stream"]),
        ({"mode": "defer"}, ["'s-0'", "mode: defer"]),
        ({"turns": [{"user": "And?"}]}, ["'s-0'", "'s'", "2 turns"]),
    ],
)
def test_jobs_a_batch_cannot_carry_are_refused_before_anything_is_sent(
    make_spec: MakeSpec,
    pipeline_data: Data,
    emulator_factory: Callable[..., Emulator],
    tmp_path: Path,
    chat: dict[str, Any],
    words: list[str],
) -> None:
    emu = emulator_factory()
    extra = {"name": "s", "id": "s-{{ repeat }}", "repeat": 2,
             "messages": [{"user": "Hi"}], **chat}  # fmt: skip
    spec = make_spec(data=pipeline_data(jobs=2, execution={"mode": "batch"}, extra_chats=[extra]))
    with pytest.raises(RunInputError) as caught:
        _run(spec, tmp_path / "out", emu)
    assert all(w in str(caught.value) for w in words), str(caught.value)
    assert emu.stats.total_calls == 0


def test_cli_refuses_a_multi_turn_batch_with_exit_2(pipeline_data: Data, tmp_path: Path) -> None:
    extra = {"name": "talk", "id": "talk", "messages": [{"user": "Hi"}],
             "turns": [{"user": "More"}]}  # fmt: skip
    path = tmp_path / "p.yaml"
    data = pipeline_data(jobs=1, execution={"mode": "batch"}, extra_chats=[extra])
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    proc = subprocess.run(
        [sys.executable, "-m", "xai_pipelines.cli.app", "run", str(path), "--local", "-q",
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "talk" in proc.stderr and "mode: online" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_ctrl_c_in_a_real_process_leaves_the_batch_running_and_a_rerun_collects_it(
    pipeline_data: Data, emulator_factory: Callable[..., Emulator], tmp_path: Path
) -> None:
    emu = emulator_factory(EmulatorConfig(batch_request_delay_s=0.3))
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(pipeline_data(jobs=4, execution={"mode": "batch"})))
    env = {**os.environ, "XAI_API_KEY": emu.api_key}
    args = [sys.executable, "-m", "xai_pipelines.cli.app", "run", str(path), "-q",
            "--endpoint", emu.address, "--out", str(tmp_path / "out")]  # fmt: skip
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("added 4 requests"):
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, "".join(seen) + rest
    assert "left running on the server" in rest and "re-attach" in rest
    assert "Traceback" not in rest
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["batch"]["requests"] == 4
    again = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 0, again.stderr
    assert f"re-attached to batch {manifest['batch']['batch_id']}" in again.stderr
    # the CLI's default (auto) sent the jobs in one JSONL input file; the rerun sent nothing
    calls = emu.stats.calls
    assert calls["CreateBatch"] == 1 and calls["UploadFile"] == 1
    assert calls.get("AddBatchRequests", 0) == 0
    assert len(_by_id(tmp_path / "out")) == 4


def test_a_failing_batch_api_fails_the_run_and_a_rerun_reattaches(
    make_spec: MakeSpec, emulator_factory: Callable[..., Emulator], tmp_path: Path
) -> None:
    broken = FaultConfig(unavailable_rate=1.0, methods=("/xai_api.BatchMgmt/GetBatch",))
    emu = emulator_factory(EmulatorConfig(faults=broken))
    spec = make_spec(jobs=3, execution={"mode": "batch"})
    out = tmp_path / "out"
    messages: list[str] = []
    first = _run(spec, out, emu, notify=messages.append)
    assert (first.status, first.exit_code) == ("failed", 1)
    assert any("a batch API call failed: UNAVAILABLE" in m for m in messages)
    assert any("Run the same command again" in m for m in messages)
    batch = json.loads((out / "manifest.json").read_text())["batch"]
    assert batch["collected"] is False and batch["requests"] == 3
    emu.set_faults(FaultConfig())
    second = _run(spec, out, emu)
    assert second.status == "completed" and len(_by_id(out)) == 3
    assert emu.stats.calls["CreateBatch"] == 1
    assert json.loads((out / "manifest.json").read_text())["batch"]["collected"] is True
    fresh = _run(make_spec(jobs=3, execution={"mode": "batch"}), tmp_path / "other", emu)
    assert fresh.status == "completed" and emu.stats.calls["CreateBatch"] == 2


def test_create_batch_refused_fails_the_run_without_a_traceback(
    make_spec: MakeSpec, emulator_factory: Callable[..., Emulator], tmp_path: Path
) -> None:
    broken = FaultConfig(internal_rate=1.0, methods=("/xai_api.BatchMgmt/CreateBatch",))
    emu = emulator_factory(EmulatorConfig(faults=broken))
    spec = make_spec(jobs=2, execution={"mode": "batch"})
    messages: list[str] = []
    outcome = _run(spec, tmp_path / "out", emu, notify=messages.append)
    assert outcome.status == "failed" and "AddBatchRequests" not in emu.stats.calls
    assert any("INTERNAL" in m for m in messages)
    assert "batch" not in json.loads((tmp_path / "out" / "manifest.json").read_text())


def test_validate_names_the_job_a_batch_cannot_carry(pipeline_data: Data, tmp_path: Path) -> None:
    extra = {"name": "live", "id": "live", "mode": "stream", "messages": [{"user": "Hi"}]}
    bad, good = tmp_path / "bad.yaml", tmp_path / "good.yaml"
    bad.write_text(yaml.safe_dump(pipeline_data(jobs=1, execution={"mode": "batch"},
                                                extra_chats=[extra])))  # fmt: skip
    good.write_text(yaml.safe_dump(pipeline_data(jobs=1, execution={"mode": "batch"})))
    result = CliRunner().invoke(app, ["validate", str(good), str(bad)])
    assert result.exit_code == 2
    assert f"ok: {good}" in result.output and "'live'" in result.output
    assert "mode: stream" in result.output
