"""BatchMgmt from a JSONL batch input file (``CreateBatchRequest.input_file_id``), over real
gRPC with the SDK client: the file is read from the caller's stored files, its lines run as
added requests would, unreadable lines are failed requests naming the line."""

from __future__ import annotations

import json
import time

import pytest

from xai_pipelines.emulator import Emulator
from xai_pipelines.sdk import Client, build_image_request
from xai_pipelines.sdk.batch import BatchInfo, batch_request_proto
from xai_pipelines.sdk.batch_file import jsonl_line
from xai_pipelines.sdk.chat import build_chat_request
from xai_pipelines.sdk.errors import InvalidRequestError, NotFoundError, XaiError
from xai_pipelines.sdk.messages import user


def _wait(client: Client, batch_id: str) -> BatchInfo:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        info = client.batch.get(batch_id)
        if info.done:
            return info
        time.sleep(0.02)
    pytest.fail("batch did not finish")


def _line(request_id: str, prompt: str) -> str:
    request = build_chat_request("grok-4.3", [user(prompt)], max_tokens=16, seed=1)
    return jsonl_line(batch_request_proto((request_id, request)))


def test_a_file_batch_runs_its_lines_like_added_requests(emulator: Emulator) -> None:
    image = build_image_request("a fox", "grok-imagine-image", n=2, image_format="base64")
    good = [_line("a", "Name a colour."), jsonl_line(batch_request_proto(("img", image)))]
    bad = [
        "{oops\n",
        json.dumps({"custom_id": "b", "url": "/v1/chat/completions",
                    "body": {"model": "grok-4.3", "messages": [{"role": "robot"}]}}) + "\n",
        json.dumps({"custom_id": "c", "url": "/v1/chat/completions",
                    "body": {"model": "no-such-model", "messages": [{"role": "user",
                                                                     "content": "hi"}]}}) + "\n",
    ]  # fmt: skip
    with Client(api_key=emulator.api_key, api_host=emulator.address) as client:
        file = client.files.upload("".join(good + bad).encode(), filename="in.jsonl")
        created = client.batch.create("from-file", input_file_id=file.id)
        assert created.input_file_id == file.id and created.num_requests == 5
        info = _wait(client, created.batch_id)
        assert (info.num_success, info.num_error) == (2, 3)
        results = {r.batch_request_id: r for r in client.batch.iter_results(created.batch_id)}
        # the same request added with AddBatchRequests gives the same answer
        same = client.batch.create("added")
        request = build_chat_request("grok-4.3", [user("Name a colour.")], max_tokens=16, seed=1)
        client.batch.add_requests(same.batch_id, [("a", request)])
        _wait(client, same.batch_id)
        added = next(client.batch.iter_results(same.batch_id))
        with pytest.raises(XaiError) as sealed:  # a file batch takes no added requests
            client.batch.add_requests(created.batch_id, [("z", request)])
        assert sealed.value.code == "FAILED_PRECONDITION"
    assert set(results) == {"a", "img", "line-3", "b", "c"}
    assert results["a"].response is not None and added.response is not None
    assert results["a"].response.content == added.response.content
    assert len(results["img"].images) == 2
    errors = {k: r.error for k, r in results.items() if r.error is not None}
    assert {e.code for e in errors.values()} == {"INVALID_ARGUMENT", "NOT_FOUND"}
    assert str(errors["line-3"].message).endswith("line 3: not JSON (Expecting property name "
                                                  "enclosed in double quotes)")  # fmt: skip
    assert "line 4: body.messages[0].role must be one of user" in errors["b"].message
    assert errors["c"].code == "NOT_FOUND"  # read, then refused by the chat engine as online


def test_a_file_that_cannot_make_a_batch_is_refused(emulator: Emulator) -> None:
    with Client(api_key=emulator.api_key, api_host=emulator.address) as client:
        with pytest.raises(NotFoundError):
            client.batch.create("x", input_file_id="file_does-not-exist")
        twice = client.files.upload((_line("a", "x") * 2).encode(), filename="twice.jsonl")
        with pytest.raises(InvalidRequestError, match="custom_id 'a' is repeated"):
            client.batch.create("x", input_file_id=twice.id)
        empty = client.files.upload(b"\n\n", filename="empty.jsonl")
        with pytest.raises(InvalidRequestError, match="holds no request lines"):
            client.batch.create("x", input_file_id=empty.id)
