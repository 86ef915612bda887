"""Resume repairs what a crash or a full disk left (issue 10, item 2).

Each test makes a real run on the emulator, damages the output directory the way
a crash, a full disk or an edited dataset does, and resumes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from xai_pipelines.emulator import Emulator
from xai_pipelines.records import SCHEMA_VERSION, decode_manifest, decode_usage_report
from xai_pipelines.run.session import PipelineRun, RunInputError, RunOptions, RunOutcome
from xai_pipelines.spec import PipelineSpec, load_pipeline
from xai_pipelines.store import OutputDir, read_jsonl
from xai_pipelines.store.repair import remove_stale_temp_files


def _spec(tmp_path: Path, jobs: int = 6, rows: int | None = None) -> PipelineSpec:
    """``jobs`` chat jobs ``q-0``...; with ``rows``, also one job per row of ``rows.jsonl``."""
    data: dict[str, Any] = {
        "version": 1,
        "name": "repair",
        "defaults": {"model": "grok-4.20-non-reasoning", "max_tokens": 16, "temperature": 0,
                     "seed": 3},
        "execution": {"concurrency": 4},
        "chats": [{"name": "q", "id": "q-{{ repeat }}", "repeat": jobs,
                   "messages": [{"user": "A fact about {{ repeat }}."}]}],
        "output": {"dir": "out"},
    }  # fmt: skip
    if rows is not None:
        (tmp_path / "rows.jsonl").write_text(
            "".join(json.dumps({"n": n}) + "\n" for n in range(rows))
        )
        data["datasets"] = {"rows": {"path": "rows.jsonl"}}
        data["chats"].append({"name": "r", "id": "row-{{ row.n }}", "for_each": "rows",
                              "messages": [{"user": "Row {{ row.n }}."}]})  # fmt: skip
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_pipeline(path)


def _run(
    spec: PipelineSpec, out: Path, emu: Emulator, said: list[str] | None = None, **opts: Any
) -> RunOutcome:
    options = RunOptions(out_dir=out, api_key=emu.api_key, endpoint=emu.address,
                         progress="quiet", notify=(said if said is not None else []).append,
                         **opts)  # fmt: skip
    return PipelineRun(spec, options).run()


def _ids(path: Path) -> list[str]:
    return [line["id"] for line in read_jsonl(path)]


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_torn_and_invalid_lines_in_the_middle_are_set_aside_and_their_jobs_rerun(
    tmp_path: Path, emulator: Emulator
) -> None:
    spec, out = _spec(tmp_path), tmp_path / "out"
    assert _run(spec, out, emulator).status == "completed"
    results = out / "results.jsonl"
    lines = _lines(results)
    assert len(lines) == 6
    # A full disk tore line 2 (space came back, so line 3 follows the torn bytes on the
    # same line); line 4 is JSON but not a result line; line 5 is not JSON at all.
    torn = lines[1][: len(lines[1]) // 2]
    invalid = json.dumps({"id": json.loads(lines[3])["id"], "bogus": True}).encode() + b"\n"
    results.write_bytes(lines[0] + torn + lines[2] + invalid + b"\x00garbage\n" + lines[5])
    torn_id, invalid_id = json.loads(lines[1])["id"], json.loads(lines[3])["id"]
    garbled_id = json.loads(lines[4])["id"]

    said: list[str] = []
    again = _run(spec, out, emulator, said)
    assert again.status == "completed"
    # every job has a valid line again; the three damaged jobs (not line 3's) were run again
    assert sorted(_ids(results)) == sorted(f"q-{i}" for i in range(6))
    assert again.stats["done"] == 3 and again.stats["skipped"] == 3
    # the valid lines were kept byte for byte (line 3's record salvaged after the torn bytes)
    assert _lines(results)[:3] == [lines[0], lines[2], lines[5]]
    # the damaged bytes are kept, and each warning names the file, the line and the job
    aside = (out / "set-aside" / "results.jsonl.damaged").read_bytes()
    assert aside == torn + b"\n" + invalid + b"\x00garbage\n"
    warnings = [s for s in said if "damaged line" in s]
    assert [w.split(": ")[0] for w in warnings] == [
        "results.jsonl:2",
        "results.jsonl:3",
        "results.jsonl:4",
    ]
    assert f"job {torn_id!r} has no valid result, so it runs again" in warnings[0]
    assert "(not a valid result line: Object contains unknown field `bogus`)" in warnings[1]
    assert f"job {invalid_id!r} has no valid result, so it runs again" in warnings[1]
    assert "(torn or not JSON); its job has no valid result, so it runs again" in warnings[2]
    assert garbled_id in _ids(results)[3:]
    assert "results.jsonl:4: damaged line" in (out / "run.log").read_text()


def test_a_torn_last_line_is_kept_aside_and_a_whole_record_without_newline_is_kept(
    tmp_path: Path, emulator: Emulator
) -> None:
    spec, out = _spec(tmp_path, jobs=3), tmp_path / "out"
    assert _run(spec, out, emulator).status == "completed"
    results = out / "results.jsonl"
    lines = _lines(results)
    # a crash cut the last line just before its newline: the record is whole, so it stays
    results.write_bytes(lines[0] + lines[1] + lines[2].rstrip(b"\n"))
    said: list[str] = []
    assert _run(spec, out, emulator, said).stats["done"] == 0
    assert results.read_bytes() == b"".join(lines) and not (out / "set-aside").exists()
    # a crash cut the last line in the middle: its bytes are set aside, its job reruns
    results.write_bytes(lines[0] + lines[1] + lines[2][:40])
    again = _run(spec, out, emulator, said)
    assert again.stats["done"] == 1
    assert (out / "set-aside" / "results.jsonl.damaged").read_bytes() == lines[2][:40] + b"\n"
    assert sorted(_ids(results)) == ["q-0", "q-1", "q-2"]


def test_damaged_error_lines_are_set_aside_and_the_rest_counted(
    tmp_path: Path, emulator: Emulator
) -> None:
    spec, out = _spec(tmp_path, jobs=2), tmp_path / "out"
    assert _run(spec, out, emulator).status == "completed"
    errors = out / "errors.jsonl"
    good = json.dumps({"id": "q-0", "model": "grok-4.20-non-reasoning", "attempt": 1,
                       "final": False, "code": "UNAVAILABLE", "message": "try again",
                       "schema_version": SCHEMA_VERSION}).encode() + b"\n"  # fmt: skip
    errors.write_bytes(good + b'{"id": "q-1", "attempt": 1, "fin\n' + good)
    said: list[str] = []
    assert _run(spec, out, emulator, said).status == "completed"
    assert errors.read_bytes() == good + good
    assert (out / "set-aside" / "errors.jsonl.damaged").read_bytes() == (
        b'{"id": "q-1", "attempt": 1, "fin\n'
    )
    assert any(s.startswith("errors.jsonl:2: damaged line set aside") for s in said)
    usage = json.loads((out / "usage.json").read_text())
    assert usage["totals"]["retries"] == 2  # both valid attempt lines still count


def test_a_line_of_a_newer_format_stops_the_resume_instead_of_being_set_aside(
    tmp_path: Path, emulator: Emulator
) -> None:
    spec, out = _spec(tmp_path, jobs=2), tmp_path / "out"
    assert _run(spec, out, emulator).status == "completed"
    results = out / "results.jsonl"
    line = json.loads(_lines(results)[0])
    line["schema_version"] = SCHEMA_VERSION + 1
    before = results.read_bytes() + json.dumps(line).encode() + b"\n"
    results.write_bytes(before)
    with pytest.raises(RunInputError, match=r"results.jsonl:3: .*schema_version.*upgrade"):
        _run(spec, out, emulator)
    assert results.read_bytes() == before and not (out / "set-aside").exists()


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(proc.stdout)


def test_stale_temp_files_of_killed_writers_are_removed_and_nothing_else(
    tmp_path: Path, emulator: Emulator
) -> None:
    spec, out = _spec(tmp_path, jobs=2), tmp_path / "out"
    assert _run(spec, out, emulator).status == "completed"
    dead, alive = _dead_pid(), os.getppid()
    (out / "images" / "job").mkdir(parents=True)
    stale = [
        out / f".manifest.json.{dead}.140234.tmp",  # store.files.atomic_write_bytes
        out / f".junit.xml.{dead}.7.tmp",  # report/junit
        out / "images" / "job" / f".0.png.{dead}.part",  # OutputDir.save_image
    ]
    kept = [
        out / f".usage.json.{alive}.1.tmp",  # a live process (a report now) is writing it
        out / "notes.tmp",  # not a name of ours
        out / ".mine.part",
    ]
    for path in stale + kept:
        path.write_bytes(b"partial")
    said: list[str] = []
    assert _run(spec, out, emulator, said).status == "completed"
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in kept)
    assert any("removed 3 temp files a killed run left" in s for s in said)
    assert remove_stale_temp_files(OutputDir(out)) == []


def test_a_manifest_left_running_is_a_crashed_run_and_its_in_flight_jobs_are_reported(
    tmp_path: Path, emulator: Emulator
) -> None:
    spec, out = _spec(tmp_path, jobs=6), tmp_path / "out"
    first = _run(spec, out, emulator)
    assert first.status == "completed"
    # What a SIGKILL at a checkpoint leaves: the manifest `running` with its progress
    # (6 jobs started), and only 4 of the 6 lines made it to the disk.
    manifest = json.loads((out / "manifest.json").read_text())
    manifest.update(status="running", finished_at=None, elapsed_s=None, pid=_dead_pid(),
                    progress={"jobs_started": 6, "jobs_finished": 3, "at": "2026-11-29T05:00:00Z"})  # fmt: skip
    (out / "manifest.json").write_text(json.dumps(manifest))
    results = out / "results.jsonl"
    results.write_bytes(b"".join(_lines(results)[:4]))

    said: list[str] = []
    again = _run(spec, out, emulator, said)
    assert again.status == "completed" and again.stats["done"] == 2
    notice = next(s for s in said if "did not finish" in s)
    assert notice.startswith(
        f"the previous run (pid {manifest['pid']} on host {socket.gethostname()}, started "
        f"{manifest['started_at']}) did not finish: it crashed or was killed; resuming"
    )
    assert "at least 2 of its jobs were in flight and run again" in notice
    record = decode_manifest((out / "manifest.json").read_bytes())
    crashed = record.history[-1]
    assert (crashed.run_id, crashed.status, crashed.pid) == (first.run_id, "crashed",
                                                             manifest["pid"])  # fmt: skip
    assert crashed.jobs_in_flight == 2
    assert record.pid == os.getpid() and record.host == socket.gethostname()
    usage = decode_usage_report((out / "usage.json").read_bytes())
    assert usage.totals.crashed_runs.runs == 1  # type: ignore[union-attr]
    assert usage.totals.crashed_runs.jobs_in_flight == 2  # type: ignore[union-attr]
    summary = (out / "summary.md").read_text()
    assert "**Crashed runs:** 1 earlier run" in summary
    assert "(at least 2 jobs were in flight) are not" in summary
    # the next run has nothing to report: the crash stays in the history and the counts
    third = _run(spec, out, emulator, said := [])
    assert not any("did not finish" in s for s in said) and third.stats["done"] == 0
    assert decode_usage_report((out / "usage.json").read_bytes()).totals.crashed_runs.runs == 1  # type: ignore[union-attr]


@pytest.mark.slow
def test_a_sigkilled_run_is_resumed_as_a_crashed_run(tmp_path: Path, emulator_factory: Any) -> None:
    from xai_pipelines.emulator import EmulatorConfig, FaultConfig

    emu = emulator_factory(EmulatorConfig(faults=FaultConfig(latency_s=0.05)))
    spec = _spec(tmp_path, jobs=200)
    out = tmp_path / "out"
    env = {**os.environ, "XAI_API_KEY": emu.api_key}
    proc = subprocess.Popen(
        [sys.executable, "-m", "xai_pipelines.cli.app", "run", str(spec.path), "-q",
         "--endpoint", emu.address, "--out", str(out), "--concurrency", "2"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        results = out / "results.jsonl"
        for _ in range(3000):
            if results.exists() and results.stat().st_size > 0:
                break
            assert proc.poll() is None, proc.stderr and proc.stderr.read()
            import time

            time.sleep(0.01)
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stderr is not None:
            proc.stderr.close()
    assert json.loads((out / "manifest.json").read_text())["status"] == "running"
    done_before = len(_ids(out / "results.jsonl"))
    assert 0 < done_before < 200
    said: list[str] = []
    again = _run(spec, out, emu, said)
    assert again.status == "completed"
    assert any(
        f"the previous run (pid {proc.pid} on host {socket.gethostname()}" in s
        and "did not finish: it crashed or was killed; resuming" in s
        for s in said
    ), said
    assert sorted(set(_ids(out / "results.jsonl"))) == sorted(f"q-{i}" for i in range(200))
    history = decode_manifest((out / "manifest.json").read_bytes()).history
    assert history[-1].status == "crashed" and history[-1].pid == proc.pid


def test_merge_refuses_a_damaged_source_until_compact_sets_the_line_aside(
    tmp_path: Path,
) -> None:
    import shutil

    from typer.testing import CliRunner

    from xai_pipelines.cli.app import app
    from xai_pipelines.run.reporting import write_reports
    from xai_pipelines.store.merge import MergeError, merge_outputs

    source = tmp_path / "v1"
    shutil.copytree(Path(__file__).parent / "data" / "v1", source)
    results = source / "results.jsonl"
    lines = [x for x in _lines(results) if json.loads(x)["kind"] == "chat"]  # no image files
    results.write_bytes(lines[0] + lines[1][:30] + b"\n" + b"".join(lines[2:]))
    with pytest.raises(MergeError, match=r"results.jsonl:2: .*xai-run compact DIR sets damaged"):
        merge_outputs(tmp_path / "m1", [source], render=write_reports)
    done = CliRunner().invoke(app, ["compact", str(source)])
    assert done.exit_code == 0, done.output
    assert "warning: results.jsonl:2: damaged line set aside" in done.output
    summary = merge_outputs(tmp_path / "m2", [source], render=write_reports)
    assert summary.jobs == len({json.loads(x)["id"] for x in lines}) - 1  # the damaged job
