"""Local files in the pipeline language: message file parts and image jobs' input images.

The plan carries each local file as its absolute path plus the sha256 of its content
(the run layer uploads it once per run); nothing is read over the network here.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from xai_pipelines.plan import iter_jobs
from xai_pipelines.spec import SpecError, load_pipeline

PNG = b"\x89PNG\r\n\x1a\nimg"
PDF = b"%PDF-1.4 a document"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _problems(path: Path) -> list[str]:
    with pytest.raises(SpecError) as info:
        list(iter_jobs(load_pipeline(path)))
    return [str(p) for p in info.value.problems]


def test_file_parts_carry_the_absolute_path_and_sha256(write, tmp_path: Path):
    path = write(
        """
chats:
  - model: grok-4.3
    messages:
      - user:
          - {text: Summarise}
          - {type: file, path: docs/report.pdf}
          - {type: file, file_id: file-1}
          - {file_id: file-2}
          - {type: text, text: thanks}
""",
        files={"docs/report.pdf": PDF},
    )
    (job,) = iter_jobs(load_pipeline(path))
    assert job.request["messages"][0]["content"] == [
        {"type": "text", "text": "Summarise"},
        {
            "type": "file",
            "path": str(tmp_path / "docs" / "report.pdf"),
            "sha256": _sha(PDF),
        },
        {"type": "file", "file_id": "file-1"},
        {"type": "file", "file_id": "file-2"},
        {"type": "text", "text": "thanks"},
    ]


def test_templated_file_path_resolves_per_row_and_a_missing_one_names_the_row(write):
    path = write(
        """
datasets: {d: {rows: [{doc: a.pdf}, {doc: b.pdf}]}}
chats:
  - model: grok-4.3
    for_each: d
    messages:
      - user: [{type: file, path: "{{ row.doc }}"}]
""",
        files={"a.pdf": PDF},
    )
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}:9:35: chats[0].messages[0].user[0].path: file 'b.pdf'")
    assert problem.endswith("(row datasets.d.rows[1])")


def test_digest_changes_with_the_file_content(write, tmp_path: Path):
    text = "chats:\n  - {model: grok-4.3, messages: [{user: [{type: file, path: a.pdf}]}]}\n"
    path = write(text, files={"a.pdf": PDF})
    (before,) = iter_jobs(load_pipeline(path))
    (tmp_path / "a.pdf").write_bytes(PDF + b" edited")
    (after,) = iter_jobs(load_pipeline(path))
    assert before.digest != after.digest and before.id != after.id
    assert after.request["messages"][0]["content"][0]["sha256"] == _sha(PDF + b" edited")


def test_image_inputs_local_url_data_url_and_file_id(write, tmp_path: Path):
    path = write(
        """
image_defaults: {model: grok-imagine-image}
images:
  - {name: one, prompt: edit, image_url: in/cat.png}
  - {name: url, prompt: edit, image_url: "https://example.com/cat.png"}
  - {name: data, prompt: edit, image_url: "data:image/png;base64,AAAA"}
  - {name: id, prompt: edit, image_url: {file_id: file-9}}
  - name: refs
    prompt: combine
    image_urls: [in/cat.png, "https://example.com/b.jpg", {file_id: file-3}]
""",
        files={"in/cat.png": PNG},
    )
    jobs = {j.task: j.request for j in iter_jobs(load_pipeline(path))}
    local = {"path": str(tmp_path / "in" / "cat.png"), "sha256": _sha(PNG)}
    assert jobs["one"]["image_url"] == local
    assert jobs["url"]["image_url"] == "https://example.com/cat.png"
    assert jobs["data"]["image_url"] == "data:image/png;base64,AAAA"
    assert jobs["id"]["image_url"] == {"file_id": "file-9"}
    assert jobs["refs"]["image_urls"] == [
        local,
        "https://example.com/b.jpg",
        {"file_id": "file-3"},
    ]


def test_templated_image_input_is_a_url_or_a_file_after_rendering(write, tmp_path: Path):
    path = write(
        """
datasets: {d: {rows: [{img: a.png}, {img: "https://example.com/x.png"}]}}
images:
  - {model: grok-imagine-image, for_each: d, prompt: edit, image_urls: ["{{ row.img }}"]}
""",
        files={"a.png": PNG},
    )
    first, second = iter_jobs(load_pipeline(path))
    assert first.request["image_urls"] == [{"path": str(tmp_path / "a.png"), "sha256": _sha(PNG)}]
    assert second.request["image_urls"] == ["https://example.com/x.png"]


def test_file_problems_are_located(write):
    path = write(
        """
images:
  - {model: grok-imagine-image, prompt: a, image_url: missing.png}
  - {model: grok-imagine-image, prompt: b, image_urls: [doc.pdf]}
  - {model: grok-imagine-image, prompt: c, image_url: in.png, image_file: in.png}
chats:
  - model: grok-4.3
    messages: [{user: [{type: file, path: ../outside.pdf}]}]
""",
        files={"doc.pdf": PDF, "in.png": PNG},
    )
    problems = _problems(path)
    assert len(problems) == 4, problems
    assert problems[0].startswith(f"{path}:5:55: images[0].image_url: file 'missing.png' does not")
    assert problems[1].startswith(
        f"{path}:6:57: images[1].image_urls[0]: image 'doc.pdf' must be PNG, JPEG or WebP"
    )
    assert problems[2].startswith(
        f"{path}:7:63: images[2].image_file: use one of image_url, image_file, image_urls"
    )
    assert problems[3].startswith(
        f"{path}:10:43: chats[0].messages[0].user[0].path: path '../outside.pdf' leaves"
    )


def test_part_type_must_agree_with_its_key_and_path_needs_it(write):
    path = write(
        "chats:\n  - {model: grok-4.3, messages: [{user: [{type: text, path: a.pdf}, {path: a.pdf}]}]}\n",
        files={"a.pdf": PDF},
    )
    assert _problems(path) == [
        f'{path}:4:49: chats[0].messages[0].user[0].type: expected "file", got "text"',
        f"{path}:4:70: chats[0].messages[0].user[1].path: 'path' is only allowed together with 'type'",
    ]
