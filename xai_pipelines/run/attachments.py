"""Local files named by a job's request, uploaded once per run and sent by file id.

The plan carries a local file as ``{"path": "/abs/file", "sha256": "..."}`` (a
message part adds ``"type": "file"``; an image input stands alone in ``image_url``
or in ``image_urls``). Before a job is sent, each such file is uploaded through
the Files service (``FileUploads``: once per distinct content, for the whole run)
and replaced by ``{"file_id": ...}``. A file whose content no longer matches the
plan's sha256 fails the job: the job's digest (and so resume) was computed from
the planned content.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xai_pipelines.run.outcome import JobFailed
from xai_pipelines.sdk.files import FileUploads

__all__ = ["aresolve_files", "aresolve_turn", "has_local_files", "resolve_files", "resolve_turn"]


def _is_local(value: Any) -> bool:
    # the common types first: an isinstance check against an ABC is a Python call
    if type(value) is dict:
        return "path" in value and "sha256" in value
    if value is None or type(value) is str:
        return False
    return isinstance(value, Mapping) and "path" in value and "sha256" in value


def _file_id(local: Mapping[str, Any], uploads: FileUploads) -> str:
    path = Path(str(local["path"]))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise JobFailed("FILE_UNREADABLE", f"cannot read {path}: {exc.strerror or exc}", 1) from exc
    if hashlib.sha256(data).hexdigest() != local["sha256"]:
        raise JobFailed(
            "FILE_CHANGED",
            f"{path} changed after the plan was made; run again with --force to re-plan",
            1,
        )
    return uploads.file_id(data, path.name)


def _message(message: Mapping[str, Any], uploads: FileUploads) -> Mapping[str, Any]:
    content = message.get("content")
    if not isinstance(content, list) or not any(_is_local(p) for p in content):
        return message
    parts = [
        {"type": "file", "file_id": _file_id(p, uploads)} if _is_local(p) else p for p in content
    ]
    return {**message, "content": parts}


def _image_input(value: Any, uploads: FileUploads) -> Any:
    return {"file_id": _file_id(value, uploads)} if _is_local(value) else value


def resolve_files(request: Mapping[str, Any], uploads: FileUploads) -> dict[str, Any]:
    """A copy of ``request`` (JSON request form) with every local file replaced by its file id.

    Handles chat messages' file parts, and image requests' ``image_url`` and
    ``image_urls``. Messages without local files are kept as they are.

    Raises:
        JobFailed: When a file cannot be read or changed since planning.
        XaiError: When an upload fails.
    """
    out = dict(request)
    if isinstance(out.get("messages"), list):
        out["messages"] = [_message(m, uploads) for m in out["messages"]]
    if "image_url" in out:
        out["image_url"] = _image_input(out["image_url"], uploads)
    if isinstance(out.get("image_urls"), list):
        out["image_urls"] = [_image_input(v, uploads) for v in out["image_urls"]]
    return out


def resolve_turn(turn: Mapping[str, Any], uploads: FileUploads) -> Mapping[str, Any]:
    """A further user turn (JSON message form) with its local files replaced by file ids."""
    return _message(turn, uploads)


def has_local_files(request: Mapping[str, Any]) -> bool:
    """Whether ``request`` (a request or a turn) names a local file to upload."""
    content = request.get("content")
    if isinstance(content, list) and any(_is_local(p) for p in content):
        return True
    messages = request.get("messages")
    if isinstance(messages, list):
        for m in messages:
            if (type(m) is dict or isinstance(m, Mapping)) and has_local_files(m):
                return True
    images = request.get("image_urls")
    return _is_local(request.get("image_url")) or (
        isinstance(images, list) and any(_is_local(v) for v in images)
    )


async def aresolve_files(request: Mapping[str, Any], uploads: FileUploads) -> dict[str, Any]:
    """:func:`resolve_files` for the event loop: reading, hashing and uploading on the pool."""
    if has_local_files(request):
        return await asyncio.to_thread(resolve_files, request, uploads)
    return dict(request)


async def aresolve_turn(turn: Mapping[str, Any], uploads: FileUploads) -> Mapping[str, Any]:
    """:func:`resolve_turn` for the event loop (see :func:`aresolve_files`)."""
    if has_local_files(turn):
        return await asyncio.to_thread(resolve_turn, turn, uploads)
    return turn
