"""Which setting names hold secrets, and which environment variables are secret.

Names: the one list both redactions use.

The loader replaces the text values under such names in the resolved spec (which
``manifest.json`` stores, and the spec digest is taken from); the manifest writer
replaces CLI arguments and ``--set name=value`` settings with such names. Both
match a name that contains one of :data:`SECRET_WORDS`, in any case, apart from
token counts (``max_tokens``), which are not secrets.
"""

from __future__ import annotations

__all__ = ["ALWAYS_SECRET_ENV", "SECRET_WORDS", "is_secret_name", "secret_env_problem"]

#: Environment variables that are secret whether or not ``env:`` marks them: the
#: API key (the SDK reads it from this name; a test holds the two names equal).
ALWAYS_SECRET_ENV = frozenset({"XAI_API_KEY"})

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


def secret_env_problem(name: str) -> str:
    """The message for a template that reads the secret environment variable ``name``."""
    return (
        f"env.{name} is secret and cannot be used in a template (whatever a template "
        "renders is sent or written: requests, job ids, file paths, plan.jsonl, "
        "results.jsonl); remove the reference"
    )
