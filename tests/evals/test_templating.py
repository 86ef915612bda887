"""Expectations reach the evals rendered: templates filled per row, schema files loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from xai_pipelines.plan import iter_jobs
from xai_pipelines.spec import SpecError, load_pipeline


def _write(tmp_path: Path, expect: list[object]) -> Path:
    (tmp_path / "args.json").write_text(json.dumps({"type": "object", "required": ["city"]}))
    data = {
        "version": 1,
        "name": "tpl",
        "defaults": {"model": "grok-4"},
        "datasets": {"d": {"rows": [{"city": "Paris", "n": 2}, {"city": "Lima", "n": 3}]}},
        "matrix": {"model": ["grok-4", "grok-3-mini"]},
        "chats": [
            {
                "name": "c",
                "id": "c-{{ row.city }}-{{ matrix.model }}",
                "for_each": "d",
                "messages": [{"user": "Where?"}],
                "expect": expect,
            }
        ],
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_expect_values_are_rendered_per_row_and_cell(tmp_path: Path) -> None:
    expect = [
        {"icontains": "{{ row.city }}", "name": "{{ matrix.model }} names {{ row.city }}"},
        {"json_path": {"path": "city", "equals": "{{ row.city | upper }}"}},
        {"llm_rubric": {"rubric": "Mentions {{ row.city }}.", "threshold": 0.5}},
        {"tool_call": {"name": "lookup", "arguments": "args.json"}},
        {"max_length": 40},
    ]
    jobs = {job.id: job for job in iter_jobs(load_pipeline(_write(tmp_path, expect)))}
    lima = jobs["c-Lima-grok-3-mini"].expect
    assert lima[0] == {"icontains": "Lima", "name": "grok-3-mini names Lima"}
    assert lima[1] == {"json_path": {"path": "city", "equals": "LIMA"}}
    assert lima[2] == {"llm_rubric": {"rubric": "Mentions Lima.", "threshold": 0.5}}
    assert lima[3]["tool_call"]["arguments"] == {"type": "object", "required": ["city"]}
    assert lima[4] == {"max_length": 40}
    assert jobs["c-Paris-grok-4"].expect[0]["icontains"] == "Paris"


def test_unknown_names_in_expect_templates_are_spec_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"expect"):
        load_pipeline(_write(tmp_path, [{"contains": "{{ row.country }}"}]))
