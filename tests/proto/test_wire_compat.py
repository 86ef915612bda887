"""The project's protos must match the official SDK's wire shape field for field.

Both sets of stubs load into this one process: ours register in a private
descriptor pool (``xai_pipelines.proto._pool``), the official SDK's in protobuf's
default pool. The comparison runs both ways: every field we declare must match
theirs, and everything they declare that we lack must be on ``NOT_MODELLED``.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.proto.descriptor_dump import dump, package_files

ROOT = Path(__file__).resolve().parents[2]

# What the official protos (xai-sdk, pinned in pyproject) hold that ours do not, and why.
# A new service, RPC, message, field or enum value upstream fails the test until it is
# either added to protos/ or listed here with a reason.
NOT_MODELLED: dict[str, str] = {
    # Services outside the two workflows this project runs (chat and image generation).
    "xai_api.Auth": "API-key introspection; keys are checked by the Models call instead",
    "xai_api.Documents": "collections search; not a chat or image workflow",
    "xai_api.Embedder": "embeddings; not a chat or image workflow",
    "xai_api.Sample": "legacy raw text sampling, superseded by Chat",
    "xai_api.Video": "video generation; not a chat or image workflow",
    # Their messages and enums.
    "xai_api.ApiKey": "Auth",
    "xai_api.EmbedInput": "Embedder",
    "xai_api.EmbedRequest": "Embedder",
    "xai_api.EmbedResponse": "Embedder",
    "xai_api.Embedding": "Embedder",
    "xai_api.FeatureVector": "Embedder",
    "xai_api.EmbedEncodingFormat": "Embedder",
    "xai_api.AudioUrlContent": "video generation input",
    "xai_api.VideoUrlContent": "video generation input",
    "xai_api.ExtendVideoRequest": "Video",
    "xai_api.GenerateVideoRequest": "Video",
    "xai_api.GeneratedVideo": "Video",
    "xai_api.GetDeferredVideoRequest": "Video",
    "xai_api.GetDeferredVideoResponse": "Video",
    "xai_api.VideoError": "Video",
    "xai_api.VideoKeyframe": "Video",
    "xai_api.VideoResponse": "Video",
    "xai_api.VideoAspectRatio": "Video",
    "xai_api.VideoResolution": "Video",
    "xai_api.BatchRequest.video_request": "a batch of ours never carries video",
    "xai_api.BatchRequest.video_extension_request": "a batch of ours never carries video",
    "xai_api.BatchResultData.video_response": "a batch of ours never carries video",
}


@pytest.fixture(scope="module")
def shapes() -> tuple[dict[str, Any], dict[str, Any]]:
    ours = dump(package_files("xai_pipelines.proto"))
    theirs = dump(package_files("xai_sdk.proto.v6"))
    return ours, theirs


def test_every_message_field_matches_official_sdk(shapes):
    ours, theirs = shapes
    assert len(ours["messages"]) > 80
    mismatches = []
    for name, fields in ours["messages"].items():
        assert name in theirs["messages"], f"{name} is not a message of the hosted API"
        for field, spec in fields.items():
            other = theirs["messages"][name].get(field)
            if other != spec:
                mismatches.append(f"{name}.{field}: ours {spec} vs sdk {other}")
    assert not mismatches, "\n".join(mismatches)


def test_every_enum_value_matches_official_sdk(shapes):
    ours, theirs = shapes
    for name, values in ours["enums"].items():
        for value, number in values.items():
            assert theirs["enums"][name].get(value) == number, f"{name}.{value}"


def test_services_and_methods_match_official_sdk(shapes):
    ours, theirs = shapes
    assert {"xai_api.Chat", "xai_api.Image", "xai_api.Files"} <= set(ours["services"])
    for name, methods in ours["services"].items():
        for method, sig in methods.items():
            assert theirs["services"][name][method] == sig, f"{name}/{method}"


def _lacking(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    lacking = []
    for kind in ("services", "messages", "enums"):
        for name, members in theirs[kind].items():
            if name not in ours[kind]:
                lacking.append(name)
                continue
            lacking += [f"{name}.{m}" for m in members if m not in ours[kind][name]]
    return sorted(lacking)


def test_nothing_upstream_is_missing_unless_listed(shapes):
    ours, theirs = shapes
    lacking = _lacking(ours, theirs)
    unexplained = [item for item in lacking if item not in NOT_MODELLED]
    assert not unexplained, (
        "the official protos have items ours lack; add them to protos/ or to NOT_MODELLED "
        "with a reason:\n" + "\n".join(unexplained)
    )
    stale = sorted(set(NOT_MODELLED) - set(lacking))
    assert not stale, f"NOT_MODELLED lists items we now have (remove them): {stale}"


def test_a_new_upstream_field_would_fail(shapes):
    ours, theirs = shapes
    grown = {k: {n: dict(v) for n, v in theirs[k].items()} for k in theirs}
    grown["messages"]["xai_api.GetCompletionsRequest"]["brand_new_knob"] = {"number": 999}
    grown["services"]["xai_api.Chat"]["BrandNewRpc"] = ["a", "b", False, False]
    lacking = _lacking(ours, grown)
    assert "xai_api.GetCompletionsRequest.brand_new_knob" in lacking
    assert "xai_api.Chat.BrandNewRpc" in lacking


@pytest.mark.parametrize("first", ["xai_sdk", "xai_pipelines.sdk"])
def test_both_sdks_import_into_one_fresh_process_in_either_order(first):
    second = "xai_pipelines.sdk" if first == "xai_sdk" else "xai_sdk"
    code = (
        f"import {first}, {second}\n"
        "from xai_sdk.proto.v6 import chat_pb2 as theirs\n"
        "from xai_pipelines.proto import chat_pb2 as ours\n"
        "wire = ours.GetCompletionsRequest(model='m', n=1).SerializeToString()\n"
        "assert theirs.GetCompletionsRequest.FromString(wire).n == 1\n"
        "print('ok')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_our_messages_are_not_in_the_default_pool():
    from google.protobuf import descriptor_pool

    importlib.import_module("xai_pipelines.proto.chat_pb2")
    importlib.import_module("xai_sdk.proto.v6.chat_pb2")
    default = descriptor_pool.Default().FindMessageTypeByName("xai_api.GetCompletionsRequest")
    assert default.file.name.startswith("xai/api/"), "the default pool holds the official SDK's"


def test_checked_in_stubs_are_current():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
