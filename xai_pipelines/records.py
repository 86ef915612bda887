"""The typed records of the output directory's files, defined once (a leaf module).

One msgspec Struct per file format, with one encoder and one decoder each:

* :class:`ResultLine` - a line of ``results.jsonl`` (with :class:`Usage`, the
  kind's part :class:`ChatReply` (:class:`ChatOutput`, :class:`Turn`) or
  :class:`ImageReply` (:class:`ImageRecord`), and :class:`CacheProvenance`);
* :class:`ErrorLine` - a line of ``errors.jsonl``;
* :class:`Scores` - a result line's ``scores``, read with :func:`scores_of` (with
  :class:`AssertionOutcome`, :class:`GraderUse`, :class:`GraderUsage`);
* :class:`Manifest` - ``manifest.json`` (with :class:`SpecInfo`, :class:`PlanInfo`,
  :class:`BatchInfo`, :class:`MergedSource`, :class:`ShardsInfo`, :class:`HistoryEntry`,
  :class:`Progress`);
* :class:`UsageReport` - ``usage.json``, the report layer's count of a run (with
  :class:`ReportTotals`, :class:`ModelUsage`, :class:`EvalsReport` and their parts).

Every record carries ``schema_version``: :data:`SCHEMA_VERSION` for records
built now, the version read for decoded ones (1 when the key is absent: files
written before it existed); the encoders always write today's format and
version. Version-1 files still decode: every key that was ever
optional has a default. Decoding is strict otherwise: a value of the
wrong type, or a key no writer of this version knows, is an error
(:class:`RecordError`) rather than a silent guess.

Keys a line has only sometimes (``cached``, ``turns``, ``images`` of the usage,
``index`` of a non-final error, ...) are :data:`msgspec.UNSET` when absent and are
then left out of the JSON, so lines keep today's shape. ``msgspec.to_builtins``
turns any record back into the plain dict that readers of the JSON see.

The shapes owned by other layers stay typed mappings here: the rendered
``request``, ``expect`` and ``meta`` of a job (the plan's), ``scores`` (the
evals layer's verdicts, ``docs/evals.md``), the manifest's resolved spec, CLI
arguments, ``counts`` and ``prices``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

_R = TypeVar("_R", bound=msgspec.Struct)

__all__ = [
    "SCHEMA_VERSION",
    "UNSET",
    "AssertionOutcome",
    "AssertionRate",
    "BatchInfo",
    "CacheProvenance",
    "ChatOutput",
    "ChatReply",
    "ConcurrencyHistory",
    "CrashedRuns",
    "ErrorGroup",
    "ErrorLine",
    "EvalFailure",
    "EvalGrader",
    "EvalGroup",
    "EvalsReport",
    "GraderReport",
    "GraderTokens",
    "GraderUsage",
    "GraderUse",
    "HistoryEntry",
    "ImageRecord",
    "ImageReply",
    "LimitChange",
    "Manifest",
    "MergedSource",
    "ModelUsage",
    "Percentiles",
    "PlanInfo",
    "Progress",
    "RecordError",
    "ReportTotals",
    "ResultLine",
    "Scores",
    "ShardsInfo",
    "SpecInfo",
    "TokenCounts",
    "Turn",
    "TypeRate",
    "UnsetType",
    "Usage",
    "UsageReport",
    "as_record",
    "decode_error_line",
    "decode_manifest",
    "decode_result_line",
    "decode_usage_report",
    "encode_line",
    "encode_manifest",
    "encode_usage_report",
    "error_line_from",
    "manifest_from",
    "result_line_from",
    "scores_of",
    "to_plain",
    "usage_report_from",
]

#: Version of the record formats written today. Version 1: no ``schema_version`` key.
SCHEMA_VERSION = 2


class RecordError(ValueError):
    """A line or document that is not a valid record of its format."""


class _Record(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """Base of every record: strict about unknown keys.

    Records are not tracked by the cyclic garbage collector (``gc=False``): they hold
    data decoded from JSON and never refer back to themselves, and a report holding
    100,000 result lines spent a third of its time in collections that traversed them.
    """


class Usage(_Record):
    """Token counts and cost of one call, or the sum over a job's calls.

    Attributes:
        prompt_tokens: Prompt tokens (text and image, cached included).
        completion_tokens: Generated answer tokens.
        reasoning_tokens: Tokens spent reasoning.
        cached_prompt_tokens: Prompt tokens served from the prompt cache.
        total_tokens: Total the server reports.
        images: Images generated (image jobs only; UNSET for chat).
        cost_usd_ticks: Cost in ticks (1 USD = 10^10), None when a call reported none.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cached_prompt_tokens: int = 0
    total_tokens: int = 0
    images: int | UnsetType = UNSET
    cost_usd_ticks: int | None = None

    def __add__(self, other: Usage) -> Usage:
        """The sum; the cost stays None once any part lacked it (never a partial cost)."""
        if not isinstance(other, Usage):
            return NotImplemented
        images: int | UnsetType = UNSET
        if self.images is not UNSET or other.images is not UNSET:
            images = (self.images or 0) + (other.images or 0)
        cost = (
            None
            if self.cost_usd_ticks is None or other.cost_usd_ticks is None
            else self.cost_usd_ticks + other.cost_usd_ticks
        )
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            cached_prompt_tokens=self.cached_prompt_tokens + other.cached_prompt_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            images=images,
            cost_usd_ticks=cost,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (``images`` left out when unset)."""
        value: dict[str, Any] = msgspec.to_builtins(self)
        return value

    @property
    def tokens(self) -> int:
        """Prompt + completion + reasoning tokens (what the rate limiter and progress count)."""
        return self.prompt_tokens + self.completion_tokens + self.reasoning_tokens

    @property
    def image_count(self) -> int:
        """Images generated (0 for chat)."""
        return 0 if self.images is UNSET else self.images


class ChatOutput(_Record):
    """What a result line keeps of one chat answer.

    Attributes:
        index: Output index (0 .. n-1).
        content: The answer text.
        reasoning_content: Visible reasoning, when the model returned any.
        tool_calls: Client-side tool calls, as the SDK's ``ToolCall.to_dict()``.
        finish_reason: Why the output ended (``stop``, ``length``, ``tool_calls``, ...).
        citations: URLs cited.
        response_id: Id of the completion.
        server_side_tool_usage: Calls per server-side tool, when such tools ran.
    """

    index: int = 0
    content: str = ""
    reasoning_content: str | None = None
    tool_calls: list[dict[str, Any]] = msgspec.field(default_factory=list)
    finish_reason: str | None = None
    citations: list[str] = msgspec.field(default_factory=list)
    response_id: str | None = None
    server_side_tool_usage: dict[str, int] | UnsetType = UNSET


class Turn(_Record):
    """One earlier turn of a multi-turn chat: the outputs before the next user message.

    Attributes:
        user: The user message that followed these outputs (as written in the spec).
        outputs: The answers of that turn.
    """

    user: dict[str, Any] = msgspec.field(default_factory=dict)
    outputs: list[ChatOutput] = msgspec.field(default_factory=list)


class ImageRecord(_Record):
    """One saved image of an image job.

    Attributes:
        index: Image index.
        path: File, relative to the output directory.
        url: The server's URL (url format), else None.
        mime_type: Sniffed from the bytes.
        bytes: File size.
        respect_moderation: The server's moderation flag.
    """

    index: int = 0
    path: str = ""
    url: str | None = None
    mime_type: str | None = None
    bytes: int = 0
    respect_moderation: bool | None = None


class ChatReply(_Record):
    """The chat part of a result line (what a chat runner returns, and the cache stores).

    Attributes:
        mode: ``sample``, ``stream`` or ``defer``.
        content: The first output's text.
        outputs: Every output of the final answer.
        turns: The earlier turns of a multi-turn chat (UNSET for one turn).
    """

    mode: str
    content: str
    outputs: list[ChatOutput]
    turns: list[Turn] | UnsetType = UNSET


class ImageReply(_Record):
    """The image part of a result line (what an image runner returns).

    Attributes:
        prompt: The prompt sent.
        image_model: The model that answered.
        images: The saved images.
    """

    prompt: str
    image_model: str
    images: list[ImageRecord]


class CacheProvenance(_Record):
    """The ``cache`` object of a line served from the response cache.

    Attributes:
        key: Cache key of the entry.
        stored_at: When the entry was stored (ISO-8601 UTC).
        run_id: Run that stored it.
        job_id: Job that stored it.
        cost_usd_ticks: What the original call cost.
        latency_s: The original call's latency.
    """

    key: str = ""
    stored_at: str | None = None
    run_id: str | None = None
    job_id: str | None = None
    cost_usd_ticks: int | None = None
    latency_s: float | None = None


class ResultLine(_Record):
    """A line of ``results.jsonl``: one finished job (``docs/ARCHITECTURE.md``).

    Chat lines have ``mode content outputs`` (and ``turns`` for multi-turn jobs:
    :class:`ChatReply`); image lines ``prompt image_model images``
    (:class:`ImageReply`); the other kind's keys are UNSET.
    ``cached``/``cache`` are set only on cache hits; ``run_id`` by the sink.
    """

    id: str
    kind: str = "chat"
    digest: str = ""
    task: str = ""
    index: int = 0
    model: str = ""
    seed: int | None = None
    request: dict[str, Any] = msgspec.field(default_factory=dict)
    mode: str | UnsetType = UNSET
    content: str | UnsetType = UNSET
    outputs: list[ChatOutput] | UnsetType = UNSET
    turns: list[Turn] | UnsetType = UNSET
    prompt: str | UnsetType = UNSET
    image_model: str | UnsetType = UNSET
    images: list[ImageRecord] | UnsetType = UNSET
    usage: Usage = msgspec.field(default_factory=Usage)
    cost_usd_ticks: int | None = None
    cost_source: str | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    calls: int = 1
    attempts: int = 1
    expect: list[dict[str, Any]] = msgspec.field(default_factory=list)
    meta: dict[str, Any] = msgspec.field(default_factory=dict)
    finished_at: str | None = None
    cached: bool | UnsetType = UNSET
    cache: CacheProvenance | UnsetType = UNSET
    scores: dict[str, Any] | None = None
    run_id: str | UnsetType = UNSET
    schema_version: int = SCHEMA_VERSION


class ErrorLine(_Record):
    """A line of ``errors.jsonl``: a failed attempt (``final: false``) or job (``final: true``).

    ``index``, ``matrix`` and ``expects`` are on final lines only (what the reports
    need of a job that has no result line). ``request_id`` is the server's id of the
    failed request (``x-request-id``), UNSET (left out) when the error carried none,
    as in lines written before it.
    """

    id: str
    kind: str = "chat"
    model: str = ""
    digest: str = ""
    task: str = ""
    attempt: int = 0
    final: bool = False
    code: str = ""
    message: str = ""
    request_id: str | UnsetType = UNSET
    at: str | None = None
    run_id: str | None = None
    index: int | UnsetType = UNSET
    matrix: dict[str, Any] | UnsetType = UNSET
    expects: int | UnsetType = UNSET
    schema_version: int = SCHEMA_VERSION


class GraderUsage(Usage):
    """Summed usage of a job's grader calls (``scores.grader.usage``): a Usage and cache hits.

    Attributes:
        cache_hits: Verdicts served from the response cache (at cost 0, tokens copied);
            UNSET (left out of the JSON) when none was.
    """

    cache_hits: int | UnsetType = UNSET

    @classmethod
    def of(cls, usage: Usage | Mapping[str, Any]) -> GraderUsage:
        """One grader call's usage as a GraderUsage (a usage dict is decoded).

        Raises:
            RecordError: A dict that is not a usage.
        """
        if isinstance(usage, GraderUsage):
            return usage
        if isinstance(usage, Usage):
            return cls(**msgspec.structs.asdict(usage))
        try:
            return msgspec.convert(usage, cls)
        except msgspec.ValidationError as exc:
            raise RecordError(f"not a valid grader usage: {exc}") from exc

    def __add__(self, other: Usage) -> GraderUsage:
        """The sum, cache hits included (UNSET while no part had any)."""
        total = Usage.__add__(self, other)
        theirs = other.cache_hits if isinstance(other, GraderUsage) else UNSET
        hits: int | UnsetType = UNSET
        if self.cache_hits is not UNSET or theirs is not UNSET:
            hits = (self.cache_hits or 0) + (theirs or 0)
        return GraderUsage(**msgspec.structs.asdict(total), cache_hits=hits)


class GraderUse(_Record):
    """``scores.grader``: the grader calls one job's ``llm_rubric`` checks made.

    Attributes:
        calls: Verdicts asked (those served from the response cache included).
        usage: Their summed usage.
    """

    calls: int = 0
    usage: GraderUsage = msgspec.field(default_factory=GraderUsage)


class AssertionOutcome(_Record):
    """One checked assertion in ``scores.assertions`` (``docs/evals.md``).

    Attributes:
        type: The ``expect`` key (``invalid`` for an entry that could not be built).
        name: The entry's ``name`` label, when it has one.
        output: Index of the chat output checked (None: a job-level check).
        passed: Whether it held (``pass`` in the JSON).
        score: 0..1.
        reason: Why, for a reader of the report.
    """

    type: str = ""
    name: str | UnsetType = UNSET
    output: int | None = None
    passed: bool = msgspec.field(default=False, name="pass")
    score: float = 0.0
    reason: str = ""


class Scores(_Record):
    """A result line's ``scores``: its ``expect`` checked (written by the evals layer).

    Attributes:
        passed: Every assertion passed.
        score: Mean of the assertion scores.
        total: Assertions checked.
        failed: Assertions that failed.
        assertions: Each outcome.
        grader: The grader's calls, when one was asked.
    """

    passed: bool = False
    score: float = 0.0
    total: int = 0
    failed: int = 0
    assertions: list[AssertionOutcome] = msgspec.field(default_factory=list)
    grader: GraderUse | UnsetType = UNSET


def as_record(value: Any, kind: type[_R], what: str) -> _R:
    """``value`` as a ``kind`` record: a record passes through, a plain form is converted.

    For record parts without a version of their own (usage, outputs, scores, report
    sections); whole lines and documents go through their ``*_from`` functions.

    Raises:
        RecordError: ``value`` is not a ``what`` (unknown key, wrong type).
    """
    if isinstance(value, kind):
        return value
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        raise RecordError(f"not a valid {what}: {exc}") from exc


def scores_of(line: ResultLine) -> Scores | None:
    """The line's ``scores`` as a :class:`Scores` record (None: the job was not scored).

    Raises:
        RecordError: ``scores`` is not a scores document.
    """
    scores: Any = line.scores
    return (
        None if scores is None else as_record(scores, Scores, f"scores document of job {line.id!r}")
    )


class SpecInfo(_Record):
    """The manifest's ``spec``: which pipeline ran (resolved, secrets redacted)."""

    name: str | None = None
    path: str | None = None
    digest: str | None = None
    resolved: dict[str, Any] = msgspec.field(default_factory=dict)


