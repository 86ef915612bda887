"""The plan's requests are exactly what the SDK accepts (the "JSON request form" contract)."""

from __future__ import annotations

from pathlib import Path

import pytest

from xai_pipelines.plan import ChatJob, iter_jobs
from xai_pipelines.sdk._chat_request import build_chat_request
from xai_pipelines.sdk.image import build_image_request
from xai_pipelines.spec import load_pipeline

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = [
    *sorted((ROOT / "pipelines").glob("*.yaml")),
    Path(__file__).parent / "data" / "full-request.yaml",
]


@pytest.mark.parametrize("pipeline", PIPELINES, ids=[p.name for p in PIPELINES])
def test_every_request_builds_with_the_sdk(pipeline: Path):
    count = 0
    for job in iter_jobs(load_pipeline(pipeline)):
        request = dict(job.request)
        if isinstance(job, ChatJob):
            proto = build_chat_request(request.pop("model"), request.pop("messages"), **request)
            assert proto.model == job.model and len(proto.messages) == len(job.request["messages"])
            if job.seed is not None:
                assert proto.seed == job.seed
            for turn in job.turns:
                build_chat_request(job.model, [turn])
        else:
            proto = build_image_request(**request)
            assert proto.prompt == job.request["prompt"]
        count += 1
    assert count > 0


def test_full_request_maps_every_field():
    (job,) = iter_jobs(load_pipeline(PIPELINES[-1]))
    request = dict(job.request)
    proto = build_chat_request(request.pop("model"), request.pop("messages"), **request)
    fields = {f.name for f, _ in proto.ListFields()}
    assert fields >= {
        "messages",
        "model",
        "user",
        "n",
        "max_tokens",
        "stop",
        "temperature",
        "top_p",
        "logprobs",
        "top_logprobs",
        "tools",
        "tool_choice",
        "response_format",
        "frequency_penalty",
        "presence_penalty",
        "reasoning_effort",
        "search_parameters",
        "parallel_tool_calls",
        "previous_response_id",
        "store_messages",
        "use_encrypted_content",
        "max_turns",
    }
    assert proto.messages[1].content[1].image_url.image_url.startswith("data:image/png;base64,")
