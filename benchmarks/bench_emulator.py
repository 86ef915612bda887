"""Emulator throughput: unary GetCompletion calls/s over loopback with bare generated stubs.

Prints figures and ratios against a baseline measured in the same run:
the baseline is Models.ListLanguageModels (a catalog lookup: gRPC + auth +
interceptor overhead only), the subject is Chat.GetCompletion with no injected
latency, at concurrency 1 and 32.

With ``--server-process`` the emulator runs as ``xai-run serve`` in its own
interpreter, so client and server do not share a GIL.

Usage: python benchmarks/bench_emulator.py [--seconds 3] [--concurrency 32] [--server-process]
"""

from __future__ import annotations

import argparse
import contextlib
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import grpc
from google.protobuf import empty_pb2

from xai_pipelines.emulator import Emulator
from xai_pipelines.proto import chat_pb2, chat_pb2_grpc, models_pb2_grpc


def measure(call: Callable[[int], object], concurrency: int, seconds: float) -> float:
    """Calls per second of ``call`` from ``concurrency`` threads for ``seconds``."""
    deadline = time.perf_counter() + seconds
    counts = [0] * concurrency
    start = threading.Barrier(concurrency + 1)

    def worker(i: int) -> None:
        start.wait()
        n = 0
        while time.perf_counter() < deadline:
            call(i * 1_000_000 + n)
            n += 1
        counts[i] = n

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)


@contextlib.contextmanager
def server(in_process: bool) -> Iterator[tuple[str, str]]:
    """(address, key) of an emulator, in this process or as a `xai-run serve` subprocess."""
    if in_process:
        with Emulator() as emu:
            yield emu.address, emu.api_key
        return
    cmd = [sys.executable, "-m", "xai_pipelines.cli.app", "serve", "--api-key", "bench-key"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        match = None
        while match is None:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("xai-run serve exited early")
            match = re.search(r"listening on (\S+)", line)
        yield match.group(1), "bench-key"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--server-process", action="store_true")
    args = parser.parse_args()
    with server(not args.server_process) as (address, key):
        metadata = (("authorization", f"Bearer {key}"),)
        # A local subchannel pool gives each channel its own connection.
        own = [("grpc.use_local_subchannel_pool", 1)]
        channels = [grpc.insecure_channel(address, options=own) for _ in range(4)]
        chats = [chat_pb2_grpc.ChatStub(c) for c in channels]
        models = [models_pb2_grpc.ModelsStub(c) for c in channels]

        def chat(i: int) -> object:
            request = chat_pb2.GetCompletionsRequest(
                model="grok-3",
                messages=[
                    chat_pb2.Message(
                        role=chat_pb2.ROLE_USER, content=[chat_pb2.Content(text=f"q{i}")]
                    )
                ],
                seed=i % 1000,
            )
            return chats[i % 4].GetCompletion(request, metadata=metadata)

        def listing(i: int) -> object:
            return models[i % 4].ListLanguageModels(empty_pb2.Empty(), metadata=metadata)

        for fn in (chat, listing):  # warm up connections and caches
            measure(fn, 4, 0.3)
        rows = []
        for label, fn in (("ListLanguageModels (baseline)", listing), ("GetCompletion", chat)):
            for conc in (1, args.concurrency):
                rows.append((label, conc, measure(fn, conc, args.seconds)))
        for c in channels:
            c.close()
    where = "separate process" if args.server_process else "same process as the client"
    print(f"emulator in the {where}; {args.seconds:g} s per figure")
    base = {conc: rate for label, conc, rate in rows if label.startswith("List")}
    print(f"{'call':32} {'concurrency':>11} {'calls/s':>10} {'vs baseline':>12}")
    for label, conc, rate in rows:
        print(f"{label:32} {conc:>11} {rate:>10.0f} {rate / base[conc]:>11.2f}x")


if __name__ == "__main__":
    main()
