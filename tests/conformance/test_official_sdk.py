"""The official xai-sdk, pointed at the emulator, works end to end.

The SDK runs in a separate interpreter (see sdk_peer.py for why); this test
starts nothing itself but reads the peer's JSON summary.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PEER = Path(__file__).with_name("sdk_peer.py")


def test_official_sdk_against_emulator(emulator):
    proc = subprocess.run(
        [sys.executable, str(PEER), emulator.address, emulator.api_key],
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["sample"]
    assert summary["stream_chunks"] >= 3
    assert summary["sample_batch"] == 4
    assert summary["defer"] is True
    assert set(summary["parse"]) == {"steps", "final_answer", "confidence", "verdict", "code"}
    assert summary["tool_call"]["name"] == "get_weather"
    assert summary["image_bytes"] > 100
    assert summary["image_url"].startswith(emulator.http_url)
    assert "grok-4.3" in summary["models"]
    assert summary["stored"] is True and summary["compact_dropped"] == 3
    assert summary["batch_results"] == 3
    assert emulator.api_key not in proc.stdout + proc.stderr
