"""``xai-run init [DIR]``: a commented starter pipeline, its dataset and scripted answers.

The three files run at once, offline::

    xai-run DIR/pipeline.yaml --local --responses DIR/responses.yaml

``init`` never overwrites: when any of the files exists it writes nothing and
exits 2 naming them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xai_pipelines.cli.outdir import describe_os_error

PIPELINE = """\
# A starter eval written by `xai-run init`. Edit it freely.
#
# Run it offline, on the local emulator, with the scripted answers next to it:
#   xai-run {dir}/pipeline.yaml --local --responses {dir}/responses.yaml
# Check it, or see what it would run and cost, without running it:
#   xai-run validate {dir}/pipeline.yaml
#   xai-run plan {dir}/pipeline.yaml --local
# Run it on the xAI API (set XAI_API_KEY first; a few cents at most):
#   xai-run {dir}/pipeline.yaml
# Results go to runs/starter-eval/ (results.jsonl, summary.md, report.html).
#
# Reference: docs/pipelines.md (the language) and docs/evals.md (assertions).
# For completion in editors: `xai-run schema > {dir}/pipeline.schema.json`, then
# make this the first line:  # yaml-language-server: $schema=pipeline.schema.json

version: 1
name: starter-eval                # `name` in templates; names the output directory
description: Capital cities, asked of two models and checked.

# Names every template can use.
vars:
  system: Answer with the city name only.

# Rows to run over: one job per row (`row.country`, `row.capital` in templates).
datasets:
  capitals:
    path: data/capitals.jsonl

# Parameters of every chat (a chat's own values win).
defaults:
  max_tokens: 64
  seed: 7

# Every chat runs once per value: the report shows the models side by side.
matrix:
  model: [grok-4.3, grok-4.20-non-reasoning]

# The model that grades `llm_rubric` checks, and the pass rate below which
# the run exits 1 (a CI gate).
evals:
  grader: grok-4.3
  fail_under: 0.5

chats:
  - name: capital
    id: "capital-{{{{ row.country | slug }}}}-{{{{ matrix.model }}}}"
    for_each: capitals
    messages:
      - system: "{{{{ system }}}}"
      - user: "What is the capital of {{{{ row.country }}}}?"
      # OpenAI-style messages work too: {{role: user, content: "..."}}
    expect:                       # checked on every answer; see docs/evals.md
      - icontains: "{{{{ row.capital }}}}"
      - max_length: 40
      - llm_rubric: Names a capital city and nothing else.

execution:
  concurrency: 4                  # jobs in flight at once
  retries: {{max_attempts: 3}}
"""

DATASET = """\
{"country": "France", "capital": "Paris"}
{"country": "Japan", "capital": "Tokyo"}
{"country": "Kenya", "capital": "Nairobi"}
{"country": "Australia", "capital": "Canberra"}
"""

RESPONSES = """\
# Scripted answers for the local emulator (`--local --responses {dir}/responses.yaml`):
# the first rule matching the last user message answers it (`model:` narrows a
# rule to one model). Without this file the emulator answers with filler text.
# One deliberate miss: grok-4.20-non-reasoning says Sydney, so one job fails its
# checks and the reports show why.

- match: "What is the capital of Australia?"
  model: grok-4.20-non-reasoning
  content: "Sydney"
- match: "What is the capital of Australia?"
  content: "Canberra"
- match: "What is the capital of France?"
  content: "Paris"
- match: "What is the capital of Japan?"
  content: "Tokyo"
- match: "What is the capital of Kenya?"
  content: "Nairobi"

# The grader of `llm_rubric`: its prompt ends with the answer in <answer> tags.
- regex: "(?s)^Grade the answer.*<answer>\\\\s*Sydney\\\\s*</answer>"
  json: {{"pass": false, "score": 0.2, "reason": "Sydney is not the capital of Australia."}}
- regex: "(?s)^Grade the answer"
  json: {{"pass": true, "score": 1.0, "reason": "Names a capital city only."}}
"""


def starter_files(directory: Path) -> dict[Path, str]:
    """The files ``init`` writes into ``directory``, with their text."""
    shown = directory.as_posix()
    return {
        directory / "pipeline.yaml": PIPELINE.format(dir=shown),
        directory / "data" / "capitals.jsonl": DATASET,
        directory / "responses.yaml": RESPONSES.format(dir=shown),
    }


def init(
    directory: Annotated[
        Path,
        typer.Argument(
            help="Where to write the starter files (created if missing).", show_default=False
        ),
    ] = Path("."),
) -> None:
    """Write a commented starter pipeline, a dataset and scripted answers that run with --local."""
    files = starter_files(directory)
    try:
        existing = [path for path in files if path.exists()]
        if existing:
            listing = ", ".join(str(p) for p in existing)
            typer.echo(f"error: not overwriting existing file(s): {listing}", err=True)
            raise typer.Exit(2)
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("x", encoding="utf-8") as handle:  # "x": never overwrite
                handle.write(text)
    except OSError as exc:  # exists() too raises, for a name longer than the filesystem allows
        reason = describe_os_error(exc, directory)
        typer.echo(f"error: cannot write the starter files into {directory}: {reason}", err=True)
        raise typer.Exit(2) from None
    shown = directory.as_posix()
    typer.echo(
        f"wrote {', '.join(str(p) for p in files)}\n"
        f"run it:  xai-run {shown}/pipeline.yaml --local --responses {shown}/responses.yaml"
    )


def register(app: typer.Typer) -> None:
    """Add ``init`` to the app."""
    app.command("init")(init)
