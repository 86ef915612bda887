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


def threads_before_test() -> set[threading.Thread]:
    """The live threads, once gRPC's process-lifetime threads exist.

    The first server and client a process makes start gRPC's poller thread
    (``_poll_wrapper``), which lives until the interpreter exits. A test that runs
    first (alone, or first on its xdist worker) would count it as leaked, so one
    emulator and one call run before the snapshot.
    """
    warm = Emulator(EmulatorConfig()).start()
    stubs = connect(warm)
    stubs.complete()
    stubs.channel.close()
    warm.stop()
    return set(threading.enumerate())


def test_stop_leaks_no_threads_or_ports():
    before = threads_before_test()
    emu = Emulator(EmulatorConfig(deferred_pending_s=0)).start()
    stubs = connect(emu)
    stubs.complete()
    stubs.stream()
    image = stubs.image.GenerateImage(
        image_pb2.GenerateImageRequest(
            prompt="p", model="grok-imagine-image", format=image_pb2.IMG_FORMAT_URL
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
    for thread in set(threading.enumerate()) - before:
        thread.join(timeout=5)  # the client's own helper threads wind down on their own
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


class Served:
    """A running `xai-run serve` subprocess and what its banner said."""

    def __init__(self, args: list[str]) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "xai_pipelines.cli.app", "serve", *args]
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        lines = []
        for line in self.proc.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        self.banner = "".join(lines)
        found = re.search(r"listening on (\S+)", self.banner)
        assert found, self.banner + self.proc.stderr.read()
        self.address = found.group(1)
        self.http_url = re.search(r"image URLs served from (\S+)", self.banner).group(1)

    def stubs(self, key: str):
        return connect(type("E", (), {"address": self.address, "api_key": key})())

    def stop(self, sig: int = signal.SIGINT) -> tuple[str, str]:
        self.proc.send_signal(sig)
        try:
            return self.proc.communicate(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.communicate()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
@pytest.mark.slow
def test_serve_subprocess_serves_and_exits_on_signal(tmp_path, sig):
    responses = tmp_path / "r.yaml"
    responses.write_text("- match: ping\n  content: pong\n")
    served = Served(["--api-key", "sekrit-key-1", "--responses", str(responses), "--log-calls"])
    try:
        assert served.http_url.startswith("http://127.0.0.1:")
        assert "sekrit-key-1" not in served.banner
        stubs = served.stubs("sekrit-key-1")
        assert stubs.complete(prompt="ping").outputs[0].message.content == "pong"
        bad = served.stubs("other")
        assert rpc_error(bad.complete).code() == grpc.StatusCode.UNAUTHENTICATED
        stubs.channel.close()
        bad.channel.close()
    finally:
        out, err = served.stop(sig)
    assert served.proc.returncode == 0, err
    assert "emulator stopped" in out
    assert re.search(r"/xai_api\.Chat/GetCompletion OK \d+\.\d ms", err), (out, err)
    assert "/xai_api.Chat/GetCompletion UNAUTHENTICATED" in err
    assert "sekrit-key-1" not in out + err
    assert refused(served.address)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_serve_flags_reach_the_emulator():
    port, http_port = free_port(), free_port()
    served = Served(
        ["--port", str(port), "--http-port", str(http_port), "--reasoning-model", "grok-4.20-non-reasoning",
         "--cut-stream-after", "1", "--rpm", "3", "--retry-after-hint", "metadata",
         "--fault-seed", "5"]
    )  # fmt: skip
    try:
        assert served.address == f"127.0.0.1:{port}"
        assert served.http_url == f"http://127.0.0.1:{http_port}"
        # --rpm 3 admits one request per key per 20 s: each check below has its own key.
        stubs = served.stubs("key-reasoning")
        assert stubs.complete(model="grok-4.20-non-reasoning").usage.reasoning_tokens > 0
        stubs.channel.close()
        stubs = served.stubs("key-stream")
        chunks = []
        with pytest.raises(grpc.RpcError) as info:
            for chunk in stubs.chat.GetCompletionChunk(chat_request(), metadata=stubs.metadata):
                chunks.append(chunk)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE and len(chunks) == 1
        stubs.channel.close()
        stubs = served.stubs("key-limit")
        assert stubs.complete().outputs
        err = rpc_error(stubs.complete)
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        hint = dict(err.trailing_metadata())["retry-after"]
        assert 19.0 < float(hint) <= 20.0
        stubs.channel.close()
    finally:
        served.stop()
    assert served.proc.returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--unavailable-rate", "2"], "unavailable_rate must be in [0, 1]"),
        (["--rpm", "-3"], "requests_per_minute must not be negative"),
        (["--retry-after-hint", "soon"], "'soon' is not one of"),
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


@pytest.mark.parametrize("which", ["port", "http_port"])
def test_busy_port_is_an_os_error_and_leaks_nothing(which):
    before = threads_before_test()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OSError, match=str(port) if which == "port" else "in use"):
            Emulator(EmulatorConfig(**{which: port})).start()
    assert [t for t in set(threading.enumerate()) - before if t.is_alive()] == []


@pytest.mark.slow
def test_serve_reports_a_busy_port():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "xai_pipelines.cli.app", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1
    assert f"error: cannot bind the gRPC port 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_serve_rejects_a_malformed_responses_file(tmp_path):
    import typer

    bad = tmp_path / "bad.yaml"
    bad.write_text("- content: no matcher\n")
    app = typer.Typer()
    app.callback()(lambda: None)
    serve_cmd.register(app)
    result = CliRunner().invoke(app, ["serve", "--responses", str(bad)])
    assert result.exit_code == 2
    assert "rule 1: needs 'match' or 'regex'" in result.output