class PlanInfo(_Record):
    """The manifest's ``plan``: jobs planned, and how many an earlier run had finished."""

    jobs: int = 0
    already_done: int | UnsetType = UNSET
    set_aside: int | UnsetType = UNSET


class BatchInfo(_Record):
    """The manifest's ``batch`` (batch mode); written piece by piece, so every key is optional."""

    batch_id: str | UnsetType = UNSET
    spec_digest: str | UnsetType = UNSET
    created_at: str | UnsetType = UNSET
    attached: bool | UnsetType = UNSET
    collected: bool | UnsetType = UNSET
    requests: int | UnsetType = UNSET
    added: int | UnsetType = UNSET
    #: How the jobs reached the batch: ``file`` (a JSONL input file) or ``requests``
    #: (AddBatchRequests); see ``run/batch_mode.py``.
    submitted: str | UnsetType = UNSET
    #: The uploaded JSONL input file the batch was created from (``submitted: file``).
    input_file_id: str | UnsetType = UNSET


class HistoryEntry(_Record):
    """An earlier run into the same directory, as kept in ``history``.

    A run left ``running`` by a process that died has ``status: "crashed"`` and,
    when its manifest had a progress checkpoint, ``jobs_in_flight``: jobs it had
    started (at its last checkpoint) that left no line, a lower bound of the calls
    it made that no line counts.
    """

    run_id: str | None = None
    status: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    counts: dict[str, Any] | None = None
    pid: int | UnsetType = UNSET
    host: str | UnsetType = UNSET
    jobs_in_flight: int | UnsetType = UNSET


