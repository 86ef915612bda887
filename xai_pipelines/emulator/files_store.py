"""Files held by the emulator's Files service (thread-safe, in memory, bounded).

Limits and behaviour of the hosted Files API, as documented (read 2026-11-29):

* Maximum file size 50 MB; files are kept until deleted, or until
  ``expires_after`` seconds (3600 to 2592000) after upload
  (https://docs.x.ai/developers/rest-api-reference/files/upload). An older page
  (the Files launch, "Chat with Files") gave 48 MB; the newer reference wins.
* Public URLs: created for files already stored, optionally expiring after
  ``expires_after`` seconds (1 hour to 30 days), otherwise inheriting the file's
  expiry; revoking one never deletes the file; an expired or revoked URL
  answers 404 (https://docs.x.ai/developers/files/public-urls). A file has at most
  one public URL: creating again returns it (with the new expiry when one is
  given); revoking a file without one succeeds with ``revoked`` false; only
  images, videos and PDFs can be made public (xai-sdk 1.21.0
  ``files.create_public_url`` / ``revoke_public_url`` docstrings).
* File ids look like ``file_<uuid>`` (the Imagine storage example on
  https://docs.x.ai/developers/model-capabilities/imagine/files/outputs).

Files belong to the key that uploaded them (the emulator's stand-in for a
team); another key gets NOT_FOUND. The emulator keeps at most
``quota_bytes`` of content; an upload beyond it is RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import mimetypes
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from xai_pipelines.emulator.errors import EmulatorError, invalid, not_found

MAX_FILE_BYTES = 50 * 1000 * 1000
MIN_EXPIRES_AFTER_S = 3600
MAX_EXPIRES_AFTER_S = 2_592_000
#: Content kinds a public URL may be made for (by MIME type prefix).
PUBLIC_KINDS = ("image/", "video/", "application/pdf")
_TEXT_TYPES = ("application/json", "application/xml", "application/x-yaml", "application/jsonl")


@dataclass
class StoredFile:
    """One stored file and its public URL state."""

    file_id: str
    key_id: str
    filename: str
    data: bytes
    created_at: float
    expires_at: float | None
    public_token: str | None = None
    public_expires_at: float | None = None

    @property
    def content_type(self) -> str:
        """MIME type guessed from the file name (``application/octet-stream`` otherwise)."""
        guessed, _ = mimetypes.guess_type(self.filename)
        return guessed or "application/octet-stream"

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)

    def text(self) -> str:
        """The file's text as a model reads it (see :func:`file_text`)."""
        return file_text(self.filename, self.data)


