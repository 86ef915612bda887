"""Clean shutdown: no leaked threads or ports; `xai-run serve` exits on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading

import grpc
import pytest
import requests
from typer.testing import CliRunner

from tests.emulator.conftest import chat_request, connect, rpc_error
from xai_pipelines.cli import serve as serve_cmd
from xai_pipelines.emulator import Emulator, EmulatorConfig, FaultConfig
from xai_pipelines.proto import batch_pb2, image_pb2


def refused(url_or_address: str) -> bool:
    host, port = url_or_address.removeprefix("http://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_stop_leaks_no_threads_or_ports():
    before = set(threading.enumerate())
    emu = Emulator(EmulatorConfig(deferred_pending_s=0)).start()
    stubs = connect(emu)
    stubs.complete()
    stubs.stream()
    image = stubs.image.GenerateImage(
        image_pb2.GenerateImageRequest(
            prompt="p", model="grok-2-image", format=image_pb2.IMG_FORMAT_URL
        ),
        metadata=stubs.metadata,
    )
    assert requests.get(image.images[0].url, timeout=5).status_code == 200
    batch = stubs.batch.CreateBatch(batch_pb2.CreateBatchRequest(name="b"), metadata=stubs.metadata)
    stubs.batch.AddBatchRequests(
        batch_pb2.AddBatchRequestsRequest(
            batch_id=batch.batch_id,
            batch_requests=[batch_pb2.BatchRequest(completion_request=chat_request())],
        ),
        metadata=stubs.metadata,
    )
    address, http_url = emu.address, emu.http_url
    stubs.channel.close()
    emu.stop()
    leaked = [t.name for t in set(threading.enumerate()) - before if t.is_alive()]
    assert leaked == []
    assert refused(address) and refused(http_url)
    emu.stop()  # idempotent


def test_stop_ends_calls_waiting_on_injected_latency():
    emu = Emulator(EmulatorConfig(faults=FaultConfig(latency_s=600.0))).start()
    stubs = connect(emu)
    future = stubs.chat.GetCompletion.future(chat_request(), metadata=stubs.metadata)
    for _ in range(500):
        if emu.stats.in_flight:
            break
        threading.Event().wait(0.01)
    emu.stop(grace=0.1)
    with pytest.raises(grpc.RpcError) as info:
        future.result()
    assert info.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
    stubs.channel.close()


def test_restart_on_a_fixed_port(emulator_factory):
    first = Emulator().start()
    port = int(first.address.rsplit(":", 1)[1])
    first.stop()
    second = emulator_factory(EmulatorConfig(port=port))
    assert second.address.endswith(f":{port}")
    s = connect(second)
    assert s.complete().outputs
    s.channel.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_subprocess_serves_and_exits_on_signal(tmp_path, sig):
    responses = tmp_path / "r.yaml"
    responses.write_text("- match: ping\n  content: pong\n")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xai_pipelines.cli.app",
            "serve",
            "--api-key",
            "sekrit-key-1",
            "--responses",
            str(responses),
            "--log-calls",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        banner = "".join(lines)
        address = re.search(r"listening on (\S+)", banner).group(1)
        assert re.search(r"image URLs served from http://127\.0\.0\.1:\d+", banner)
        assert "sekrit-key-1" not in banner
        emu_like = type("E", (), {"address": address, "api_key": "sekrit-key-1"})()
        stubs = connect(emu_like)
        assert stubs.complete(prompt="ping").outputs[0].message.content == "pong"
        bad = connect(emu_like, key="other")
        assert rpc_error(bad.complete).code() == grpc.StatusCode.UNAUTHENTICATED
        stubs.channel.close()
        bad.channel.close()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "emulator stopped" in out
    assert re.search(r"/xai_api\.Chat/GetCompletion OK \d+\.\d ms", err), (out, err)
    assert "/xai_api.Chat/GetCompletion UNAUTHENTICATED" in err
    assert "sekrit-key-1" not in out + err
    assert refused(address)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--unavailable-rate", "2"], "unavailable_rate must be in [0, 1]"),
        (["--rpm", "-3"], "requests_per_minute must not be negative"),
    ],
)
def test_serve_rejects_bad_fault_flags(args, message):
    import typer

    app = typer.Typer()
    app.callback()(lambda: None)
    serve_cmd.register(app)
    result = CliRunner().invoke(app, ["serve", *args])
    assert result.exit_code == 2
    assert message in result.output
