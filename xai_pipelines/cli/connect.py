"""The one way the commands reach the xAI API: a host, or the in-process emulator (``--local``).

``run``, ``plan``, ``validate``, ``chat`` and ``image`` all open the API here.
:func:`open_api` starts the emulator when asked (and stops it on exit) and says
where the API is; :func:`connect` adds a client for it. ``run`` takes the
:class:`Api` alone: the run builds its own client (its retry hooks, timeout and
channels come from the pipeline). Only ``cli/`` imports the emulator.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xai_pipelines.sdk import Client
from xai_pipelines.sdk.client import DEFAULT_HOST
from xai_pipelines.sdk.keys import API_KEY_ENV, clean_api_key


@dataclass(frozen=True, slots=True)
class Api:
    """Where the API is.

    Attributes:
        address: ``host[:port]``.
        api_key: The key to send (the emulator's own with ``local``; else ``XAI_API_KEY``,
            or ``None`` when it is not set). Never printed.
        local: The address is the in-process emulator started by :func:`open_api`.
        responses: The emulator's scripted-answers file (``--responses``), if any.
    """

    address: str
    api_key: str | None = None
    local: bool = False
    responses: Path | None = None

    @property
    def where(self) -> str:
        """How messages name this API."""
        return "the local emulator" if self.local else self.address

    def __repr__(self) -> str:  # the key stays out of reprs and tracebacks
        return f"Api(address={self.address!r}, local={self.local})"


@contextmanager
def open_api(
    *, local: bool = False, endpoint: str | None = None, emulator_config: Any = None
) -> Iterator[Api]:
    """The API to call: the in-process emulator (``local``), else ``endpoint`` or api.x.ai.

    Args:
        local: Start the emulator in-process; it stops when the block ends.
        endpoint: ``host[:port]`` of the API (default ``api.x.ai:443``).
        emulator_config: The emulator's config (default config when ``None``).

    Raises:
        InvalidApiKeyError: ``XAI_API_KEY`` cannot be sent (checked before any call).
    """
    if local:
        from xai_pipelines.emulator import Emulator

        with Emulator(emulator_config) as emu:
            responses = getattr(emulator_config, "responses_file", None)
            yield Api(emu.address, emu.api_key, local=True, responses=responses)
        return
    raw = os.environ.get(API_KEY_ENV)
    yield Api(endpoint or DEFAULT_HOST, clean_api_key(raw) if raw else None)


def client(api: Api, **options: Any) -> Client:
    """A client of ``api``; ``options`` are :class:`~xai_pipelines.sdk.Client`'s keyword options.

    Raises:
        MissingApiKeyError: No key (not local and ``XAI_API_KEY`` unset).
    """
    return Client(api_key=api.api_key, api_host=api.address, **options)


@contextmanager
def connect(
    *,
    local: bool = False,
    endpoint: str | None = None,
    emulator_config: Any = None,
    **options: Any,
) -> Iterator[tuple[Api, Client]]:
    """The API and a client of it, both closed when the block ends (see :func:`open_api`).

    Raises:
        MissingApiKeyError: No key (not local and ``XAI_API_KEY`` unset).
        InvalidApiKeyError: ``XAI_API_KEY`` cannot be sent.
    """
    with (
        open_api(local=local, endpoint=endpoint, emulator_config=emulator_config) as api,
        client(api, **options) as c,
    ):
        yield api, c
