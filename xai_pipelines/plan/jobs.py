"""Job types: the unit of work the plan yields and the executor runs.

A job carries the exact request it will send in the "JSON request form" (see
docs/ARCHITECTURE.md), which the SDK accepts as keyword arguments. Its
``digest`` covers everything that decides what is sent, so a resumed run can
tell a finished job from one whose request changed; it is computed once per job,
on first use. A chat job's seed is the one its request sends (stored only there).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Literal

from xai_pipelines.spec.canonical import canonical_json, digest

__all__ = ["ChatJob", "ChatMode", "ImageJob", "Job", "canonical_json", "job_from_dict"]

ChatMode = Literal["sample", "stream", "defer"]


def _digest(value: Any) -> str:
    return digest(value)


@dataclass(frozen=True, slots=True)
class ChatJob:
    """One chat conversation: an initial request, optionally followed by more user turns.

    Attributes:
        id: Stable, unique job id (from the spec's ``id`` template or a request digest).
        request: ``{"model": ..., "messages": [...], **params}`` in JSON request form.
        mode: How to call the API: ``sample`` (unary), ``stream`` or ``defer``.
        turns: Further messages (JSON message form), each sent after the previous reply
            has been appended to the conversation.
        expect: Assertions from the spec, evaluated on the final response(s).
        task: Name of the spec entry that produced the job.
        index: Position of the job in the plan (0-based).
        meta: Values the job was expanded from (dataset row, matrix cell, repeat index).
    """

    kind: ClassVar[str] = "chat"
    id: str
    request: Mapping[str, Any]
    mode: ChatMode = "sample"
    turns: tuple[Mapping[str, Any], ...] = ()
    expect: tuple[Mapping[str, Any], ...] = ()
    task: str = ""
    index: int = 0
    meta: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    _digest: str = field(default="", init=False, repr=False, compare=False)

    @property
    def model(self) -> str:
        """The model the request names."""
        return str(self.request["model"])

    @property
    def seed(self) -> int | None:
        """The seed sent with the request (``None`` when no seed is sent)."""
        seed = self.request.get("seed")
        return None if seed is None else int(seed)

    @property
    def digest(self) -> str:
        """Digest of everything that decides what this job sends (computed once)."""
        if not self._digest:
            basis = {"kind": self.kind, "request": self.request, "mode": self.mode}
            object.__setattr__(self, "_digest", _digest({**basis, "turns": self.turns}))
        return self._digest

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, as written to ``plan.jsonl``."""
        return {
            "id": self.id,
            "kind": self.kind,
            "digest": self.digest,
            "task": self.task,
            "index": self.index,
            "mode": self.mode,
            "seed": self.seed,
            "request": self.request,
            "turns": list(self.turns),
            "expect": list(self.expect),
            "meta": dict(self.meta),
        }


@dataclass(frozen=True, slots=True)
class ImageJob:
    """One image generation request (``n`` images for one prompt).

    Attributes:
        id: Stable, unique job id.
        request: ``{"prompt": ..., "model": ..., "n": ..., "image_format": ..., ...}``.
        expect: Assertions from the spec (e.g. image count).
        task: Name of the spec entry that produced the job.
        index: Position of the job in the plan (0-based).
        meta: Values the job was expanded from.
    """

    kind: ClassVar[str] = "image"
    id: str
    request: Mapping[str, Any]
    expect: tuple[Mapping[str, Any], ...] = ()
    task: str = ""
    index: int = 0
    meta: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    _digest: str = field(default="", init=False, repr=False, compare=False)

    @property
    def model(self) -> str:
        """The model the request names."""
        return str(self.request["model"])

    @property
    def seed(self) -> None:
        """Image requests carry no seed on the wire."""
        return None

    @property
    def digest(self) -> str:
        """Digest of everything that decides what this job sends (computed once)."""
        if not self._digest:
            object.__setattr__(
                self, "_digest", _digest({"kind": self.kind, "request": self.request})
            )
        return self._digest

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, as written to ``plan.jsonl``."""
        return {
            "id": self.id,
            "kind": self.kind,
            "digest": self.digest,
            "task": self.task,
            "index": self.index,
            "request": self.request,
            "expect": list(self.expect),
            "meta": dict(self.meta),
        }


Job = ChatJob | ImageJob


def job_from_dict(data: Mapping[str, Any]) -> Job:
    """Rebuild a job from :meth:`ChatJob.to_dict` / :meth:`ImageJob.to_dict` output.

    A run executes the jobs of its ``plan.jsonl`` read back with this. A chat's
    seed is its request's; the line's ``seed`` repeats it for readers of the file.
    The line's ``digest`` is taken as the job's (it was computed from the same fields
    when the line was written), so reading the plan back does not hash it again.
    """
    common = {
        "id": data["id"],
        "request": data["request"],
        "expect": tuple(data.get("expect", ())),
        "task": data.get("task", ""),
        "index": data.get("index", 0),
        "meta": MappingProxyType(dict(data.get("meta", {}))),
    }
    job: Job
    if data["kind"] == "chat":
        job = ChatJob(
            mode=data.get("mode", "sample"),
            turns=tuple(data.get("turns", ())),
            **common,
        )
    elif data["kind"] == "image":
        job = ImageJob(**common)
    else:
        raise ValueError(f"unknown job kind {data['kind']!r}")
    stored = data.get("digest")
    if isinstance(stored, str) and stored:
        object.__setattr__(job, "_digest", stored)
    return job
