"""The model check: names and parameters against a small fixed catalog, offline and live.

The catalog is built with ``parse_catalog`` (``tests/spec/small_catalog.py``), so
these tests do not depend on the bundled ``models.yaml``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from spec.small_catalog import AS_OF, DOCS, SMALL

from xai_pipelines.plan import (
    LiveModels,
    ModelAuthority,
    ModelFinding,
    ModelReport,
    check_models,
    check_plan,
)
from xai_pipelines.spec import SpecError, load_pipeline

OFFLINE = ModelAuthority(SMALL)
NOTE = f"[bundled catalog of {AS_OF}, may be out of date; check live with XAI_API_KEY, --endpoint or --local]"
RULE = f"(source: {DOCS}, read {AS_OF}) {NOTE}"


def _report(path: Path, authority: ModelAuthority = OFFLINE, **overrides) -> ModelReport:
    return check_models(load_pipeline(path, overrides=overrides or None), authority)


def _lines(findings: tuple[ModelFinding, ...]) -> list[str]:
    return [str(f) for f in findings]


def test_unknown_model_is_an_error_with_did_you_mean_and_the_catalog_note(write):
    path = write("chats:\n  - {model: grok-4.33, messages: [{user: hi}]}\n")
    report = _report(path)
    assert _lines(report.errors) == [
        f"{path}:4:13: chats[0].model: unknown language model 'grok-4.33' {NOTE} "
        "(did you mean 'grok-4.3'?)"
    ]
    (finding,) = report.errors
    assert finding.model == "grok-4.33" and finding.param is None
    assert report.advisories == ()
    error = report.error()
    assert isinstance(error, SpecError) and error.problems == (finding.problem,)


def test_a_known_pipeline_has_no_findings(write):
    path = write(
        """
defaults: {model: grok-4.3, temperature: 0, reasoning_effort: low}
chats: [{messages: [{user: [{text: a}, {image_url: "https://x/a.png"}]}]}]
images: [{model: grok-imagine-image-latest, prompt: a, n: 10, image_urls: [a.png, b.png, c.png]}]
""",
        files={"a.png": b"\x89PNG", "b.png": b"\x89PNG", "c.png": b"\x89PNG"},
    )
    report = _report(path)
    assert report.findings == () and report.error() is None
    assert report.authority.describe() == (
        f"model names checked against the bundled catalog (as of {AS_OF})"
    )


def test_retired_name_is_a_warning_naming_the_redirect_and_the_date(write):
    path = write(
        """
chats: [{model: grok-4, messages: [{user: hi}]}]
images: [{model: grok-2-image, prompt: a}]
"""
    )
    report = _report(path)
    assert report.errors == ()
    assert _lines(report.advisories) == [
        f"{path}:4:17: chats[0].model: warning: model 'grok-4' was retired on 2026-05-15; "
        "the API still serves it with 'grok-4.3': use that name "
        f"(source: https://docs.x.ai/developers/migration, read {AS_OF}) {NOTE}",
        f"{path}:5:18: images[0].model: warning: model 'grok-2-image' was retired "
        "(date not published); the API still serves it with 'grok-imagine-image': use that name "
        f"(source: https://docs.x.ai/developers/migration, read {AS_OF}) {NOTE}",
    ]


def test_rejected_parameter_points_at_the_node_that_set_it(write):
    path = write(
        """
defaults: {model: grok-4.3, stop: ["\\n"]}
chats:
  - messages: [{user: hi}]
  - {model: grok-text-only, messages: [{user: hi}]}
  - {model: grok-3, presence_penalty: 0.5, messages: [{user: hi}]}
"""
    )
    report = _report(path)
    assert _lines(report.errors) == [
        f"{path}:4:35: defaults.stop: grok-3 (served by grok-4.3) rejects 'stop' {RULE}",
        f"{path}:4:35: defaults.stop: grok-4.3 rejects 'stop' {RULE}",
        f"{path}:8:39: chats[2].presence_penalty: grok-3 (served by grok-4.3) rejects "
        f"'presence_penalty' {RULE}",
    ]
    assert [(f.model, f.param) for f in report.errors] == [
        ("grok-3", "stop"),
        ("grok-4.3", "stop"),
        ("grok-3", "presence_penalty"),
    ]


def test_reasoning_effort_values_per_matrix_cell_and_a_model_that_rejects_it(write):
    path = write(
        """
