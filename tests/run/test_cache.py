"""The response cache in whole runs, in-process against the emulator over real gRPC."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from xai_pipelines.cli.app import app
from xai_pipelines.emulator import Emulator, EmulatorConfig, FaultConfig
from xai_pipelines.evals import Grader
from xai_pipelines.plan import iter_jobs
from xai_pipelines.run.batch_mode import BatchSettings
from xai_pipelines.run.cache import CachedGrader, JobCache, ResponseCache
from xai_pipelines.run.session import PipelineRun, RunOptions
from xai_pipelines.sdk import Client, RetryPolicy
from xai_pipelines.spec import PipelineSpec, load_pipeline
from xai_pipelines.spec.flags import RunFlags, with_flags
from xai_pipelines.store import read_jsonl

MakeSpec = Callable[..., PipelineSpec]
Data = Callable[..., dict[str, Any]]
REPO = Path(__file__).resolve().parents[2]
EVAL = REPO / "pipelines" / "eval.yaml"
EVAL_RESPONSES = REPO / "pipelines" / "responses" / "eval.yaml"
#: The only calls a run makes besides its jobs: the model listing (prices, served names).
LISTING = {"ListLanguageModels", "ListImageGenerationModels"}
#: Fields of a result line that a hit serves from the stored answer, unchanged.
ANSWER = ("mode", "content", "outputs", "turns", "prompt", "image_model")


def _run(
    spec: PipelineSpec,
    out: Path,
    emu: Emulator,
    cache: Path | None,
    no_cache: bool = False,
    **kw: Any,
) -> Any:
    opts = RunOptions(
        out_dir=out, api_key=emu.api_key, endpoint=emu.address, progress="quiet", **kw
    )
    spec = with_flags(spec, RunFlags(cache_dir=cache, no_cache=no_cache))
    return PipelineRun(spec, opts).run()


def _lines(out: Path) -> dict[str, dict[str, Any]]:
    return {line["id"]: line for line in read_jsonl(out / "results.jsonl")}


def _calls(emu: Emulator) -> Counter[str]:
    return Counter(emu.stats.calls)


def _paid(before: Counter[str], after: Counter[str]) -> Counter[str]:
    """Calls made between two snapshots, apart from the model listing."""
    return Counter({k: n for k, n in (after - before).items() if k not in LISTING})


def _count(cache: Path, kind: str | None = None) -> int:
    store = ResponseCache(cache)
    try:
        return store.count(kind)
    finally:
        store.close()


def test_eval_example_rerun_into_a_new_directory_makes_no_api_call(
    emulator_factory: Callable[..., Emulator], tmp_path: Path
) -> None:
    emu = emulator_factory(EmulatorConfig(responses_file=EVAL_RESPONSES))
    spec, cache = load_pipeline(EVAL), tmp_path / "cache"
    start = _calls(emu)
    first = _run(spec, tmp_path / "one", emu, cache)
    after_first = _calls(emu)
    assert _paid(start, after_first)["GetCompletion"] > 0
    second = _run(spec, tmp_path / "two", emu, cache)
    assert _paid(after_first, _calls(emu)) == Counter()  # not one chat, image or grader call
    assert first.status == second.status == "completed"

    one, two = _lines(tmp_path / "one"), _lines(tmp_path / "two")
    assert one.keys() == two.keys() and len(two) == 43
    for job_id, new in two.items():
        old = one[job_id]
        assert "cached" not in old  # lines of real calls carry no cached key
        for key in ANSWER:
            assert new.get(key) == old.get(key), (job_id, key)
        # the result-line contract of a hit
        assert new["cached"] is True
        assert new["cost_usd_ticks"] == 0 and new["cost_source"] == "cache"
        assert {k: v for k, v in new["usage"].items() if k != "cost_usd_ticks"} == {
            k: v for k, v in old["usage"].items() if k != "cost_usd_ticks"
        }
        assert new["calls"] == new["attempts"] == 0 and new["ttft_s"] is None
        assert new["cache"]["job_id"] == job_id
        assert new["cache"]["run_id"] == first.run_id
        assert new["cache"]["cost_usd_ticks"] == old["cost_usd_ticks"]
        # scores are evaluated again and agree; the grader's verdicts came from the cache
        assert new["scores"]["assertions"] == old["scores"]["assertions"]
        if "grader" in old["scores"]:
            assert new["scores"]["grader"]["usage"]["cost_usd_ticks"] == 0
            assert new["scores"]["grader"]["usage"]["cache_hits"] == 1
    interview = two["interview-grok-4.3"]
    assert interview["mode"] == "stream" and len(interview["turns"]) == 2
    assert one["interview-grok-4.3"]["ttft_s"] is not None
    flag = two["flag-france"]
    assert [i["path"] for i in flag["images"]] == [
        "images/flag-france/0.png",
        "images/flag-france/1.png",
    ]
    for old_img, new_img in zip(one["flag-france"]["images"], flag["images"], strict=True):
        old_bytes = (tmp_path / "one" / old_img["path"]).read_bytes()
        assert (tmp_path / "two" / new_img["path"]).read_bytes() == old_bytes
        assert new_img == old_img
    assert second.usage["evals"]["passed"] == first.usage["evals"]["passed"]
    assert _count(cache, "chat") == 42 and _count(cache, "image") == 1
    assert _count(cache, "grader") == 2


def test_repeats_get_distinct_slots(
    make_spec: MakeSpec, emulator_factory: Callable[..., Emulator], tmp_path: Path
) -> None:
    emu = emulator_factory()
    images = [
        {
            "name": "img",
            "id": "fox-{{ repeat }}",
            "repeat": 2,
            "prompt": "a red fox",
            "model": "grok-imagine-image",
            "format": "base64",
        }
    ]
    spec = make_spec(jobs=3, images=images)  # q-0..q-2: one chat request repeated 3 times
    cache = tmp_path / "cache"
    _run(spec, tmp_path / "one", emu, cache)
    assert _count(cache, "chat") == 3 and _count(cache, "image") == 2
    before = _calls(emu)
    _run(spec, tmp_path / "two", emu, cache)
    assert _paid(before, _calls(emu)) == Counter()
    one, two = _lines(tmp_path / "one"), _lines(tmp_path / "two")
    for job_id in one:
        assert two[job_id]["cached"] is True
        assert two[job_id]["content" if job_id.startswith("q") else "images"] is not None
        assert two[job_id]["cache"]["job_id"] == job_id  # each repeat got its own answer back
        if job_id.startswith("q"):
            assert two[job_id]["outputs"] == one[job_id]["outputs"]


def test_a_changed_request_misses_and_a_changed_expect_is_scored_afresh(
    make_spec: MakeSpec,
    pipeline_data: Data,
    emulator_factory: Callable[..., Emulator],
    tmp_path: Path,
) -> None:
    emu = emulator_factory()
    data = pipeline_data(
        jobs=3, extra_chats=[{"name": "x", "id": "x", "messages": [{"user": "Say hi."}]}]
    )
    cache = tmp_path / "cache"
    _run(make_spec(data=data), tmp_path / "one", emu, cache)
    data["chats"][1]["messages"] = [{"user": "Say hello."}]  # the request changes
    data["chats"][0]["expect"] = [{"contains": "no answer says this"}]  # only the check changes
    before = _calls(emu)
    _run(make_spec(data=data), tmp_path / "two", emu, cache)
    assert _paid(before, _calls(emu)) == Counter({"GetCompletion": 1})
    two = _lines(tmp_path / "two")
    assert "cached" not in two["x"]
    for job_id in ("q-0", "q-1", "q-2"):
        assert two[job_id]["cached"] is True
        assert two[job_id]["scores"]["passed"] is False
        assert "no answer says this" in two[job_id]["scores"]["assertions"][0]["reason"]


def test_failed_jobs_are_never_cached(
    make_spec: MakeSpec, emulator_factory: Callable[..., Emulator], tmp_path: Path
) -> None:
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(seed=5, unavailable_rate=0.5)))
    spec = make_spec(jobs=24, execution={"retries": {"max_attempts": 1}})
    cache = tmp_path / "cache"
    first = _run(spec, tmp_path / "one", emu, cache)
    ok = set(_lines(tmp_path / "one"))
    failed = {e["id"] for e in read_jsonl(tmp_path / "one" / "errors.jsonl") if e["final"]}
    assert first.status == "failed" and ok and failed and not ok & failed
    assert _count(cache) == len(ok)
    store = ResponseCache(cache)
    keys = JobCache(store, "127.0.0.1")
    for job in iter_jobs(spec):
        assert (store.get(keys.key(job)) is not None) == (job.id in ok)
    store.close()

    emu.set_faults(FaultConfig())
    before = _calls(emu)
    second = _run(spec, tmp_path / "two", emu, cache)
    assert second.status == "completed"
    assert _paid(before, _calls(emu)) == Counter({"GetCompletion": len(failed)})
    two = _lines(tmp_path / "two")
    assert {i for i, line in two.items() if line.get("cached")} == ok
    assert _count(cache) == 24


def test_entries_older_than_the_ttl_are_not_reused(
    make_spec: MakeSpec,
    pipeline_data: Data,
    emulator_factory: Callable[..., Emulator],
    tmp_path: Path,
) -> None:
    emu = emulator_factory()
    cache = tmp_path / "cache"
    spec = make_spec(
        data=pipeline_data(jobs=4, execution={"cache": {"dir": str(cache), "ttl": "400ms"}})
    )
    assert spec.execution.cache is not None and spec.execution.cache.ttl_s == 0.4
    _run(spec, tmp_path / "one", emu, None)  # the pipeline's own execution.cache
    time.sleep(0.45)
    before = _calls(emu)
    _run(spec, tmp_path / "two", emu, None)
    assert _paid(before, _calls(emu)) == Counter({"GetCompletion": 4})
    assert not any(line.get("cached") for line in _lines(tmp_path / "two").values())
    assert _count(cache) == 4  # the expired entries were replaced
    _run(spec, tmp_path / "three", emu, None)
    assert all(line["cached"] for line in _lines(tmp_path / "three").values())


def test_the_flag_overrides_the_file_and_no_cache_turns_it_off(
    make_spec: MakeSpec,
    pipeline_data: Data,
    emulator_factory: Callable[..., Emulator],
    tmp_path: Path,
) -> None:
    emu = emulator_factory()
    in_file, flag = tmp_path / "in-file", tmp_path / "flag"
    spec = make_spec(data=pipeline_data(jobs=2, execution={"cache": {"dir": str(in_file)}}))
    _run(spec, tmp_path / "one", emu, flag)
    assert not in_file.exists() and _count(flag) == 2
    _run(spec, tmp_path / "two", emu, None, no_cache=True)
    assert not in_file.exists()
    assert not any(line.get("cached") for line in _lines(tmp_path / "two").values())
    _run(spec, tmp_path / "three", emu, flag)
    assert all(line["cached"] for line in _lines(tmp_path / "three").values())


def test_a_hit_takes_no_rate_limit_token(
    make_spec: MakeSpec,
    pipeline_data: Data,
    emulator_factory: Callable[..., Emulator],
    tmp_path: Path,
) -> None:
    emu = emulator_factory()
    cache = tmp_path / "cache"
    _run(make_spec(data=pipeline_data(jobs=12)), tmp_path / "one", emu, cache)
    # one request a minute: a single token taken per job would stall this run for minutes
    slow = pipeline_data(jobs=12, execution={"rate_limit": {"requests_per_minute": 1}})
    started = time.monotonic()
    outcome = _run(make_spec(data=slow), tmp_path / "two", emu, cache)
    assert outcome.status == "completed" and time.monotonic() - started < 10
    assert all(line["cached"] for line in _lines(tmp_path / "two").values())


def test_batch_mode_serves_hits_locally_and_submits_only_misses(
    make_spec: MakeSpec,
    pipeline_data: Data,
    emulator_factory: Callable[..., Emulator],
    tmp_path: Path,
) -> None:
    emu = emulator_factory()
    cache = tmp_path / "cache"
    fast = BatchSettings(page_size=4, poll_initial_s=0.01, poll_max_s=0.05, submit="requests")
    _run(make_spec(data=pipeline_data(jobs=5)), tmp_path / "online", emu, cache)
    extra = [{"name": "x", "id": "x", "messages": [{"user": "Something new."}]}]
    batch = make_spec(data=pipeline_data(jobs=5, execution={"mode": "batch"}, extra_chats=extra))
    before = _calls(emu)
    outcome = _run(batch, tmp_path / "batch", emu, cache, batch=fast)
    assert outcome.status == "completed"
    lines = _lines(tmp_path / "batch")
    assert {i for i, line in lines.items() if line.get("cached")} == {f"q-{i}" for i in range(5)}
    assert "cached" not in lines["x"]
    made = _paid(before, _calls(emu))
    assert made["CreateBatch"] == 1 and made["AddBatchRequests"] == 1
    assert made["GetCompletion"] == 0
    manifest = json.loads((tmp_path / "batch" / "manifest.json").read_text())
    assert manifest["batch"]["added"] == 1  # only the miss went into the batch
    # the batch's answer was stored: a third run needs no batch at all
    before = _calls(emu)
    again = _run(batch, tmp_path / "again", emu, cache, batch=fast)
    assert again.status == "completed" and _paid(before, _calls(emu)) == Counter()
    assert all(line["cached"] for line in _lines(tmp_path / "again").values())


RUBRIC_RULES = [
    {"regex": r"(?s)^Grade the answer", "json": {"pass": True, "score": 1, "reason": "ok"}}
]


def test_grader_verdicts_are_cached_but_failed_grader_calls_are_not(
    emulator_factory: Callable[..., Emulator], tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(RUBRIC_RULES))
    emu = emulator_factory(
        EmulatorConfig(responses_file=rules, faults=FaultConfig(unavailable_rate=1.0))
    )
    policy = RetryPolicy(max_attempts=1)
    client = Client(api_key=emu.api_key, api_host=emu.address, retry_policy=policy)
    store = ResponseCache(tmp_path / "cache")
    grader = CachedGrader(JobCache(store, "127.0.0.1"), client)
    assert isinstance(grader, Grader)
    failed = grader.grade("Names a city.", "Lima", model="grok-4.3")
    assert failed.error is not None and store.count("grader") == 0
    emu.set_faults(FaultConfig())
    fresh = grader.grade("Names a city.", "Lima", model="grok-4.3")
    assert fresh.error is None and fresh.passed and store.count("grader") == 1
    before = _calls(emu)
    again = grader.grade("Names a city.", "Lima", model="grok-4.3")
    assert _calls(emu) == before
    assert (again.passed, again.score, again.reason) == (fresh.passed, fresh.score, fresh.reason)
    assert again.usage["cost_usd_ticks"] == 0 and again.usage["cache_hits"] == 1
    assert again.usage["prompt_tokens"] == fresh.usage["prompt_tokens"]
    grader.grade("Names a city.", "Cusco", model="grok-4.3")  # another answer: another call
    assert _calls(emu)["GetCompletion"] == before["GetCompletion"] + 1
    client.close()
    store.close()


def _cli(*args: str) -> Any:
    return CliRunner().invoke(app, ["run", *map(str, args)])


def test_cli_cache_flag_and_its_errors(tmp_path: Path) -> None:
    local = (str(EVAL), "--local", "--responses", str(EVAL_RESPONSES), "-q")
    cache = tmp_path / "cache"
    first = _cli(*local, "--cache", cache, "--out", tmp_path / "one")
    assert first.exit_code == 0, first.output
    second = _cli(*local, "--cache", cache, "--out", tmp_path / "two")
    assert second.exit_code == 0, second.output
    lines = _lines(tmp_path / "two")
    assert len(lines) == 43 and all(line["cached"] for line in lines.values())
    both = _cli(*local, "--cache", cache, "--no-cache", "--out", tmp_path / "x")
    assert both.exit_code == 2 and "mutually exclusive" in both.output
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    bad = _cli(*local, "--cache", blocker, "--out", tmp_path / "y")
    assert bad.exit_code == 2 and "cannot open the cache" in bad.output


@pytest.mark.slow
def test_two_xai_run_processes_share_one_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cmd = [sys.executable, "-m", "xai_pipelines", "run", str(EVAL), "--local"]
    cmd += ["--responses", str(EVAL_RESPONSES), "--cache", str(cache), "-q"]
    procs = [
        subprocess.Popen([*cmd, "--out", str(tmp_path / name)], stderr=subprocess.PIPE)
        for name in ("a", "b")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        assert b"cache" not in err  # no cache failure was reported
    assert _count(cache, "chat") == 42 and _count(cache, "image") == 1
    third = _cli(
        str(EVAL),
        "--local",
        "--responses",
        str(EVAL_RESPONSES),
        "-q",
        "--cache",
        cache,
        "--out",
        tmp_path / "c",
    )
    assert third.exit_code == 0, third.output
    assert all(line["cached"] for line in _lines(tmp_path / "c").values())
