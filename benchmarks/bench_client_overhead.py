"""Per-call overhead of the client against a bare generated stub, same emulator, one run.

Usage: ``python benchmarks/bench_client_overhead.py [--calls N] [--rounds R]``

Measures sequential unary calls of the same small request three ways, interleaved
in rounds so machine noise hits all of them alike:

* baseline: ``ChatStub.GetCompletion`` on a plain channel (metadata passed by hand);
* client: ``client.chat.create(...).sample()`` (request building, channel pool,
  interceptors, retry wrapper, error conversion, response wrapping, no-op span);
* client+otel: the same with a real SDK tracer provider recording every span.

Prints the median per-call time of each, the ratios to the baseline and the
absolute overhead in microseconds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from xai_pipelines.emulator import Emulator
from xai_pipelines.proto import chat_pb2, chat_pb2_grpc
from xai_pipelines.sdk import Client, user

PROMPT = "Say hi."
PARAMS = {"max_tokens": 4, "seed": 1, "temperature": 0.0}


def timed(fn: Callable[[], object], calls: int) -> float:
    """Median seconds per call over ``calls`` calls."""
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per round and variant")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    args = parser.parse_args()

    with Emulator() as emu:
        channel = grpc.insecure_channel(emu.address)
        stub = chat_pb2_grpc.ChatStub(channel)
        metadata = (("authorization", f"Bearer {emu.api_key}"),)
        request = chat_pb2.GetCompletionsRequest(
            model="grok-4",
            messages=[
                chat_pb2.Message(role=chat_pb2.ROLE_USER, content=[chat_pb2.Content(text=PROMPT)])
            ],
            **PARAMS,
        )
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        plain = Client(api_key=emu.api_key, api_host=emu.address)
        traced = Client(api_key=emu.api_key, api_host=emu.address, tracer_provider=provider)

        variants: dict[str, Callable[[], object]] = {
            "baseline (bare stub)": lambda: stub.GetCompletion(
                request, metadata=metadata, timeout=60
            ),
            "client": lambda: plain.chat.create("grok-4", [user(PROMPT)], **PARAMS).sample(),
            "client+otel": lambda: traced.chat.create("grok-4", [user(PROMPT)], **PARAMS).sample(),
        }
        assert (
            variants["client"]().content
            == stub.GetCompletion(request, metadata=metadata).outputs[0].message.content
        )  # type: ignore[attr-defined]
        for fn in variants.values():  # warm up channels and caches
            timed(fn, 20)
        results: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, fn in variants.items():
                results[name].append(timed(fn, args.calls))
                exporter.clear()
        plain.close()
        traced.close()
        channel.close()
        provider.shutdown()

    base = statistics.median(results["baseline (bare stub)"])
    print(f"{args.rounds} rounds x {args.calls} sequential unary calls, median per call")
    for name, values in results.items():
        per_call = statistics.median(values)
        print(
            f"  {name:22s} {per_call * 1e6:9.1f} us   ratio {per_call / base:5.2f}   "
            f"overhead {(per_call - base) * 1e6:+8.1f} us"
        )


if __name__ == "__main__":
    main()
