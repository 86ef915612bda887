"""JSONL batch input lines: the client's writer (sdk/batch_file.py) against the emulator's
reader (emulator/batch_lines.py), written apart so that the round trip checks two beliefs.

Round trip: every request the writer can express reads back as the same proto; what it
cannot express raises NotExpressibleError naming the field.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from xai_pipelines.emulator.batch_lines import parse_line, read_lines
from xai_pipelines.proto import batch_pb2, chat_pb2, image_pb2
from xai_pipelines.sdk import build_image_request
from xai_pipelines.sdk.batch import batch_request_proto
from xai_pipelines.sdk.batch_file import (
    ASPECT_RATIOS,
    REASONING_EFFORTS,
    ROLES,
    NotExpressibleError,
    jsonl_line,
    request_line,
)
from xai_pipelines.sdk.chat import build_chat_request
from xai_pipelines.sdk.messages import image, system, user

text = st.text(max_size=12)
int32 = st.integers(-(2**31), 2**31 - 1)
float32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
json_objects = st.dictionaries(
    st.text(max_size=5), st.one_of(st.none(), st.booleans(), st.integers(), text), max_size=3
).map(json.dumps)


@st.composite
def parts(draw: st.DrawFn) -> chat_pb2.Content:
    if draw(st.booleans()):
        return chat_pb2.Content(text=draw(text))
    url = draw(st.text(min_size=1, max_size=20))
    detail = draw(st.sampled_from([0, 1, 2, 3]))
    return chat_pb2.Content(image_url=image_pb2.ImageUrlContent(image_url=url, detail=detail))


@st.composite
def messages(draw: st.DrawFn) -> chat_pb2.Message:
    out = chat_pb2.Message(role=draw(st.sampled_from(sorted(ROLES))))
    out.content.extend(draw(st.lists(parts(), max_size=3)))
    if draw(st.booleans()):
        out.name = draw(st.text(min_size=1, max_size=8))
    for _ in range(draw(st.integers(0, 2))):
        call = out.tool_calls.add(id=draw(text), type=chat_pb2.TOOL_CALL_TYPE_CLIENT_SIDE_TOOL)
        call.function.name, call.function.arguments = draw(text), draw(json_objects)
    if draw(st.booleans()):
        out.tool_call_id = draw(text)
    return out


@st.composite
def chat_requests(draw: st.DrawFn) -> chat_pb2.GetCompletionsRequest:
    r = chat_pb2.GetCompletionsRequest(model=draw(text), user=draw(text))
    r.messages.extend(draw(st.lists(messages(), min_size=1, max_size=3)))
    for name, values in (("n", int32), ("max_tokens", int32), ("seed", int32),
                         ("top_logprobs", int32), ("temperature", float32), ("top_p", float32),
                         ("frequency_penalty", float32), ("presence_penalty", float32),
                         ("parallel_tool_calls", st.booleans()), ("logprobs", st.booleans()),
                         ("reasoning_effort", st.sampled_from(sorted(REASONING_EFFORTS)))):  # fmt: skip
        if draw(st.booleans()):
            setattr(r, name, draw(values))
    r.stop.extend(draw(st.lists(text, max_size=3)))
    for _ in range(draw(st.integers(0, 2))):
        fn = r.tools.add().function
        fn.name, fn.description, fn.strict = draw(text), draw(text), draw(st.booleans())
        if draw(st.booleans()):
            fn.parameters = draw(json_objects)
    choice = draw(st.sampled_from(["none", "mode", "function"]))
    if choice == "mode":
        r.tool_choice.mode = draw(st.sampled_from([1, 2, 3]))
    elif choice == "function":
        r.tool_choice.function_name = draw(text)
    fmt = draw(st.sampled_from([0, 1, 2, 3]))
    if fmt:
        r.response_format.format_type = fmt
        if fmt == chat_pb2.FORMAT_TYPE_JSON_SCHEMA:
            r.response_format.schema = draw(json_objects)
    return r


@st.composite
def image_requests(draw: st.DrawFn) -> image_pb2.GenerateImageRequest:
    r = image_pb2.GenerateImageRequest(prompt=draw(text), model=draw(text), user=draw(text))
    r.format = draw(st.sampled_from([0, 1, 2]))
    if draw(st.booleans()):
        r.n = draw(int32)
    if draw(st.booleans()):
        r.quality = draw(st.sampled_from([1, 2, 3]))
    if draw(st.booleans()):
        r.aspect_ratio = draw(st.sampled_from(sorted(ASPECT_RATIOS)))
    if draw(st.booleans()):
        r.resolution = draw(st.sampled_from([1, 2]))
    return r


batch_requests = st.builds(
    lambda rid, req: batch_request_proto((rid, req)),
    st.text(min_size=1, max_size=16),
    st.one_of(chat_requests(), image_requests()),
)


def _edge(**fields: Any) -> batch_pb2.BatchRequest:
    request = chat_pb2.GetCompletionsRequest(**fields)
    request.messages.add(role=chat_pb2.ROLE_USER)
    return batch_request_proto(("0", request))


@settings(max_examples=150, deadline=None)
@given(batch_requests)
@example(batch_request_proto(("0", image_pb2.GenerateImageRequest())))  # an empty body
@example(_edge(presence_penalty=3.4025e38))  # near the largest float32
@example(_edge(temperature=1e-45, top_p=-0.0))  # the smallest subnormal, a negative zero
def test_every_expressible_request_reads_back_as_the_same_proto(
    request: batch_pb2.BatchRequest,
) -> None:
    line = jsonl_line(request)
    assert line.endswith("\n") and "\n" not in line[:-1]  # one line, whatever the text holds
    request_id, endpoint, model, back = parse_line(line)
    assert back == request, (line, back)
    assert request_id == request.batch_request_id
    kind = request.WhichOneof("request")
    assert endpoint == ("/v1/chat/completions" if kind == "completion_request" else
                        "/v1/images/generations")  # fmt: skip
    assert model == getattr(request, kind).model


def test_a_line_is_the_openai_batch_shape_with_the_rest_body() -> None:
    chat = build_chat_request(
        "grok-4.3",
        [system("Be brief."), user("What is this?", image("https://example.com/a.png"))],
        temperature=0.7,
        max_tokens=30,
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        tool_choice="required",
        reasoning_effort="high",
    )
    line = json.loads(jsonl_line(batch_request_proto(("job-1", chat))))
    assert line == {
        "custom_id": "job-1",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "grok-4.3",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://example.com/a.png", "detail": "auto"},
                        },
                    ],
                },
            ],
            "temperature": 0.7,  # the float32 0.699999988 written as the shortest decimal
            "max_tokens": 30,
            "tools": [
                {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
            ],
            "tool_choice": "required",
            "reasoning_effort": "high",
        },
    }
    img = build_image_request("a fox", "grok-imagine-image", n=2, aspect_ratio="16:9")
    line = json.loads(jsonl_line(batch_request_proto(("img-1", img))))
    assert line["url"] == "/v1/images/generations"
    assert line["body"] == {"prompt": "a fox", "model": "grok-imagine-image", "n": 2,
                            "response_format": "b64_json", "aspect_ratio": "16:9"}  # fmt: skip


def _chat(**fields: Any) -> batch_pb2.BatchRequest:
    request = chat_pb2.GetCompletionsRequest(model="grok-4.3", **fields)
    request.messages.add(role=chat_pb2.ROLE_USER).content.add(text="hi")
    return batch_request_proto(("j", request))


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (_chat(tools=[chat_pb2.Tool(web_search=chat_pb2.WebSearch())]), "tools[0].web_search"),
        (_chat(previous_response_id="r1"), "previous_response_id"),
        (_chat(store_messages=True), "store_messages"),
        (_chat(search_parameters=chat_pb2.SearchParameters()), "search_parameters"),
        (_chat(response_format=chat_pb2.ResponseFormat(format_type=3)), "response_format.schema"),
        (
            _chat(tools=[chat_pb2.Tool(function=chat_pb2.Function(name="f", parameters="{no"))]),
            "tools[0].function.parameters",
        ),
        (
            batch_request_proto(
                (
                    "j",
                    chat_pb2.GetCompletionsRequest(
                        messages=[
                            chat_pb2.Message(
                                role=chat_pb2.ROLE_USER,
                                content=[
                                    chat_pb2.Content(file=chat_pb2.FileContent(file_id="file_1"))
                                ],
                            )
                        ]
                    ),
                )
            ),
            "messages[0].content[0].file",
        ),
        (
            batch_request_proto(
                (
                    "j",
                    chat_pb2.GetCompletionsRequest(
                        messages=[
                            chat_pb2.Message(role=chat_pb2.ROLE_ASSISTANT, reasoning_content="hmm")
                        ]
                    ),
                )
            ),
            "messages[0].reasoning_content",
        ),
        (
            batch_request_proto(
                (
                    "j",
                    image_pb2.GenerateImageRequest(
                        prompt="p", image=image_pb2.ImageUrlContent(image_url="https://x/a.png")
                    ),
                )
            ),
            "image",
        ),
        (batch_request_proto(image_pb2.GenerateImageRequest(prompt="p")), "batch_request_id"),
    ],
)
def test_what_the_rest_body_cannot_carry_is_refused_by_name(
    request_: batch_pb2.BatchRequest, field: str
) -> None:
    with pytest.raises(NotExpressibleError) as info:
        request_line(request_)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


def test_the_reader_reports_each_bad_line_and_reads_the_others() -> None:
    good = jsonl_line(_chat())
    data = "\n".join([
        good.strip(),
        "{not json",
        json.dumps({"custom_id": "k", "method": "POST", "url": "/v1/embeddings", "body": {}}),
        json.dumps({"custom_id": "m", "url": "/v1/chat/completions",
                    "body": {"model": "grok-4.3", "messages": [], "temperature": "hot"}}),
        json.dumps({"custom_id": "t", "url": "/v1/chat/completions",
                    "body": {"model": "grok-4.3", "tools": [{"type": "web_search"}]}}),
        json.dumps({"custom_id": "u", "url": "/v1/chat/completions",
                    "body": {"model": "grok-4.3", "store": True}}),
        "",
        json.dumps({"method": "POST", "url": "/v1/chat/completions", "body": {}}),
    ]).encode()  # fmt: skip
    lines = list(read_lines(data))
    assert [(p.request_id, p.request is not None) for p in lines] == [
        ("j", True), ("line-2", False), ("k", False), ("m", False), ("t", False), ("u", False),
        ("line-8", False),
    ]  # fmt: skip
    errors = [p.error for p in lines[1:]]
    assert errors[0] is not None and errors[0].startswith("line 2: not JSON")
    assert errors[1] == "line 3: url must be /v1/chat/completions or /v1/images/generations, " \
        "got '/v1/embeddings'"  # fmt: skip
    assert errors[2] == "line 4: body.temperature must be an integer or a number, got str"
    assert errors[3] is not None and "body.tools[0].type must be function" in errors[3]
    assert errors[4] is not None and errors[4].startswith("line 6: body.store is not a key")
    assert errors[5] == "line 8: custom_id must be a non-empty string"
