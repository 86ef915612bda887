"""Each job's last result line, found in a few bytes a job (``report.latest``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xai_pipelines.report import latest
from xai_pipelines.report.latest import LatestResults, superseded_lines


def _line(job_id: str, content: str) -> dict[str, object]:
    return {"id": job_id, "kind": "chat", "task": "t", "index": 0, "content": content}


def _write(path: Path, lines: list[dict[str, object]], torn: str = "") -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + torn)


def _contents(results: LatestResults) -> list[tuple[str, str]]:
    return [(line.id, str(line.content)) for line in results]


def test_the_last_line_of_an_id_wins_in_the_order_of_the_last_lines(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    lines = [_line("a", "a1"), _line("b", "b1"), _line("a", "a2"), _line("c", "c1")]
    lines += [_line("b", "b2"), _line("a", "a3")]
    _write(path, lines, torn='{"id": "c", "content": "torn')
    assert superseded_lines(path) == {1, 2, 3}  # line numbers count from 1
    expected = [("c", "c1"), ("b", "b2"), ("a", "a3")]
    from_file = LatestResults.from_file(path)
    assert _contents(from_file) == expected
    assert _contents(from_file) == expected  # re-iterable: read again
    assert _contents(LatestResults.from_lines(lines)) == expected
    assert from_file.with_result({"a", "x"}) == {"a"}
    assert LatestResults.from_lines(lines).with_result({"c", "x"}) == {"c"}
    assert from_file.with_result(set()) == set()


def test_ids_sharing_bitmap_bits_are_told_apart_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a bitmap of 8 bits: almost every id is a candidate; only true repeats are superseded
    monkeypatch.setattr(latest, "BITMAP_BITS", 8)
    path = tmp_path / "results.jsonl"
    lines = [_line(f"job-{i}", f"first {i}") for i in range(200)]
    lines += [_line("job-7", "again"), _line("job-150", "again")]
    _write(path, lines)
    assert superseded_lines(path) == {8, 151}
    shown = dict(_contents(LatestResults.from_file(path)))
    assert len(shown) == 200 and shown["job-7"] == "again" and shown["job-3"] == "first 3"


def test_a_damaged_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(ValueError, match=r"results\.jsonl:2: damaged JSON line"):
        LatestResults.from_file(path)
    path.write_text('{"id": "a"}\n{"no": "id"}\n')
    with pytest.raises(ValueError, match=r"results\.jsonl:2: damaged JSON line"):
        LatestResults.from_file(path)


def test_a_missing_file_has_no_lines(tmp_path: Path) -> None:
    results = LatestResults.from_file(tmp_path / "results.jsonl")
    assert list(results) == [] and results.with_result({"a"}) == set()


def test_the_same_question_reads_the_file_once(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    _write(path, [_line("a", "a1"), _line("b", "b1")])
    results = LatestResults.from_file(path)
    first = results.with_result({"a", "x"})
    first.add("y")  # the caller's copy
    path.write_text("")  # answered from the first reading
    assert results.with_result({"x", "a"}) == {"a"}
    assert results.with_result({"b"}) == set()  # another question reads the file again


def test_the_superseded_line_numbers_are_shared_with_junit(tmp_path: Path) -> None:
    from xai_pipelines.report.junit import iter_cases, write_junit
    from xai_pipelines.store import OutputDir

    out = OutputDir(tmp_path)
    _write(out.results, [_line("a", "a1"), _line("b", "b1"), _line("a", "a2")])
    latest = LatestResults.from_file(out.results)
    assert latest.superseded == {1} and LatestResults.from_lines([]).superseded is None
    counts = write_junit(out, None, latest.superseded)
    assert counts.tests == 2 and [c.id for c in iter_cases(out)] == ["b", "a"]
