"""``xai-run validate``, ``xai-run plan`` and ``xai-run schema``.

Bad input exits with code 2 and the full problem report on stderr (one
``file:line:col: path: message`` line per problem), never a traceback.

Both commands check every model name and request parameter
(:mod:`xai_pipelines.plan.models_check`): against the live Models service when
an API is at hand (``XAI_API_KEY``, ``--endpoint``, ``--local``), else against the
bundled catalog; ``--offline`` forces the catalog. :class:`ApiSession` is that
choice, shared with ``run``.
"""

from __future__ import annotations

import json
import os
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from xai_pipelines.plan.shard import parse_shard
from xai_pipelines.spec.errors import SpecError

# The spec and plan layers (jsonschema, jinja2, the catalog) are imported by the
# functions that use them, not here: ``--help`` and ``--version`` do not pay for them.
if TYPE_CHECKING:
    from rich.console import Console

    from xai_pipelines.plan import ModelAuthority, ModelReport, PlanSummary, Prices
    from xai_pipelines.spec import PipelineSpec

SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set", help="Override KEY=VALUE (a key without a dot is vars.KEY).", metavar="KEY=VALUE"
    ),
]
AllowOutside = Annotated[
    bool, typer.Option("--allow-outside", help="Allow files outside the pipeline's directory.")
]


Offline = Annotated[
    bool,
    typer.Option(
        "--offline", help="Check models against the bundled catalog only; make no API call."
    ),
]
Endpoint = Annotated[
    str | None,
    typer.Option(
        "--endpoint", help="Check models (and price) with this API host[:port] (needs XAI_API_KEY)."
    ),
]

LIVE_CHECK_RETRIES = 1


def _err() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


class LiveCheckError(Exception):
    """The live model check could not be made (no key, network, refused key); says what to do."""


class ApiSession:
    """The API a command may call, opened on first use: the live service, the emulator, or none.

    With ``offline`` nothing is called. Otherwise ``local`` starts the in-process
    emulator, ``endpoint`` or ``XAI_API_KEY`` selects a host (default
    ``api.x.ai:443``), and without any of them there is no API. :meth:`authority`
    lists the live models (once) so the model check is made against them.

    Args:
        local: Use the in-process emulator.
        endpoint: API host[:port].
        offline: Never call anything; check against the bundled catalog.
        emulator_config: Config for the ``--local`` emulator (default config if None).
        offline_hint: Whether failures suggest ``--offline`` (validate and plan have it).
    """

    def __init__(
        self,
        *,
        local: bool = False,
        endpoint: str | None = None,
        offline: bool = False,
        emulator_config: Any = None,
        offline_hint: bool = True,
    ) -> None:
        self.local, self.endpoint, self.offline = local, endpoint, offline
        self.emulator_config = emulator_config
        self._or_offline = (
            ", or pass --offline to check against the bundled catalog" if offline_hint else ""
        )
        self._stack = ExitStack()
        self._client: Any = None
        self._authority: ModelAuthority | None = None
        self.language: list[Any] = []
        self.image: list[Any] = []

    def __enter__(self) -> ApiSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    @property
    def why_none(self) -> str | None:
        """Why there is no API to call, or ``None`` when there is one."""
        if self.offline:
            return "--offline"
        if not (self.local or self.endpoint or os.environ.get("XAI_API_KEY")):
            return "no XAI_API_KEY, --endpoint or --local"
        return None

    @property
    def authority_used(self) -> ModelAuthority | None:
        """The authority the model check used, once it was asked for."""
        return self._authority

    @property
    def client(self) -> Any:
        """The SDK client, once :meth:`authority` has connected (else ``None``)."""
        return self._client

    def authority(self) -> ModelAuthority:
        """What the model check trusts; connects and lists the live models on first call.

        Raises:
            LiveCheckError: No key for ``--endpoint``, a key that cannot be sent, or the
                Models service failed.
        """
        from xai_pipelines.plan import LiveModels, ModelAuthority

        if self._authority is not None:
            return self._authority
        if self.local and self.endpoint and not self.offline:
            raise LiveCheckError("--local and --endpoint are mutually exclusive")
        if self.why_none is not None:
            self._authority = ModelAuthority()
            return self._authority
        from xai_pipelines.cli.connect import client as connect_client
        from xai_pipelines.cli.connect import open_api
        from xai_pipelines.sdk.errors import InvalidApiKeyError, XaiError

        try:
            api = self._stack.enter_context(
                open_api(
                    local=self.local, endpoint=self.endpoint, emulator_config=self.emulator_config
                )
            )
        except InvalidApiKeyError as exc:
            raise LiveCheckError(exc.message) from None
        if not api.api_key:
            raise LiveCheckError(
                f"--endpoint {self.endpoint} needs an API key: set XAI_API_KEY{self._or_offline}"
            )
        where = api.where
        client = self._stack.enter_context(connect_client(api, max_retries=LIVE_CHECK_RETRIES))
        try:
            self.language = client.models.list_language_models()
            self.image = client.models.list_image_generation_models()
        except XaiError as exc:
            raise LiveCheckError(
                f"cannot check the models against {where}: {exc}; check XAI_API_KEY "
                f"and --endpoint{self._or_offline}"
            ) from None
        self._client = client
        self._authority = ModelAuthority(
            live=LiveModels.from_lists(where, self.language, self.image)
        )
        return self._authority