chats:
  - model: grok-4.3
    matrix: {reasoning_effort: [low, xhigh]}
    messages: [{user: hi}]
  - {model: grok-4.20-0309-reasoning, reasoning_effort: low, messages: [{user: hi}]}
  - {model: grok-4.7, reasoning_effort: xhigh, messages: [{user: hi}]}
"""
    )
    report = _report(path)
    assert _lines(report.errors) == [
        f"{path}:6:38: chats[0].matrix.reasoning_effort[1]: grok-4.3 does not accept "
        f"reasoning_effort 'xhigh' (it takes none, low, medium, high) {RULE}",
        f"{path}:8:57: chats[1].reasoning_effort: grok-4.20-0309-reasoning rejects "
        f"'reasoning_effort' {RULE}",
    ]


def test_matrix_key_of_a_rejected_parameter_and_matrix_model_values(write):
    path = write(
        """
matrix: {model: [grok-text-only, grok-4.7, grok-imagine-image, grok-47]}
chats: [{matrix: {frequency_penalty: [0, 1]}, messages: [{user: hi}]}]
"""
    )
    lines = _lines(_report(path).errors)
    assert lines == [
        f"{path}:4:44: matrix.model[2]: 'grok-imagine-image' is an image model; chats need a "
        f"language model {NOTE}",
        f"{path}:4:64: matrix.model[3]: unknown language model 'grok-47' {NOTE} "
        "(did you mean 'grok-4.7'?)",
        f"{path}:5:19: chats[0].matrix.frequency_penalty: grok-4.7 rejects 'frequency_penalty' "
        f"{RULE}",
    ]


def test_images_to_a_model_without_image_input(write):
    path = write(
        """
chats:
  - model: grok-text-only
    messages:
      - user: [{text: look}, {image_url: "https://x/a.png"}]
    turns:
      - user: [{image_file: a.png}]
""",
        files={"a.png": b"\x89PNG"},
    )
    assert _lines(_report(path).errors) == [
        f"{path}:7:30: chats[0].messages[0].user[1]: grok-text-only does not take image input "
        f"{RULE}",
        f"{path}:9:16: chats[0].turns[0].user[0]: grok-text-only does not take image input {RULE}",
    ]


def test_image_model_limits(write):
    path = write(
        """
images:
  - {model: grok-imagine-lite, prompt: a, n: 5, image_url: "https://x/a.png"}
  - {model: grok-imagine-image, prompt: b, image_urls: [a.png, a.png, a.png, a.png]}
  - {model: grok-4.3, prompt: c}
""",
        files={"a.png": b"\x89PNG"},
    )
    assert _lines(_report(path).errors) == [
        f"{path}:5:46: images[0].n: grok-imagine-lite makes at most 4 images per request, "
        f"got n=5 {RULE}",
        f"{path}:5:60: images[0].image_url: grok-imagine-lite does not edit images "
        f"(it takes no input image) {RULE}",
        f"{path}:6:56: images[1].image_urls: grok-imagine-image takes at most 3 input images, "
        f"got 4 {RULE}",
        f"{path}:7:13: images[2].model: 'grok-4.3' is a language model; image jobs need an "
        f"image model {NOTE}",
    ]


def test_set_override_is_the_location(write):
    path = write("defaults: {model: grok-4.3}\nchats: [{messages: [{user: hi}]}]\n")
    report = _report(path, **{"defaults.model": "grok-9", "chats.0.stop": "x"})
    assert _lines(report.errors) == [
        f"--set defaults.model:1:1: defaults.model: unknown language model 'grok-9' {NOTE} "
        "(did you mean 'grok-4.7'?)",
    ]
    report = _report(path, **{"chats.0.stop": "x"})
    assert _lines(report.errors) == [
        f"--set chats.0.stop:1:1: chats[0].stop: grok-4.3 rejects 'stop' {RULE}"
    ]


def test_templated_model_names_the_first_row_once(write):
    path = write(
        """
datasets: {d: {rows: [{m: grok-4.3}, {m: grok-5}, {m: grok-5}, {m: grok-4}]}}
defaults: {stop: [x]}
chats: [{model: "{{ row.m }}", for_each: d, repeat: 2, messages: [{user: hi}]}]
"""
    )
    report = _report(path)
    assert _lines(report.errors) == [
        f"{path}:5:18: defaults.stop: grok-4 (served by grok-4.3) rejects 'stop' {RULE} "
        "(row datasets.d.rows[3])",
        f"{path}:5:18: defaults.stop: grok-4.3 rejects 'stop' {RULE} (row datasets.d.rows[0])",
        f"{path}:6:17: chats[0].model: unknown language model 'grok-5' {NOTE} "
        "(row datasets.d.rows[1]) (did you mean 'grok-4.7'?)",
    ]
    assert [f.model for f in report.advisories] == ["grok-4"]


def test_grader_models_are_checked(write):
    path = write(
        """
