"""Exceptions raised by the xAI client.

Every failure the client reports is an :class:`XaiError`; gRPC errors are converted
once, in :mod:`xai_pipelines.sdk._call` (``raise ... from exc``), so no
``grpc.RpcError`` ever reaches a caller. The tree::

    XaiError                         code, message, request_id
    ├── MissingApiKeyError           no key given and XAI_API_KEY unset
    ├── InvalidApiKeyError           the key is blank or not visible ASCII (also a ValueError)
    ├── AuthenticationError          UNAUTHENTICATED
    ├── PermissionDeniedError        PERMISSION_DENIED
    ├── InvalidRequestError          INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE
    │   ├── RequestValidationError   refused by the client before sending (also a ValueError)
    │   │   └── InvalidMetadataError gRPC refused a metadata value before sending (never retried)
    │   └── StructuredOutputError    ``parse()``: the answer is not valid for the schema
    ├── NotFoundError                NOT_FOUND
    ├── RateLimitError               RESOURCE_EXHAUSTED            (retried, longer backoff)
    ├── UnavailableError             UNAVAILABLE                   (retried)
    ├── InternalServerError          INTERNAL, UNKNOWN, DATA_LOSS   (INTERNAL retried)
    ├── DeadlineExceededError        DEADLINE_EXCEEDED             (not retried)
    │   └── DeferredTimeoutError     ``defer()`` polled past its time limit
    ├── CancelledError               CANCELLED
    ├── DeferredError                a deferred completion ended EXPIRED or FAILED
    ├── ImageDownloadError           an image URL could not be fetched
    ├── InvalidResponseError         the server's reply cannot be read as an answer
    │   └── EmptyResponseError       the reply holds no output (or none for a requested index)
    └── APIError                     any other status code

``code`` is the ``grpc.StatusCode`` name (``"UNAVAILABLE"``) or a client-side name
(``"MISSING_API_KEY"``); ``message`` is the server's status details; ``request_id`` the
id the server attached to the failed call, if any. Messages never contain the API key.
"""

from __future__ import annotations

import grpc

__all__ = [
    "APIError",
    "AuthenticationError",
    "CancelledError",
    "DeadlineExceededError",
    "DeferredError",
    "DeferredTimeoutError",
    "EmptyResponseError",
    "ImageDownloadError",
    "InternalServerError",
    "InvalidApiKeyError",
    "InvalidMetadataError",
    "InvalidRequestError",
    "InvalidResponseError",
    "MissingApiKeyError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestValidationError",
    "StructuredOutputError",
    "UnavailableError",
    "XaiError",
    "error_for_status",
    "retry_after_hint",
]

# Trailing-metadata keys a server may use to name the request.
REQUEST_ID_KEYS = ("x-request-id", "request-id", "xai-request-id", "x-xai-request-id")

# Where a server may say how long to wait before retrying: a ``retry-after`` trailing
# metadata value in seconds, or a google.rpc.RetryInfo detail of the status in
# ``grpc-status-details-bin`` (the gRPC convention). The xAI docs do not say which the
# hosted API sends, if any (https://docs.x.ai/developers/rate-limits: "Exceeding any
# limit returns a 429", back off exponentially; read 2026-11-29), so both are read.
RETRY_AFTER_KEY = "retry-after"
STATUS_DETAILS_KEY = "grpc-status-details-bin"
_RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"


class XaiError(Exception):
    """Root of every error the client raises.

    Attributes:
        code: ``grpc.StatusCode`` name, or a client-side error name.
        message: The server's (or client's) explanation.
        request_id: Request id reported by the server, when there is one.
    """

    default_code = "UNKNOWN"
    #: Whether another attempt may succeed (the retry policy's one criterion).
    retryable = False

    def __init__(self, message: str, *, code: str | None = None, request_id: str | None = None):
        self.code = code or self.default_code
        self.message = message
        self.request_id = request_id
        super().__init__(message)

    def __str__(self) -> str:
        suffix = f" (request id {self.request_id})" if self.request_id else ""
        return f"{self.code}: {self.message}{suffix}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class MissingApiKeyError(XaiError):
    """No API key was given and ``XAI_API_KEY`` is not set."""

    default_code = "MISSING_API_KEY"

    def __init__(self) -> None:
        super().__init__(
            "no API key: set the XAI_API_KEY environment variable or pass api_key=...; "
            "use --local to run against the local emulator without a key"
        )


