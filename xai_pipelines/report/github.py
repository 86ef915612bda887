"""GitHub Actions: failing jobs as ``::error`` annotations, ``summary.md`` in the step summary.

Active when ``GITHUB_ACTIONS=true`` (set by the runner). Facts used, read 2026-11-29:

* Workflow commands are lines ``::error file=F,title=T::MESSAGE`` read from the step's
  output (https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands);
  the runner also reads them from stderr (observed:
  https://github.com/overengineeringstudio/effect-utils/pull/969), which is where they go
  under ``--json`` so stdout stays one JSON document.
* Escaping, as the official toolkit does (``escapeData`` / ``escapeProperty`` in
  https://github.com/actions/toolkit/blob/main/packages/core/src/command.ts): ``%``, CR
  and LF in the message; those and ``:`` and ``,`` in a property.
* GitHub shows 10 error annotations per step and 50 per job
  (https://github.com/orgs/community/discussions/26680,
  https://github.com/zizmorcore/zizmor/pull/634); more are dropped silently, so at most
  :data:`MAX_ANNOTATIONS` are written and one last line counts the rest.
* ``GITHUB_STEP_SUMMARY`` names a per-step Markdown file, appended to; its content is
  capped at 1 MiB ("$GITHUB_STEP_SUMMARY upload aborted, supports content up to a size of
  1024k", the runner's message, e.g.
  https://github.com/userdocs/qbittorrent-nox-static/actions/runs/9174023783).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Protocol

from xai_pipelines.report.junit import JobCase, RunFiles, iter_cases

#: Failing jobs annotated; one more line counts the others.
MAX_ANNOTATIONS = 50
#: Bytes GitHub accepts in one step's summary file.
STEP_SUMMARY_LIMIT = 1024 * 1024
_TRUNCATED = "\n\n_… truncated at GitHub's 1 MiB step-summary limit; see summary.md._\n"


class ReportFiles(RunFiles, Protocol):
    """An output directory with its manifest and ``summary.md`` (``store.OutputDir`` fits)."""

    @property
    def manifest(self) -> Path:
        """``manifest.json``."""

    @property
    def summary(self) -> Path:
        """``summary.md``."""


def in_github_actions(environ: Mapping[str, str]) -> bool:
    """Whether this process runs in a GitHub Actions step."""
    return environ.get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    """Escape a workflow command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(name: str, message: str, **properties: str | None) -> str:
    """One workflow command line (properties that are None are left out)."""
    props = ",".join(f"{k}={escape_property(v)}" for k, v in properties.items() if v is not None)
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def _title(case: JobCase) -> str:
    if case.status == "error":
        return f"{case.id} failed at the API ({case.type})"
    return f"{case.id} failed its assertions"


def annotation_lines(
    cases: Iterable[JobCase], *, file: str | None = None, limit: int = MAX_ANNOTATIONS
) -> Iterator[str]:
    """``::error`` lines for the failing cases: at most ``limit``, then one that counts the rest.

    Args:
        cases: Job outcomes (passing ones are ignored).
        file: The pipeline file, relative to the repository, as the annotations' ``file``.
        limit: Jobs annotated one by one.
    """
    more = 0
    shown = 0
    for case in cases:
        if case.status == "passed":
            continue
        if shown >= limit:
            more += 1
            continue
        shown += 1
        message = f"task {case.task}, model {case.model}\n{case.details}"
        yield workflow_command("error", message, file=file, title=_title(case))
    if more:
        message = f"{more} more failing jobs are not annotated; junit.xml and summary.md list them."
        yield workflow_command("error", message, file=file, title=f"xai-run: {more} more failures")


def workspace_path(path: str | Path, environ: Mapping[str, str]) -> str:
    """``path`` relative to ``GITHUB_WORKSPACE`` when it lies inside it (as annotations want)."""
    workspace = environ.get("GITHUB_WORKSPACE")
    if workspace:
        try:
            return Path(path).resolve().relative_to(Path(workspace).resolve()).as_posix()
        except ValueError:
            pass
    return Path(path).as_posix()


def append_step_summary(path: Path, markdown: str) -> None:
    """Append ``markdown`` to the step summary file, within GitHub's size limit."""
    used = path.stat().st_size if path.exists() else 0
    data = markdown.encode() + b"\n"
    room = STEP_SUMMARY_LIMIT - used
    if len(data) > room:
        note = _TRUNCATED.encode()
        if room < len(note):
            return
        keep = data[: room - len(note)]
        data = keep[: keep.rfind(b"\n") + 1] + note  # whole lines (and whole UTF-8 characters)
    with path.open("ab") as f:
        f.write(data)


def _pipeline_of(files: ReportFiles) -> str | None:
    try:
        manifest = json.loads(files.manifest.read_text())
    except (OSError, ValueError):
        return None
    path = ((manifest if isinstance(manifest, dict) else {}).get("spec") or {}).get("path")
    return str(path) if path else None


def publish(
    files: ReportFiles,
    stream: IO[str],
    *,
    pipeline: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Under GitHub Actions: annotate failing jobs on ``stream``, append summary.md to the step summary.

    Does nothing elsewhere.

    Args:
        files: The output directory, its reports written.
        stream: Where the workflow commands go (stdout; stderr under ``--json``).
        pipeline: The pipeline file (default: the manifest's).
        environ: Environment (default ``os.environ``).

    Returns:
        The number of annotation lines written.
    """
    env = os.environ if environ is None else environ
    if not in_github_actions(env):
        return 0
    where = pipeline if pipeline is not None else _pipeline_of(files)
    file = workspace_path(where, env) if where else None
    written = 0
    for line in annotation_lines(iter_cases(files, failing_only=True), file=file):
        stream.write(line + "\n")
        written += 1
    stream.flush()
    target = env.get("GITHUB_STEP_SUMMARY")
    if target and files.summary.exists():
        append_step_summary(Path(target), files.summary.read_text())
    return written
