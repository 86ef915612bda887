"""Why jobs failed: the final failures of a run, grouped by error code and message.

A job "failed at the API" when ``errors.jsonl`` holds a final error line for it
and ``results.jsonl`` holds no result for it (a job that failed in one run and
succeeded in a later run into the same directory did not fail). Its cause is the
message of its last final error line.

Messages that differ only in numbers or ids (``after 30.2s``, a request id)
fall into one group; a group whose messages were all the same shows that
message verbatim, otherwise the message with ``<n>`` / ``<id>`` in place of what
varied, so the cause (``address lookup failed for api.x.ai``) always shows.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from xai_pipelines.records import ErrorGroup, ErrorLine
from xai_pipelines.report.lines import error_records, unset_or

#: Job ids kept as examples per group.
MAX_EXAMPLE_IDS = 5
#: Longest message shown for a group.
MAX_MESSAGE_CHARS = 300

_UUID = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
# A hex run of 8+ characters holding a digit and a letter (request ids, digests).
_HEX_ID = re.compile(r"\b(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b")
# A number standing alone (not part of a name such as grok-4.3, api.x.ai:443 or q-17),
# with an optional unit.
_NUMBER = re.compile(r"(?<![\w.:/-])\d+(?:\.\d+)?(?:ms|s|%)?(?![\w.-])")


def normalize_message(message: str) -> str:
    """The message with ids and standalone numbers replaced by ``<id>`` and ``<n>``."""
    out = _UUID.sub("<id>", message)
    out = _HEX_ID.sub("<id>", out)
    return _NUMBER.sub("<n>", out)


def _shown(message: str) -> str:
    message = " ".join(message.split())
    if len(message) > MAX_MESSAGE_CHARS:
        return message[: MAX_MESSAGE_CHARS - 1] + "…"
    return message


@dataclass(frozen=True, slots=True)
class JobFailure:
    """A job that failed for good and has no result.

    Attributes:
        id: The job id.
        kind: ``chat`` or ``image``.
        model: The job's model.
        code: gRPC status name (or a client-side error name) of the last failure.
        message: Its message.
        task: The spec entry that produced the job (``""`` on lines written before
            error lines carried it).
        index: The job's position in the plan.
        matrix: The job's matrix values.
        expects: How many ``expect`` entries the job had (0: not an eval job).
    """

    id: str
    kind: str
    model: str
    code: str
    message: str
    task: str = ""
    index: int = 0
    matrix: Mapping[str, Any] = field(default_factory=dict)
    expects: int = 0


def final_failures(
    errors: Iterable[ErrorLine | Mapping[str, Any]], succeeded: Iterable[str] | Mapping[str, Any]
) -> list[JobFailure]:
    """The jobs that failed for good and never succeeded, in order of their first failure.

    Args:
        errors: Lines of ``errors.jsonl`` (records; plain dicts are decoded).
        succeeded: Ids of the jobs that have a result line.
    """
    done = succeeded if isinstance(succeeded, Mapping | set | frozenset) else set(succeeded)
    failed: dict[str, JobFailure] = {}
    for line in error_records(errors):
        if not line.final or line.id in done:
            continue
        failed[line.id] = JobFailure(
            id=line.id,
            kind=sys.intern(line.kind),
            model=sys.intern(line.model),
            code=sys.intern(line.code or "UNKNOWN"),
            message=sys.intern(line.message),
            task=sys.intern(line.task),
            index=unset_or(line.index, 0),
            matrix=unset_or(line.matrix, {}),
            expects=unset_or(line.expects, 0),
        )
    return list(failed.values())


@dataclass
class _Group:
    code: str
    first: str
    varied: bool = False
    count: int = 0
    example_ids: list[str] = field(default_factory=list)

    def add(self, failure: JobFailure) -> None:
        self.count += 1
        self.varied = self.varied or failure.message != self.first
        if len(self.example_ids) < MAX_EXAMPLE_IDS:
            self.example_ids.append(failure.id)


def group_failures(failures: Iterable[JobFailure]) -> list[dict[str, Any]]:
    """``totals.error_groups`` of ``usage.json``.

    Returns:
        ``[{"code", "message", "count", "example_ids"}, ...]``, most frequent first
        (then by code and message), at most :data:`MAX_EXAMPLE_IDS` ids each.
    """
    groups: dict[tuple[str, str], _Group] = {}
    for failure in failures:
        key = (failure.code, normalize_message(failure.message))
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(failure.code, failure.message)
        group.add(failure)
    out: list[dict[str, Any]] = [
        {
            "code": g.code,
            "message": _shown(template if g.varied else g.first),
            "count": g.count,
            "example_ids": g.example_ids,
        }
        for (_, template), g in groups.items()
    ]
    out.sort(key=lambda g: (-g["count"], g["code"], g["message"]))
    return out


def describe_group(group: ErrorGroup) -> str:
    """One line for a group: ``CODE: message``, or the code alone when there is no message."""
    return f"{group.code}: {group.message}" if group.message else group.code
