"""Job ids: validity, and duplicate detection in bounded memory.

Duplicate detection keeps an 8-byte fingerprint (SHA-256 prefix) per id in an
open-addressing table (``array('Q')``, at most 2/3 full): 12-24 bytes per job,
36 at worst while the table doubles. A million-job plan costs ~16 MiB, not the
plan itself. Two different ids share
a fingerprint with probability ~n²/2⁶⁵ (about 3e-8 at a million jobs).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from array import array

_ID_RE = re.compile(r"^[^/\\\x00-\x1f\x7f]{1,200}$")
#: Characters an id may not hold besides '/' and '\\': C0 and C1 controls, and the
#: invisible format characters (Unicode category Cf: bidi embeddings, overrides
#: and isolates U+202A-U+202E and U+2066-U+2069, zero-width spaces and joiners,
#: the BOM...), which make an id look like another one or reorder the text
#: around it in a terminal or a report; also line and paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _hidden(ch: str) -> bool:
    return unicodedata.category(ch) in _HIDDEN_CATEGORIES


def id_problem(job_id: str) -> str | None:
    """Why ``job_id`` cannot be used (it names files and directories), or ``None``."""
    bad = None if job_id.isascii() else next((ch for ch in job_id if _hidden(ch)), None)
    if bad is not None:
        name = unicodedata.name(bad, "control character")
        return (
            f"invalid job id {job_id!r}: it holds U+{ord(bad):04X} ({name}), an invisible "
            "or control character (expected visible characters only; the `slug` filter "
            "helps: {{ row.x | slug }})"
        )
    if job_id in (".", "..") or job_id != job_id.strip() or not _ID_RE.match(job_id):
        return (
            f"invalid job id {job_id!r} (expected 1-200 characters, no '/', '\\', control "
            "characters or surrounding spaces; the `slug` filter helps: {{ row.x | slug }})"
        )
    return None


class IdSet:
    """A set of ids that stores 8-byte fingerprints only."""

    def __init__(self) -> None:
        self._slots = array("Q", bytes(8)) * 1024
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @staticmethod
    def _fingerprint(job_id: str) -> int:
        # 0 marks an empty slot, so fingerprints are never 0.
        return int.from_bytes(hashlib.sha256(job_id.encode()).digest()[:8], "little") or 1

    def add(self, job_id: str) -> bool:
        """Add ``job_id``; return ``False`` if it was already there."""
        fp = self._fingerprint(job_id)
        slots = self._slots
        mask = len(slots) - 1
        i = fp & mask
        while slots[i]:
            if slots[i] == fp:
                return False
            i = (i + 1) & mask
        slots[i] = fp
        self._count += 1
        if self._count * 3 > len(slots) * 2:
            self._grow()
        return True

    def _grow(self) -> None:
        old = self._slots
        self._slots = array("Q", bytes(8)) * (2 * len(old))
        mask = len(self._slots) - 1
        for fp in old:
            if fp:
                i = fp & mask
                while self._slots[i]:
                    i = (i + 1) & mask
                self._slots[i] = fp
