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
import math
import os
import re
import threading
from array import array
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple, Protocol, TypeVar

from xai_pipelines.records import (
    AssertionOutcome,
    ErrorLine,
    Manifest,
    ResultLine,
    decode_error_line,
    decode_result_line,
    scores_of,
)
from xai_pipelines.report.latest import job_id_of, superseded_lines
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


def _scan(path: Path, decode: Callable[[bytes], _T]) -> Iterator[tuple[int, int, _T]]:
    """``(line number, byte offset, decoded line)`` of every line, with ``store.read_jsonl``'s
    rule (line numbers as :func:`xai_pipelines.store.files.iter_lines` counts them).

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
                yield lineno, at, _parse(pending, path, lineno, decode)
            lineno += 1
            pending, at = raw, offset
            offset += len(raw)
        if pending is not None and pending.endswith(b"\n") and pending.strip():
            try:
                yield lineno, at, _parse(pending, path, lineno, decode)
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


_STATUSES: tuple[Status, ...] = ("passed", "failed", "error")
_PASSED, _FAILED, _ERROR = range(3)


class _Index:
    """Every job that finished or failed for good, a few numbers each (the first pass).

    Kept in arrays, not objects: 30-odd bytes a job, so that a million-job run's
    report stays small. A result's id is read back from its line (by offset) when
    its case is written.
    """

    def __init__(self) -> None:
        self.tasks: list[str] = []
        self.models: list[str] = []
        self._task_at: dict[str, int] = {}
        self._model_at: dict[str, int] = {}
        self.task = array("l")
        self.position = array("q")
        self.status = bytearray()
        self.time_s = array("d")  # NaN: unknown
        self.model = array("l")
        self.offset = array("q")  # of the result line; -1 for an API failure
        self.failed_ids: dict[int, str] = {}  # entry -> id, for API failures

    def add(
        self, task: str, position: int, status: Status, time_s: float | None, model: str, at: int
    ) -> int:
        """Add one job; its entry number."""
        t = self._task_at.get(task)
        if t is None:
            t = self._task_at[task] = len(self.tasks)
            self.tasks.append(task)
        m = self._model_at.get(model)
        if m is None:
            m = self._model_at[model] = len(self.models)
            self.models.append(model)
        self.task.append(t)
        self.position.append(position)
        self.status.append(_STATUSES.index(status))
        self.time_s.append(math.nan if time_s is None else time_s)
        self.model.append(m)
        self.offset.append(at)
        return len(self.offset) - 1

    def order(self, failing_only: bool = False) -> list[int]:
        """Entry numbers by task (in plan order of each task's first job), plan index, file order."""
        first: dict[int, int] = {}
        for t, p in zip(self.task, self.position, strict=True):
            first[t] = min(first.get(t, p), p)
        rank = {t: n for n, t in enumerate(sorted(first, key=lambda t: (first[t], self.tasks[t])))}
        status, shift = self.status, max(1, len(self.offset)).bit_length()
        # one int per job (task rank, plan index, entry number), not a tuple: at a million
        # jobs the sort's keys are the report's largest allocation
        keys = [
            ((rank[t] << 64 | max(p + 1, 0)) << shift) | n
            for n, (t, p) in enumerate(zip(self.task, self.position, strict=True))
            if not failing_only or status[n]
        ]
        keys.sort()
        mask = (1 << shift) - 1
        return [k & mask for k in keys]

    def entry(self, n: int, job_id: str) -> _Entry:
        """Entry ``n`` as a record."""
        time_s = self.time_s[n]
        return _Entry(
            self.tasks[self.task[n]],
            self.position[n],
            job_id,
            _STATUSES[self.status[n]],
            None if math.isnan(time_s) else time_s,
            self.models[self.model[n]],
            self.offset[n],
        )


def _index(
    files: RunFiles, superseded: frozenset[int] | None = None
) -> tuple[_Index, dict[str, _ApiFailure]]:
    """Every job that finished or failed for good, and the API failures."""
    index = _Index()
    # the last line of an id wins
    skip = superseded_lines(files.results) if superseded is None else superseded
    finals: dict[str, ErrorLine] = {}
    for _, _, err in _scan(files.errors, decode_error_line):
        if err.final:
            finals[err.id] = err
    finished: set[str] = set()
    for lineno, offset, line in _scan(files.results, decode_result_line):
        if lineno in skip:
            continue
        if line.id in finals:
            finished.add(line.id)
        scores = scores_of(line)
        failed = scores is not None and not scores.passed
        status: Status = "failed" if failed else "passed"
        index.add(line.task, line.index, status, line.latency_s, line.model, offset)
    api: dict[str, _ApiFailure] = {}
    for job_id, err in finals.items():
        if job_id not in finished:
            api[job_id] = _ApiFailure(
                err.model,
                err.code or "UNKNOWN",
                _clip(err.message, MAX_TEXT_CHARS),
                err.attempt,
                err.task or None,
                unset_or(err.index, 0),
            )
    placed: dict[str, tuple[str, int]] = {}
    if any(f.task is None for f in api.values()):
        for _, _, job in _scan(files.plan, _plan_line):
            job_id = str(job.get("id"))
            if job_id in api:
                placed[job_id] = (job["task"], job["index"])  # plan lines: Job.to_dict()
    for job_id, failure in api.items():
        if failure.task is not None:
            task, position = failure.task, failure.position
        else:
            task, position = placed.get(job_id, ("?", -1))
        n = index.add(task, position, "error", None, failure.model, -1)
        index.failed_ids[n] = job_id
    return index, api


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
    files: RunFiles, index: _Index, order: list[int], api: Mapping[str, _ApiFailure]
) -> Iterator[JobCase]:
    results: IO[bytes] | None = None
    try:
        for n in order:
            job_id = index.failed_ids.get(n)
            if job_id is not None:
                yield _error_case(index.entry(n, job_id), api[job_id])
                continue
            if results is None:
                results = files.results.open("rb")
            results.seek(index.offset[n])
            raw = results.readline()
            if index.status[n] == _PASSED:
                entry = index.entry(n, job_id_of(raw))
                yield JobCase(entry.id, entry.task, entry.model, "passed", entry.time_s)
            else:
                line = decode_result_line(raw)
                yield _failure_case(index.entry(n, line.id), line)
    finally:
        if results is not None:
            results.close()