class MergedSource(_Record):
    """One source directory of a merged output (``merged_from``)."""

    path: str
    run_id: str | None = None
    status: str | None = None
    shard: str | None = None
    spec_digest: str | None = None
    batch_id: str | None = None


class ShardsInfo(_Record):
    """The shards a merged output holds (``shards``)."""

    shards: list[str] = msgspec.field(default_factory=list)
    count: int | UnsetType = UNSET
    missing: list[int] | UnsetType = UNSET


class Progress(_Record):
    """The manifest's ``progress``: a checkpoint rewritten every few seconds while a run runs.

    After a crash it bounds what the run did that left no line: ``jobs_started``
    minus the run's result and final error lines were in flight when it died.
    """

    jobs_started: int = 0
    jobs_finished: int = 0
    at: str | None = None


class LimitChange(_Record):
    """One change of the run's adaptive concurrency limit (``run/adaptive.py``).

    Attributes:
        at_s: Seconds since the run started.
        limit: Calls allowed in flight from then on.
        reason: ``start``, ``cut`` (a rate-limit episode), ``grow`` (the last step of a
            climb: consecutive steps are one entry) or ``pause`` (a retry-after hint).
        pause_s: How long new calls were held back (``pause`` only).
    """

    at_s: float
    limit: int
    reason: str
    pause_s: float | UnsetType = UNSET