def load_checked(
    path: Path, sets: list[str] | None, allow_outside: bool, api: ApiSession | None = None
) -> tuple[PipelineSpec, PlanSummary]:
    """Load a pipeline, walk its whole plan (every row, every id) and check its models.

    Raises:
        SpecError: Everything wrong with it.
        LiveCheckError: The live model check could not be made.
    """
    from xai_pipelines.plan import check_plan
    from xai_pipelines.spec import load_pipeline, parse_assignment

    overrides = dict(parse_assignment(s) for s in sets or [])
    spec = load_pipeline(path, overrides=overrides, allow_outside=allow_outside)
    authority = (api or ApiSession(offline=True)).authority()
    return spec, check_plan(spec, models=authority)


def print_advisories(report: ModelReport | None) -> None:
    """The model check's warnings and notes, on stderr (they do not fail the command)."""
    for finding in report.advisories if report is not None else ():
        _err().print(str(finding), markup=False)


def _fail(exc: SpecError) -> None:
    _err().print(exc.report(), markup=False)


def validate(
    pipelines: Annotated[list[Path], typer.Argument(help="Pipeline files.", show_default=False)],
    set_: SetOption = None,
    allow_outside: AllowOutside = False,
    offline: Offline = False,
    local: Annotated[
        bool, typer.Option("--local", help="Check models with the in-process emulator.")
    ] = False,
    endpoint: Endpoint = None,
) -> None:
    """Check pipelines (schema, names, files, templates, rows, ids, models). Exit 0 or 2."""
    from rich.console import Console

    failed = False
    out = Console(highlight=False, soft_wrap=True)
    with ApiSession(local=local, endpoint=endpoint, offline=offline) as api:
        for path in pipelines:
            try:
                spec, summary = load_checked(path, set_, allow_outside, api)
            except SpecError as exc:
                _fail(exc)
                failed = True
                continue
            except LiveCheckError as exc:
                _err().print(f"error: {exc}", markup=False)
                raise typer.Exit(2) from None
            print_advisories(summary.models)
            if spec.execution.mode == "batch":
                from xai_pipelines.plan import iter_jobs
                from xai_pipelines.run.batch_jobs import NotBatchableError, check_batchable

                try:
                    check_batchable(iter_jobs(spec))
                except NotBatchableError as exc:
                    _err().print(f"{path}: execution.mode: batch: {exc}", markup=False)
                    failed = True
                    continue
            out.print(f"ok: {path} ({spec.name}: {summary.count} jobs)", markup=False)
        if api.authority_used is not None:
            out.print(api.authority_used.describe(), markup=False)
    if failed:
        raise typer.Exit(2)


CALIBRATION_JOBS = 10


def _measure(api: ApiSession, summary: PlanSummary) -> tuple[Prices, float | None]:
    """Prices (the bundled catalog's without an API), and the Tokenize-calibrated token ratio."""
    from xai_pipelines.plan import Prices
    from xai_pipelines.plan.estimate import tokenizer_ratio

    if api.client is None:
        return Prices.from_catalog(), None
    from xai_pipelines.sdk.errors import XaiError  # the client is there: grpc is imported

    prices = Prices.from_models(api.language, api.image)
    try:
        sample = summary.first[:CALIBRATION_JOBS]
        return prices, tokenizer_ratio(sample, api.client.tokenize.count_tokens)
    except XaiError:
        return prices, None  # the heuristic stays uncalibrated; prices are what matter