class InvalidApiKeyError(XaiError, ValueError):
    """The API key is blank or holds a character other than visible ASCII.

    Raised before any call (see :func:`xai_pipelines.sdk.keys.clean_api_key`), so a
    pasted key with a stray character fails once with a clear message instead of
    failing every call. The message names the position, never the key.

    Attributes:
        source: Where the key came from (``XAI_API_KEY`` or ``api_key``).
        position: 1-based position of the first bad character in the value as given
            (0 when the key is blank).
    """

    default_code = "INVALID_API_KEY"

    def __init__(self, message: str, *, source: str, position: int) -> None:
        super().__init__(message)
        self.source = source
        self.position = position


class AuthenticationError(XaiError):
    """The API key was missing, malformed or refused (UNAUTHENTICATED)."""

    default_code = "UNAUTHENTICATED"


class PermissionDeniedError(XaiError):
    """The key is valid but may not do this (PERMISSION_DENIED)."""

    default_code = "PERMISSION_DENIED"


class InvalidRequestError(XaiError):
    """The request itself is wrong; retrying cannot help (INVALID_ARGUMENT and kin)."""

    default_code = "INVALID_ARGUMENT"


class RequestValidationError(InvalidRequestError, ValueError):
    """The client refused to build the request (bad parameter or message)."""


class InvalidMetadataError(RequestValidationError):
    """gRPC refused a metadata value of the call before sending it ("Invalid metadata").

    gRPC reports this as INTERNAL, the code of a transient server failure, but the
    call never left the client and every retry fails alike; the class keeps it
    out of the retries.
    """

    default_code = "INVALID_METADATA"


class StructuredOutputError(InvalidRequestError, ValueError):
    """The model's answer is not valid JSON for the requested schema.

    Attributes:
        content: The raw answer text.
    """

    def __init__(self, message: str, *, content: str) -> None:
        super().__init__(message, code="INVALID_OUTPUT")
        self.content = content


class NotFoundError(XaiError):
    """The model, completion or batch does not exist (NOT_FOUND)."""

    default_code = "NOT_FOUND"


class RateLimitError(XaiError):
    """Rate limited or out of quota (RESOURCE_EXHAUSTED); retried with a longer backoff."""

    default_code = "RESOURCE_EXHAUSTED"
    retryable = True


class UnavailableError(XaiError):
    """The service could not be reached or dropped the call (UNAVAILABLE); retried."""

    default_code = "UNAVAILABLE"
    retryable = True


class InternalServerError(XaiError):
    """The server failed (INTERNAL, UNKNOWN, DATA_LOSS); INTERNAL is retried."""

    default_code = "INTERNAL"

    def __init__(self, message: str, *, code: str | None = None, request_id: str | None = None):
        super().__init__(message, code=code, request_id=request_id)
        # UNKNOWN and DATA_LOSS share the class but are final: only INTERNAL is transient.
        self.retryable = self.code == "INTERNAL"


class DeadlineExceededError(XaiError):
    """The call's deadline passed before an answer arrived (DEADLINE_EXCEEDED)."""

    default_code = "DEADLINE_EXCEEDED"


class DeferredTimeoutError(DeadlineExceededError):
    """A deferred completion was still pending when ``defer()``'s time limit ran out.

    Attributes:
        deferred_id: The deferred request id, which can still be polled later.
    """

    def __init__(self, message: str, *, deferred_id: str) -> None:
        super().__init__(message, request_id=deferred_id)
        self.deferred_id = deferred_id


class CancelledError(XaiError):
    """The call was cancelled (CANCELLED)."""

    default_code = "CANCELLED"