class ConcurrencyHistory(_Record):
    """The manifest's (and ``usage.json``'s) ``concurrency``: the limit of calls in flight.

    Attributes:
        maximum: The configured concurrency (the limit's ceiling and start).
        floor: The lowest the limit may go.
        final: The limit when the run ended.
        cuts: Rate-limit episodes (each cut the limit once).
        rate_limited: Rate-limit errors seen (an episode holds one or many).
        pauses: Retry-after hints that held new calls back.
        changes: The changes, bounded: the first and the latest ones are kept.
        dropped: Changes left out between them.
    """

    maximum: int
    floor: int
    final: int
    cuts: int = 0
    rate_limited: int = 0
    pauses: int = 0
    changes: list[LimitChange] = msgspec.field(default_factory=list)
    dropped: int = 0


class Manifest(_Record):
    """``manifest.json``: what ran, against which endpoint, with which spec, how it ended.

    ``counts`` is the usage report's count of the run (the report layer's shape);
    ``prices`` the price table by model (the catalog's ``to_dict`` shape). Keys a
    run writes only sometimes (``prices``, ``plan``, ``shard``, ``batch``,
    ``forced_changes``; ``merged_from``, ``shards``, ``forced_conflicts`` of a merge)
    are UNSET when absent. ``pid`` and ``host`` name the process that writes the
    run (a manifest left ``running`` by a process that is gone is a crashed run);
    ``datasets`` maps each dataset file the spec reads to the sha256 of its content;
    ``progress`` is the run's durable checkpoint (:class:`Progress`); ``concurrency``
    the adaptive limit's history of the last online run (:class:`ConcurrencyHistory`).
    """

    run_id: str
    status: str = "running"
    started_at: str | None = None
    finished_at: str | None = None
    elapsed_s: float | None = None
    pid: int | UnsetType = UNSET
    host: str | UnsetType = UNSET
    spec: SpecInfo = msgspec.field(default_factory=SpecInfo)
    datasets: dict[str, str] | UnsetType = UNSET
    progress: Progress | UnsetType = UNSET
    args: dict[str, Any] = msgspec.field(default_factory=dict)
    endpoint: str | None = None
    versions: dict[str, str] = msgspec.field(default_factory=dict)
    counts: dict[str, Any] = msgspec.field(default_factory=dict)
    history: list[HistoryEntry] = msgspec.field(default_factory=list)
    prices: dict[str, dict[str, Any]] | UnsetType = UNSET
    plan: PlanInfo | UnsetType = UNSET
    shard: str | UnsetType = UNSET
    forced_changes: list[str] | UnsetType = UNSET
    batch: BatchInfo | UnsetType = UNSET
    merged_from: list[MergedSource] | UnsetType = UNSET
    shards: ShardsInfo | UnsetType = UNSET
    forced_conflicts: list[str] | UnsetType = UNSET
    concurrency: ConcurrencyHistory | UnsetType = UNSET
    schema_version: int = SCHEMA_VERSION


