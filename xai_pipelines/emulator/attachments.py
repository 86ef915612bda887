"""Files attached to chat messages (``Content.file``): resolve them and read their text.

A part names a stored file by ``file_id`` (NOT_FOUND when the caller has no
such file), carries the bytes inline (``data`` with ``filename``), or points
at a public ``url``. The emulator cannot fetch the web: a URL of one of its
own public files is read, any other URL counts as an attachment without text.

Attaching a file makes the request agentic: "When files are attached, the
system automatically enables document search capabilities, transforming your
request into an agentic workflow" (docs.x.ai, "Chat with Files",
https://docs.x.ai/docs/guides/files/chat-with-files, read 2026-11-29); the
emulator adds an implicit ``attachment_search`` call (see ``agentic``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from xai_pipelines.emulator.conversation import digest
from xai_pipelines.emulator.errors import invalid
from xai_pipelines.emulator.files_store import MAX_FILE_BYTES, FileStore, StoredFile, file_text
from xai_pipelines.proto import chat_pb2


@dataclass(frozen=True)
class Attachment:
    """One attached file as the model sees it."""

    file_id: str  # empty for inline data and foreign URLs
    name: str
    text: str


#: Finds the stored file behind a public URL of this emulator (None: not one of ours).
PublicLookup = Callable[[str], "StoredFile | None"]


class AttachmentResolver:
    """Resolves the file parts of a conversation for one caller.

    Args:
        store: The Files service's store.
        key_id: The caller's key id; None resolves ids of any key (internal callers
            such as the batch worker, which has no metadata of its own).
        public_lookup: Maps a URL to one of the emulator's public files.
    """

    def __init__(
        self, store: FileStore, key_id: str | None, public_lookup: PublicLookup | None = None
    ) -> None:
        self.store = store
        self.key_id = key_id
        self.public_lookup = public_lookup
        self._by_part: dict[bytes, Attachment] = {}

    def resolve(self, messages: Iterable[chat_pb2.Message]) -> list[Attachment]:
        """Every attached file, in order (each distinct part once).

        Raises:
            EmulatorError: NOT_FOUND for an unknown file id; INVALID_ARGUMENT for a
                part naming no source, inline data over the size limit, or a bad URL.
        """
        found: list[Attachment] = []
        for i, message in enumerate(messages):
            for j, part in enumerate(message.content):
                if part.WhichOneof("content") != "file":
                    continue
                key = digest(part.file)
                if key not in self._by_part:
                    self._by_part[key] = self._one(part.file, f"messages[{i}].content[{j}].file")
                    found.append(self._by_part[key])
        return found

    def text(self, part: chat_pb2.FileContent) -> str:
        """The text of a part :meth:`resolve` has seen ('' otherwise)."""
        hit = self._by_part.get(digest(part))
        return hit.text if hit is not None else ""

    def _one(self, part: chat_pb2.FileContent, field: str) -> Attachment:
        if part.file_id:
            record = self.store.get(self.key_id, part.file_id)
            return Attachment(record.file_id, record.filename, record.text())
        if part.data:
            if len(part.data) > MAX_FILE_BYTES:
                raise invalid(f"{field}.data is larger than {MAX_FILE_BYTES // 1_000_000} MB")
            return Attachment(
                "", part.filename, file_text(part.filename, part.data, part.mime_type)
            )
        if part.url:
            if not part.url.startswith(("http://", "https://")):
                raise invalid(f"{field}.url must be an http(s) URL")
            public = self.public_lookup(part.url) if self.public_lookup is not None else None
            if public is not None:
                return Attachment(public.file_id, public.filename, public.text())
            return Attachment("", part.url, "")
        raise invalid(f"{field} must set file_id, data or url")
