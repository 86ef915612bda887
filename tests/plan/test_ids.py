"""Job id rules and the fingerprint set used for duplicate detection."""

from __future__ import annotations

import tracemalloc

import pytest

from xai_pipelines.plan.ids import IdSet, id_problem


@pytest.mark.parametrize("good", ["a", "capital-france-grok-4", "Q 1", "x.y_z", "é-ü", "a" * 200])
def test_valid_ids(good):
    assert id_problem(good) is None


@pytest.mark.parametrize(
    "bad", ["", ".", "..", "a/b", "a\\b", "a\nb", " lead", "trail ", "a" * 201, "x\x00"]
)
def test_invalid_ids(bad):
    assert "invalid job id" in (id_problem(bad) or "")


def test_id_set_finds_duplicates_across_growth():
    ids = IdSet()
    assert all(ids.add(f"job-{i}") for i in range(5000))
    assert len(ids) == 5000
    assert not ids.add("job-0") and not ids.add("job-4999")
    assert ids.add("job-5000") and len(ids) == 5001


def test_id_set_memory_is_a_few_bytes_per_id():
    tracemalloc.start()
    try:
        ids = IdSet()
        for i in range(30_000):
            ids.add(f"some-long-job-identifier-{i:08d}-with-a-model-name")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 30_000 * 36  # the ids themselves (~50 bytes each) are not kept


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        ("a\x85b", "U+0085"),  # C1 control (NEL)
        ("a\x9bb", "U+009B"),  # C1 control (CSI)
        ("invoice-\u202egpj.exe", "U+202E"),  # right-to-left override
        ("a\u202ab", "U+202A"),
        ("a\u2066b\u2069", "U+2066"),  # isolates
        ("a\u2069", "U+2069"),
        ("a\u200bb", "U+200B"),  # zero-width space
        ("a\u200db", "U+200D"),  # zero-width joiner
        ("a\ufeffb", "U+FEFF"),  # byte order mark
        ("a\u2028b", "U+2028"),  # line separator
    ],
)
def test_ids_refuse_invisible_and_control_characters_by_code_point(bad, code):
    problem = id_problem(bad) or ""
    assert "invalid job id" in problem and code in problem
    assert "\n" not in problem and "slug" in problem


@pytest.mark.parametrize("good", ["日本語", "مرحبا", "naïve-café", "emoji-🙂", "Ω-x"])
def test_visible_unicode_ids_are_fine(good):
    assert id_problem(good) is None


def test_an_id_template_rendering_a_bidi_override_is_located(write):
    from xai_pipelines.plan import iter_jobs
    from xai_pipelines.spec import SpecError, load_pipeline

    path = write(
        """
datasets:
  d: {path: d.jsonl}
chats:
  - model: grok-4.3
    for_each: d
    id: "{{ row.name }}"
    messages: [{user: hi}]
""",
        files={"d.jsonl": '{"name": "ok"}\n{"name": "x\\u202ey"}\n'},
    )
    jobs = iter_jobs(load_pipeline(path))
    assert next(jobs).id == "ok"
    with pytest.raises(SpecError) as info:
        next(jobs)
    (problem,) = info.value.problems
    assert problem.path == "chats[0].id" and "U+202E (RIGHT-TO-LEFT OVERRIDE)" in problem.message
    assert "d.jsonl:2" in problem.message
