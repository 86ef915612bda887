"""Spans through the real OpenTelemetry SDK and an in-memory exporter."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from xai_pipelines.emulator import EmulatorConfig, FaultConfig
from xai_pipelines.sdk import Client, configure_telemetry, user
from xai_pipelines.sdk.errors import InvalidRequestError, UnavailableError
from xai_pipelines.sdk.telemetry import CONTENT_ENV

from .conftest import fast_policy


def span_dump(span) -> str:
    return json.dumps({"name": span.name, "attributes": dict(span.attributes or {}),
                       "events": [dict(e.attributes or {}) for e in span.events],
                       "status": span.status.description or ""}, default=str)  # fmt: skip


def test_chat_sample_span_has_genai_attributes(emulator, make_client, spans):
    provider, exporter = spans
    client = make_client(emulator, tracer_provider=provider)
    # a non-reasoning model: reasoning models reject stop (docs.x.ai reasoning guide)
    model = "grok-4.20-0309-non-reasoning"
    r = client.chat.create(model, messages=[user("Hello span")], temperature=0.7, max_tokens=16,
                           top_p=0.9, seed=11, stop=["zzz"], n=1).sample()  # fmt: skip
    [span] = exporter.get_finished_spans()
    a = span.attributes
    assert span.name == f"chat.sample {model}" and span.kind == SpanKind.CLIENT
    assert a["gen_ai.system"] == "xai" and a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == model and a["gen_ai.request.temperature"] == pytest.approx(
        0.7
    )
    assert a["gen_ai.request.max_tokens"] == 16 and a["gen_ai.request.seed"] == 11
    assert a["gen_ai.request.top_p"] == pytest.approx(0.9)
    assert tuple(a["gen_ai.request.stop_sequences"]) == ("zzz",)
    assert a["gen_ai.response.model"] == model and a["gen_ai.response.id"] == r.id
    assert a["gen_ai.request.choice.count"] == 1  # single calls send n=1
    assert tuple(a["gen_ai.response.finish_reasons"]) == (r.finish_reason,)
    assert a["gen_ai.usage.input_tokens"] == r.usage.prompt_tokens
    assert a["gen_ai.usage.output_tokens"] == r.usage.completion_tokens
    assert a["gen_ai.usage.reasoning_tokens"] == r.usage.reasoning_tokens
    assert a["xai.attempts"] == 1 and a["server.address"] == "127.0.0.1"
    assert "Hello span" in a["gen_ai.input.messages"]
    assert json.loads(a["gen_ai.output.messages"])[0]["content"] == r.content


def test_stream_defer_image_and_models_spans(emulator, make_client, spans):
    provider, exporter = spans
    client = make_client(emulator, tracer_provider=provider)
    chat = client.chat.create("grok-4.3", messages=[user("hi")], max_tokens=8)
    *_, (streamed, _) = chat.stream()
    chat.defer(interval=0.02)
    client.image.sample("a fox")
    client.models.list_language_models()
    client.tokenize.tokenize_text("hi", "grok-4.3")
    names = [s.name for s in exporter.get_finished_spans()]
    assert names == ["chat.stream grok-4.3", "chat.defer grok-4.3", "image.sample grok-imagine-image",
                     "models.ListLanguageModels", "tokenize.text grok-4.3"]  # fmt: skip
    stream_span = exporter.get_finished_spans()[0]
    assert stream_span.attributes["xai.ttft_s"] == pytest.approx(streamed.ttft_s)
    assert stream_span.attributes["gen_ai.response.id"] == streamed.id
    image_span = exporter.get_finished_spans()[2]
    assert image_span.attributes["gen_ai.operation.name"] == "generate_content"


def test_files_compact_and_conversation_spans(emulator_factory, make_client, spans):
    provider, exporter = spans
    client = make_client(emulator_factory(), tracer_provider=provider)
    info = client.files.upload(b"%PDF-1.4 span", filename="s.pdf")
    client.files.get(info.id)
    client.files.content(info.id)
    client.files.delete(info.id)
    chat = client.chat.create("grok-4.3", messages=[user("a"), user("b")], conversation_id="c-7")
    chat.sample()
    chat.compact()
    finished = exporter.get_finished_spans()
    assert [s.name for s in finished] == [
        "files.UploadFile", "files.RetrieveFile", "files.RetrieveFileContent", "files.DeleteFile",
        "chat.sample grok-4.3", "chat.compact grok-4.3"]  # fmt: skip
    upload, *_, sample, compact = finished
    assert upload.attributes["xai.file.id"] == info.id and upload.attributes["xai.file.size"] == 13
    assert sample.attributes["gen_ai.conversation.id"] == "c-7"
    assert compact.attributes["gen_ai.conversation.id"] == "c-7"
    assert compact.attributes["xai.dropped_message_count"] >= 0


def test_spans_nest_under_the_callers_span(emulator, make_client, spans):
    provider, exporter = spans
    client = make_client(emulator, tracer_provider=provider)
    tracer = provider.get_tracer("executor")
    with tracer.start_as_current_span("job") as job:
        chat = client.chat.create("grok-4.3", messages=[user("hi")], max_tokens=4)
        chat.sample()
        stream = chat.stream()
    list(stream)  # consumed outside the job span: still its child
    by_name = {s.name: s for s in exporter.get_finished_spans()}
    job_id = job.get_span_context().span_id
    assert by_name["chat.sample grok-4.3"].parent.span_id == job_id
    assert by_name["chat.stream grok-4.3"].parent.span_id == job_id


def test_failures_are_recorded_on_the_span_without_the_key(emulator_factory, spans):
    provider, exporter = spans
    key = "very-secret-key-for-span-test"
    emu = emulator_factory(EmulatorConfig(api_keys=(key,)))
    with Client(api_key=key, api_host=emu.address, tracer_provider=provider,
                retry_policy=fast_policy(max_attempts=2)) as client:  # fmt: skip
        with pytest.raises(InvalidRequestError):
            client.chat.create("grok-4.3", messages=[user("hi")], temperature=9).sample()
        emu.set_faults(FaultConfig(unavailable_rate=1.0))
        with pytest.raises(UnavailableError):
            client.chat.create("grok-4.3", messages=[user("hi")]).sample()
        with pytest.raises(UnavailableError):
            list(client.chat.create("grok-4.3", messages=[user("hi")]).stream())
        client.models.list_language_models()
    finished = exporter.get_finished_spans()
    assert [s.status.status_code for s in finished[:3]] == [StatusCode.ERROR] * 3
    assert [s.attributes["error.type"] for s in finished[:3]] == [
        "INVALID_ARGUMENT",
        "UNAVAILABLE",
        "UNAVAILABLE",
    ]
    assert all(any(e.name == "exception" for e in s.events) for s in finished[:3])
    for span in finished:
        assert key not in span_dump(span)


def test_content_attributes_can_be_disabled(emulator, make_client, spans, monkeypatch):
    monkeypatch.setenv(CONTENT_ENV, "0")
    provider, exporter = spans
    client = make_client(emulator, tracer_provider=provider)
    client.chat.create("grok-4.3", messages=[user("private words")]).sample()
    list(client.chat.create("grok-4.3", messages=[user("private words")]).stream())
    for span in exporter.get_finished_spans():
        assert "gen_ai.input.messages" not in span.attributes
        assert "gen_ai.output.messages" not in span.attributes
        assert "private words" not in span_dump(span)


def test_configure_telemetry_choices(monkeypatch):
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    assert configure_telemetry("none") is None
    assert configure_telemetry() is None
    with pytest.raises(ValueError, match="unknown telemetry exporter 'zipkin'"):
        configure_telemetry("zipkin")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert configure_telemetry(None) is None


CONSOLE_SCRIPT = """
import sys
from xai_pipelines.emulator import Emulator
from xai_pipelines.sdk import Client, configure_telemetry, user
provider = configure_telemetry(sys.argv[1])
with Emulator() as emu, Client(api_key="key-not-in-output-123", api_host=emu.address) as c:
    c.chat.create("grok-4.3", messages=[user("hi")], max_tokens=4).sample()
if provider is not None:
    provider.shutdown()
print("done", type(provider).__name__)
"""


@pytest.mark.parametrize("exporter", ["console", "otlp"])
@pytest.mark.slow
def test_global_exporters_in_a_fresh_process(exporter):
    env = {**os.environ, "OTEL_SERVICE_NAME": "svc-test", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
           "OTEL_EXPORTER_OTLP_TIMEOUT": "1", "OTEL_BSP_EXPORT_TIMEOUT": "1000"}  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", CONSOLE_SCRIPT, exporter], capture_output=True,
                          text=True, timeout=60, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "done TracerProvider" in proc.stdout
    assert "key-not-in-output-123" not in proc.stdout + proc.stderr
    if exporter == "console":
        assert '"name": "chat.sample grok-4.3"' in proc.stdout and "svc-test" in proc.stdout