_encoder = msgspec.json.Encoder()
_result_decoder = msgspec.json.Decoder(ResultLine)
_error_decoder = msgspec.json.Decoder(ErrorLine)
_manifest_decoder = msgspec.json.Decoder(Manifest)

_S = TypeVar("_S", ResultLine, ErrorLine, Manifest)


class _Version(msgspec.Struct):
    """Just the version of a record (a missing key is version 1)."""

    schema_version: int = 1


_version_decoder = msgspec.json.Decoder(_Version)


def _decode(decoder: msgspec.json.Decoder[_S], data: bytes | str, what: str) -> _S:
    try:
        version = _version_decoder.decode(data).schema_version
        if version > SCHEMA_VERSION:
            raise RecordError(
                f"{what} has schema_version {version}; this version of xai-pipelines reads "
                f"up to {SCHEMA_VERSION} (upgrade to read it)"
            )
        record = decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise RecordError(f"not a valid {what}: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise RecordError(f"damaged JSON line: {exc}") from exc
    if version != record.schema_version:  # the key was absent: the record's default is today's
        record.schema_version = version
    return record


def decode_result_line(data: bytes | str) -> ResultLine:
    """A ``results.jsonl`` line (any version up to :data:`SCHEMA_VERSION`).

    Raises:
        RecordError: Not valid JSON, a wrong type, an unknown key or a newer version.
    """
    return _decode(_result_decoder, data, "result line")


def decode_error_line(data: bytes | str) -> ErrorLine:
    """An ``errors.jsonl`` line (any version up to :data:`SCHEMA_VERSION`).

    Raises:
        RecordError: As for :func:`decode_result_line`.
    """
    return _decode(_error_decoder, data, "error line")


def decode_manifest(data: bytes | str) -> Manifest:
    """``manifest.json`` (any version up to :data:`SCHEMA_VERSION`).

    Raises:
        RecordError: As for :func:`decode_result_line`.
    """
    return _decode(_manifest_decoder, data, "manifest")


def _convert(value: Any, kind: type[_S], what: str) -> _S:
    try:
        record = msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        raise RecordError(f"not a valid {what}: {exc}") from exc
    version = value.get("schema_version", 1) if isinstance(value, dict) else record.schema_version
    if version > SCHEMA_VERSION:
        raise RecordError(
            f"{what} has schema_version {version}; this version of xai-pipelines reads "
            f"up to {SCHEMA_VERSION} (upgrade to read it)"
        )
    record.schema_version = version
    return record


def result_line_from(value: Any) -> ResultLine:
    """A :class:`ResultLine` from its plain form (a parsed JSON line, ``to_plain``'s output).

    A mapping without ``schema_version`` is version 1, as in :func:`decode_result_line`.

    Raises:
        RecordError: As for :func:`decode_result_line`.
    """
    return _convert(value, ResultLine, "result line")


def error_line_from(value: Any) -> ErrorLine:
    """An :class:`ErrorLine` from its plain form (see :func:`result_line_from`)."""
    return _convert(value, ErrorLine, "error line")


def manifest_from(value: Any) -> Manifest:
    """A :class:`Manifest` from its plain form (see :func:`result_line_from`)."""
    return _convert(value, Manifest, "manifest")


def encode_line(record: ResultLine | ErrorLine) -> bytes:
    """One JSON line of a record, newline included; UNSET keys are left out.

    The line is stamped with :data:`SCHEMA_VERSION`: it is written in today's format
    whatever version the record was read in.
    """
    return _encoder.encode(_stamped(record)) + b"\n"


def encode_manifest(manifest: Manifest) -> bytes:
    """The manifest as indented JSON, newline included, stamped like :func:`encode_line`."""
    return msgspec.json.format(_encoder.encode(_stamped(manifest)), indent=2) + b"\n"


def _stamped(record: ResultLine | ErrorLine | Manifest) -> msgspec.Struct:
    if record.schema_version == SCHEMA_VERSION:
        return record
    return msgspec.structs.replace(record, schema_version=SCHEMA_VERSION)


def to_plain(record: msgspec.Struct) -> dict[str, Any]:
    """The plain dict of a record, as a reader of the JSON sees it (UNSET keys left out)."""
    value = msgspec.to_builtins(record)
    assert isinstance(value, dict)
    return value


class TokenCounts(_Record):
    """Tokens by kind in ``usage.json`` (``total``: prompt + completion + reasoning)."""

    prompt: int = 0
    completion: int = 0
    reasoning: int = 0
    cached_prompt: int = 0
    total: int = 0


class Percentiles(_Record):
    """Latency percentiles in seconds (None: no job had one; ``ttft_s`` has no p99)."""

    p50: float | None = None
    p90: float | None = None
    p99: float | UnsetType | None = UNSET


class GraderReport(_Record):
    """``totals.grader``: the grader's share of a run (included in the totals)."""

    requests: int = 0
    tokens: int = 0
    tokens_by_kind: TokenCounts = msgspec.field(default_factory=TokenCounts)
    cost_usd_ticks: int = 0
    cost_usd: float = 0.0
    calls_without_cost: int = 0
    cache_hits: int = 0


class ErrorGroup(_Record):
    """One entry of ``totals.error_groups``: jobs that failed at the API for one cause."""

    code: str = ""
    message: str = ""
    count: int = 0
    example_ids: list[str] = msgspec.field(default_factory=list)


class CrashedRuns(_Record):
    """``totals.crashed_runs``: runs into the directory that died without finishing.

    Their finished jobs and failed attempts are counted like any run's (their
    lines); the calls they had in flight left no line and are not counted:
    ``jobs_in_flight`` is what their last progress checkpoint bounds (jobs started
    that have no line), ``runs_without_checkpoint`` the crashed runs without one.
    """

    runs: int = 0
    run_ids: list[str] = msgspec.field(default_factory=list)
    jobs_in_flight: int = 0
    runs_without_checkpoint: int = 0


class ReportTotals(_Record):
    """``usage.json``'s ``totals`` (rules: ``xai_pipelines.report.usage``)."""

    jobs: int = 0
    failed: int = 0
    cache_hits: int = 0
    requests: int = 0
    retries: int = 0
    images: int = 0
    tokens: TokenCounts = msgspec.field(default_factory=TokenCounts)
    cost_usd_ticks: int = 0
    cost_usd: float = 0.0
    jobs_without_cost: int = 0
    grader: GraderReport = msgspec.field(default_factory=GraderReport)
    cache_savings_usd_ticks: int = 0
    cache_savings_usd: float = 0.0
    jobs_with_unknown_cache_savings: int = 0
    errors_by_code: dict[str, int] = msgspec.field(default_factory=dict)
    error_groups: list[ErrorGroup] | UnsetType = UNSET  # UNSET: a usage.json from before them
    crashed_runs: CrashedRuns | UnsetType = UNSET  # UNSET: no run into the directory crashed


class ModelUsage(_Record):
    """One entry of ``usage.json``'s ``by_model``: the jobs' own calls of one model and kind."""

    model: str = ""
    kind: str = ""
    jobs: int = 0
    cache_hits: int = 0
    failed: int = 0
    requests: int = 0
    retries: int = 0
    tokens: TokenCounts = msgspec.field(default_factory=TokenCounts)
    images: int = 0
    cost_usd: float = 0.0
    cost_usd_ticks: int = 0
    jobs_without_cost: int = 0
    cache_savings_usd: float = 0.0
    cache_savings_usd_ticks: int = 0
    jobs_with_unknown_cache_savings: int = 0
    latency_s: Percentiles = msgspec.field(default_factory=Percentiles)
    ttft_s: Percentiles = msgspec.field(default_factory=Percentiles)
    errors_by_code: dict[str, int] = msgspec.field(default_factory=dict)
    retried_errors_by_code: dict[str, int] = msgspec.field(default_factory=dict)


class AssertionRate(_Record):
    """``evals.assertions``: assertions checked and passed."""

    total: int = 0
    passed: int = 0
    pass_rate: float | None = None


class TypeRate(_Record):
    """One entry of ``evals.by_type``: the pass rate of one assertion type."""

    type: str = ""
    total: int = 0
    passed: int = 0
    pass_rate: float | None = None


class EvalGroup(_Record):
    """One entry of ``evals.by_task``, ``by_model`` or ``by_cell`` (keyed by its names)."""

    task: str | UnsetType = UNSET
    model: str | UnsetType = UNSET
    cell: str | UnsetType = UNSET
    jobs: int = 0
    passed: int = 0
    failed: int = 0
    errored: int = 0
    pass_rate: float | None = None
    score: float | None = None
    failing: list[str] = msgspec.field(default_factory=list)
    failing_more: int = 0


class EvalFailure(_Record):
    """One entry of ``evals.failures``: a failed assertion of a failing job."""

    id: str = ""
    task: str = ""
    model: str = ""
    type: str = ""
    output: int | None = None
    reason: str = ""
    name: str | UnsetType = UNSET


class GraderTokens(_Record):
    """``evals.grader.tokens``."""

    prompt: int = 0
    completion: int = 0
    reasoning: int = 0


class EvalGrader(_Record):
    """``evals.grader``: the grader's calls (the same figures as ``totals.grader``)."""

    calls: int = 0
    tokens: GraderTokens = msgspec.field(default_factory=GraderTokens)
    cost_usd_ticks: int = 0
    cost_usd: float = 0.0
    jobs_without_cost: int = 0


class EvalsReport(_Record):
    """``usage.json``'s ``evals``: pass rates from the lines' ``scores`` (``report.evals``)."""

    jobs: int = 0
    passed: int = 0
    failed: int = 0
    errored: int = 0
    pass_rate: float | None = None
    score: float | None = None
    assertions: AssertionRate = msgspec.field(default_factory=AssertionRate)
    by_type: list[TypeRate] = msgspec.field(default_factory=list)
    by_task: list[EvalGroup] = msgspec.field(default_factory=list)
    by_model: list[EvalGroup] = msgspec.field(default_factory=list)
    by_cell: list[EvalGroup] = msgspec.field(default_factory=list)
    failures: list[EvalFailure] = msgspec.field(default_factory=list)
    failures_more: int = 0
    grader: EvalGrader = msgspec.field(default_factory=EvalGrader)


class UsageReport(_Record):
    """``usage.json``: the one count of a run (``xai_pipelines.report.usage``).

    Written from this record; read back with :func:`decode_usage_report`. Files
    written before it carried ``schema_version`` (version 1) still decode.
    """

    generated_at: str | None = None
    totals: ReportTotals = msgspec.field(default_factory=ReportTotals)
    by_model: list[ModelUsage] = msgspec.field(default_factory=list)
    evals: EvalsReport = msgspec.field(default_factory=EvalsReport)
    concurrency: ConcurrencyHistory | UnsetType = UNSET  # UNSET: no online run recorded one
    schema_version: int = SCHEMA_VERSION


_usage_report_decoder = msgspec.json.Decoder(UsageReport)


def usage_report_from(value: Any) -> UsageReport:
    """A :class:`UsageReport` from its plain form (the report layer's document).

    Raises:
        RecordError: Not a usage report (unknown key, wrong type, newer version).
    """
    try:
        report = msgspec.convert(value, UsageReport)
    except msgspec.ValidationError as exc:
        raise RecordError(f"not a valid usage report: {exc}") from exc
    _check_version(report.schema_version, "usage report")
    return report


def decode_usage_report(data: bytes | str) -> UsageReport:
    """``usage.json`` (any version up to :data:`SCHEMA_VERSION`; without the key: 1).

    Raises:
        RecordError: As for :func:`usage_report_from`.
    """
    try:
        version = _version_decoder.decode(data).schema_version
        _check_version(version, "usage report")
        report = _usage_report_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise RecordError(f"not a valid usage report: {exc}") from exc
    report.schema_version = version
    return report


def encode_usage_report(report: UsageReport) -> bytes:
    """``usage.json`` as indented JSON, newline included, stamped with :data:`SCHEMA_VERSION`."""
    if report.schema_version != SCHEMA_VERSION:
        report = msgspec.structs.replace(report, schema_version=SCHEMA_VERSION)
    return msgspec.json.format(_encoder.encode(report), indent=2) + b"\n"


def _check_version(version: int, what: str) -> None:
    if version > SCHEMA_VERSION:
        raise RecordError(
            f"{what} has schema_version {version}; this version of xai-pipelines reads "
            f"up to {SCHEMA_VERSION} (upgrade to read it)"
        )


def _build_type_info() -> None:
    """Build msgspec's type information of every record now, on the importing thread.

    msgspec builds it lazily, on a type's first encode, decode or convert. Worker
    threads that used a record for the first time at the same moment crashed the
    interpreter (SIGSEGV in ``msgspec.convert(..., Scores)`` while another thread
    was still building ``Scores``' information; msgspec 0.22, CPython 3.11, about
    one ``xai-run --local`` in twenty under load). Built once here, it is only read
    afterwards.
    """
    for value in list(globals().values()):
        if isinstance(value, type) and issubclass(value, msgspec.Struct) and value is not _Record:
            msgspec.json.Decoder(value)


_build_type_info()
