"""The pipeline JSON Schema: fresh, identical copies, documented, and it accepts the examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from xai_pipelines.cli.app import app
from xai_pipelines.spec import load_pipeline, pipeline_schema
from xai_pipelines.spec.schema_build import PACKAGED_COPY, REPO_COPY, render

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "pipelines").glob("*.yaml"))


def test_schema_files_are_generated_and_identical():
    text = render()
    assert REPO_COPY.read_text(encoding="utf-8") == text, (
        "run python -m xai_pipelines.spec.schema_build"
    )
    assert PACKAGED_COPY.read_text(encoding="utf-8") == text


def test_schema_is_valid_2020_12_with_id():
    schema = pipeline_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith("pipeline.schema.json")
    assert schema["additionalProperties"] is False


def _properties(node: Any, where: str = "#") -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            out.append((f"{where}/properties/{name}", sub))
        for key, value in node.items():
            out += _properties(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _properties(value, f"{where}/{i}")
    return out


def test_every_property_has_title_and_description():
    props = [(w, s) for w, s in _properties(pipeline_schema()) if "/if/" not in w]
    assert len(props) > 150
    missing = [w for w, s in props if not (s.get("title") and s.get("description"))]
    assert missing == []


# Discriminated unions: the open outer object only picks a closed ``then`` branch by ``type``.
_UNIONS = {"#/$defs/tool", "#/$defs/source"}


def _open_objects(node: Any, where: str) -> list[str]:
    if isinstance(node, list):
        return [w for i, v in enumerate(node) for w in _open_objects(v, f"{where}/{i}")]
    if not isinstance(node, dict) or "/default" in where or "/examples" in where:
        return []
    found = [
        where
        for _ in [0]
        if node.get("type") == "object"
        and "properties" in node
        and "/if/" not in where
        and where not in _UNIONS
        and node.get("additionalProperties") is not False
    ]
    return found + [w for k, v in node.items() for w in _open_objects(v, f"{where}/{k}")]


def test_objects_are_closed():
    assert _open_objects(pipeline_schema(), "#") == []


def test_defaults_and_examples_validate_against_their_property():
    checked = 0
    for where, sub in _properties(pipeline_schema()):
        if "$ref" in sub:
            continue
        validator = Draft202012Validator({**sub, "$defs": pipeline_schema()["$defs"]})
        values = ([sub["default"]] if "default" in sub else []) + sub.get("examples", [])
        for value in values:
            assert validator.is_valid(value), (where, value)
            checked += 1
    assert checked > 30


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_examples_name_the_schema_and_validate(example: Path):
    first = example.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/pipeline.schema.json"
    assert (example.parent / "../schemas/pipeline.schema.json").resolve() == REPO_COPY
    Draft202012Validator(pipeline_schema()).validate(
        yaml.safe_load(example.read_text(encoding="utf-8"))
    )
    load_pipeline(example)


def test_examples_are_the_three_documented_ones():
    assert {e.name for e in EXAMPLES} >= {"eval.yaml", "images.yaml", "batch-generation.yaml"}


def test_cli_schema_prints_the_schema():
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output) == pipeline_schema()
