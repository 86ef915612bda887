"""``xai-run validate``, ``xai-run plan`` and ``xai-run schema``.

Bad input exits with code 2 and the full problem report on stderr (one
``file:line:col: path: message`` line per problem), never a traceback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from xai_pipelines.plan import PlanSummary, Prices, check_plan, iter_jobs
from xai_pipelines.plan.estimate import tokenizer_ratio, usd
from xai_pipelines.plan.shard import parse_shard
from xai_pipelines.run.batch_jobs import NotBatchableError, check_batchable
from xai_pipelines.spec import PipelineSpec, SpecError, load_pipeline, parse_assignment
from xai_pipelines.spec.schema_build import PACKAGED_COPY

SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set", help="Override KEY=VALUE (a key without a dot is vars.KEY).", metavar="KEY=VALUE"
    ),
]
AllowOutside = Annotated[
    bool, typer.Option("--allow-outside", help="Allow files outside the pipeline's directory.")
]


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def load_checked(
    path: Path, sets: list[str] | None, allow_outside: bool
) -> tuple[PipelineSpec, PlanSummary]:
    """Load a pipeline and walk its whole plan (every row, every id).

    Raises:
        SpecError: Everything wrong with it.
    """
    overrides = dict(parse_assignment(s) for s in sets or [])
    spec = load_pipeline(path, overrides=overrides, allow_outside=allow_outside)
    return spec, check_plan(spec)


def _fail(exc: SpecError) -> None:
    _err().print(exc.report(), markup=False)


def validate(
    pipelines: Annotated[list[Path], typer.Argument(help="Pipeline files.", show_default=False)],
    set_: SetOption = None,
    allow_outside: AllowOutside = False,
) -> None:
    """Check pipelines (schema, names, files, templates, every row and id). Exit 0 or 2."""
    failed = False
    out = Console(highlight=False, soft_wrap=True)
    for path in pipelines:
        try:
            spec, summary = load_checked(path, set_, allow_outside)
        except SpecError as exc:
            _fail(exc)
            failed = True
            continue
        if spec.execution.mode == "batch":
            try:
                check_batchable(iter_jobs(spec))
            except NotBatchableError as exc:
                _err().print(f"{path}: execution.mode: batch: {exc}", markup=False)
                failed = True
                continue
        out.print(f"ok: {path} ({spec.name}: {summary.count} jobs)", markup=False)
    if failed:
        raise typer.Exit(2)


CALIBRATION_JOBS = 10


@contextmanager
def _client(local: bool) -> Iterator[Any]:
    """A client of the emulator (``--local``) or of the API (``XAI_API_KEY``), else why not."""
    if not local and not os.environ.get("XAI_API_KEY"):
        yield "cost needs prices: set XAI_API_KEY or pass --local"
        return
    from xai_pipelines.sdk import Client

    if not local:
        with Client() as client:
            yield client
        return
    from xai_pipelines.emulator import Emulator, EmulatorConfig

    with (
        Emulator(EmulatorConfig()) as emu,
        Client(api_key=emu.api_key, api_host=emu.address) as client,
    ):
        yield client


def _measure(local: bool, summary: PlanSummary) -> tuple[Prices | str, float | None]:
    """Prices, and the Tokenize-calibrated token ratio, or the reason there are none."""
    from xai_pipelines.sdk.errors import XaiError

    with _client(local) as client:
        if isinstance(client, str):
            return client, None
        try:
            prices = Prices.from_models(
                client.models.list_language_models(), client.models.list_image_generation_models()
            )
            sample = summary.first[:CALIBRATION_JOBS]
            return prices, tokenizer_ratio(sample, client.tokenize.count_tokens)
        except XaiError as exc:
            return f"cost needs prices, which could not be fetched: {exc}", None


def _cost(summary: PlanSummary, prices: Prices | str, ratio: float | None) -> dict[str, Any]:
    if isinstance(prices, str):
        return {"available": False, "note": prices}
    low, high = summary.estimate.cost_ticks(prices, ratio or 1.0)
    unpriced = summary.estimate.unpriced(prices)
    return {
        "available": True,
        "min_usd": usd(low),
        "max_usd": None if high is None else usd(high),
        "min_ticks": low,
        "max_ticks": high,
        "unpriced_models": unpriced,
    }


def _as_json(
    spec: PipelineSpec, summary: PlanSummary, cost: dict[str, Any], ratio: float | None, show: int
) -> dict[str, Any]:
    return {
        "pipeline": spec.name,
        "path": str(spec.path),
        "digest": spec.digest,
        "jobs": summary.count,
        "by_task": summary.by_task,
        "prompt_tokens": summary.estimate.prompt_tokens,
        "prompt_tokens_calibrated": None
        if ratio is None
        else round(summary.estimate.prompt_tokens * ratio),
        "tokenizer_ratio": ratio,
        "models": {
            name: {
                "kind": t.kind,
                "jobs": t.jobs,
                "calls": t.calls,
                "prompt_tokens": t.prompt_tokens,
                "completion_tokens_max": t.completion_tokens_max,
                "images": t.images,
            }
            for name, t in summary.estimate.models.items()
        },
        "cost": cost,
        "first_jobs": [job.to_dict() for job in summary.first[:show]],
    }


def _preview(job: Any) -> str:
    if job.kind == "image":
        text = str(job.request.get("prompt", ""))
    else:
        content = job.request["messages"][-1].get("content", "")
        text = (
            content
            if isinstance(content, str)
            else " ".join(p.get("text", "[image]") for p in content)
        )
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


def _print_table(
    spec: PipelineSpec, summary: PlanSummary, cost: dict[str, Any], ratio: float | None, show: int
) -> None:
    out = Console(highlight=False)
    out.print(f"{spec.name}: {summary.count} jobs ({spec.path})", markup=False)
    shown = summary.first[:show]
    table = Table("#")
    widest = max((len(job.id) for job in shown), default=2)
    table.add_column("id", overflow="fold", min_width=min(widest, 48))
    for column in ("kind", "model", "seed", "prompt"):
        table.add_column(column)
    for job in shown:
        seed = "" if job.seed is None else str(job.seed)
        cells = (str(job.index), job.id, job.kind, job.model, seed, _preview(job))
        table.add_row(*(Text(c) for c in cells))  # Text: ids and prompts are not markup
    out.print(table)
    if summary.count > len(shown):
        out.print(f"... and {summary.count - len(shown)} more", markup=False)
    tokens = summary.estimate.prompt_tokens
    how = "chars/4 heuristic"
    if ratio is not None:
        how += f", x{ratio:.2f} from the Tokenize RPC on the first jobs"
        tokens = round(tokens * ratio)
    out.print(f"estimated prompt tokens: {tokens} ({how})", markup=False)
    if not cost["available"]:
        out.print(cost["note"], markup=False)
        return
    high = "unbounded (no max_tokens)" if cost["max_usd"] is None else f"${cost['max_usd']:.6f}"
    out.print(f"estimated cost: ${cost['min_usd']:.6f} to {high}", markup=False)
    if cost["unpriced_models"]:
        out.print(f"no price for: {', '.join(cost['unpriced_models'])}", markup=False)


def plan(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline file.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
    local: Annotated[
        bool, typer.Option("--local", help="Price with the in-process emulator.")
    ] = False,
    show: Annotated[int, typer.Option("--show", help="Jobs to list.", min=0)] = 10,
    set_: SetOption = None,
    allow_outside: AllowOutside = False,
    shard: Annotated[
        str | None,
        typer.Option("--shard", metavar="K/N", help="Show only shard K of N (split by job id)."),
    ] = None,
) -> None:
    """Show what a pipeline would run: job count, first jobs, token and cost estimates."""
    try:
        chosen = None if shard is None else parse_shard(shard)
    except ValueError as exc:
        _err().print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None
    try:
        overrides = dict(parse_assignment(s) for s in set_ or [])
        spec = load_pipeline(pipeline, overrides=overrides, allow_outside=allow_outside)
        summary = check_plan(spec, keep=max(show, CALIBRATION_JOBS), shard=chosen)
    except SpecError as exc:
        _fail(exc)
        raise typer.Exit(2) from None
    prices, ratio = _measure(local, summary)
    cost = _cost(summary, prices, ratio)
    if as_json:
        data = _as_json(spec, summary, cost, ratio, show)
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=dict))
    else:
        _print_table(spec, summary, cost, ratio, show)


def schema() -> None:
    """Print the pipeline JSON Schema."""
    typer.echo(PACKAGED_COPY.read_text(encoding="utf-8"), nl=False)


def register(app: typer.Typer) -> None:
    """Add the spec commands to the app."""
    app.command()(validate)
    app.command()(plan)
    app.command()(schema)
