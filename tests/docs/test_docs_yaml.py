"""Every ```yaml block of the README and the docs parses, and pipeline-shaped ones validate.

A block is read with the pipeline reader (YAML 1.2 core schema, as ``xai-run``
reads pipelines). Then, by its shape:

* a whole pipeline (it has ``version:``) must pass the pipeline schema;
* a fragment whose keys are all top-level pipeline keys is checked as a pipeline
  with ``version`` and ``name`` added; one whose keys are all chat keys
  (``messages``, ``turns``, ``expect``, ...) as a chat of such a pipeline;
* a list of scripted answers (``match`` / ``regex`` rules) must load as a
  ``--responses`` file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from xai_pipelines.emulator.scripted import load_rules
from xai_pipelines.spec import SpecError, pipeline_schema
from xai_pipelines.spec.schema import schema_problems
from xai_pipelines.spec.yaml_source import Positions, parse_yaml

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "xai_pipelines" / "emulator" / "README.md",
]
_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[A-Za-z0-9_-]*)[ \t]*$")


@dataclass(frozen=True)
class Block:
    """One fenced YAML block: its file, the line of its first text line, its text."""

    file: Path
    line: int
    text: str

    @property
    def name(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.line}"


def yaml_blocks(path: Path) -> list[Block]:
    """The ```yaml / ```yml blocks of a Markdown file, dedented by their fence's indent."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, lang = opening["indent"], opening["lang"].lower()
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not re.match(rf"^{re.escape(indent)}```\s*$", lines[j]):
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        assert j < len(lines), f"{path}:{i + 1}: unclosed code fence"
        if lang in ("yaml", "yml"):
            blocks.append(Block(path, i + 2, "\n".join(body) + "\n"))
        i = j + 1
    return blocks


BLOCKS = [b for doc in DOCUMENTS for b in yaml_blocks(doc)]


def _check(block: Block, tmp_path: Path) -> None:
    data, positions = parse_yaml(block.text, block.name)
    root = pipeline_schema()["properties"]
    chat = pipeline_schema()["$defs"]["chat"]["properties"]
    if isinstance(data, dict) and "version" in data:
        problems = schema_problems(data, positions)
    elif isinstance(data, dict) and data and set(data) <= set(root):
        problems = schema_problems({"version": 1, "name": "doc", **data}, Positions(block.name))
    elif isinstance(data, dict) and data and set(data) <= set(chat):
        wrapped = {"version": 1, "name": "doc", "chats": [{"messages": [{"user": "x"}], **data}]}
        problems = schema_problems(wrapped, Positions(block.name))
    elif isinstance(data, list) and data and all(_is_rule(r) for r in data):
        rules = tmp_path / "responses.yaml"
        rules.write_text(block.text, encoding="utf-8")
        assert load_rules(rules), block.name
        return
    else:
        return  # parsed: nothing more to say about a block of another shape
    assert problems == [], "\n".join(str(p) for p in problems)


def _is_rule(value: Any) -> bool:
    return isinstance(value, dict) and bool({"match", "regex"} & set(value))


def test_the_documents_have_yaml_blocks() -> None:
    assert len(BLOCKS) >= 8
    assert any("version: 1" in b.text for b in BLOCKS)  # the Shape example, at least


@pytest.mark.parametrize("block", BLOCKS, ids=[b.name for b in BLOCKS])
def test_every_yaml_block_parses_and_validates(block: Block, tmp_path: Path) -> None:
    _check(block, tmp_path)


def test_the_check_catches_the_old_shape_mistake(tmp_path: Path) -> None:
    text = "version: 1\nname: x\nchats:\n  - messages: [{user: hi}]\n    turns: [{user: Are you sure?}]\n"
    with pytest.raises(SpecError, match="YAML syntax error"):
        _check(Block(ROOT / "README.md", 1, text), tmp_path)


def test_the_check_catches_a_schema_mistake_in_a_fragment(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="unknown key 'gradr'"):
        _check(Block(ROOT / "README.md", 1, "evals: {gradr: grok-4.3}\n"), tmp_path)
    with pytest.raises(AssertionError, match="unknown key 'icontain'"):
        _check(Block(ROOT / "README.md", 1, "expect: [{icontain: x}]\n"), tmp_path)


def test_indented_fences_are_found(tmp_path: Path) -> None:
    doc = tmp_path / "d.md"
    doc.write_text("* item\n\n  ```yaml\n  a: 1\n  ```\n\n```bash\nls\n```\n")
    (block,) = yaml_blocks(doc)
    assert block.text == "a: 1\n" and block.line == 4
