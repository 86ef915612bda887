"""``xai-run serve``: run the local xAI API emulator until Ctrl-C."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from xai_pipelines.emulator.config import RetryAfterHint

# The emulator (grpc, its servicers) is imported when ``serve`` runs, not for ``--help``.
if TYPE_CHECKING:
    from xai_pipelines.emulator import Emulator


def _describe(emu: Emulator, keys: list[str]) -> list[str]:
    # Only counts keys: the accepted keys themselves are never printed.
    accepted = f"{len(keys)} configured API key(s)" if keys else "any non-empty API key"
    return [
        f"xAI API emulator listening on {emu.address} (gRPC, plaintext)",
        f"image URLs served from {emu.http_url}",
        f"accepting {accepted}; connect with api_host={emu.address!r} and an insecure channel",
        "press Ctrl-C to stop",
    ]


def _log_calls_to_stderr() -> None:
    from xai_pipelines.emulator.interceptor import call_log

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    call_log.addHandler(handler)
    call_log.setLevel(logging.INFO)
    call_log.propagate = False


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="gRPC port (0: pick a free one).")] = 0,
    http_port: Annotated[int, typer.Option(help="Image URL HTTP port (0: pick a free one).")] = 0,
    api_key: Annotated[
        list[str] | None,
        typer.Option("--api-key", help="Accepted key (repeatable). Default: any non-empty key."),
    ] = None,
    responses: Annotated[
        Path | None,
        typer.Option(help="YAML or JSONL file of scripted answers.", exists=True, dir_okay=False),
    ] = None,
    reasoning_model: Annotated[
        list[str] | None,
        typer.Option("--reasoning-model", help="Extra reasoning model name (repeatable)."),
    ] = None,
    deferred_pending: Annotated[
        float, typer.Option(help="Seconds a deferred completion stays PENDING.")
    ] = 0.2,
    max_streams_per_connection: Annotated[
        int | None, typer.Option(help="Concurrent calls per client connection (hosted API: ~100).")
    ] = None,
    batch_delay: Annotated[
        float, typer.Option(help="Seconds of processing per batch request.")
    ] = 0.0,
    latency: Annotated[float, typer.Option(help="Fixed latency added to each call (s).")] = 0.0,
    jitter: Annotated[
        float, typer.Option(help="Extra uniform random latency up to this (s).")
    ] = 0.0,
    ttft: Annotated[float, typer.Option("--ttft", help="Time to first stream chunk (s).")] = 0.0,
    per_token_delay: Annotated[
        float, typer.Option(help="Stream delay per generated token (s).")
    ] = 0.0,
    unavailable_rate: Annotated[
        float, typer.Option(help="Share of calls failing UNAVAILABLE.")
    ] = 0.0,
    resource_exhausted_rate: Annotated[
        float, typer.Option(help="Share of calls failing RESOURCE_EXHAUSTED.")
    ] = 0.0,
    internal_rate: Annotated[float, typer.Option(help="Share of calls failing INTERNAL.")] = 0.0,
    rpm: Annotated[
        int | None,
        typer.Option(
            "--rpm",
            help="Requests per minute per key, enforced per second as the hosted API does "
            "(RPM/60 a second, at most one second's worth at once).",
        ),
    ] = None,
    tpm: Annotated[
        int | None, typer.Option("--tpm", help="Tokens per minute per key (sliding minute).")
    ] = None,
    retry_after_hint: Annotated[
        RetryAfterHint,
        typer.Option(
            help="Rate-limit refusals carry the time until the next admitted request: as "
            "retry-after trailing metadata or a google.rpc.RetryInfo (the hosted API "
            "documents neither; off by default).",
        ),
    ] = RetryAfterHint.OFF,
    cut_stream_after: Annotated[
        int | None, typer.Option(help="Abort streams with UNAVAILABLE after this many chunks.")
    ] = None,
    fault_seed: Annotated[int, typer.Option(help="Seed of the fault generator.")] = 0,
    log_calls: Annotated[
        bool, typer.Option(help="Print one line per call (method, status, ms) to stderr.")
    ] = False,
) -> None:
    """Serve the local xAI API (Chat, Image, Models, Tokenize, BatchMgmt) until Ctrl-C."""
    from xai_pipelines.emulator import Emulator, EmulatorConfig, FaultConfig, ScriptError
    from xai_pipelines.emulator.server import tune_gc_for_serving

    try:
        faults = FaultConfig(
            seed=fault_seed,
            latency_s=latency,
            jitter_s=jitter,
            time_to_first_token_s=ttft,
            per_token_delay_s=per_token_delay,
            unavailable_rate=unavailable_rate,
            resource_exhausted_rate=resource_exhausted_rate,
            internal_rate=internal_rate,
            requests_per_minute=rpm,
            tokens_per_minute=tpm,
            retry_after_hint=retry_after_hint,
            cut_stream_after=cut_stream_after,
        )
        config = EmulatorConfig(
            api_keys=tuple(api_key) if api_key else None,
            faults=faults,
            responses_file=responses,
            host=host,
            port=port,
            http_port=http_port,
            reasoning_models=tuple(reasoning_model or ()),
            deferred_pending_s=deferred_pending,
            batch_request_delay_s=batch_delay,
            max_streams_per_connection=max_streams_per_connection,
        )
        emu = Emulator(config)
    except (ValueError, ScriptError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if log_calls:
        _log_calls_to_stderr()
    stop = threading.Event()
    # Handle both explicitly: a shell may start us with SIGINT ignored (background jobs).
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        emu.start()
    except OSError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    tune_gc_for_serving()
    try:
        for line in _describe(emu, list(api_key or ())):
            typer.echo(line)
        while not stop.wait(0.2):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        emu.stop(grace=0.5)
        typer.echo("emulator stopped")


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the ``xai-run`` app."""
    app.command("serve")(serve)
