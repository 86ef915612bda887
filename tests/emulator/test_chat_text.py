"""Deterministic text, max_tokens, stop, n, streaming and logprobs."""

from __future__ import annotations

import grpc
import pytest

from tests.emulator.conftest import rpc_error
from xai_pipelines.emulator.tokenizer import count_tokens
from xai_pipelines.proto import chat_pb2, sample_pb2

#: A current model that takes ``stop`` (reasoning models refuse it).
NR = "grok-4.20-0309-non-reasoning"


def texts(response: chat_pb2.GetChatCompletionResponse) -> list[str]:
    return [o.message.content for o in response.outputs]


def test_same_request_and_seed_gives_same_text(stubs):
    a = stubs.complete(prompt="Describe a cat", seed=11, temperature=0.9)
    b = stubs.complete(prompt="Describe a cat", seed=11, temperature=0.9)
    assert texts(a) == texts(b)
    assert a.id != b.id


def test_seed_prompt_and_model_change_the_text(stubs):
    base = texts(stubs.complete(prompt="Describe a cat", seed=11))
    assert texts(stubs.complete(prompt="Describe a cat", seed=12)) != base
    assert texts(stubs.complete(prompt="Describe a dog", seed=11)) != base
    assert texts(stubs.complete(prompt="Describe a cat", seed=11, model=NR)) != base


def test_temperature_without_seed_varies_but_zero_does_not(stubs):
    hot = {
        stubs.complete(prompt="Say hi", temperature=1.0).outputs[0].message.content
        for _ in range(4)
    }
    assert len(hot) > 1
    cold = {
        stubs.complete(prompt="Say hi", temperature=0.0).outputs[0].message.content
        for _ in range(3)
    }
    assert len(cold) == 1


def test_n_gives_one_output_per_index_with_distinct_text(stubs):
    r = stubs.complete(prompt="Name a colour", seed=3, n=5)
    assert [o.index for o in r.outputs] == list(range(5))
    assert len(set(texts(r))) == 5
    single = stubs.complete(prompt="Name a colour", seed=3)
    assert texts(single)[0] == texts(r)[0]
    assert r.usage.completion_tokens == sum(count_tokens(t) for t in texts(r))


def test_n_128_is_the_maximum(stubs):
    r = stubs.complete(prompt="x", seed=1, n=128, model=NR)
    assert len(r.outputs) == 128
    err = rpc_error(stubs.complete, prompt="x", n=129)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "n must be in [1, 128]" in err.details()


def test_max_tokens_truncates_to_a_prefix_with_max_len(stubs):
    full = stubs.complete(prompt="Explain batching", seed=4, model=NR).outputs[0]
    cut = stubs.complete(prompt="Explain batching", seed=4, model=NR, max_tokens=5).outputs[0]
    assert cut.finish_reason == sample_pb2.REASON_MAX_LEN
    assert count_tokens(cut.message.content) == 5
    assert full.message.content.startswith(cut.message.content)
    assert full.finish_reason == sample_pb2.REASON_STOP


def test_stop_string_cuts_before_it(stubs):
    full = stubs.complete(prompt="Explain batching", seed=4, model=NR).outputs[0].message.content
    r = stubs.complete(prompt="Explain batching", seed=4, model=NR, stop=["."]).outputs[0]
    assert r.finish_reason == sample_pb2.REASON_STOP
    assert r.message.content == full[: full.index(".")]
    assert "." not in r.message.content


def test_earliest_of_several_stop_strings_wins(stubs):
    full = stubs.complete(prompt="Explain batching", seed=4, model=NR).outputs[0].message.content
    words = full.split()
    stops = [words[3], words[1]]
    r = stubs.complete(prompt="Explain batching", seed=4, model=NR, stop=stops).outputs[0]
    assert r.message.content == full[: min(full.find(s) for s in stops)]


@pytest.mark.parametrize("n", [1, 3])
def test_stream_matches_unary_for_every_index(stubs, n):
    fields = {"prompt": "Stream this", "seed": 9, "n": n, "model": "grok-3-mini"}
    unary = stubs.complete(**fields)
    chunks = stubs.stream(**fields)
    assert all(o.delta.role == chat_pb2.ROLE_ASSISTANT for o in chunks[0].outputs)
    for out in unary.outputs:
        deltas = [o.delta for c in chunks for o in c.outputs if o.index == out.index]
        content = [d.content for d in deltas if d.content]
        assert len(content) >= 2
        assert "".join(content) == out.message.content
        assert "".join(d.reasoning_content for d in deltas) == out.message.reasoning_content
        finals = [
            o.finish_reason
            for c in chunks
            for o in c.outputs
            if o.index == out.index and o.finish_reason
        ]
        assert finals == [out.finish_reason]
    assert chunks[-1].usage == unary.usage
    assert [c.id for c in chunks] == [chunks[0].id] * len(chunks)


def test_logprobs_cover_every_token(stubs):
    r = stubs.complete(prompt="Hi", seed=2, logprobs=True, top_logprobs=3, model=NR)
    out = r.outputs[0]
    lps = out.logprobs.content
    assert "".join(lp.token for lp in lps) == out.message.content
    assert all(lp.logprob <= 0 and len(lp.top_logprobs) == 3 for lp in lps)
    chunks = stubs.stream(prompt="Hi", seed=2, logprobs=True, top_logprobs=3, model=NR)
    streamed = [lp for c in chunks for o in c.outputs for lp in o.logprobs.content]
    assert streamed == list(lps)