vars: {grader: grok-4.3}
chats:
  - model: grok-4.3
    messages: [{user: hi}]
    expect:
      - {llm_rubric: {rubric: ok, model: grok-4.3-latst}}
      - {llm_rubric: {rubric: ok, model: "{{ grader }}-x"}}
      - {llm_rubric: ok}
"""
    )
    assert _lines(_report(path).errors) == [
        f"{path}:9:42: chats[0].expect[0].llm_rubric.model: unknown language model "
        f"'grok-4.3-latst' {NOTE} (did you mean 'grok-4.3-latest'?)",
        f"{path}:10:42: chats[0].expect[1].llm_rubric.model: unknown language model "
        f"'grok-4.3-x' {NOTE} (did you mean 'grok-4.3'?)",
    ]


LIVE = ModelAuthority(
    SMALL,
    LiveModels(
        "api.example:443",
        frozenset({"grok-4.3", "grok-4.3-latest", "grok-new"}),
        frozenset({"grok-imagine-image"}),
    ),
)


def test_live_names_are_authoritative(write):
    path = write(
        """
defaults: {stop: [x]}
matrix: {model: [grok-4.7, grok-new, grok-3, grok-imagine-image, grok-nw]}
chats: [{messages: [{user: hi}]}]
"""
    )
    report = _report(path, LIVE)
    live_note = f"[bundled catalog of {AS_OF}, may be out of date]"
    where = "[live Models service at api.example:443]"
    assert _lines(report.errors) == [
        f"{path}:4:18: defaults.stop: grok-3 (served by grok-4.3) rejects 'stop' "
        f"(source: {DOCS}, read {AS_OF}) {live_note}",
        f"{path}:5:18: matrix.model[0]: unknown language model 'grok-4.7' {where} "
        "(did you mean 'grok-4.3'?)",
        f"{path}:5:46: matrix.model[3]: 'grok-imagine-image' is an image model; chats need a "
        f"language model {where}",
        f"{path}:5:66: matrix.model[4]: unknown language model 'grok-nw' {where} "
        "(did you mean 'grok-new'?)",
    ]
    assert _lines(report.advisories) == [
        f"{path}:5:28: matrix.model[1]: note: 'grok-new' is served by api.example:443 but is "
        f"not in the bundled catalog (as of {AS_OF}): its parameters were not checked",
        f"{path}:5:38: matrix.model[2]: warning: model 'grok-3' was retired on 2026-05-15; the "
        "API still serves it with 'grok-4.3': use that name "
        f"(source: https://docs.x.ai/developers/migration, read {AS_OF}) {live_note}",
    ]
    assert report.authority.describe() == (
        "model names checked against the live Models service (api.example:443)"
    )


def test_live_models_from_lists():
    class Info:
        def __init__(self, name: str, aliases: tuple[str, ...] = ()) -> None:
            self.name, self.aliases = name, aliases

    live = LiveModels.from_lists("h", [Info("a", ("a1",)), Info("b")], [Info("i", ("i2",))])
    assert live.language == {"a", "a1", "b"} and live.image == {"i", "i2"}
    assert live.names("image") == live.image


def test_check_plan_reports_model_errors_with_the_plan_problems(write):
    path = write(
        """
datasets: {d: {rows: [{q: a}, {x: b}]}}
chats: [{model: grok-5, for_each: d, messages: [{user: "{{ row.q }}"}]}]
"""
    )
    spec = load_pipeline(path)
    with pytest.raises(SpecError) as info:
        check_plan(spec)  # no authority: no model check
    assert len(info.value.problems) == 1
    with pytest.raises(SpecError) as info:
        check_plan(spec, models=OFFLINE)
    messages = [p.message for p in info.value.problems]
    assert len(messages) == 2
    assert messages[0].startswith("unknown language model 'grok-5'")
    assert messages[1].startswith("undefined field 'q'")


def test_check_plan_keeps_the_report_with_warnings(write):
    path = write("chats: [{model: grok-3-mini, messages: [{user: hi}]}]\n")
    assert check_plan(load_pipeline(path)).models is None
    summary = check_plan(load_pipeline(path), models=OFFLINE)
    assert summary.count == 1 and summary.models is not None
    assert [f.severity for f in summary.models.findings] == ["warning"]
