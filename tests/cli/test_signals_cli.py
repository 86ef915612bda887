"""A signal while the plan expands stops the run with 130, even when SIGINT was ignored at start.

A shell starts background jobs with SIGINT ignored (``trap '' INT`` below does
the same). The run used to install its handler only when the jobs started, so a
Ctrl-C during a long expansion was lost and the paid calls began anyway.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from xai_pipelines.cli.run_cmd import INTERRUPTED

XAI_RUN = [sys.executable, "-c", "from xai_pipelines.cli.app import main; main()"]


def _big_pipeline(tmp_path: Path) -> Path:
    """100,000 jobs (the most one task may make): seconds of plan expansion before any call."""
    data = {
        "version": 1,
        "name": "big-plan",
        "defaults": {"model": "grok-4.20-non-reasoning", "max_tokens": 8},
        "matrix": {"temperature": [round(i * 0.1, 1) for i in range(10)]},
        "chats": [
            {
                "name": "q",
                "id": "q-{{ matrix.temperature }}-{{ repeat }}",
                "repeat": 10000,
                "messages": [{"user": "Fact {{ repeat }}"}],
            }
        ],
    }
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


IGNORE_SIGINT = ["sh", "-c", "trap '' INT; exec \"$@\"", "sh"]


def test_the_prefix_starts_a_process_with_sigint_ignored() -> None:
    check = "import signal; print(signal.getsignal(signal.SIGINT) == signal.SIG_IGN)"
    proc = subprocess.run(
        [*IGNORE_SIGINT, sys.executable, "-c", check], capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == "True"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "ignore_sigint"),
    [(signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["sigint-ignored-at-start", "sigterm"],
)
def test_a_signal_during_plan_expansion_stops_with_130(
    tmp_path: Path, sig: signal.Signals, ignore_sigint: bool
) -> None:
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "XAI_API_KEY"}
    prefix = IGNORE_SIGINT if ignore_sigint else []
    proc = subprocess.Popen(
        [
            *prefix,
            *XAI_RUN,
            "run",
            str(_big_pipeline(tmp_path)),
            "--local",
            "-q",
            "--out",
            str(out),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    plan = out / "plan.jsonl"
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if plan.exists() and plan.stat().st_size > 50_000:  # well into the expansion
            break
        time.sleep(0.01)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr.decode()
    assert stderr.decode() == INTERRUPTED + "\n" and stdout == b""
    lines = plan.read_text().splitlines()
    assert 0 < len(lines) < 100_000  # stopped mid-expansion
    assert all(json.loads(line)["id"].startswith("q-") for line in lines)  # whole lines only
    assert not (out / "manifest.json").exists()  # no run was recorded, nothing was sent
    assert not (out / "results.jsonl").exists()
