"""The one exception the emulator's engines raise for a request they refuse."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import grpc

T = TypeVar("T")


class EmulatorError(Exception):
    """A request failure carrying the gRPC status the servicer answers with.

    Args:
        code: gRPC status code.
        message: Status details (never contains an API key).
    """

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> EmulatorError:
    """An INVALID_ARGUMENT error."""
    return EmulatorError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> EmulatorError:
    """A NOT_FOUND error."""
    return EmulatorError(grpc.StatusCode.NOT_FOUND, message)


async def answer(context: grpc.aio.ServicerContext, work: Callable[[], T]) -> T:
    """Run ``work`` (synchronous: generation is quick CPU work); an :class:`EmulatorError`
    becomes the call's status."""
    try:
        return work()
    except EmulatorError as exc:
        await context.abort(exc.code, exc.message)
        raise  # unreachable: abort raises
