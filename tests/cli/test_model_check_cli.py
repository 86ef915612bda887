"""The model check through the CLI: validate, plan and run stop on a bad model or parameter.

Offline checks use the bundled catalog (names chosen to be unknown to any catalog);
live checks run against the emulator on loopback, whose Models service is the
authority. ``run`` must make no generation call at all when the check fails.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from spec.small_catalog import SMALL
from typer.testing import CliRunner

from xai_pipelines.catalog import load_catalog
from xai_pipelines.cli.app import app
from xai_pipelines.cli.spec_cmds import ApiSession, LiveCheckError
from xai_pipelines.emulator import Emulator, EmulatorConfig
from xai_pipelines.plan import LiveModels, ModelAuthority, check_models
from xai_pipelines.sdk import Client
from xai_pipelines.spec import load_pipeline

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
UNKNOWN = "grok-nonexistent-9"
AS_OF = load_catalog().as_of


def _invoke(*args: str, key: str = "") -> Any:
    return runner.invoke(app, list(args), env={"XAI_API_KEY": key})


def _pipeline(tmp_path: Path, chat: str, *, extra: str = "") -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(
        f"version: 1\nname: m\noutput: {{dir: {tmp_path / 'out'}}}\nchats:\n  - {chat}\n{extra}"
    )
    return path


def test_validate_and_plan_exit_2_on_an_unknown_model_with_its_location(tmp_path: Path):
    path = _pipeline(tmp_path, f"{{model: {UNKNOWN}, messages: [{{user: hi}}]}}")
    for command in ("validate", "plan"):
        result = _invoke(command, str(path))
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(
            f"{path}:5:13: chats[0].model: unknown language model '{UNKNOWN}' "
            f"[bundled catalog of {AS_OF}, may be out of date; check live with XAI_API_KEY, "
            "--endpoint or --local]"
        )
        assert "Traceback" not in result.output + result.stderr


def test_a_rejected_parameter_set_by_override_is_located_at_the_override(tmp_path: Path):
    path = _pipeline(tmp_path, "{model: grok-4.3, messages: [{user: hi}]}")
    result = _invoke("validate", str(path), "--set", "chats.0.stop=END")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "--set chats.0.stop:1:1: chats[0].stop: grok-4.3 rejects 'stop' (source: https://"
    )
    assert f"[bundled catalog of {AS_OF}, may be out of date;" in result.stderr


def test_a_retired_name_warns_and_validates(tmp_path: Path):
    path = _pipeline(tmp_path, "{model: grok-4.3, messages: [{user: hi}]}")
    path.write_text(path.read_text() + "images: [{model: grok-2-image, prompt: a fox}]\n")
    result = _invoke("validate", str(path))
    assert result.exit_code == 0, result.output
    assert f"{path}:6:18: images[0].model: warning: model 'grok-2-image' was retired" in (
        result.stderr
    )
    assert "'grok-imagine-image'" in result.stderr
    assert result.stdout.splitlines() == [
        f"ok: {path} (m: 2 jobs)",
        f"model names checked against the bundled catalog (as of {AS_OF})",
    ]


def test_every_example_pipeline_passes_the_offline_check():
    examples = sorted(str(p) for p in (ROOT / "pipelines").glob("*.yaml"))
    result = _invoke("validate", "--offline", *examples)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("ok: ") == len(examples)


def test_live_check_against_an_endpoint(tmp_path: Path, emulator: Emulator):
    path = _pipeline(tmp_path, f"{{model: {UNKNOWN}, messages: [{{user: hi}}]}}")
    result = _invoke("validate", str(path), "--endpoint", emulator.address, key=emulator.api_key)
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"{path}:5:13: chats[0].model: unknown language model '{UNKNOWN}' "
        f"[live Models service at {emulator.address}]"
    )
    good = _pipeline(tmp_path, "{model: grok-4.3, messages: [{user: hi}]}")
    result = _invoke("plan", str(good), "--json", "--endpoint", emulator.address, key="any")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["model_check"]["against"] == "live"
    assert data["model_check"]["where"] == emulator.address
    assert data["cost"]["available"]


def test_local_checks_against_the_embedded_emulator(tmp_path: Path):
    path = _pipeline(tmp_path, "{model: grok-4.3, messages: [{user: hi}]}")
    result = _invoke("validate", str(path), "--local")
    assert result.exit_code == 0, result.stderr
    assert "checked against the live Models service (the local emulator)" in result.stdout


def test_offline_wins_over_a_key_and_an_endpoint(tmp_path: Path):
    path = _pipeline(tmp_path, "{model: grok-4.3, messages: [{user: hi}]}")
    args = ["validate", str(path), "--offline", "--endpoint", "127.0.0.1:1"]
    result = _invoke(*args, key="xai-key")
    assert result.exit_code == 0, result.stderr
    assert "bundled catalog" in result.stdout
    result = _invoke("plan", str(path), "--offline", key="xai-key")
    assert "prices from the bundled catalog" in " ".join(result.stdout.split())


@pytest.mark.parametrize(
    ("args", "key", "says"),
    [
        (["--endpoint", "127.0.0.1:1"], "xai-key", "cannot check the models against 127.0.0.1:1: "),
        (["--endpoint", "127.0.0.1:1"], "", "--endpoint 127.0.0.1:1 needs an API key"),
        (["--local", "--endpoint", "127.0.0.1:1"], "", "mutually exclusive"),
    ],
    ids=["unreachable", "no-key", "local-and-endpoint"],
)
def test_a_failed_live_check_is_a_clear_exit_2(tmp_path: Path, args, key, says):
    path = _pipeline(tmp_path, "{model: grok-4.3, messages: [{user: hi}]}")
    for command in ("validate", "plan"):
        result = _invoke(command, str(path), *args, key=key)
        assert result.exit_code == 2, result.output
        assert says in result.stderr
        assert "Traceback" not in result.output + result.stderr


def test_a_refused_key_is_a_clear_exit_2_and_never_printed(
    tmp_path: Path, emulator_factory: Callable[..., Emulator]
):
    emu = emulator_factory(EmulatorConfig(api_keys=("the-right-key",)))
    secret = "xai-wrong-but-secret-0123456789"
    path = _pipeline(tmp_path, "{model: grok-4.3, messages: [{user: hi}]}")
    result = _invoke("validate", str(path), "--endpoint", emu.address, key=secret)
    assert result.exit_code == 2
    assert "UNAUTHENTICATED" in result.stderr and "--offline" in result.stderr
    assert secret not in result.output + result.stderr


@pytest.mark.parametrize(
    ("chat", "where"),
    [
        (f"{{model: {UNKNOWN}, messages: [{{user: hi}}]}}", "5:13: chats[0].model: unknown"),
        (
            "{model: grok-4.3, stop: [END], messages: [{user: hi}]}",
            "5:29: chats[0].stop: grok-4.3 rejects 'stop'",
        ),
    ],
    ids=["unknown-model", "rejected-parameter"],
)
def test_run_stops_before_any_call(
    tmp_path: Path, emulator_factory: Callable[..., Emulator], chat: str, where: str
):
    emu = emulator_factory()
    path = _pipeline(tmp_path, chat)
    out = tmp_path / "out"
    result = _invoke("run", str(path), "--endpoint", emu.address, key=emu.api_key)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"{path}:{where}")
    assert "Traceback" not in result.output + result.stderr
    # The check lists the live models; nothing else is called, nothing is written.
    assert set(emu.stats.calls) == {"ListLanguageModels", "ListImageGenerationModels"}
    assert not out.exists()


def test_run_local_stops_before_the_output_directory_exists(tmp_path: Path):
    path = _pipeline(tmp_path, f"{{model: {UNKNOWN}, messages: [{{user: hi}}]}}")
    result = _invoke("run", str(path), "--local")
    assert result.exit_code == 2
    assert "[live Models service at the local emulator]" in result.stderr
    assert not (tmp_path / "out").exists()


def test_run_warns_about_a_retired_name_and_runs(tmp_path: Path, emulator: Emulator):
    path = _pipeline(tmp_path, "{model: grok-3, max_tokens: 4, messages: [{user: hi}]}")
    result = _invoke(
        "run", str(path), "--endpoint", emulator.address, "--quiet", key=emulator.api_key
    )
    assert result.exit_code == 0, result.stderr
    assert f"{path}:5:13: chats[0].model: warning: model 'grok-3' was retired" in result.stderr


def test_live_names_decide_and_the_catalog_gives_the_rules(tmp_path: Path, emulator: Emulator):
    """A small catalog and the emulator's real Models answers: the live names are authoritative."""
    with Client(api_key=emulator.api_key, api_host=emulator.address) as client:
        live = LiveModels.from_lists(
            "emu",
            client.models.list_language_models(),
            client.models.list_image_generation_models(),
        )
    uncatalogued = sorted(n for n in live.language if SMALL.language(n) is None)[0]
    assert SMALL.language("grok-text-only") and "grok-text-only" not in live.language
    path = tmp_path / "p.yaml"
    path.write_text(
        "version: 1\nname: m\ndefaults: {stop: [x]}\n"
        f"matrix: {{model: [grok-text-only, {uncatalogued}, grok-4.3]}}\n"
        "chats: [{messages: [{user: hi}]}]\n"
    )
    report = check_models(load_pipeline(path), ModelAuthority(SMALL, live))
    assert [(f.severity, f.model, f.param) for f in report.findings] == [
        ("error", "grok-text-only", None),
        ("note", uncatalogued, None),
        ("error", "grok-4.3", "stop"),
    ]
    unknown = next(f for f in report.errors if f.model == "grok-text-only")
    assert "unknown language model 'grok-text-only' [live Models service at emu]" in (
        unknown.problem.message
    )


def test_api_session_lists_the_endpoint_once(monkeypatch, emulator_factory):
    emu = emulator_factory()
    monkeypatch.setenv("XAI_API_KEY", emu.api_key)
    with ApiSession(endpoint=emu.address) as api:
        first = api.authority()
        assert api.authority() is first and api.client is not None
        assert first.live is not None and "grok-4.3" in first.live.language
    assert emu.stats.calls == {"ListLanguageModels": 1, "ListImageGenerationModels": 1}
    monkeypatch.delenv("XAI_API_KEY")
    with ApiSession() as api:
        assert api.authority().live is None and api.client is None
    with ApiSession(endpoint=emu.address) as api, pytest.raises(LiveCheckError):
        api.authority()


def test_live_search_parameters_are_refused_before_any_call(tmp_path: Path):
    chat = (
        "{model: grok-4.20-non-reasoning, search_parameters: {mode: auto}, messages: [{user: hi}]}"
    )
    path = _pipeline(tmp_path, chat)
    result = _invoke("validate", str(path))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(
        f"{path}:5:57: chats[0].search_parameters: the API no longer accepts "
        "'search_parameters': use tools: [{type: web_search}]"
    )
    assert "https://docs.x.ai/docs/guides/live-search" in result.stderr
