"""Token counts (``client.tokenize``), e.g. for dry-run cost estimates."""

from __future__ import annotations

from dataclasses import dataclass

from xai_pipelines.proto import tokenize_pb2, tokenize_pb2_grpc
from xai_pipelines.sdk._call import Caller

__all__ = ["Token", "TokenizeClient"]


@dataclass(frozen=True)
class Token:
    """One token: its id, its text and its bytes."""

    token_id: int
    string_token: str
    token_bytes: bytes


def tokens_of(reply: tokenize_pb2.TokenizeTextResponse) -> list[Token]:
    """Read a ``TokenizeText`` answer."""
    return [Token(t.token_id, t.string_token, t.token_bytes) for t in reply.tokens]


class TokenizeClient:
    """Tokenizes text with a model's tokenizer; span ``tokenize.text <model>``."""

    def __init__(self, caller: Caller) -> None:
        self._caller = caller

    def tokenize_text(self, text: str, model: str) -> list[Token]:
        """The tokens of ``text`` for ``model``."""
        request = tokenize_pb2.TokenizeTextRequest(text=text, model=model)
        attrs = self._caller.attributes("tokenize", model, {})
        with self._caller.traced(f"tokenize.text {model}", attrs):
            reply, _ = self._caller.unary(tokenize_pb2_grpc.TokenizeStub, "TokenizeText", request)
        return tokens_of(reply)

    def count_tokens(self, text: str, model: str) -> int:
        """How many tokens ``text`` is for ``model``."""
        return len(self.tokenize_text(text, model))