class DeferredError(XaiError):
    """A deferred completion ended without a result (status EXPIRED or FAILED)."""

    default_code = "DEFERRED_FAILED"


class ImageDownloadError(XaiError):
    """A generated image's URL could not be downloaded."""

    default_code = "DOWNLOAD_FAILED"


class InvalidResponseError(XaiError):
    """The server answered, but the reply is not a usable answer (never retried).

    Example: an ``image_generation`` tool output whose result envelope is not a
    ``data:image/...;base64,`` URL.
    """

    default_code = "INVALID_RESPONSE"


class EmptyResponseError(InvalidResponseError):
    """The reply holds no output at all, or none for an index the call asked for.

    An empty reply is never turned into an empty answer: there is no content, no
    tool call and no finish reason to record.
    """

    default_code = "EMPTY_RESPONSE"


class APIError(XaiError):
    """A status code without a more specific class."""


_BY_STATUS: dict[grpc.StatusCode, type[XaiError]] = {
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequestError,
    grpc.StatusCode.FAILED_PRECONDITION: InvalidRequestError,
    grpc.StatusCode.OUT_OF_RANGE: InvalidRequestError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: RateLimitError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.INTERNAL: InternalServerError,
    grpc.StatusCode.UNKNOWN: InternalServerError,
    grpc.StatusCode.DATA_LOSS: InternalServerError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.CANCELLED: CancelledError,
}


# The status details gRPC core gives a call whose metadata it refused to send (grpcio 1.85,
# observed 2026-11-29 with a key ending in a newline): "Invalid metadata".
_INVALID_METADATA = "Invalid metadata"


def retry_after_hint(error: BaseException) -> float | None:
    """Seconds the server asked the client to wait before retrying, if it said.

    Reads the trailing metadata of the gRPC error ``error`` was converted from (its
    ``__cause__``; or of ``error`` itself when it is the gRPC error): ``retry-after``
    (seconds) or a ``google.rpc.RetryInfo`` in ``grpc-status-details-bin``. The larger
    wins when both are there; an unreadable value is ignored.
    """
    source = error if isinstance(error, grpc.RpcError) else error.__cause__
    trailing = getattr(source, "trailing_metadata", None)
    if source is None or trailing is None:
        return None
    hints: list[float] = []
    for key, value in trailing() or ():
        name = key.lower()
        if name == RETRY_AFTER_KEY:
            try:
                seconds = float(value if isinstance(value, str) else value.decode())
            except (UnicodeDecodeError, ValueError):
                continue
            if seconds >= 0:
                hints.append(seconds)
        elif name == STATUS_DETAILS_KEY and isinstance(value, bytes):
            hints.extend(_retry_info_delays(value))
    return max(hints) if hints else None


def _retry_info_delays(status_bytes: bytes) -> list[float]:
    """The ``RetryInfo.retry_delay`` values (seconds) of a serialized google.rpc.Status."""
    from google.protobuf.message import DecodeError
    from google.rpc import error_details_pb2, status_pb2

    status = status_pb2.Status()
    try:
        status.ParseFromString(status_bytes)
        delays = []
        for detail in status.details:
            if detail.type_url == _RETRY_INFO_TYPE:
                info = error_details_pb2.RetryInfo()
                info.ParseFromString(detail.value)
                delay = info.retry_delay.seconds + info.retry_delay.nanos / 1e9
                if delay >= 0:
                    delays.append(delay)
    except DecodeError:
        return []
    return delays


def error_for_status(
    code: grpc.StatusCode, message: str, *, request_id: str | None = None
) -> XaiError:
    """Build the exception for a gRPC status.

    Args:
        code: The call's status code.
        message: The status details.
        request_id: Request id the server attached, if any.

    Returns:
        An instance of the matching :class:`XaiError` subclass.
    """
    if code == grpc.StatusCode.INTERNAL and message.startswith(_INVALID_METADATA):
        return InvalidMetadataError(message, request_id=request_id)
    cls = _BY_STATUS.get(code, APIError)
    return cls(message or code.name, code=code.name, request_id=request_id)
