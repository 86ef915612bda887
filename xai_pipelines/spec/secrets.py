"""Which setting names hold secrets: the one list both redactions use.

The loader replaces the text values under such names in the resolved spec (which
``manifest.json`` stores, and the spec digest is taken from); the manifest writer
replaces CLI arguments and ``--set name=value`` settings with such names. Both
match a name that contains one of :data:`SECRET_WORDS`, in any case, apart from
token counts (``max_tokens``), which are not secrets.
"""

from __future__ import annotations

__all__ = ["SECRET_WORDS", "is_secret_name"]

#: Parts of a name that mark its value as a secret (``api_key``, ``XAI_API_KEY``,
#: ``authorization``, ``access_token``, ``client_secret``, ``password``...).
SECRET_WORDS = ("key", "token", "secret", "password", "authorization")
_NOT_SECRET = ("max_tokens",)


def is_secret_name(name: str) -> bool:
    """Whether a setting called ``name`` (a key, an argument or a dotted path) holds a secret."""
    lowered = name.lower()
    if any(word in lowered for word in _NOT_SECRET):
        return False
    return any(word in lowered for word in SECRET_WORDS)
