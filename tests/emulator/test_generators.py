"""Property tests of the pure generators: tokenizer, schema-valid JSON, PNG encoder, chunking."""

from __future__ import annotations

import io
import random
import re
import uuid

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from xai_pipelines.emulator import textgen
from xai_pipelines.emulator.chat_stream import iter_chunks
from xai_pipelines.emulator.ids import new_hex_id, new_uuid
from xai_pipelines.emulator.imagegen import render
from xai_pipelines.emulator.jsongen import generate
from xai_pipelines.emulator.patterngen import string_matching
from xai_pipelines.emulator.tokenizer import count_tokens, split_tokens, truncate_tokens
from xai_pipelines.proto import chat_pb2


@given(st.text(max_size=300))
@settings(max_examples=200, deadline=None)
def test_tokens_concatenate_back_to_the_text(text):
    tokens = split_tokens(text)
    assert "".join(tokens) == text
    assert count_tokens(text) == len(tokens)
    assert all(tokens)


@given(st.text(max_size=200), st.integers(min_value=1, max_value=50))
@settings(max_examples=100, deadline=None)
def test_truncation_is_a_prefix_of_at_most_n_tokens(text, n):
    cut, was_cut = truncate_tokens(text, n)
    assert text.startswith(cut)
    assert count_tokens(cut) <= n
    assert was_cut == (count_tokens(text) > n)


@given(st.integers(min_value=0, max_value=2**64), st.integers(min_value=1, max_value=120))
@settings(max_examples=300, deadline=None)
def test_an_answer_generated_up_to_max_tokens_cuts_to_the_whole_answers_cut(seed, n):
    whole = textgen.answer_text(random.Random(seed))
    short = textgen.answer_text(random.Random(seed), n)
    assert whole.startswith(short)
    assert truncate_tokens(short, n) == truncate_tokens(whole, n)


def test_fresh_ids_are_distinct_version_4_uuids_and_32_hex_digits():
    ids = [new_uuid() for _ in range(2000)]
    assert len(set(ids)) == 2000
    for text in ids[:200]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
    assert re.fullmatch(r"[0-9a-f]{32}", new_hex_id())


PATTERNS = [
    r"^[A-Z]{3}-\d{4}$",
    r"^(red|green|blue)$",
    r"\w+@[a-z]+\.com",
    r"^[^0-9 ]{2,6}$",
    r"^(ab)+\1?$",
    r"^v\d+\.\d+(\.\d+)?$",
]


def bounded_pair(kind):
    return st.tuples(kind, kind).map(sorted)


scalar = st.one_of(
    st.builds(
        lambda b: {"type": "integer", "minimum": b[0], "maximum": b[1]},
        bounded_pair(st.integers(-50, 50)),
    ),
    st.builds(
        lambda b: {"type": "number", "minimum": b[0], "maximum": b[1]},
        bounded_pair(st.floats(-5, 5)),
    ),
    st.builds(
        lambda b: {"type": "string", "minLength": b[0], "maxLength": b[1]},
        bounded_pair(st.integers(0, 20)),
    ),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.lists(st.text(max_size=5), min_size=1, max_size=4, unique=True).map(lambda e: {"enum": e}),
    st.just({"type": "string", "format": "date"}),
    st.just({"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 3}),
    st.just({"type": "integer", "multipleOf": 7, "minimum": 1, "maximum": 50}),
    st.sampled_from(PATTERNS).map(lambda p: {"type": "string", "pattern": p}),
)


def objects(children):
    return st.dictionaries(
        st.from_regex(r"[a-z]{1,6}", fullmatch=True), children, max_size=4
    ).flatmap(
        lambda props: st.builds(
            lambda required: {
                "type": "object",
                "properties": props,
                "required": required,
                "additionalProperties": False,
            },
            st.lists(st.sampled_from(sorted(props)), unique=True) if props else st.just([]),
        )
    )


def arrays(children):
    return st.builds(
        lambda items, b: {"type": "array", "items": items, "minItems": b[0], "maxItems": b[1]},
        children,
        bounded_pair(st.integers(0, 5)),
    )


schemas = st.recursive(
    scalar, lambda children: st.one_of(objects(children), arrays(children)), max_leaves=12
)


@given(schemas, st.integers(0, 2**32))
@settings(max_examples=60, deadline=None)
def test_generated_json_validates(schema, seed):
    value = generate(schema, random.Random(seed))
    jsonschema.validate(value, schema)


def test_generated_json_is_deterministic_per_seed():
    schema = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}
    assert generate(schema, random.Random(1)) == generate(schema, random.Random(1))
    assert any(
        generate(schema, random.Random(1)) != generate(schema, random.Random(s))
        for s in range(2, 6)
    )


@given(st.text(max_size=30), st.integers(0, 9), st.integers(1, 40), st.integers(1, 40))
@settings(max_examples=30, deadline=None)
def test_rendered_png_decodes_to_the_requested_size(prompt, index, width, height):
    img = Image.open(io.BytesIO(render(prompt, index, width, height)))
    img.load()
    assert img.size == (width, height) and img.mode == "RGB"


@given(st.text(max_size=200), st.text(max_size=100))
@settings(max_examples=50, deadline=None)
def test_chunks_reassemble_the_response(content, reasoning):
    response = chat_pb2.GetChatCompletionResponse(id="r")
    response.outputs.add(
        index=0,
        finish_reason=3,
        message=chat_pb2.CompletionMessage(content=content, reasoning_content=reasoning),
    )
    chunks = list(iter_chunks(response))
    deltas = [o.delta for c in chunks for o in c.outputs]
    assert "".join(d.content for d in deltas) == content
    assert "".join(d.reasoning_content for d in deltas) == reasoning
    assert all(d.role == chat_pb2.ROLE_ASSISTANT for d in deltas)
    assert [o.finish_reason for c in chunks for o in c.outputs if o.finish_reason] == [3]


@given(st.sampled_from(PATTERNS), st.integers(0, 2**32))
@settings(max_examples=60, deadline=None)
def test_pattern_strings_match(pattern, seed):
    text = string_matching(pattern, random.Random(seed))
    assert text is not None and re.search(pattern, text)


def test_unsupported_patterns_fall_back_to_none():
    assert string_matching(r"^\d(?=x)", random.Random(0)) is None
    assert string_matching(r"([", random.Random(0)) is None
