"""``xai-run chat`` and ``xai-run image``: interactive loops over the xAI client.

Both read one prompt per line from stdin until ``exit`` (or end of input).
``chat`` keeps the conversation history and prints the answer (streamed token by
token with ``--stream``, or all ``--n`` answers); ``image`` saves every image into
``--out`` and prints the paths. ``--local`` runs against an in-process emulator,
so neither needs a key; otherwise the key comes from ``XAI_API_KEY``.

Exit codes: 0 after ``exit``/end of input, 2 for bad options or a missing key,
1 when the API refuses the key.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from xai_pipelines.cli.connect import connect
from xai_pipelines.sdk import Chat, Client, Response, configure_telemetry, system, user
from xai_pipelines.sdk.client import DEFAULT_HOST
from xai_pipelines.sdk.errors import (
    AuthenticationError,
    InvalidApiKeyError,
    MissingApiKeyError,
    PermissionDeniedError,
    XaiError,
)

EXIT_WORDS = frozenset({"exit", "quit"})
DEFAULT_CHAT_MODEL = "grok-4.3"
DEFAULT_IMAGE_MODEL = "grok-imagine-image"


class ImageFormatChoice(enum.StrEnum):
    """How generated images come back."""

    base64 = "base64"
    url = "url"


Local = Annotated[
    bool, typer.Option("--local", help="Use an in-process emulator (no API key needed).")
]
Endpoint = Annotated[
    str | None, typer.Option("--endpoint", help=f"API host:port (default {DEFAULT_HOST}).")
]


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def _open_client(local: bool, endpoint: str | None) -> Iterator[Client]:
    provider = configure_telemetry()  # OTEL_TRACES_EXPORTER decides; default none
    try:
        with ExitStack() as stack:
            try:
                _, client = stack.enter_context(connect(local=local, endpoint=endpoint))
            except (MissingApiKeyError, InvalidApiKeyError) as exc:
                raise _fail(exc.message, 2) from None
            yield client
    finally:
        if provider is not None:
            provider.shutdown()  # flush spans still queued


def _prompts(stream: TextIO, label: str) -> Iterator[str]:
    """Non-empty input lines until an exit word; shows a prompt only on a terminal."""
    interactive = stream.isatty()
    while True:
        if interactive:
            typer.echo(f"{label}> ", nl=False, err=True)
        line = stream.readline()
        if not line:
            return
        text = line.strip()
        if text.lower() in EXIT_WORDS:
            return
        if text:
            yield text


def _fatal(exc: XaiError) -> bool:
    return isinstance(exc, AuthenticationError | PermissionDeniedError)


def _answer(chat: Chat, stream: bool, n: int) -> Response:
    """Send the conversation and print the answer(s); returns the one kept in the history."""
    if n > 1:
        answers = chat.sample_batch(n)
        for r in answers:
            typer.echo(f"[{r.index + 1}] {r.content}")
        return answers[0]
    if not stream:
        response = chat.sample()
        typer.echo(response.content)
        return response
    attempt, final = 1, None
    for so_far, chunk in chat.stream():
        if chunk.attempt != attempt:  # the stream restarted: what was printed is void
            attempt = chunk.attempt
            typer.echo("\n[connection lost; answer restarted]", err=True)
        sys.stdout.write(chunk.content)
        sys.stdout.flush()
        final = so_far
    typer.echo("")
    assert final is not None  # a successful stream has at least one chunk
    return final


def chat(
    model: Annotated[str, typer.Option("--model", "-m", help="Chat model.")] = DEFAULT_CHAT_MODEL,
    system_prompt: Annotated[
        str | None, typer.Option("--system", help="System prompt for the conversation.")
    ] = None,
    stream: Annotated[
        bool, typer.Option("--stream", help="Print tokens as they arrive (with --n 1).")
    ] = False,
    n: Annotated[int, typer.Option("--n", min=1, max=128, help="Answers per prompt.")] = 1,
    local: Local = False,
    endpoint: Endpoint = None,
) -> None:
    """Chat with a model: one prompt per line, 'exit' to quit; the history is kept."""
    with _open_client(local, endpoint) as client:
        history: list[Any] = [system(system_prompt)] if system_prompt else []
        for prompt in _prompts(sys.stdin, "you"):
            turn = user(prompt)
            try:
                # A failed turn leaves the history as it was.
                answer = _answer(client.chat.create(model, [*history, turn]), stream, n)
            except XaiError as exc:
                if _fatal(exc):
                    raise _fail(str(exc), 1) from None
                typer.echo(f"error: {exc}", err=True)
                continue
            history += [turn, answer]


def image(
    model: Annotated[str, typer.Option("--model", "-m", help="Image model.")] = DEFAULT_IMAGE_MODEL,
    n: Annotated[int, typer.Option("--n", min=1, max=10, help="Images per prompt.")] = 1,
    image_format: Annotated[
        ImageFormatChoice, typer.Option("--format", help="How images come back.")
    ] = ImageFormatChoice.base64,
    out: Annotated[
        Path, typer.Option("--out", help="Directory the images are saved in.", file_okay=False)
    ] = Path("images"),
    local: Local = False,
    endpoint: Endpoint = None,
) -> None:
    """Generate images: one prompt per line, 'exit' to quit; prints the saved paths."""
    with _open_client(local, endpoint) as client:
        for number, prompt in enumerate(_prompts(sys.stdin, "prompt"), start=1):
            try:
                images = client.image.sample_batch(
                    prompt, n=n, model=model, image_format=image_format.value
                )
                for img in images:
                    typer.echo(str(img.save(out / f"{number:03d}-{img.index + 1}")))
            except XaiError as exc:
                if _fatal(exc):
                    raise _fail(str(exc), 1) from None
                typer.echo(f"error: {exc}", err=True)


def register(app: typer.Typer) -> None:
    """Add ``chat`` and ``image`` to the ``xai-run`` app."""
    app.command("chat")(chat)
    app.command("image")(image)
