"""BatchMgmt: create, add, background processing, counts, cost, pagination, cancel."""

from __future__ import annotations

import time

import grpc
import pytest

from tests.emulator.conftest import chat_request, connect, rpc_error
from xai_pipelines.catalog import load_catalog
from xai_pipelines.emulator import EmulatorConfig
from xai_pipelines.proto import batch_pb2, image_pb2

State = batch_pb2.BatchRequestMetadata
IMAGE_MODEL = "grok-imagine-image"


def image_price() -> int:
    model = load_catalog().image(IMAGE_MODEL)
    assert model is not None
    return model.image_price


def add(stubs, batch_id: str, requests: list[batch_pb2.BatchRequest]) -> None:
    stubs.batch.AddBatchRequests(
        batch_pb2.AddBatchRequestsRequest(batch_id=batch_id, batch_requests=requests),
        metadata=stubs.metadata,
    )


def get(stubs, batch_id: str) -> batch_pb2.Batch:
    return stubs.batch.GetBatch(
        batch_pb2.GetBatchRequest(batch_id=batch_id), metadata=stubs.metadata
    )


def wait_done(stubs, batch_id: str) -> batch_pb2.Batch:
    for _ in range(1000):
        batch = get(stubs, batch_id)
        if batch.state.num_pending == 0:
            return batch
        time.sleep(0.01)
    pytest.fail("batch did not finish")


def chat_item(i: int, **fields) -> batch_pb2.BatchRequest:
    return batch_pb2.BatchRequest(
        batch_request_id=f"chat-{i}", completion_request=chat_request(f"q{i}", seed=i, **fields)
    )


def test_batch_runs_chat_and_image_requests_with_errors_as_results(stubs):
    batch = stubs.batch.CreateBatch(
        batch_pb2.CreateBatchRequest(name="nightly"), metadata=stubs.metadata
    )
    assert (
        batch.batch_id
        and batch.name == "nightly"
        and batch.expire_time.seconds > batch.create_time.seconds
    )
    image = batch_pb2.BatchRequest(
        batch_request_id="img-0",
        image_request=image_pb2.GenerateImageRequest(prompt="fox", model=IMAGE_MODEL, n=2),
    )
    bad = batch_pb2.BatchRequest(
        batch_request_id="bad-0", completion_request=chat_request(model="grok-99")
    )
    add(stubs, batch.batch_id, [chat_item(0), chat_item(1), image, bad])
    done = wait_done(stubs, batch.batch_id)
    assert (done.state.num_requests, done.state.num_success, done.state.num_error) == (4, 3, 1)
    chat_cost = sum(
        stubs.complete(prompt=f"q{i}", seed=i).usage.cost_in_usd_ticks for i in range(2)
    )
    costs = {c.endpoint: c for c in done.cost_breakdown.endpoint_costs}
    assert costs["/v1/chat/completions"].cost_usd_ticks == chat_cost
    image_cost = 2 * image_price()
    assert costs["/v1/images/generations"].cost_usd_ticks == image_cost
    assert done.cost_breakdown.total_cost_usd_ticks == chat_cost + image_cost
    one = stubs.batch.GetBatchRequestResult(
        batch_pb2.GetBatchRequestResultRequest(batch_id=batch.batch_id, batch_request_id="chat-1"),
        metadata=stubs.metadata,
    )
    assert one.request.completion_request.messages[0].content[0].text == "q1"
    unary = stubs.complete(prompt="q1", seed=1)
    assert (
        one.result.response.completion_response.outputs[0].message.content
        == unary.outputs[0].message.content
    )
    failed = stubs.batch.GetBatchRequestResult(
        batch_pb2.GetBatchRequestResultRequest(batch_id=batch.batch_id, batch_request_id="bad-0"),
        metadata=stubs.metadata,
    )
    assert (
        failed.result.error.code == grpc.StatusCode.NOT_FOUND.value[0]
        and "grok-99" in failed.result.error.message
    )


