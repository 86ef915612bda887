"""Datasets: formats, filters, seeded sampling, locations, and streaming in bounded memory."""

from __future__ import annotations

import json
import tracemalloc
from collections import deque
from itertools import islice
from pathlib import Path

import pytest

import xai_pipelines.spec.datasets as datasets_module
from xai_pipelines.plan import check_plan, iter_jobs
from xai_pipelines.spec import Dataset, Sample, SpecError, load_pipeline

ROWS = [{"id": i, "group": "a" if i % 2 else "b", "text": f"row {i}"} for i in range(10)]


def _ids(dataset: Dataset) -> list[int]:
    return [int(r.data["id"]) for r in dataset.iter_rows()]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS) + "\n")
    (tmp_path / "d.json").write_text(json.dumps(ROWS, indent=2))
    (tmp_path / "d.yaml").write_text(
        "".join(f"- {{id: {r['id']}, group: {r['group']}, text: '{r['text']}'}}\n" for r in ROWS)
    )
    (tmp_path / "d.csv").write_text(
        "id,group,text\n" + "".join(f"{r['id']},{r['group']},{r['text']}\n" for r in ROWS)
    )
    (tmp_path / "d.txt").write_text("# comment\nfirst prompt\n\n  second prompt  \n")
    return tmp_path


@pytest.mark.parametrize("fmt", ["jsonl", "json", "yaml", "csv"])
def test_formats_read_the_same_rows(files: Path, fmt: str):
    ds = Dataset("d", files / f"d.{fmt}", f"d.{fmt}", fmt)  # type: ignore[arg-type]
    rows = list(ds.iter_rows())
    assert [int(r.data["id"]) for r in rows] == list(range(10))
    assert [r.index for r in rows] == list(range(10))
    assert rows[3].data["text"] == "row 3"
    if fmt != "json":
        assert rows[3].origin == f"d.{fmt}:{4 + (fmt == 'csv')}"


def test_inline_rows_and_lines(files: Path):
    inline = Dataset("d", None, "datasets.d.rows", rows=tuple(ROWS[:2]))
    assert [r.origin for r in inline.iter_rows()] == ["datasets.d.rows[0]", "datasets.d.rows[1]"]
    lines = list(Dataset("p", files / "d.txt", "d.txt", "lines").iter_rows())
    assert [r.data for r in lines] == [
        {"text": "first prompt", "line": 2},
        {"text": "second prompt", "line": 4},
    ]


def test_json_list_streams_across_chunk_boundaries(files: Path, monkeypatch):
    monkeypatch.setattr(datasets_module, "_CHUNK", 7)
    ds = Dataset("d", files / "d.json", "d.json", "json")
    rows = list(ds.iter_rows())
    assert [r.data for r in rows] == ROWS
    assert rows[1].origin == "d.json:7"  # indent=2: each object spans 5 lines after "[" on line 1


def test_where_sample_limit(files: Path):
    path = files / "d.jsonl"
    assert _ids(Dataset("d", path, "d", where={"group": ("a",)})) == [1, 3, 5, 7, 9]
    assert _ids(Dataset("d", path, "d", where={"group": ("a",), "id": (1, 9, 4)})) == [1, 9]
    assert _ids(Dataset("d", path, "d", where={"missing": (None,)})) == []
    assert _ids(Dataset("d", path, "d", limit=3)) == [0, 1, 2]
    sample = _ids(Dataset("d", path, "d", sample=Sample(4, seed=1)))
    assert len(sample) == 4 and sample == sorted(sample)
    assert sample == _ids(Dataset("d", path, "d", sample=Sample(4, seed=1)))  # deterministic
    others = {tuple(_ids(Dataset("d", path, "d", sample=Sample(4, seed=s)))) for s in range(2, 12)}
    assert len(others) > 1  # the seed matters
    assert _ids(Dataset("d", path, "d", sample=Sample(50, seed=1))) == list(range(10))
    filtered = _ids(Dataset("d", path, "d", where={"group": ("b",)}, sample=Sample(3, 5), limit=2))
    assert len(filtered) == 2 and all(i % 2 == 0 for i in filtered)