def _cost(summary: PlanSummary, prices: Prices, ratio: float | None) -> dict[str, Any]:
    return summary.estimate.cost_report(prices, ratio or 1.0)


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
        "model_check": _model_check_json(summary.models),
        "first_jobs": [job.to_dict() for job in summary.first[:show]],
    }


def _model_check_json(report: ModelReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    live = report.authority.live
    return {
        "against": "catalog" if live is None else "live",
        "where": None if live is None else live.where,
        "catalog_as_of": report.authority.catalog.as_of,
        "warnings": [str(f) for f in report.of("warning")],
        "notes": [str(f) for f in report.of("note")],
    }


def _part_preview(part: Any) -> str:
    if not isinstance(part, dict) or part.get("type") == "text":
        return str(part.get("text", "")) if isinstance(part, dict) else ""
    return "[file]" if part.get("type") == "file" else "[image]"


def _preview(job: Any) -> str:
    if job.kind == "image":
        text = str(job.request.get("prompt", ""))
    else:
        content = job.request["messages"][-1].get("content", "")
        text = content if isinstance(content, str) else " ".join(_part_preview(p) for p in content)
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


def _print_table(
    spec: PipelineSpec, summary: PlanSummary, cost: dict[str, Any], ratio: float | None, show: int
) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

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
    if summary.models is not None:
        out.print(summary.models.authority.describe(), markup=False)
    out.print(f"estimated prompt tokens: {tokens} ({how})", markup=False)
    high = "no maximum" if cost["max_usd"] is None else f"${cost['max_usd']:.6f}"
    out.print(f"estimated cost: ${cost['min_usd']:.6f} to {high}", markup=False)
    if cost["grader_min_usd"] or cost["grader_max_usd"] != 0:
        g_high = (
            "no maximum" if cost["grader_max_usd"] is None else f"${cost['grader_max_usd']:.6f}"
        )
        out.print(
            f"  of which the grader (llm_rubric): ${cost['grader_min_usd']:.6f} to {g_high}",
            markup=False,
        )
    for note in cost["notes"]:
        out.print(f"  {note}", markup=False)
    if cost["unpriced_models"]:
        out.print(f"no price for: {', '.join(cost['unpriced_models'])}", markup=False)


def plan(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline file.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
    local: Annotated[
        bool, typer.Option("--local", help="Check models and price with the in-process emulator.")
    ] = False,
    show: Annotated[int, typer.Option("--show", help="Jobs to list.", min=0)] = 10,
    set_: SetOption = None,
    allow_outside: AllowOutside = False,
    shard: Annotated[
        str | None,
        typer.Option("--shard", metavar="K/N", help="Show only shard K of N (split by job id)."),
    ] = None,
    offline: Offline = False,
    endpoint: Endpoint = None,
) -> None:
    """Show what a pipeline would run: job count, first jobs, token and cost estimates."""
    from xai_pipelines.plan import check_plan
    from xai_pipelines.spec import load_pipeline, parse_assignment

    try:
        chosen = None if shard is None else parse_shard(shard)
    except ValueError as exc:
        _err().print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None
    with ApiSession(local=local, endpoint=endpoint, offline=offline) as api:
        try:
            overrides = dict(parse_assignment(s) for s in set_ or [])
            spec = load_pipeline(pipeline, overrides=overrides, allow_outside=allow_outside)
            summary = check_plan(
                spec,
                keep=max(show, CALIBRATION_JOBS),
                shard=chosen,
                models=api.authority(),
            )
        except SpecError as exc:
            _fail(exc)
            raise typer.Exit(2) from None
        except LiveCheckError as exc:
            _err().print(f"error: {exc}", markup=False)
            raise typer.Exit(2) from None
        print_advisories(summary.models)
        prices, ratio = _measure(api, summary)
    cost = _cost(summary, prices, ratio)
    if as_json:
        data = _as_json(spec, summary, cost, ratio, show)
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=dict))
    else:
        _print_table(spec, summary, cost, ratio, show)


def schema() -> None:
    """Print the pipeline JSON Schema."""
    from xai_pipelines.spec.schema_build import PACKAGED_COPY

    typer.echo(PACKAGED_COPY.read_text(encoding="utf-8"), nl=False)


def register(app: typer.Typer) -> None:
    """Add the spec commands to the app."""
    app.command()(validate)
    app.command()(plan)
    app.command()(schema)
