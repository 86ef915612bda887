"""``--shard K/N``: a partition of the plan by job id, stable as the plan grows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from xai_pipelines.cli.app import app
from xai_pipelines.plan import iter_jobs
from xai_pipelines.plan.shard import Shard, parse_shard, resume_shard, shard_of
from xai_pipelines.spec import load_pipeline

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "pipelines" / "eval.yaml"

ids = st.sets(st.text(min_size=1, max_size=40), max_size=60)


@settings(max_examples=150, deadline=None)
@given(ids=ids, count=st.integers(1, 9))
def test_every_id_is_in_exactly_one_shard(ids: set[str], count: int) -> None:
    shards = [Shard(k, count) for k in range(1, count + 1)]
    parts = [set(s.select([_Job(i) for i in ids])) for s in shards]
    assert sum(len(p) for p in parts) == len(ids)
    assert {j.id for p in parts for j in p} == ids
    for i in ids:
        assert [s.contains(i) for s in shards].count(True) == 1


@settings(max_examples=100, deadline=None)
@given(before=ids, added=ids, count=st.integers(1, 9))
def test_growing_the_plan_moves_no_job(before: set[str], added: set[str], count: int) -> None:
    first = {i: shard_of(i, count) for i in before}
    grown = {i: shard_of(i, count) for i in sorted(before | added)}
    assert all(grown[i] == k for i, k in first.items())


def test_shard_is_a_fixed_function_of_the_id() -> None:
    # pinned: a change of hash would silently reshuffle every sharded CI setup
    assert [shard_of(f"job-{i}", 4) for i in range(8)] == [1, 3, 2, 4, 4, 1, 4, 3]
    assert shard_of("capital-france", 7) == 3 and shard_of("capital-france", 1) == 1
    spread = [shard_of(f"job-{i}", 4) for i in range(400)]
    assert all(spread.count(k) > 50 for k in (1, 2, 3, 4))


@pytest.mark.parametrize("text", ["0/3", "4/3", "a/b", "1/0", "1", "1/2/3", ""])
def test_bad_shard_forms_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_shard(text)


def test_parse_and_resume() -> None:
    assert parse_shard(" 2 / 5 ") == Shard(2, 5) and str(Shard(2, 5)) == "2/5"
    assert resume_shard(None, None) is None
    assert resume_shard(Shard(1, 2), None) == Shard(1, 2)
    assert resume_shard(None, "2/3") == Shard(2, 3)
    assert resume_shard(Shard(2, 3), "2/3") == Shard(2, 3)
    with pytest.raises(ValueError, match="holds shard 2/3"):
        resume_shard(Shard(1, 3), "2/3")


def test_shards_of_a_real_plan_partition_it() -> None:
    spec = load_pipeline(EVAL)
    every = [j.id for j in iter_jobs(spec)]
    parts = [[j.id for j in Shard(k, 3).select(iter_jobs(spec))] for k in (1, 2, 3)]
    assert sorted(i for p in parts for i in p) == sorted(every)
    assert all(parts)


def test_plan_command_shows_one_shard(monkeypatch) -> None:
    monkeypatch.delenv("XAI_API_KEY", raising=False)
    runner = CliRunner()
    counts = []
    for k in (1, 2):
        result = runner.invoke(app, ["plan", str(EVAL), "--json", "--shard", f"{k}/2"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert all(shard_of(j["id"], 2) == k for j in data["first_jobs"])
        counts.append(data["jobs"])
    whole = json.loads(runner.invoke(app, ["plan", str(EVAL), "--json"]).stdout)["jobs"]
    assert sum(counts) == whole and all(counts)
    bad = runner.invoke(app, ["plan", str(EVAL), "--shard", "3/2"])
    assert bad.exit_code == 2 and "shard must be in [1, 2]" in bad.output


class _Job:
    def __init__(self, job_id: str) -> None:
        self.id = job_id

    def __hash__(self) -> int:
        return hash(self.id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Job) and other.id == self.id