def test_reservoir_sample_is_roughly_uniform(tmp_path: Path):
    path = tmp_path / "n.jsonl"
    path.write_text("".join(f'{{"id": {i}}}\n' for i in range(100)))
    counts = [0] * 100
    for seed in range(300):
        for i in _ids(Dataset("d", path, "d", sample=Sample(10, seed))):
            counts[i] += 1
    assert sum(counts) == 3000
    assert min(counts) > 5 and max(counts) < 60  # expected 30 each


@pytest.mark.parametrize(
    ("name", "content", "fragment", "mark"),
    [
        ("b.jsonl", '{"a": 1}\n[1, 2]\n', "expected each row to be an object, got a list", (2, 1)),
        ("b.jsonl", '{"a": 1}\n{"a": \n', "invalid JSON", (2, 7)),
        ("b.json", '[{"a": 1},\n 3]', "expected each row to be an object", (2, 1)),
        ("b.json", '{"a": 1}', "expected a JSON list of rows", (1, 1)),
        ("b.json", '[{"a": 1}\n{"b": 2}]', "expected ',' or ']'", (2, 1)),
        ("b.json", '[{"a": 1}, {"a": ', "invalid JSON", (1, 12)),
        ("b.csv", "a,b\n1,2\n3,4,5\n", "more fields than the header", (3, 1)),
        ("b.csv", "a,b\n1\n", "fewer fields than the header", (2, 1)),
        ("b.yaml", "a: 1\n", "expected a list of rows", (1, 1)),
        ("b.yaml", "- {a: 1}\n- 7\n", "expected each row to be an object", (2, 1)),
        ("b.jsonl", b'{"a": "\xff"}\n', "not UTF-8", (1, 1)),
    ],
)
def test_bad_rows_are_located_in_the_data_file(tmp_path: Path, name, content, fragment, mark):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    fmt = datasets_module.FORMATS_BY_SUFFIX[path.suffix]
    with pytest.raises(SpecError) as info:
        list(Dataset("d", path, name, fmt).iter_rows())
    (problem,) = info.value.problems
    assert problem.file == name and fragment in problem.message
    assert (problem.line, problem.column) == mark


def test_paths_resolve_from_the_pipeline_and_stay_inside(write, tmp_path: Path):
    chat = "chats:\n  - model: grok-4\n    for_each: d\n    messages: [{user: '{{ row.id }}'}]\n"
    sub = write(
        "datasets:\n  d: {path: data/d.jsonl}\n" + chat,
        name="sub/p.yaml",
        files={"sub/data/d.jsonl": '{"id": 1}\n'},
    )
    assert [j.request["messages"][0]["content"] for j in iter_jobs(load_pipeline(sub))] == ["1"]
    outside = write(
        "datasets:\n  d: {path: ../o.jsonl}\n" + chat,
        name="sub/q.yaml",
        files={"o.jsonl": '{"id": 2}\n'},
    )
    with pytest.raises(SpecError, match="leaves the pipeline's directory"):
        load_pipeline(outside)
    jobs = list(iter_jobs(load_pipeline(outside, allow_outside=True)))
    assert jobs[0].request["messages"][0]["content"] == "2"
    (tmp_path / "sub" / "link.jsonl").symlink_to(tmp_path / "o.jsonl")
    linked = write("datasets:\n  d: {path: link.jsonl}\n" + chat, name="sub/r.yaml")
    with pytest.raises(SpecError, match="leaves the pipeline's directory"):
        load_pipeline(linked)


def _big_pipelines(directory: Path, rows: int) -> tuple[Path, Path, Path]:
    """A ``rows``-line JSONL dataset and two pipelines over it: ``(data, lazy, full)``.

    ``full`` keeps one row in 200 (``k == 0``), so a pass reads every row and plans few jobs.
    """
    # Few fields and small ints per row: tracing every allocation of a row is the cost.
    pad = "x" * 100
    directory.mkdir()
    data = directory / "big.jsonl"
    with data.open("w") as f:
        f.writelines(f'{{"k": {i % 200}, "q": "question {i} {pad}"}}\n' for i in range(rows))
    lazy = directory / "lazy.yaml"
    lazy.write_text(PIPELINE.format(extra=""))
    full = directory / "full.yaml"
    full.write_text(PIPELINE.format(extra=", where: {k: 0}"))
    return data, lazy, full


