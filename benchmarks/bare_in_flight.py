"""The floor under the in-flight rows: a bare grpc.aio pair at the same sizes.

A bare server (the generated ``Chat`` servicer: ``GetCompletion`` sleeps the latency and
returns one canned reply, with no key check, validation, generation or accounting) and a
bare client (``C`` coroutines over 8 channels sending the same request until ``N`` calls
are answered, with no retries, results or reports), each in its own process, as the
emulator and ``xai-run`` are. Their calls/s over the bound ``C / L`` is what gRPC and
asyncio alone reach on this machine with both sides sharing its cores: the in-flight
rows cannot do better than this.

Usage::

    python -m benchmarks.bare_in_flight server PORT LATENCY_S
    python -m benchmarks.bare_in_flight client ADDRESS CONCURRENCY CALLS   # prints JSON
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from typing import Any

import grpc

from benchmarks.client_cost import bare_request
from xai_pipelines.eventloop import new_event_loop
from xai_pipelines.proto import chat_pb2, chat_pb2_grpc, sample_pb2, usage_pb2

#: Channels of the bare client: about 100 streams per connection, as the client keeps.
CHANNELS = 8
#: Calls the bare server lets wait for its loop (the emulator's ``max_concurrent_rpcs``).
PENDING_MAX = 20_000
#: The canned reply (the size of a short answer).
REPLY = chat_pb2.GetChatCompletionResponse(
    id="bare",
    model="bare",
    outputs=[
        chat_pb2.CompletionOutput(
            finish_reason=sample_pb2.REASON_STOP,
            message=chat_pb2.CompletionMessage(
                content="A short answer of a few words.", role=chat_pb2.ROLE_ASSISTANT
            ),
        )
    ],
    usage=usage_pb2.SamplingUsage(prompt_tokens=12, completion_tokens=8, total_tokens=20),
)
#: The request: job 0 of the client-cost row (the server answers every request alike).
REQUEST = bare_request(0)


class _Sleeper(chat_pb2_grpc.ChatServicer):
    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s

    async def GetCompletion(self, request: Any, context: Any) -> chat_pb2.GetChatCompletionResponse:
        await asyncio.sleep(self.latency_s)
        return REPLY


async def _serve(port: int, latency_s: float) -> None:
    # as the emulator does (emulator/server.py): without these, gRPC core cancels calls
    # once more than 1,000 wait for the handler loop
    server = grpc.aio.server(
        options=[
            ("grpc.server.max_pending_requests", PENDING_MAX),
            ("grpc.server.max_pending_requests_hard_limit", PENDING_MAX),
        ]
    )
    chat_pb2_grpc.add_ChatServicer_to_server(_Sleeper(latency_s), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


async def _drive(address: str, concurrency: int, calls: int) -> dict[str, float]:
    # a local subchannel pool each: 8 connections, not 8 channels sharing one
    options = [("grpc.use_local_subchannel_pool", 1)]
    channels = [grpc.aio.insecure_channel(address, options=options) for _ in range(CHANNELS)]
    stubs = [chat_pb2_grpc.ChatStub(c) for c in channels]
    await stubs[0].GetCompletion(REQUEST, timeout=60)  # connected before the clock starts
    left = calls

    async def worker(n: int) -> None:
        nonlocal left
        stub = stubs[n % CHANNELS]
        while left > 0:
            left -= 1
            await stub.GetCompletion(REQUEST, timeout=600)

    cpu, start = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    for c in channels:
        await c.close()
    return {
        "calls": calls,
        "elapsed_s": elapsed,
        "calls_per_s": calls / elapsed,
        "cpu_ms_per_call": cpu / calls * 1000,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv: list[str]) -> None:
    """Run the server or the client (see the module docstring)."""
    loop = new_event_loop("bare benchmark")
    try:
        if argv[0] == "server":
            loop.run_until_complete(_serve(int(argv[1]), float(argv[2])))
        elif argv[0] == "client":
            figures = loop.run_until_complete(_drive(argv[1], int(argv[2]), int(argv[3])))
            print(json.dumps(figures))
        else:
            raise SystemExit(__doc__)
    finally:
        loop.close()


if __name__ == "__main__":
    main(sys.argv[1:])