def iter_cases(files: RunFiles, *, failing_only: bool = False) -> Iterator[JobCase]:
    """Every job of the run as a :class:`JobCase`, in report order.

    Args:
        files: The output directory.
        failing_only: Yield only failed and errored jobs.
    """
    index, api = _index(files)
    yield from _cases(files, index, index.order(failing_only), api)


def _xml_text(text: str) -> str:
    text = _INVALID_XML.sub("\ufffd", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(text: Any) -> str:
    s = _xml_text(str(text)).replace('"', "&quot;")
    return s.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def render_junit(
    stream: IO[str],
    files: RunFiles,
    *,
    name: str,
    file: str | None = None,
    superseded: frozenset[int] | None = None,
) -> JunitCounts:
    """Write the JUnit XML document of an output directory to ``stream``.

    Args:
        stream: Text stream (UTF-8) to write to.
        files: The output directory.
        name: ``testsuites`` name (the pipeline's name).
        file: The pipeline file, set as each ``testsuite``'s ``file``.
        superseded: The numbers of the result lines a later line replaced, when the
            caller knows them (:attr:`LatestResults.superseded`); else found here.

    Returns:
        The counts written.

    Raises:
        ValueError: A line of ``results.jsonl`` or ``errors.jsonl`` is damaged.
    """
    index, api = _index(files, superseded)
    suites: dict[str, list[int]] = {}  # task -> [tests, failures, errors]
    seconds: dict[str, float] = {}
    for t, status, time_s in zip(index.task, index.status, index.time_s, strict=True):
        task_name = index.tasks[t]
        counts = suites.setdefault(task_name, [0, 0, 0])
        counts[0] += 1
        counts[1] += status == _FAILED
        counts[2] += status == _ERROR
        if not math.isnan(time_s):
            seconds[task_name] = seconds.get(task_name, 0.0) + time_s
    tests = len(index.offset)
    failures = sum(c[1] for c in suites.values())
    errors = sum(c[2] for c in suites.values())
    stream.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    stream.write(
        f'<testsuites name="{_attr(name)}" tests="{tests}" failures="{failures}" '
        f'errors="{errors}" time="{_seconds(sum(seconds.values()))}">\n'
    )
    task: str | None = None
    for case in _cases(files, index, index.order(), api):
        if case.task != task:
            if task is not None:
                stream.write("  </testsuite>\n")
            task = case.task
            n, failed, errored = suites[task]
            where = f' file="{_attr(file)}"' if file else ""
            stream.write(
                f'  <testsuite name="{_attr(task)}" tests="{n}" failures="{failed}" '
                f'errors="{errored}" skipped="0" time="{_seconds(seconds.get(task, 0.0))}"{where}>\n'
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
    files: RunFiles,
    manifest: Manifest | Mapping[str, Any] | None = None,
    superseded: frozenset[int] | None = None,
) -> JunitCounts:
    """(Re)write ``junit.xml`` in the output directory, atomically.

    The document is streamed into a temporary file beside it, fsynced and renamed
    over ``junit.xml`` (as ``store.atomic_write_bytes`` does for the other reports),
    so a reader sees the old or the new report, never half of one.

    Args:
        files: The output directory.
        manifest: ``manifest.json`` of the run: the pipeline's name and file.
        superseded: As for :func:`render_junit`.
    """
    run = as_manifest(manifest)
    name = (run.spec.name if run else None) or "xai-run"
    path = run.spec.path if run else None
    dest = files.root / JUNIT_XML
    tmp = dest.with_name(f".{JUNIT_XML}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="\n") as stream:
            where = str(path) if path else None
            counts = render_junit(stream, files, name=name, file=where, superseded=superseded)
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
