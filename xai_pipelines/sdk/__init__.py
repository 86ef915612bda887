"""A small, complete client of the xAI gRPC API.

Example::

    from xai_pipelines.sdk import Client, system, user

    with Client() as client:
        chat = client.chat.create("grok-4.3", messages=[system("Be terse."), user("Hi")])
        print(chat.sample().content)

Modules: :mod:`.client` (Client), :mod:`.chat`, :mod:`.image`, :mod:`.models`,
:mod:`.tokenize`, :mod:`.batch`, :mod:`.files` (Files service and once-per-content
uploads), :mod:`.messages` (helpers), :mod:`.response` and :mod:`.outputs` (answers
and their parts), :mod:`.errors`, :mod:`.retry` (the retry policy shared with the
executor) and :mod:`.telemetry`.
"""

import typing

from xai_pipelines import _lazy

if typing.TYPE_CHECKING:
    from xai_pipelines.sdk.batch import BatchClient, BatchInfo, BatchResult, BatchResultsPage
    from xai_pipelines.sdk.chat import Chat, ChatClient, CompactResult
    from xai_pipelines.sdk.client import Client
    from xai_pipelines.sdk.errors import EmptyResponseError, XaiError
    from xai_pipelines.sdk.files import (
        FileDeletion,
        FileInfo,
        FilesClient,
        FilesPage,
        FileUploads,
        PublicUrl,
        PublicUrlRevocation,
    )
    from xai_pipelines.sdk.image import (
        ImageClient,
        ImageResponse,
        StoredImageFile,
        build_image_request,
    )
    from xai_pipelines.sdk.messages import (
        assistant,
        developer,
        file,
        image,
        system,
        tool,
        tool_result,
        user,
    )
    from xai_pipelines.sdk.models import ImageModelInfo, LanguageModelInfo, ModelsClient
    from xai_pipelines.sdk.outputs import ImageOutput, InlineCitation, ToolOutput
    from xai_pipelines.sdk.response import Chunk, Response, ToolCall, Usage
    from xai_pipelines.sdk.retry import AttemptInfo, RetryPolicy, is_retryable
    from xai_pipelines.sdk.telemetry import configure_telemetry
    from xai_pipelines.sdk.tokenize import Token, TokenizeClient
else:  # imported on first use: see xai_pipelines._lazy
    __getattr__, __dir__ = _lazy.exports(__name__)

__all__ = [
    "AttemptInfo",
    "BatchClient",
    "BatchInfo",
    "BatchResult",
    "BatchResultsPage",
    "Chat",
    "ChatClient",
    "Chunk",
    "Client",
    "CompactResult",
    "EmptyResponseError",
    "FileDeletion",
    "FileInfo",
    "FileUploads",
    "FilesClient",
    "FilesPage",
    "ImageClient",
    "ImageModelInfo",
    "ImageOutput",
    "ImageResponse",
    "InlineCitation",
    "LanguageModelInfo",
    "ModelsClient",
    "PublicUrl",
    "PublicUrlRevocation",
    "Response",
    "RetryPolicy",
    "StoredImageFile",
    "Token",
    "TokenizeClient",
    "ToolCall",
    "ToolOutput",
    "Usage",
    "XaiError",
    "assistant",
    "build_image_request",
    "configure_telemetry",
    "developer",
    "file",
    "image",
    "is_retryable",
    "system",
    "tool",
    "tool_result",
    "user",
]
