"""The lines a report reads, as records of :mod:`xai_pipelines.records`.

Readers take records; a caller holding plain dicts (a line built in memory, a
test) passes them through :func:`result_records` / :func:`error_records`, which
decode each with the record's own rules (old lines without ``schema_version``
included). ``scores`` is read through :func:`xai_pipelines.records.scores_of`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

from xai_pipelines.records import (
    ChatOutput,
    ErrorLine,
    EvalsReport,
    Manifest,
    ResultLine,
    UnsetType,
    UsageReport,
    as_record,
    error_line_from,
    manifest_from,
    result_line_from,
    usage_report_from,
)

__all__ = [
    "as_evals_report",
    "as_manifest",
    "as_output",
    "as_result_line",
    "as_usage_report",
    "error_records",
    "result_records",
    "unset_or",
]

_T = TypeVar("_T")


def as_result_line(line: ResultLine | Mapping[str, Any]) -> ResultLine:
    """``line`` as a :class:`ResultLine` (a record passes through, a dict is decoded).

    Raises:
        RecordError: A dict that is not a result line.
    """
    return line if isinstance(line, ResultLine) else result_line_from(line)


def as_output(output: ChatOutput | Mapping[str, Any]) -> ChatOutput:
    """``output`` as a :class:`ChatOutput` (a record passes through, a dict is decoded).

    Raises:
        RecordError: A dict that is not a chat output.
    """
    return as_record(output, ChatOutput, "chat output")


def result_records(lines: Iterable[ResultLine | Mapping[str, Any]]) -> Iterator[ResultLine]:
    """Each line as a :class:`ResultLine` (records pass through, dicts are decoded).

    Raises:
        RecordError: A dict that is not a result line.
    """
    for line in lines:
        yield as_result_line(line)


def error_records(lines: Iterable[ErrorLine | Mapping[str, Any]]) -> Iterator[ErrorLine]:
    """Each line as an :class:`ErrorLine` (records pass through, dicts are decoded).

    Raises:
        RecordError: A dict that is not an error line.
    """
    for line in lines:
        yield line if isinstance(line, ErrorLine) else error_line_from(line)


def unset_or(value: _T | UnsetType, default: _T) -> _T:
    """``value``, or ``default`` when the key was absent from the line."""
    return default if isinstance(value, UnsetType) else value


def as_usage_report(usage: UsageReport | Mapping[str, Any]) -> UsageReport:
    """``usage`` as a :class:`UsageReport` (a record passes through, a dict is decoded).

    Raises:
        RecordError: A dict that is not a usage report.
    """
    return usage if isinstance(usage, UsageReport) else usage_report_from(usage)


def as_evals_report(evals: EvalsReport | Mapping[str, Any] | None) -> EvalsReport:
    """An ``evals`` section as an :class:`EvalsReport` (None: an empty one).

    Raises:
        RecordError: A dict that is not an evals section.
    """
    return as_record(evals or {}, EvalsReport, "evals report")


def as_manifest(manifest: Manifest | Mapping[str, Any] | None) -> Manifest | None:
    """``manifest`` as a :class:`Manifest` (a record passes through, a dict is decoded).

    Raises:
        RecordError: A dict that is not a manifest.
    """
    if manifest is None or isinstance(manifest, Manifest):
        return manifest
    return manifest_from(manifest)
