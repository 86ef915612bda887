"""Bearer-key checks. Keys are never echoed: errors and logs use a short digest."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence

MISSING = "missing credentials: send the header 'authorization: Bearer <api key>'"
INVALID = "invalid API key (the key was not accepted by this server)"


@functools.lru_cache(maxsize=1024)  # every call digests its key: most calls share a few keys
def key_id(key: str) -> str:
    """A short, non-reversible id for ``key`` (used for per-key rate limits)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


class KeyPolicy:
    """Which keys the server accepts.

    Args:
        accepted: The accepted keys; None accepts any non-empty key.
    """

    def __init__(self, accepted: Sequence[str] | None) -> None:
        self._accepted = None if accepted is None else frozenset(accepted)

    def a_valid_key(self) -> str:
        """A key this policy accepts (for ``Emulator.api_key``)."""
        if self._accepted is None:
            return "emulator-key"
        return sorted(self._accepted)[0]

    def check(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> tuple[str | None, str]:
        """Check call metadata.

        Returns:
            ``(key_id, "")`` when accepted, else ``(None, reason)``.
        """
        header = None
        for name, value in metadata or ():
            if name.lower() == "authorization":
                header = value.decode() if isinstance(value, bytes) else value
        if not header:
            return None, MISSING
        scheme, _, key = header.strip().partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return None, MISSING
        if self._accepted is not None and key not in self._accepted:
            return None, INVALID
        return key_id(key), ""
