"""cli/connect.py: the one place the commands open the API (a host, or the --local emulator)."""

from __future__ import annotations

from pathlib import Path

import pytest

from xai_pipelines.cli.connect import Api, connect, open_api
from xai_pipelines.emulator import EmulatorConfig
from xai_pipelines.sdk.client import DEFAULT_HOST
from xai_pipelines.sdk.errors import MissingApiKeyError, XaiError

PACKAGE = Path(__file__).resolve().parents[2] / "xai_pipelines"


def test_local_starts_an_emulator_that_answers_and_stops_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XAI_API_KEY", "xai-test")
    rules = tmp_path / "r.yaml"
    rules.write_text('- match: "hi"\n  content: "hello"\n', encoding="utf-8")
    config = EmulatorConfig(responses_file=rules)
    with connect(local=True, emulator_config=config, max_retries=0) as (api, client):
        assert api.local and api.api_key and api.responses == rules
        assert api.where == "the local emulator"
        assert client.models.list_language_models()
    with (
        connect(endpoint=api.address, max_retries=0, timeout=2) as (_, after),
        pytest.raises(XaiError),  # the emulator is gone
    ):
        after.models.list_language_models()


def test_a_host_takes_the_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XAI_API_KEY", "xai-secret-key")
    with open_api() as api:
        assert api == Api(DEFAULT_HOST, "xai-secret-key")
        assert "xai-secret-key" not in repr(api) and api.where == DEFAULT_HOST
    with open_api(endpoint="localhost:1") as api:
        assert api.address == "localhost:1" and not api.local


def test_no_key_for_a_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XAI_API_KEY", raising=False)
    with pytest.raises(MissingApiKeyError), connect(endpoint="localhost:1"):
        pass


def test_only_connect_and_serve_start_the_emulator() -> None:
    starters = sorted(
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if "Emulator(" in p.read_text(encoding="utf-8") and "emulator" not in p.parts
    )
    assert starters == ["cli/connect.py", "cli/serve.py"]
