"""One list of secret-looking names serves the spec's and the manifest's redaction."""

from __future__ import annotations

import pytest

from xai_pipelines.spec.secrets import is_secret_name
from xai_pipelines.store import redact_args

SECRETS = "api_key XAI_API_KEY apikey Authorization access_token client_secret password openai_key"


@pytest.mark.parametrize("name", [*SECRETS.split(" "), "execution.api_key"])
def test_secret_names(name):
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["max_tokens", "execution.max_tokens", "model", "temperature", "seed", "topic"]
)
def test_names_that_are_not_secrets(name):
    assert not is_secret_name(name)


def test_the_manifest_and_the_resolved_spec_redact_the_same_names(tmp_path):
    from xai_pipelines.spec import load_pipeline

    path = tmp_path / "p.yaml"
    path.write_text(
        "version: 1\nname: s\n"
        "vars: {openai_key: sk-1, access_token: t-1, topic: cats, max_tokens_note: few}\n"
        "chats:\n  - {model: grok-4.3, messages: [{user: '{{ topic }}'}]}\n"
    )
    resolved_vars = load_pipeline(path).resolved["vars"]
    args = redact_args({"set": [f"vars.{k}={v}" for k, v in resolved_vars.items()]})
    for name, value in resolved_vars.items():
        hidden = is_secret_name(name)
        assert (value == "***") == hidden, name
        assert (f"vars.{name}=<redacted>" in args["set"]) == hidden, name
