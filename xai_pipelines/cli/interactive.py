"""``xai-run chat`` and ``xai-run image``: interactive loops over the xAI client.

Both read one prompt per line from stdin until ``exit`` (or end of input).
``chat`` keeps the conversation history and prints the answer (streamed token by
token with ``--stream``, or all ``--n`` answers); ``image`` saves every image into
``--out`` and prints the paths. ``--local`` runs against an in-process emulator,
so neither needs a key; otherwise the key comes from ``XAI_API_KEY``.

Exit codes: 0 after ``exit``/end of input when every call succeeded; 1 when a
call failed (the loop goes on to the next prompt and the code is set at the
end), or at once when the API refuses the key; 2 for bad options, a missing or
unsendable key, or an ``--out`` that cannot be written.

``image`` never overwrites: a session numbers its prompts after the highest
number already in ``--out`` (``003-1.png`` is prompt 3, image 1), so images of
earlier sessions stay.
"""

from __future__ import annotations

import enum
import re
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from xai_pipelines.cli.outdir import OutputPathError, describe_os_error, prepare_output_dir

# The client (grpc, opentelemetry) is imported when a command runs, not for ``--help``.
if TYPE_CHECKING:
    from xai_pipelines.sdk import Chat, Client, Response
    from xai_pipelines.sdk.errors import XaiError

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
# The host is written out: the client's DEFAULT_HOST is not imported for --help
# (tests/cli/test_startup.py checks that the two agree).
Endpoint = Annotated[
    str | None, typer.Option("--endpoint", help="API host:port (default api.x.ai:443).")
]


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def _open_client(local: bool, endpoint: str | None) -> Iterator[Client]:
    from xai_pipelines.cli.connect import connect
    from xai_pipelines.sdk import configure_telemetry
    from xai_pipelines.sdk.errors import InvalidApiKeyError, MissingApiKeyError

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
    from xai_pipelines.sdk.errors import AuthenticationError, PermissionDeniedError

    return isinstance(exc, AuthenticationError | PermissionDeniedError)


def _failed(exc: XaiError) -> None:
    """Report a failed call: fatal ones end the command at once (exit 1)."""
    if _fatal(exc):
        raise _fail(str(exc), 1)
    typer.echo(f"error: {exc}", err=True)


#: A saved image's name: prompt number, dash, image number (``012-3.png``).
_IMAGE_NAME = re.compile(r"(\d+)-\d+(\.\w+)?")


def next_prompt_number(out: Path) -> int:
    """The first prompt number no image in ``out`` uses yet (1 in an empty directory)."""
    used = [0]
    for path in out.iterdir() if out.is_dir() else ():
        match = _IMAGE_NAME.fullmatch(path.name)
        if match:
            used.append(int(match.group(1)))
    return max(used) + 1


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
    from xai_pipelines.sdk import system, user
    from xai_pipelines.sdk.errors import XaiError

    failures = 0
    with _open_client(local, endpoint) as client:
        history: list[Any] = [system(system_prompt)] if system_prompt else []
        for prompt in _prompts(sys.stdin, "you"):
            turn = user(prompt)
            try:
                # A failed turn leaves the history as it was.
                answer = _answer(client.chat.create(model, [*history, turn]), stream, n)
            except XaiError as exc:
                _failed(exc)
                failures += 1
                continue
            history += [turn, answer]
    if failures:
        raise typer.Exit(1)


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
    """Generate images: one prompt per line, 'exit' to quit; prints the saved paths.

    Images of earlier sessions in ``--out`` are kept: numbering goes on after them.
    """
    from xai_pipelines.sdk.errors import XaiError

    try:
        prepare_output_dir(out, "--out")
    except OutputPathError as exc:
        raise _fail(str(exc), 2) from None
    failures = 0
    with _open_client(local, endpoint) as client:
        for prompt in _prompts(sys.stdin, "prompt"):
            try:
                images = client.image.sample_batch(
                    prompt, n=n, model=model, image_format=image_format.value
                )
            except XaiError as exc:
                _failed(exc)
                failures += 1
                continue
            number = next_prompt_number(out)  # read again: another session may share --out
            for img in images:
                try:
                    path = img.save(out / f"{number:03d}-{img.index + 1}")
                except XaiError as exc:  # a URL image that could not be downloaded
                    _failed(exc)
                    failures += 1
                    continue
                except OSError as exc:
                    raise _fail(
                        f"cannot save into {out}: {describe_os_error(exc, out)}", 1
                    ) from None
                typer.echo(str(path))
    if failures:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``chat`` and ``image`` to the ``xai-run`` app."""
    app.command("chat")(chat)
    app.command("image")(image)
