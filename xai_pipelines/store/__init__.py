"""The output directory: manifest, plan, append-only results and errors, images, resume state."""

from xai_pipelines.store.files import (
    JsonlAppender,
    SpaceReserve,
    WriteError,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    read_jsonl,
    repair_tail,
)
from xai_pipelines.store.layout import OutputDir, safe_name
from xai_pipelines.store.manifest import ManifestWriter, RunStatus, redact_args, utc_now
from xai_pipelines.store.resume import (
    ResumeState,
    SpecChangedError,
    check_spec,
    load_resume_state,
    spec_changes,
)

__all__ = [
    "JsonlAppender",
    "ManifestWriter",
    "OutputDir",
    "ResumeState",
    "RunStatus",
    "SpaceReserve",
    "SpecChangedError",
    "WriteError",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_spec",
    "load_resume_state",
    "read_jsonl",
    "redact_args",
    "repair_tail",
    "safe_name",
    "spec_changes",
    "utc_now",
]
