"""The pure request builders: JSON request form and helpers -> protos (no network)."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import pytest

from xai_pipelines.proto import chat_pb2, image_pb2, usage_pb2
from xai_pipelines.sdk import (
    assistant,
    build_image_request,
    file,
    image,
    system,
    tool,
    tool_result,
    user,
)
from xai_pipelines.sdk._chat_request import CHAT_PARAMETERS, build_chat_request
from xai_pipelines.sdk.errors import InvalidRequestError, RequestValidationError
from xai_pipelines.sdk.messages import to_messages

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)

FULL_REQUEST = {
    "model": "grok-4.3",
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image?"},
                {"type": "image_url", "image_url": "https://example.com/a.png", "detail": "high"},
                {"type": "file", "file_id": "file-123"},
            ],
        },
        {
            "role": "assistant",
            "content": "...",
            "tool_calls": [
                {
                    "id": "call_1",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "content": '{"temp": 20}', "tool_call_id": "call_1"},
    ],
    "temperature": 0.5,
    "top_p": 1.0,
    "max_tokens": 64,
    "seed": 7,
    "stop": ["\n"],
    "n": 1,
    "logprobs": True,
    "top_logprobs": 2,
    "frequency_penalty": 0.25,
    "presence_penalty": 0.5,
    "reasoning_effort": "low",
    "response_format": {"type": "json_schema", "schema": {"type": "object"}, "name": "answer"},
    "tools": [
        {
            "type": "function",
            "name": "get_weather",
            "description": "d",
            "parameters": {"type": "object"},
        },
        {"type": "web_search", "excluded_domains": ["a.com"]},
        {"type": "x_search", "from_date": "2026-01-01", "allowed_x_handles": ["xai"]},
        {"type": "code_execution"},
    ],
    "tool_choice": {"function": "get_weather"},
    "parallel_tool_calls": True,
    "search_parameters": {
        "mode": "on",
        "return_citations": True,
        "max_search_results": 5,
        "from_date": "2026-01-01",
        "to_date": "2026-02-01",
        "sources": [
            {"type": "web", "country": "US", "excluded_websites": ["b.com"]},
            {"type": "news"},
            {"type": "x", "included_x_handles": ["grok"]},
            {"type": "rss", "links": ["https://example.com/feed"]},
        ],
    },
    "store_messages": True,
    "previous_response_id": "resp-1",
    "use_encrypted_content": True,
    "max_turns": 4,
    "user": "u-1",
    "include": ["inline_citations"],
    "service_tier": "priority",
    "agent_count": 4,
    "safety_identifier": "s-1",
    "guidelines": [{"category": "nsfw", "behavior": "decline"}],
}


def test_the_json_request_form_sets_every_field():
    req = build_chat_request(**FULL_REQUEST)
    assert req.model == "grok-4.3"
    assert [m.role for m in req.messages] == [
        chat_pb2.ROLE_SYSTEM, chat_pb2.ROLE_USER, chat_pb2.ROLE_USER, chat_pb2.ROLE_ASSISTANT, chat_pb2.ROLE_TOOL,
    ]  # fmt: skip
    parts = req.messages[2].content
    assert parts[0].text == "What is in this image?"
    assert parts[1].image_url.image_url == "https://example.com/a.png"
    assert parts[1].image_url.detail == image_pb2.DETAIL_HIGH
    assert parts[2].file.file_id == "file-123"
    call = req.messages[3].tool_calls[0]
    assert (call.id, call.function.name, call.function.arguments) == (
        "call_1",
        "get_weather",
        '{"city":"Paris"}',
    )
    assert req.messages[4].tool_call_id == "call_1"
    assert req.temperature == pytest.approx(0.5) and req.max_tokens == 64 and req.seed == 7
    assert list(req.stop) == ["\n"] and req.n == 1 and req.logprobs and req.top_logprobs == 2
    assert req.frequency_penalty == pytest.approx(0.25) and req.presence_penalty == pytest.approx(
        0.5
    )
    assert req.reasoning_effort == chat_pb2.EFFORT_LOW
    assert req.response_format.format_type == chat_pb2.FORMAT_TYPE_JSON_SCHEMA
    assert json.loads(req.response_format.schema) == {"type": "object"}
    assert [t.WhichOneof("tool") for t in req.tools] == [
        "function",
        "web_search",
        "x_search",
        "code_execution",
    ]
    assert json.loads(req.tools[0].function.parameters) == {"type": "object"}
    assert req.tools[2].x_search.from_date.ToDatetime().year == 2026
    assert req.tool_choice.function_name == "get_weather"
    assert req.parallel_tool_calls
    sp = req.search_parameters
    assert sp.mode == chat_pb2.ON_SEARCH_MODE and sp.return_citations and sp.max_search_results == 5
    assert [s.WhichOneof("source") for s in sp.sources] == ["web", "news", "x", "rss"]
    assert sp.sources[0].web.country == "US" and sp.to_date.ToDatetime().month == 2
    assert req.store_messages and req.previous_response_id == "resp-1" and req.use_encrypted_content
    assert req.max_turns == 4 and req.user == "u-1" and req.safety_identifier == "s-1"
    assert list(req.include) == [chat_pb2.INCLUDE_OPTION_INLINE_CITATIONS]
    assert (
        req.service_tier == usage_pb2.SERVICE_TIER_PRIORITY
        and req.agent_count == chat_pb2.AGENT_COUNT_4
    )
    assert req.guidelines[0].policy.category == chat_pb2.GUIDELINE_CATEGORY_NSFW


def test_every_parameter_of_the_contract_is_accepted():
    contract_fields = {f.name for f in chat_pb2.GetCompletionsRequest.DESCRIPTOR.fields}
    assert contract_fields - {"messages", "model"} == set(CHAT_PARAMETERS)
    assert set(FULL_REQUEST) - {"model", "messages"} == set(CHAT_PARAMETERS)


def test_helpers_and_dicts_build_the_same_messages():
    helpers = [
        system("S"),
        user("Q", image("https://x/y.png", "low"), file("f-1")),
        tool_result({"a": 1}, "c1"),
    ]
    dicts = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": ["Q", {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}}, {"type": "file", "file_id": "f-1"}]},
        {"role": "tool", "content": '{"a": 1}', "tool_call_id": "c1"},
    ]  # fmt: skip
    assert build_chat_request("m", helpers) == build_chat_request("m", dicts)


@pytest.mark.parametrize("role", ["system", "developer", "user", "assistant", "tool", "function"])
@pytest.mark.parametrize("text", ["", "Hi", "multi\nline ✓", "{{ not rendered }}"])
def test_a_plain_text_message_builds_what_the_general_form_builds(role, text):
    # {"role", "content": str} takes a shortcut; these forms take the general path
    plain = to_messages({"role": role, "content": text})
    for general in (
        {"role": role, "content": [text]},
        {"role": role, "content": [{"type": "text", "text": text}]},
        {"role": role, "content": text, "name": None, "tool_calls": None},
        {"role": role, "content": text, "encrypted_content": None, "reasoning_content": None},
    ):
        [expected] = to_messages(general)
        assert plain == [expected]
        assert plain[0].SerializeToString(deterministic=True) == expected.SerializeToString(
            deterministic=True
        )
    for key in ("name", "encrypted_content"):  # a field that is set goes the general way
        [named] = to_messages({"role": role, "content": text, key: "x"})
        assert getattr(named, key) == "x" and named != plain[0]
    with pytest.raises(RequestValidationError, match="message role"):
        to_messages({"role": "robot", "content": text})
    with pytest.raises(RequestValidationError, match="unknown message field"):
        to_messages({"role": role, "content": text, "colour": "red"})


def test_messages_may_be_tuples_and_the_request_a_read_only_mapping():
    from types import MappingProxyType

    request = MappingProxyType(
        {"model": "m", "messages": ({"role": "user", "content": "hi"},), "stop": ("x",)}
    )
    req = build_chat_request(**request)
    assert req.messages[0].content[0].text == "hi" and list(req.stop) == ["x"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text", (chat_pb2.FORMAT_TYPE_TEXT, None)),
        ("json_object", (chat_pb2.FORMAT_TYPE_JSON_OBJECT, None)),
        ({"type": "json_object"}, (chat_pb2.FORMAT_TYPE_JSON_OBJECT, None)),
        (
            {"type": "json_schema", "schema": {"type": "integer"}},
            (chat_pb2.FORMAT_TYPE_JSON_SCHEMA, {"type": "integer"}),
        ),
    ],
)
def test_response_formats(value, expected):
    fmt = build_chat_request("m", [], response_format=value).response_format
    schema = json.loads(fmt.schema) if fmt.HasField("schema") else None
    assert (fmt.format_type, schema) == expected


@pytest.mark.parametrize(("value", "mode"), [("auto", 1), ("none", 2), ("required", 3)])
def test_tool_choice_modes(value, mode):
    assert build_chat_request("m", [], tool_choice=value).tool_choice.mode == mode


def test_openai_style_function_tools_and_the_tool_helper_agree():
    params = {"type": "object", "properties": {"city": {"type": "string"}}}
    nested = {
        "type": "function",
        "function": {"name": "w", "description": "d", "parameters": params},
    }
    flat = {"type": "function", "name": "w", "description": "d", "parameters": params}
    built = [
        build_chat_request("m", [], tools=[t]).tools[0]
        for t in (nested, flat, tool("w", "d", params))
    ]
    assert built[0] == built[1] == built[2]


def test_assistant_helper_and_response_form_of_tool_calls():
    from xai_pipelines.sdk import ToolCall

    msg = assistant("ok", tool_calls=[ToolCall("c1", "f", '{"x": 1}')])
    assert msg.role == chat_pb2.ROLE_ASSISTANT and msg.tool_calls[0].function.name == "f"


def test_image_part_from_path_and_bytes_becomes_a_data_url(tmp_path: Path):
    path = tmp_path / "dot.png"
    path.write_bytes(PNG)
    for source in (path, PNG):
        url = image(source).image_url.image_url
        assert url.startswith("data:image/png;base64,")
        assert base64.b64decode(url.split(",", 1)[1]) == PNG


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"temperature": "hot"}, "temperature must be int or float"),
        ({"max_tokens": 1.5}, "max_tokens must be int"),
        ({"seed": True}, "seed must be int"),
        (
            {"reasoning_effort": "extreme"},
            "reasoning_effort must be one of low, medium, high, none, xhigh",
        ),
        ({"tool_choice": "sometimes"}, "tool_choice must be one of auto, none, required"),
        ({"tool_choice": {"function": ""}}, "tool_choice object"),
        ({"response_format": "yaml"}, "response_format must be one of"),
        ({"response_format": "json_schema"}, "needs a schema"),
        ({"tools": [{"type": "teleport"}]}, "tool type must be one of"),
        ({"tools": [{"type": "function"}]}, "needs a name"),
        ({"tools": [{"type": "web_search", "colour": "red"}]}, 'no field named "colour"'),
        ({"search_parameters": {"mode": "sometimes"}}, "search_parameters.mode"),
        ({"search_parameters": {"from_date": "yesterday"}}, "from_date must be a date"),
        ({"search_parameters": {"sources": [{"type": "tv"}]}}, "search source"),
        ({"include": ["everything"]}, "unknown include option"),
        ({"tempreature": 0.1}, "unknown chat parameter(s): tempreature"),
    ],
)
def test_bad_parameters_are_refused_with_a_clear_message(kwargs, fragment):
    with pytest.raises(RequestValidationError) as info:
        build_chat_request("grok-4.3", [user("hi")], **kwargs)
    assert fragment in str(info.value)
    assert isinstance(info.value, InvalidRequestError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("messages", "fragment"),
    [
        ([{"role": "wizard", "content": "x"}], "message role must be one of"),
        ([{"role": "user", "content": [{"type": "video"}]}], "unknown content part type 'video'"),
        ([{"role": "user", "content": "x", "colour": 1}], "unknown message field(s): colour"),
        ([42], "a message must be a dict, a Message or a Response"),
        ("hello", "messages must be a list"),
    ],
)
def test_bad_messages_are_refused(messages, fragment):
    with pytest.raises(RequestValidationError, match=None) as info:
        build_chat_request("grok-4.3", messages)
    assert fragment in str(info.value)


def test_image_request_form():
    req = build_image_request(
        "a fox", "grok-imagine-image", n=4, image_format="url", aspect_ratio="19.5:9",
        resolution="2k", quality="high", image_url="https://x/y.png", user="u",
    )  # fmt: skip
    assert req.prompt == "a fox" and req.n == 4 and req.format == image_pb2.IMG_FORMAT_URL
    assert req.aspect_ratio == image_pb2.IMG_ASPECT_RATIO_19_5_9
    assert (
        req.resolution == image_pb2.IMG_RESOLUTION_2K and req.quality == image_pb2.IMG_QUALITY_HIGH
    )
    assert req.image.image_url == "https://x/y.png" and req.user == "u"
    assert (
        build_image_request("p", aspect_ratio="auto").aspect_ratio
        == image_pb2.IMG_ASPECT_RATIO_AUTO
    )


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"prompt": " "}, "non-empty prompt"),
        ({"prompt": "p", "n": 11}, "image n must be an integer in [1, 10]"),
        ({"prompt": "p", "aspect_ratio": "5:4"}, "aspect_ratio must be one of"),
        ({"prompt": "p", "image_format": "gif"}, "image_format must be one of base64, url"),
        ({"prompt": "p", "resolution": "8k"}, "resolution must be one of 1k, 2k"),
        ({"prompt": "p", "image_urls": "https://x"}, "image_urls must be a list"),
        ({"prompt": "p", "image_urls": [{"id": "f"}]}, 'needs "file_id" or "url"'),
        ({"prompt": "p", "image_url": {"file_id": "f", "detail": "max"}}, "detail must be"),
        ({"prompt": "p", "storage_options": {"expires_after": 5}}, '{"filename": "..."}'),
        (
            {"prompt": "p", "storage_options": {"filename": "a", "ttl": 5}},
            "unknown storage_options",
        ),
        ({"prompt": "p", "storage_options": {"filename": "a", "expires_after": -1}}, "positive"),
        ({"prompt": "p", "storage_options": {"filename": "a", "public_url": "yes"}}, "public_url"),
    ],
)
def test_bad_image_requests(kwargs, fragment):
    with pytest.raises(RequestValidationError) as info:
        build_image_request(**kwargs)
    assert fragment in str(info.value)


def test_several_reference_images_file_ids_and_storage_options(tmp_path: Path):
    path = tmp_path / "ref.png"
    path.write_bytes(PNG)
    req = build_image_request(
        "blend them", image_url={"file_id": "file-1"},
        image_urls=["https://x/a.png", {"file_id": "file-2", "detail": "high"}, path, PNG,
                    {"url": "data:image/png;base64,AA=="}],
        storage_options={"filename": "out.png", "expires_after": 7200,
                         "public_url": {"expires_after": 3600}},
    )  # fmt: skip
    assert req.image.file_id == "file-1" and req.image.WhichOneof("source") == "file_id"
    sources = [i.WhichOneof("source") for i in req.images]
    assert sources == ["image_url", "file_id", "image_url", "image_url", "image_url"]
    assert req.images[1].file_id == "file-2" and req.images[1].detail == image_pb2.DETAIL_HIGH
    assert req.images[2].image_url.startswith("data:image/png;base64,")
    assert req.images[2].image_url == req.images[3].image_url
    opts = req.storage_options
    assert opts.filename == "out.png" and opts.expires_after == 7200
    assert opts.public_url.expires_after == 3600
    plain = build_image_request("p", storage_options={"filename": "a", "public_url": True})
    assert plain.storage_options.HasField("public_url")
    assert not plain.storage_options.public_url.HasField("expires_after")
    assert not build_image_request("p", storage_options={"filename": "a"}).storage_options.HasField(
        "public_url"
    )


def test_developer_role_file_parts_and_conversation_id(tmp_path: Path):
    from xai_pipelines.sdk import developer

    doc = tmp_path / "doc.pdf"
    doc.write_bytes(b"%PDF-1.4")
    by_helper = build_chat_request("m", [developer("Be exact."), user("Read", file(doc))])
    by_dict = build_chat_request("m", [
        {"role": "developer", "content": "Be exact."},
        {"role": "user", "content": ["Read", {"type": "file", "path": str(doc)}]},
    ], conversation_id="conv-1")  # fmt: skip
    assert by_helper == by_dict  # conversation_id is metadata, not a field
    part = by_helper.messages[1].content[1].file
    assert part.data == b"%PDF-1.4" and part.filename == "doc.pdf" and not part.file_id
    raw = file(b"abc", filename="a.txt", mime_type="text/plain").file
    assert (raw.data, raw.filename, raw.mime_type) == (b"abc", "a.txt", "text/plain")
    assert file("file-9").file.file_id == "file-9"


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: file(""), "needs a file id"),
        (lambda: file("file-1", filename="x"), "go with local data"),
        (lambda: file(b""), "no data"),
        (lambda: file(Path("/no/such/file.pdf")), "cannot read file"),
        (lambda: file(3), "takes a file id, bytes or a path"),  # type: ignore[arg-type]
        (lambda: build_chat_request("m", [], conversation_id=""), "conversation_id must be"),
    ],
)
def test_bad_file_parts_and_conversation_ids(make, fragment):
    with pytest.raises(RequestValidationError) as info:
        make()
    assert fragment in str(info.value)


def test_dataclass_schema_for_parse():
    from xai_pipelines.sdk._structured import json_schema_for, parse_content

    @dataclasses.dataclass
    class City:
        name: str
        population: int
        tags: list[str]
        country: str | None = None

    schema = json_schema_for(City)
    assert schema["required"] == ["name", "population", "tags"]
    assert schema["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}
    city = parse_content('{"name": "Paris", "population": 2, "tags": ["a"]}', City)
    assert city == City("Paris", 2, ["a"])