def file_text(filename: str, data: bytes, mime_type: str = "") -> str:
    """Text of a file as a model reads it: UTF-8 text files as they are, binary files empty."""
    kind = mime_type or mimetypes.guess_type(filename)[0] or ""
    if kind.startswith("text/") or kind in _TEXT_TYPES or kind.endswith("+json"):
        return data.decode("utf-8", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return ""


def check_expires_after(value: int, field_name: str) -> None:
    """INVALID_ARGUMENT unless ``value`` is within the documented TTL range."""
    if not MIN_EXPIRES_AFTER_S <= value <= MAX_EXPIRES_AFTER_S:
        raise invalid(
            f"{field_name} must be between {MIN_EXPIRES_AFTER_S} (1 hour) and "
            f"{MAX_EXPIRES_AFTER_S} (30 days) seconds, got {value}"
        )


def file_not_found(file_id: str) -> EmulatorError:
    """The NOT_FOUND for a file id the caller cannot see."""
    return not_found(f"File {file_id!r} does not exist or your team does not have access to it.")


class FileStore:
    """Stored files behind one lock.

    Args:
        quota_bytes: Most content held at once (uploads beyond it are refused).
        clock: Wall clock in seconds (injectable for expiry tests).
    """

    def __init__(self, quota_bytes: int, clock: Callable[[], float] = time.time) -> None:
        self.quota_bytes = quota_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._files: dict[str, StoredFile] = {}
        self._by_token: dict[str, str] = {}
        self._used = 0

    def now(self) -> float:
        """The store's clock."""
        return self._clock()

    def put(
        self, key_id: str, filename: str, data: bytes, expires_after: int | None = None
    ) -> StoredFile:
        """Store ``data`` as a new file of ``key_id``.

        Raises:
            EmulatorError: INVALID_ARGUMENT for a bad name, size or TTL;
                RESOURCE_EXHAUSTED when the emulator's quota is full.
        """
        if not filename:
            raise invalid("the file name must be set")
        if len(data) > MAX_FILE_BYTES:
            raise invalid(
                f"file {filename!r} is {len(data)} bytes; the maximum file size is "
                f"{MAX_FILE_BYTES // 1_000_000} MB"
            )
        if expires_after is not None:
            check_expires_after(expires_after, "expires_after")
        now = self._clock()
        record = StoredFile(
            file_id=f"file_{uuid.uuid4()}",
            key_id=key_id,
            filename=filename,
            data=data,
            created_at=now,
            expires_at=now + expires_after if expires_after is not None else None,
        )
        with self._lock:
            self._purge(now)
            if self._used + len(data) > self.quota_bytes:
                raise EmulatorError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"file storage is full: {self._used} of {self.quota_bytes} bytes used",
                )
            self._files[record.file_id] = record
            self._used += len(data)
        return record

    def get(self, key_id: str | None, file_id: str) -> StoredFile:
        """The live file ``file_id`` of ``key_id`` (None: of any key); NOT_FOUND otherwise."""
        if not file_id:
            raise invalid("file_id must be set")
        with self._lock:
            self._purge(self._clock())
            record = self._files.get(file_id)
        if record is None or (key_id is not None and record.key_id != key_id):
            raise file_not_found(file_id)
        return record

    def files(self, key_id: str) -> list[StoredFile]:
        """The live files of ``key_id``, in upload order."""
        with self._lock:
            self._purge(self._clock())
            return [f for f in self._files.values() if f.key_id == key_id]

    def delete(self, key_id: str, file_id: str) -> StoredFile:
        """Delete a file (and its public URL)."""
        record = self.get(key_id, file_id)
        with self._lock:
            if self._files.pop(file_id, None) is not None:
                self._used -= record.size
            if record.public_token is not None:
                self._by_token.pop(record.public_token, None)
        return record

    def publish(self, key_id: str | None, file_id: str, expires_after: int | None) -> StoredFile:
        """Give ``file_id`` a public URL token (kept if it has one; expiry updated when given).

        Raises:
            EmulatorError: NOT_FOUND, or INVALID_ARGUMENT for a bad TTL or a file
                that is not an image, video or PDF.
        """
        record = self.get(key_id, file_id)
        if expires_after is not None:
            check_expires_after(expires_after, "expires_after")
        if not record.content_type.startswith(PUBLIC_KINDS):
            raise invalid(
                f"file {file_id!r} is {record.content_type}; only images, videos and PDFs "
                "can be made public"
            )
        now = self._clock()
        with self._lock:
            if record.public_token is None:
                record.public_token = secrets.token_urlsafe(16)
                self._by_token[record.public_token] = record.file_id
                record.public_expires_at = record.expires_at
            if expires_after is not None:
                record.public_expires_at = now + expires_after
        return record

    def unpublish(self, key_id: str, file_id: str) -> str | None:
        """Revoke the public URL token of ``file_id``; returns the token (None if it had none)."""
        record = self.get(key_id, file_id)
        with self._lock:
            token, record.public_token = record.public_token, None
            record.public_expires_at = None
            if token is not None:
                self._by_token.pop(token, None)
        return token

    def public(self, token: str) -> StoredFile | None:
        """The file a live public URL token serves, or None (revoked, expired or deleted)."""
        now = self._clock()
        with self._lock:
            self._purge(now)
            record = self._files.get(self._by_token.get(token, ""))
            if record is None:
                return None
            if record.public_expires_at is not None and record.public_expires_at <= now:
                self._by_token.pop(token, None)
                record.public_token = record.public_expires_at = None
                return None
            return record

    def _purge(self, now: float) -> None:
        expired = [
            k for k, f in self._files.items() if f.expires_at is not None and f.expires_at <= now
        ]
        for key in expired:
            record = self._files.pop(key)
            self._used -= record.size
            if record.public_token is not None:
                self._by_token.pop(record.public_token, None)
