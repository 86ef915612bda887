"""Issue 11, item 3: the emulator holds thousands of concurrent delayed calls.

A client in a process of its own opens ``calls`` unary GetCompletion calls at once
(non-blocking ``.future()`` calls over several connections) against an emulator whose
latency outlasts the measurement; the figure is the most calls the emulator had in
flight at once, with the threads and memory it took to hold them. Then the client is
killed and every call must be let go. The 10,000-call proof in
``tests/emulator/test_scale.py`` is this same function.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.common import RunFailed, Stat
from benchmarks.figures import Context, Measured
from xai_pipelines.emulator import Emulator, EmulatorConfig, FaultConfig

#: Calls held at once: the issue's target, and the quick stand-in.
TARGET_CALLS = 10_000
QUICK_CALLS = 1_000
#: Client connections the calls are spread over (the hosted API allows ~100 streams each;
#: the emulator sets no limit by default).
CHANNELS = 8
#: Injected latency: longer than any hold, so every call is still waiting when counted.
HOLD_LATENCY_S = 600.0

#: The client: opens its calls over several connections, then waits until it is killed.
CLIENT = textwrap.dedent(
    """
    import sys
    import threading

    import grpc

    from xai_pipelines.proto import chat_pb2, chat_pb2_grpc

    address, calls, channels, key = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    option = [("grpc.use_local_subchannel_pool", 1)]
    stubs = [chat_pb2_grpc.ChatStub(grpc.insecure_channel(address, option)) for _ in range(channels)]
    text = chat_pb2.Content(text="hello")
    request = chat_pb2.GetCompletionsRequest(
        model="grok-4.3", messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content=[text])]
    )
    metadata = (("authorization", "Bearer " + key),)
    futures = [
        stubs[i % channels].GetCompletion.future(request, metadata=metadata) for i in range(calls)
    ]
    threading.Event().wait()
    """
)


@dataclass(frozen=True)
class Held:
    """What holding the calls took.

    Attributes:
        calls: Calls the client opened.
        peak_in_flight: Most calls the emulator had in progress at once.
        extra_threads: Most threads this process had beyond those before the calls.
        rss_growth_mib: Resident memory this process gained while holding them.
        seconds_to_hold: From the client's start until all calls were in flight.
        released: Whether every call ended once the client was killed.
        total_calls: GetCompletion calls the emulator counted.
        client_error: The client's stderr when it died before being killed ('' otherwise).
    """

    calls: int
    peak_in_flight: int
    extra_threads: int
    rss_growth_mib: float
    seconds_to_hold: float
    released: bool
    total_calls: int
    client_error: str = ""


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def hold_calls(emu: Emulator, calls: int, channels: int = CHANNELS, timeout: float = 90.0) -> Held:
    """Have a client process open ``calls`` calls against ``emu`` (started, with a latency
    longer than the hold) and keep them until all are in flight; then kill it and wait up
    to ``timeout`` for the emulator to let them go.

    Counts come from ``emu.stats``; threads and memory are this process's (the emulator
    runs in it; the client does not).
    """
    threads_before = threading.active_count()
    rss_before = _rss_mib()
    started = time.monotonic()
    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT, emu.address, str(calls), str(channels), emu.api_key],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    most_threads = threads_before

    def all_held() -> bool:
        nonlocal most_threads
        most_threads = max(most_threads, threading.active_count())
        return emu.stats.in_flight >= calls or client.poll() is not None

    error = ""
    try:
        _wait(all_held, timeout)
        held_s = time.monotonic() - started
        rss_growth = _rss_mib() - rss_before
        if client.poll() is not None:
            error = client.communicate()[1][-2000:] or f"the client exited {client.returncode}"
    finally:
        client.kill()
        client.communicate()
    # A load-testing client that dies takes its calls with it: the server lets all of them go.
    released = _wait(lambda: emu.stats.in_flight == 0, timeout)
    stats = emu.stats
    return Held(
        calls=calls,
        peak_in_flight=stats.peak_in_flight,
        extra_threads=most_threads - threads_before,
        rss_growth_mib=rss_growth,
        seconds_to_hold=held_s,
        released=released,
        total_calls=stats.calls.get("GetCompletion", 0),
        client_error=error,
    )


def emulator_concurrent(ctx: Context) -> dict[str, Measured]:
    """The most concurrent delayed calls one emulator held (each repeat a fresh emulator)."""
    calls = ctx.size(TARGET_CALLS, QUICK_CALLS)
    peaks: list[float] = []
    held: list[Held] = []
    for _ in range(ctx.repeats):
        config = EmulatorConfig(faults=FaultConfig(latency_s=HOLD_LATENCY_S))
        with Emulator(config) as emu:
            one = hold_calls(emu, calls)
        if one.client_error:
            raise RunFailed(f"the client died: {one.client_error}")
        peaks.append(one.peak_in_flight)
        held.append(one)
    worst = max(held, key=lambda h: h.rss_growth_mib)
    note = (
        f"{calls} calls opened at once over {CHANNELS} connections, latency {HOLD_LATENCY_S:g} s; "
        f"most extra threads {max(h.extra_threads for h in held)}, "
        f"RSS growth up to {worst.rss_growth_mib:.0f} MiB, "
        f"all in flight after {max(h.seconds_to_hold for h in held):.1f} s, "
        f"all released when the client died: {all(h.released for h in held)}"
    )
    return {"emulator-concurrent": Measured(Stat.of(peaks), note)}
