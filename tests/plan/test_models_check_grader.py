"""The model check covers the pipeline's ``evals.grader`` like any other model name."""

from __future__ import annotations

from spec.small_catalog import AS_OF, SMALL

from xai_pipelines.plan import ModelAuthority, check_models
from xai_pipelines.spec import load_pipeline

OFFLINE = ModelAuthority(SMALL)
NOTE = f"[bundled catalog of {AS_OF}, may be out of date; check live with XAI_API_KEY, --endpoint or --local]"
CHAT = "chats: [{model: grok-4.3, messages: [{user: hi}], expect: [{llm_rubric: ok}]}]\n"


def test_an_unknown_grader_is_located_at_evals_grader(write):
    path = write(CHAT + "evals: {grader: grok-4.3-latst}\n")
    report = check_models(load_pipeline(path), OFFLINE)
    assert [str(f) for f in report.errors] == [
        f"{path}:4:17: evals.grader: unknown language model 'grok-4.3-latst' {NOTE} "
        "(did you mean 'grok-4.3-latest'?)"
    ]
    assert report.errors[0].model == "grok-4.3-latst"


def test_a_templated_grader_is_checked_as_rendered(write):
    path = write("vars: {judge: grok-imagine-image}\n" + CHAT + "evals: {grader: '{{ judge }}'}\n")
    (error,) = check_models(load_pipeline(path), OFFLINE).errors
    assert str(error).startswith(
        f"{path}:5:17: evals.grader: 'grok-imagine-image' is an image model"
    )


def test_a_retired_grader_is_a_warning_and_a_good_one_is_silent(write):
    retired = check_models(load_pipeline(write(CHAT + "evals: {grader: grok-3}\n")), OFFLINE)
    assert report_paths(retired.advisories) == ["evals.grader"] and retired.errors == ()
    good = check_models(load_pipeline(write(CHAT + "evals: {grader: grok-4.3}\n")), OFFLINE)
    assert good.findings == ()


def test_the_grader_is_checked_even_when_every_rubric_names_its_own(write):
    path = write(
        "chats: [{model: grok-4.3, messages: [{user: hi}],"
        " expect: [{llm_rubric: {rubric: ok, model: grok-4.3}}]}]\n"
        "evals: {grader: nope}\n"
    )
    assert report_paths(check_models(load_pipeline(path), OFFLINE).errors) == ["evals.grader"]


def report_paths(findings) -> list[str]:
    return [f.problem.path for f in findings]