PIPELINE = """version: 1
name: big
datasets:
  rows: {{path: big.jsonl{extra}}}
chats:
  - model: grok-4
    id: "q-{{{{ row_index }}}}"
    for_each: rows
    messages:
      - user: "{{{{ row.q }}}}"
"""


def _peak(func) -> int:
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


#: Rows of the smaller dataset; the larger has four times as many.
ROWS_N = 12_000


def test_planning_memory_does_not_grow_with_the_dataset(tmp_path: Path):
    """Streaming: planning a dataset four times larger peaks at the memory of the smaller one.

    Starting a plan reads only what it needs; a full pass (every row read, parsed and
    filtered, jobs checked for duplicate ids) holds one row at a time and a fingerprint
    per planned job. A bound that held only at one size would show here as a peak that
    grows with the file.
    """
    sizes = {"n": ROWS_N, "4n": 4 * ROWS_N}
    pipelines = {name: _big_pipelines(tmp_path / name, rows) for name, rows in sizes.items()}
    check_plan(load_pipeline(pipelines["n"][2]))  # compile templates and schema before measuring
    lazy_peak: dict[str, int] = {}
    full_peak: dict[str, int] = {}
    for name, (data, lazy, full) in pipelines.items():
        last: deque = deque(maxlen=1)
        lazy_peak[name] = _peak(
            lambda lazy=lazy, last=last: last.extend(islice(iter_jobs(load_pipeline(lazy)), 1000))
        )
        assert last[0].id == "q-999" and last[0].index == 999
        summary = []
        full_peak[name] = _peak(
            lambda full=full, summary=summary: summary.append(check_plan(load_pipeline(full)))
        )
        assert summary[0].count == sizes[name] // 200
        assert summary[0].first[-1].id == "q-9"
        assert summary[0].first[-1].meta["origin"].endswith("big.jsonl:1801")
        assert full_peak[name] < data.stat().st_size / 10
    # The larger pass plans 180 more jobs, a fingerprint each: a few KB, inside the slack.
    assert lazy_peak["4n"] <= lazy_peak["n"] * 1.25 + 32_000, lazy_peak
    assert full_peak["4n"] <= full_peak["n"] * 1.25 + 32_000, full_peak


def test_planning_keeps_no_per_job_state_but_id_fingerprints(tmp_path: Path):
    """Each planned job leaves at most a small id fingerprint behind, never the job itself."""
    peaks = {}
    for rows in (1_000, 4_000):
        directory = tmp_path / str(rows)
        directory.mkdir()
        (directory / "big.jsonl").write_text(
            "".join(f'{{"i": {i}, "q": "question {i} {"y" * 200}"}}\n' for i in range(rows))
        )
        path = directory / "p.yaml"
        path.write_text(PIPELINE.format(extra=""))
        spec = load_pipeline(path)
        deque(iter_jobs(spec), maxlen=0)  # warm: compiled templates are not per-job state
        peaks[rows] = _peak(lambda spec=spec: deque(iter_jobs(spec), maxlen=0))
    # A job with its request is several hundred bytes; its fingerprint (and its slot in
    # the set of seen ids) well under 100.
    per_job = (peaks[4_000] - peaks[1_000]) / 3_000
    assert per_job < 100, peaks


def test_csv_where_compares_numbers_as_text(write):
    path = write(
        "datasets:\n  d: {path: d.csv, where: {id: [1, 3], ok: true}}\n"
        "chats:\n  - {model: grok-4, for_each: d, messages: [{user: '{{ row.id }}'}]}\n",
        files={"d.csv": "id,ok\n1,true\n2,true\n3,true\n3,false\n"},
    )
    assert [j.request["messages"][0]["content"] for j in iter_jobs(load_pipeline(path))] == [
        "1",
        "3",
    ]
