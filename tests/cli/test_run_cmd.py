"""``xai-run run`` and ``xai-run report``: CliRunner for the surface, real processes for crashes.

The kill and Ctrl-C tests run ``xai-run`` as a real subprocess against an
emulator on loopback (with a little latency, so that signals land mid-run),
kill or interrupt it, resume, and compare with an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from xai_pipelines.cli.app import app
from xai_pipelines.emulator import Emulator, EmulatorConfig, FaultConfig

ROOT = Path(__file__).resolve().parents[2]
XAI_RUN = [sys.executable, "-c", "from xai_pipelines.cli.app import main; main()"]
runner = CliRunner()


def _pipeline(tmp_path: Path, jobs: int, concurrency: int = 4, **execution: Any) -> Path:
    data = {
        "version": 1,
        "name": "cli-test",
        "defaults": {"model": "grok-3-mini", "max_tokens": 24, "temperature": 0, "seed": 5},
        "execution": {"concurrency": concurrency, **execution},
        "chats": [
            {
                "name": "q",
                "id": "q-{{ repeat }}",
                "repeat": jobs,
                "messages": [{"user": "A fact about {{ repeat }}, please."}],
            }
        ],
        "output": {"dir": str(tmp_path / "default-out")},
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _lines(path: Path) -> list[dict[str, Any]]:
    """Every line, parsed strictly: a torn or corrupt line fails the test."""
    text = path.read_text()
    assert not text or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def _comparable(results: list[dict[str, Any]]) -> dict[str, Any]:
    """What must be equal between runs.

    Response ids are fresh on every call. Prompt-cache hits (and so the cost) depend
    on which jobs one emulator process served before: each resumed ``--local`` run
    starts with an empty cache, as a hosted server may after an eviction.
    """
    cache_dependent = {"cached_prompt_tokens", "cost_usd_ticks"}
    return {
        r["id"]: (
            r["digest"],
            r["content"],
            [{k: v for k, v in o.items() if k != "response_id"} for o in r["outputs"]],
            {k: v for k, v in r["usage"].items() if k not in cache_dependent},
            r["seed"],
            r["request"],
        )
        for r in results
    }


def _invoke(*args: str, key: str | None = None) -> Any:
    return runner.invoke(app, list(args), env={"XAI_API_KEY": key or ""})


def _spawn(pipeline: Path, out: Path, emu: Emulator) -> subprocess.Popen[bytes]:
    env = {**os.environ, "XAI_API_KEY": emu.api_key}
    cmd = [*XAI_RUN, str(pipeline), "--out", str(out), "--endpoint", emu.address, "--quiet"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_results(out: Path, count: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    results = out / "results.jsonl"
    while time.monotonic() < deadline and proc.poll() is None:
        if results.exists() and results.read_bytes().count(b"\n") >= count:
            return
        time.sleep(0.005)
    raise AssertionError(f"the run ended or stalled before {count} results ({proc.poll()})")


def test_no_key_and_no_local_names_both(tmp_path: Path) -> None:
    result = _invoke("run", str(_pipeline(tmp_path, 1)), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert "XAI_API_KEY" in result.stderr and "--local" in result.stderr
    assert "Traceback" not in result.output + result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["run", "missing.yaml", "--local"],
        ["run", "PIPELINE", "--local", "--quiet", "--json"],
        ["run", "PIPELINE", "--local", "--endpoint", "localhost:1"],
        ["run", "PIPELINE", "--local", "--set", "execution.concurrency=zero"],
        ["run", "PIPELINE", "--local", "--concurrency", "0"],
        ["report", "NOT_A_RUN"],
    ],
    ids=[
        "missing-file",
        "quiet-and-json",
        "local-and-endpoint",
        "bad-set",
        "bad-concurrency",
        "report-empty",
    ],
)
def test_bad_input_exits_2_without_traceback(tmp_path: Path, args: list[str]) -> None:
    pipeline = _pipeline(tmp_path, 1)
    (tmp_path / "empty").mkdir()
    args = [
        str(pipeline) if a == "PIPELINE" else str(tmp_path / "empty") if a == "NOT_A_RUN" else a
        for a in args
    ]
    result = _invoke(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output + result.stderr
    assert (result.stderr or result.output).strip()


def test_json_output_only_limit_and_report_rerender(tmp_path: Path, emulator: Emulator) -> None:
    pipeline = _pipeline(tmp_path, 20)
    out = tmp_path / "out"
    args = ["run", str(pipeline), "--out", str(out), "--endpoint", emulator.address, "--json"]
    result = _invoke(*args, "--only", "q-1*", "--limit", "5", key=emulator.api_key)
    assert result.exit_code == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["status"] == "completed" and outcome["stats"]["done"] == 5
    ids = sorted(r["id"] for r in _lines(out / "results.jsonl"))
    assert ids == ["q-1", "q-10", "q-11", "q-12", "q-13"]

    before = json.loads((out / "usage.json").read_text())
    summary = (out / "summary.md").read_text()
    (out / "usage.json").unlink()
    (out / "summary.md").unlink()
    (out / "manifest.json").unlink()  # results.jsonl alone is enough
    result = _invoke("report", str(out))
    assert result.exit_code == 0, result.stderr
    after = json.loads((out / "usage.json").read_text())
    # the concurrency history is the manifest's (deleted above); every figure comes from the lines
    assert before["concurrency"]["changes"][0]["reason"] == "start" and "concurrency" not in after
    from_manifest = {"generated_at", "concurrency"}
    assert {k: v for k, v in after.items() if k not in from_manifest} == {
        k: v for k, v in before.items() if k not in from_manifest
    }
    assert result.stdout == (out / "summary.md").read_text()
    assert summary.split("### By model")[1] == result.stdout.split("### By model")[1]


def _lines_tolerant(path: Path) -> list[dict[str, Any]]:
    """Lines of a file a SIGKILL may have torn at its end (only there)."""
    if not path.exists():
        return []
    raw = path.read_text().split("\n")
    return [json.loads(line) for line in raw[:-1]]


@pytest.mark.slow
def test_ctrl_c_stops_gracefully_with_130_then_resume_completes(
    tmp_path: Path, emulator_factory: Callable[..., Emulator]
) -> None:
    jobs = 40
    pipeline = _pipeline(tmp_path, jobs)
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(latency_s=0.15)))
    out = tmp_path / "out"
    proc = _spawn(pipeline, out, emu)
    _wait_for_results(out, 4, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr.decode()
    assert "Interrupted" in stderr.decode() and "Traceback" not in stderr.decode()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    partial = _lines(out / "results.jsonl")
    assert 4 <= len(partial) < jobs
    assert manifest["counts"]["done"] == len(partial)  # in-flight calls finished and were kept

    result = _invoke(
        "run",
        str(pipeline),
        "--out",
        str(out),
        "--endpoint",
        emu.address,
        "--quiet",
        key=emu.api_key,
    )
    assert result.exit_code == 0, result.stderr
    results = _lines(out / "results.jsonl")
    assert sorted(r["id"] for r in results) == sorted(f"q-{i}" for i in range(jobs))


@pytest.mark.slow
def test_second_ctrl_c_aborts_at_once_without_corrupting(
    tmp_path: Path, emulator_factory: Callable[..., Emulator]
) -> None:
    pipeline = _pipeline(tmp_path, 30, concurrency=4)
    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(latency_s=0.05)))
    out = tmp_path / "out"
    proc = _spawn(pipeline, out, emu)
    _wait_for_results(out, 2, proc)
    emu.set_faults(FaultConfig(latency_s=30.0))  # in-flight calls would now outlast any grace
    time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130, stderr.decode()
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"
    assert len(_lines(out / "results.jsonl")) >= 2  # strict parse: no torn line
    assert all(e["id"].startswith("q-") for e in _lines(out / "errors.jsonl"))


@pytest.mark.slow
def test_example_eval_pipeline_runs_locally(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "XAI_API_KEY"}
    proc = subprocess.run(
        [*XAI_RUN, str(ROOT / "pipelines" / "eval.yaml"), "--local", "--out", str(tmp_path / "o")],
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert proc.returncode == 0, proc.stderr
    assert "completed" in proc.stdout
    results = _lines(tmp_path / "o" / "results.jsonl")
    plan = _lines(tmp_path / "o" / "plan.jsonl")
    assert sorted(r["id"] for r in results) == sorted(p["id"] for p in plan)
    assert any(r.get("expect") for r in results)  # carried, unevaluated, for the evals layer
    assert (tmp_path / "o" / "summary.md").read_text().startswith("## xai-run: capitals-eval")


def test_changed_spec_is_refused_then_forced_with_the_changes_printed(
    tmp_path: Path, emulator: Emulator
) -> None:
    pipeline = _pipeline(tmp_path, 3)
    base = ["run", str(pipeline), "--out", str(tmp_path / "o"), "--endpoint", emulator.address]
    assert _invoke(*base, "--quiet", key=emulator.api_key).exit_code == 0
    changed = [*base, "--quiet", "--set", "defaults.max_tokens=8"]
    refused = _invoke(*changed, key=emulator.api_key)
    assert refused.exit_code == 2
    assert "defaults.max_tokens: 24 -> 8" in refused.stderr and "--force" in refused.stderr
    forced = _invoke(*changed, "--force", key=emulator.api_key)
    assert forced.exit_code == 0, forced.stderr
    assert "defaults.max_tokens: 24 -> 8" in forced.stderr
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["forced_changes"] == ["defaults.max_tokens: 24 -> 8"]
    assert manifest["args"]["set"] == ["defaults.max_tokens=8"]


def test_a_rejected_key_stops_the_run_and_appears_nowhere(
    tmp_path: Path, emulator_factory: Callable[..., Emulator]
) -> None:
    emu = emulator_factory(EmulatorConfig(api_keys=("the-right-key",)))
    secret = "xai-wrong-but-secret-0123456789"
    out = tmp_path / "o"
    args = ["run", str(_pipeline(tmp_path, 3)), "--out", str(out), "--endpoint", emu.address]
    result = _invoke(*args, key=secret)
    assert result.exit_code == 2, result.stderr
    assert "UNAUTHENTICATED" in result.stderr and "XAI_API_KEY" in result.stderr
    assert emu.stats.calls.get("GetCompletion", 0) == 0  # no job was sent
    assert secret not in result.stdout + result.stderr
    for path in out.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