def test_results_and_metadata_paginate(stubs):
    batch = stubs.batch.CreateBatch(
        batch_pb2.CreateBatchRequest(name="pages"), metadata=stubs.metadata
    )
    add(stubs, batch.batch_id, [chat_item(i, model="grok-3") for i in range(5)])
    wait_done(stubs, batch.batch_id)
    ids, token, pages = [], None, 0
    while True:
        req = batch_pb2.ListBatchResultsRequest(batch_id=batch.batch_id, limit=2)
        if token:
            req.pagination_token = token
        page = stubs.batch.ListBatchResults(req, metadata=stubs.metadata)
        ids += [r.batch_request_id for r in page.results]
        pages += 1
        if not page.HasField("pagination_token"):
            break
        token = page.pagination_token
    assert ids == [f"chat-{i}" for i in range(5)] and pages == 3
    meta = stubs.batch.ListBatchRequestMetadata(
        batch_pb2.ListBatchRequestMetadataRequest(
            batch_id=batch.batch_id, status=[State.STATE_SUCCEEDED]
        ),
        metadata=stubs.metadata,
    )
    assert len(meta.batch_request_metadata) == 5
    assert {m.endpoint for m in meta.batch_request_metadata} == {"/v1/chat/completions"}
    assert all(m.model == "grok-3" and m.finish_time.seconds for m in meta.batch_request_metadata)
    err = rpc_error(
        stubs.batch.ListBatchResults,
        batch_pb2.ListBatchResultsRequest(batch_id=batch.batch_id, pagination_token="garbage"),
        metadata=stubs.metadata,
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_cancel_marks_pending_requests_cancelled(emulator_factory):
    emu = emulator_factory(EmulatorConfig(batch_request_delay_s=30.0))
    stubs = connect(emu)
    batch = stubs.batch.CreateBatch(
        batch_pb2.CreateBatchRequest(name="slow"), metadata=stubs.metadata
    )
    add(stubs, batch.batch_id, [chat_item(i) for i in range(3)])
    cancelled = stubs.batch.CancelBatch(
        batch_pb2.CancelBatchRequest(batch_id=batch.batch_id), metadata=stubs.metadata
    )
    assert cancelled.state.num_cancelled == 3 and cancelled.state.num_pending == 0
    assert cancelled.cancel_time.seconds > 0
    err = rpc_error(add, stubs, batch.batch_id, [chat_item(9)])
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    stubs.channel.close()


def test_list_batches_is_per_key_and_paginates(emulator_factory):
    emu = emulator_factory()
    mine, other = connect(emu, key="k-mine"), connect(emu, key="k-other")
    created = [
        mine.batch.CreateBatch(
            batch_pb2.CreateBatchRequest(name=f"b{i}"), metadata=mine.metadata
        ).batch_id
        for i in range(3)
    ]
    other.batch.CreateBatch(batch_pb2.CreateBatchRequest(name="theirs"), metadata=other.metadata)
    first = mine.batch.ListBatches(batch_pb2.ListBatchesRequest(limit=2), metadata=mine.metadata)
    second = mine.batch.ListBatches(
        batch_pb2.ListBatchesRequest(limit=2, pagination_token=first.pagination_token),
        metadata=mine.metadata,
    )
    assert [b.batch_id for b in [*first.batches, *second.batches]] == created
    assert not second.HasField("pagination_token")
    for s in (mine, other):
        s.channel.close()


@pytest.mark.parametrize(
    ("requests", "code", "text"),
    [
        ([], grpc.StatusCode.INVALID_ARGUMENT, "batch_requests must not be empty"),
        (
            [batch_pb2.BatchRequest(batch_request_id="x")],
            grpc.StatusCode.INVALID_ARGUMENT,
            "must set completion_request",
        ),
        (
            [chat_item(1), chat_item(1)],
            grpc.StatusCode.INVALID_ARGUMENT,
            "'chat-1' is already in batch",
        ),
    ],
)
def test_add_validation(stubs, requests, code, text):
    batch = stubs.batch.CreateBatch(batch_pb2.CreateBatchRequest(name="v"), metadata=stubs.metadata)
    err = rpc_error(add, stubs, batch.batch_id, requests)
    assert err.code() == code and text in err.details()


def test_unknown_batch_is_not_found(stubs):
    err = rpc_error(
        stubs.batch.GetBatch,
        batch_pb2.GetBatchRequest(batch_id="batch_nope"),
        metadata=stubs.metadata,
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND and "batch_nope" in err.details()
