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
