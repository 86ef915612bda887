"""``junit.xml``: one test case per job, for the test-report readers of CI systems.

Shape (the attributes of the JUnit schema GitHub, GitLab and Jenkins read: Jenkins
xunit-plugin ``junit-10.xsd``,
https://github.com/jenkinsci/xunit-plugin/blob/master/src/main/resources/org/jenkinsci/plugins/xunit/types/model/xsd/junit-10.xsd,
read 2026-11-29)::

    <testsuites name=PIPELINE tests failures errors time>
      <testsuite name=TASK tests failures errors skipped="0" time [file=PIPELINE FILE]>
        <testcase classname=TASK name=JOB_ID [time=LATENCY]/>            passed (or no expect)
        <testcase ...><failure type="assertion" message=...>               an assertion failed
            one line per failing assertion with its reason, then the answer</failure>
        <testcase ...><error type=CODE message="CODE: message">...</error> failed at the API

A job is the result line with its id (the last one when an id repeats) or, when it
never finished, the last final line of ``errors.jsonl`` (with its task and plan index;
``plan.jsonl`` gives them for lines written before error lines carried them). Jobs that never ran are not listed, and ``<skipped>`` is never
written. Cases are ordered by task (in plan order) and by plan index.

Memory stays bounded on large runs: the first pass keeps a few numbers per job
(and the byte offset of its line); failure details are read back one line at a
time while the file is written.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple, Protocol, TypeVar

from xai_pipelines.records import (
    AssertionOutcome,
    Manifest,
    ResultLine,
    decode_error_line,
    decode_result_line,
    scores_of,
)
from xai_pipelines.report.lines import as_manifest, unset_or

#: File name of the report in the output directory.
JUNIT_XML = "junit.xml"
#: Failing assertions listed in one ``<failure>`` (the rest are counted).
MAX_ASSERTIONS = 50
#: Longest reason, answer or API message written.
MAX_TEXT_CHARS = 2000
#: Longest ``message`` attribute (a one-line summary).
MAX_MESSAGE_CHARS = 300
#: Outputs quoted after the failing assertions of a job.
MAX_ANSWERS = 3

Status = Literal["passed", "failed", "error"]

# Characters XML 1.0 does not allow, even escaped.
_INVALID_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class RunFiles(Protocol):
    """The files of an output directory this module reads (``store.OutputDir`` fits)."""

    @property
    def root(self) -> Path:
        """The directory."""

    @property
    def results(self) -> Path:
        """``results.jsonl``."""

    @property
    def errors(self) -> Path:
        """``errors.jsonl``."""

    @property
    def plan(self) -> Path:
        """``plan.jsonl``."""


@dataclass(frozen=True)
class JobCase:
    """The outcome of one job, as a test case.

    Attributes:
        id: Job id.
        task: The job's task (``?`` when an API failure is not in ``plan.jsonl``).
        model: Model the job asked.
        status: ``passed`` (no assertion failed), ``failed`` (an assertion failed) or
            ``error`` (the job failed at the API).
        time_s: The job's latency (None when unknown: batch mode, API failures).
        type: ``assertion`` for a failure, the gRPC code for an error, else empty.
        message: One line: what failed (empty when passed).
        details: The failing assertions with their reasons and the answers, or the
            API error, one item per line (empty when passed).
    """

    id: str
    task: str
    model: str
    status: Status
    time_s: float | None
    type: str = ""
    message: str = ""
    details: str = ""


@dataclass(frozen=True)
class JunitCounts:
    """What ``junit.xml`` holds: jobs, failures, errors and suites (tasks)."""

    tests: int
    failures: int
    errors: int
    suites: int


class _Entry(NamedTuple):
    """One job, as the first pass keeps it."""

    task: str
    position: int  # in the plan
    id: str
    status: Status
    time_s: float | None
    model: str
    offset: int  # of its result line; -1 for an API failure


class _ApiFailure(NamedTuple):
    model: str
    code: str
    message: str
    attempts: int
    task: str | None  # None: an error line written before they carried the task
    position: int


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _one_line(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    return _clip(" ".join(text.split()), limit)


_T = TypeVar("_T")


def _scan(path: Path, decode: Callable[[bytes], _T]) -> Iterator[tuple[int, _T]]:
    """``(byte offset, decoded line)`` of every line, with ``store.read_jsonl``'s rule.

    A torn last line (a crash mid-write) is skipped; a damaged line elsewhere raises
    ``ValueError`` naming it.
    """
    if not path.exists():
        return
    with path.open("rb") as f:
        offset = at = lineno = 0
        pending: bytes | None = None
        for raw in f:
            if pending is not None and pending.strip():
                yield at, _parse(pending, path, lineno, decode)
            lineno += 1
            pending, at = raw, offset
            offset += len(raw)
        if pending is not None and pending.endswith(b"\n") and pending.strip():
            try:
                yield at, _parse(pending, path, lineno, decode)
            except ValueError:
                return


def _parse(raw: bytes, path: Path, lineno: int, decode: Callable[[bytes], _T]) -> _T:
    try:
        return decode(raw)
    except ValueError as exc:  # RecordError, or a plan line that is not JSON
        raise ValueError(f"{path}:{lineno}: damaged JSON line: {exc}") from exc


def _plan_line(raw: bytes) -> dict[str, Any]:
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


def _index(files: RunFiles) -> tuple[list[_Entry], dict[str, _ApiFailure]]:
    """Every job that finished or failed for good, in report order, and the API failures."""
    entries: dict[str, _Entry] = {}  # the last line of an id wins
    for offset, line in _scan(files.results, decode_result_line):
        scores = scores_of(line)
        failed = scores is not None and not scores.passed
        entries[line.id] = _Entry(
            line.task,
            line.index,
            line.id,
            "failed" if failed else "passed",
            line.latency_s,
            line.model,
            offset,
        )
    api: dict[str, _ApiFailure] = {}
    for _, err in _scan(files.errors, decode_error_line):
        if err.final and err.id not in entries:
            api[err.id] = _ApiFailure(
                err.model,
                err.code or "UNKNOWN",
                _clip(err.message, MAX_TEXT_CHARS),
                err.attempt,
                err.task or None,
                unset_or(err.index, 0),
            )
    placed: dict[str, tuple[str, int]] = {}
    if any(f.task is None for f in api.values()):
        for _, job in _scan(files.plan, _plan_line):
            job_id = str(job.get("id"))
            if job_id in api:
                placed[job_id] = (job["task"], job["index"])  # plan lines: Job.to_dict()
    for job_id, failure in api.items():
        if failure.task is not None:
            task, index = failure.task, failure.position
        else:
            task, index = placed.get(job_id, ("?", -1))
        entries[job_id] = _Entry(task, index, job_id, "error", None, failure.model, -1)
    first: dict[str, int] = {}
    for entry in entries.values():
        first[entry.task] = min(first.get(entry.task, entry.position), entry.position)
    order = sorted(entries.values(), key=lambda e: (first[e.task], e.task, e.position, e.id))
    return order, api


def _assertion_label(a: AssertionOutcome, several_outputs: bool = False) -> str:
    label = a.type
    if unset_or(a.name, ""):
        label += f" ({a.name})"
    if several_outputs and a.output is not None:
        label += f" [output {a.output}]"
    return label


def _answers(line: ResultLine, indices: list[int]) -> list[str]:
    outputs = unset_or(line.outputs, [])
    out: list[str] = []
    for i in indices[:MAX_ANSWERS]:
        if 0 <= i < len(outputs):
            prefix = "answer" if len(outputs) == 1 else f"answer [output {i}]"
            out.append(f"{prefix}: {_clip(outputs[i].content, MAX_TEXT_CHARS)}")
    return out


def _failure_case(entry: _Entry, line: ResultLine) -> JobCase:
    scores = scores_of(line)
    assertions = [] if scores is None else scores.assertions
    failing = [a for a in assertions if not a.passed]
    total = 0 if scores is None else scores.total
    several = len(unset_or(line.outputs, [])) > 1
    lines = [
        f"{_assertion_label(a, several)}: {_clip(a.reason, MAX_TEXT_CHARS)}"
        for a in failing[:MAX_ASSERTIONS]
    ]
    if len(failing) > MAX_ASSERTIONS:
        lines.append(f"… {len(failing) - MAX_ASSERTIONS} more failed assertions")
    outputs = sorted({a.output for a in failing if a.output is not None})
    lines += _answers(line, outputs or [0])
    first = f"{_assertion_label(failing[0], several)}: {failing[0].reason}" if failing else ""
    summary = f"{len(failing)} of {total} assertions failed" + (f": {first}" if first else "")
    return JobCase(
        entry.id,
        entry.task,
        entry.model,
        "failed",
        entry.time_s,
        "assertion",
        _one_line(summary),
        "\n".join(lines),
    )


def _error_case(entry: _Entry, failure: _ApiFailure) -> JobCase:
    attempts = "1 attempt" if failure.attempts == 1 else f"{failure.attempts} attempts"
    return JobCase(
        entry.id,
        entry.task,
        entry.model,
        "error",
        None,
        failure.code,
        _one_line(f"{failure.code}: {failure.message}"),
        f"{failure.code}: {failure.message}\n{attempts}, model {failure.model}",
    )


def _cases(
    files: RunFiles, entries: list[_Entry], api: Mapping[str, _ApiFailure]
) -> Iterator[JobCase]:
    results: IO[bytes] | None = None
    try:
        for entry in entries:
            if entry.status == "passed":
                yield JobCase(entry.id, entry.task, entry.model, "passed", entry.time_s)
            elif entry.status == "error":
                yield _error_case(entry, api[entry.id])
            else:
                if results is None:
                    results = files.results.open("rb")
                results.seek(entry.offset)
                yield _failure_case(entry, decode_result_line(results.readline()))
    finally:
        if results is not None:
            results.close()


def iter_cases(files: RunFiles, *, failing_only: bool = False) -> Iterator[JobCase]:
    """Every job of the run as a :class:`JobCase`, in report order.

    Args:
        files: The output directory.
        failing_only: Yield only failed and errored jobs.
    """
    entries, api = _index(files)
    if failing_only:
        entries = [e for e in entries if e.status != "passed"]
    yield from _cases(files, entries, api)


def _xml_text(text: str) -> str:
    text = _INVALID_XML.sub("\ufffd", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(text: Any) -> str:
    s = _xml_text(str(text)).replace('"', "&quot;")
    return s.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def render_junit(
    stream: IO[str], files: RunFiles, *, name: str, file: str | None = None
) -> JunitCounts:
    """Write the JUnit XML document of an output directory to ``stream``.

    Args:
        stream: Text stream (UTF-8) to write to.
        files: The output directory.
        name: ``testsuites`` name (the pipeline's name).
        file: The pipeline file, set as each ``testsuite``'s ``file``.

    Returns:
        The counts written.

    Raises:
        ValueError: A line of ``results.jsonl`` or ``errors.jsonl`` is damaged.
    """
    entries, api = _index(files)
    suites: dict[str, list[int]] = {}  # task -> [tests, failures, errors]
    seconds: dict[str, float] = {}
    for e in entries:
        counts = suites.setdefault(e.task, [0, 0, 0])
        counts[0] += 1
        counts[1] += e.status == "failed"
        counts[2] += e.status == "error"
        seconds[e.task] = seconds.get(e.task, 0.0) + (e.time_s or 0.0)
    tests = len(entries)
    failures = sum(c[1] for c in suites.values())
    errors = sum(c[2] for c in suites.values())
    stream.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    stream.write(
        f'<testsuites name="{_attr(name)}" tests="{tests}" failures="{failures}" '
        f'errors="{errors}" time="{_seconds(sum(seconds.values()))}">\n'
    )
    task: str | None = None
    for case in _cases(files, entries, api):
        if case.task != task:
            if task is not None:
                stream.write("  </testsuite>\n")
            task = case.task
            n, failed, errored = suites[task]
            where = f' file="{_attr(file)}"' if file else ""
            stream.write(
                f'  <testsuite name="{_attr(task)}" tests="{n}" failures="{failed}" '
                f'errors="{errored}" skipped="0" time="{_seconds(seconds[task])}"{where}>\n'
            )
        _write_case(stream, case)
    if task is not None:
        stream.write("  </testsuite>\n")
    stream.write("</testsuites>\n")
    return JunitCounts(tests, failures, errors, len(suites))


def _write_case(stream: IO[str], case: JobCase) -> None:
    head = f'    <testcase classname="{_attr(case.task)}" name="{_attr(case.id)}"'
    if case.time_s is not None:
        head += f' time="{_seconds(case.time_s)}"'
    if case.status == "passed":
        stream.write(head + "/>\n")
        return
    tag = "failure" if case.status == "failed" else "error"
    stream.write(
        f'{head}>\n      <{tag} type="{_attr(case.type)}" message="{_attr(case.message)}">'
        f"{_xml_text(case.details)}</{tag}>\n    </testcase>\n"
    )


def write_junit(
    files: RunFiles, manifest: Manifest | Mapping[str, Any] | None = None
) -> JunitCounts:
    """(Re)write ``junit.xml`` in the output directory, atomically.

    The document is streamed into a temporary file beside it, fsynced and renamed
    over ``junit.xml`` (as ``store.atomic_write_bytes`` does for the other reports),
    so a reader sees the old or the new report, never half of one.

    Args:
        files: The output directory.
        manifest: ``manifest.json`` of the run: the pipeline's name and file.
    """
    run = as_manifest(manifest)
    name = (run.spec.name if run else None) or "xai-run"
    path = run.spec.path if run else None
    dest = files.root / JUNIT_XML
    tmp = dest.with_name(f".{JUNIT_XML}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="\n") as stream:
            counts = render_junit(stream, files, name=name, file=str(path) if path else None)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    fd = os.open(files.root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return counts
