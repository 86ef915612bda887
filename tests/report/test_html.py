"""``report.html``: sections, charts, gallery links, and every run-provided text escaped."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from xai_pipelines.cli.app import app
from xai_pipelines.evals import score_line
from xai_pipelines.report import build_evals, build_usage
from xai_pipelines.report.html import MAX_GALLERY, render_html
from xai_pipelines.report.svg import bars, histogram

EVIL = '<script>alert("x")</script>'


class _Page(HTMLParser):
    """Collects what the tests check: tags, section ids, attributes of links and images."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.sections: list[str] = []
        self.attrs: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        found = dict(attrs)
        self.attrs.append((tag, found))
        if tag == "section":
            self.sections.append(str(found.get("id")))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def _chat(
    job_id: str, content: str, expect: list[dict[str, Any]], latency: float
) -> dict[str, Any]:
    line = {
        "id": job_id,
        "kind": "chat",
        "task": "ask",
        "index": 0,
        "model": "grok-4",
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "cost_usd_ticks": 1000},
        "cost_usd_ticks": 1000,
        "latency_s": latency,
        "calls": 1,
        "attempts": 1,
        "outputs": [{"index": 0, "content": content, "tool_calls": [], "finish_reason": "stop"}],
        "expect": expect,
        "meta": {"matrix": {"model": "grok-4"}},
    }
    line["scores"] = score_line(line)
    return line


def _image(job_id: str, paths: list[str]) -> dict[str, Any]:
    return {
        "id": job_id,
        "kind": "image",
        "task": "draw",
        "index": 1,
        "model": "grok-2-image",
        "prompt": f"a fox {EVIL}",
        "usage": {"images": len(paths), "cost_usd_ticks": 700},
        "cost_usd_ticks": 700,
        "latency_s": 0.5,
        "images": [{"index": i, "path": p, "mime_type": "image/png"} for i, p in enumerate(paths)],
        "expect": [],
        "scores": None,
        "meta": {},
    }


def _render(lines: list[dict[str, Any]], manifest: dict[str, Any] | None = None) -> str:
    usage = {"generated_at": "now", **build_usage(lines), "evals": build_evals(lines)}
    return render_html(usage, manifest, iter(lines))


def test_sections_and_charts() -> None:
    lines = [
        _chat("ok", "Paris", [{"contains": "Paris"}], 0.1),
        _chat("bad", "Lyon", [{"contains": "Paris"}], 0.9),
        _image("img", ["images/img/0.png", "images/img/1.jpg"]),
    ]
    manifest = {"spec": {"name": "demo"}, "status": "completed", "run_id": "r1", "elapsed_s": 1.5}
    page = _render(lines, manifest)
    parsed = _parse(page)
    assert page.startswith("<!DOCTYPE html>")
    assert parsed.sections == ["totals", "models", "latency", "evals", "failures", "gallery"]
    assert parsed.tags.count("svg") >= 4  # percentile bars, histogram, two pass-rate charts
    text = " ".join(parsed.text)
    assert "xai-run: demo" in text and "status completed in 1.5 s" in text
    assert "eval pass rate" in text and "50.0%" in text
    assert "expected to contain 'Paris', got 'Lyon'" in text


def test_self_contained_no_scripts_no_remote_assets() -> None:
    page = _render([_chat("a", "x", [], 0.1), _image("img", ["images/img/0.png"])])
    parsed = _parse(page)
    assert "script" not in parsed.tags and "link" not in parsed.tags
    for _tag, attrs in parsed.attrs:
        for name in ("src", "href"):
            value = attrs.get(name)
            assert value is None or not value.startswith(("http:", "https:", "//", "/"))


def test_run_text_is_escaped_everywhere() -> None:
    job_id = f"job-{EVIL}"
    lines = [
        _chat(job_id, f"Answer: {EVIL}", [{"contains": "Paris", "name": EVIL}], 0.2),
        _image("img", ["images/img/0.png"]),
    ]
    lines[0]["model"] = f"grok-{EVIL}"
    page = _render(lines, {"spec": {"name": EVIL}, "status": EVIL})
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    parsed = _parse(page)
    assert "script" not in parsed.tags
    assert any(EVIL in t for t in parsed.text)  # shown as text, not markup
    alts = [a.get("alt") for tag, a in parsed.attrs if tag == "img"]
    assert alts == [f"a fox {EVIL}"]


def test_gallery_keeps_only_relative_image_paths_and_is_bounded() -> None:
    unsafe = ["../../etc/passwd", "https://evil.example/x.png", "/abs/0.png", "images/a b/0.png"]
    page = _render([_image("img", ["images/img/0.png", *unsafe])])
    images = [a for tag, a in _parse(page).attrs if tag == "img"]
    assert [i["src"] for i in images] == ["images/img/0.png"]
    assert images[0]["loading"] == "lazy"
    many = [_image(f"m{i}", [f"images/m{i}/{k}.png" for k in range(4)]) for i in range(40)]
    shown = [a for tag, a in _parse(_render(many)).attrs if tag == "img"]
    assert len(shown) == MAX_GALLERY
    assert f"{160 - MAX_GALLERY} more images" in _render(many)


def test_no_evals_and_no_jobs() -> None:
    page = _render([])
    parsed = _parse(page)
    assert parsed.sections == ["totals", "models", "latency", "evals"]
    assert "No job had expectations." in page and "No jobs." in page


def test_histogram_and_bars() -> None:
    chart = histogram([0.1, 0.1, 0.2, 1.0], bins=10, markers=[("p50", 0.15)], title="t")
    parsed = _parse(chart)
    rects = [a for tag, a in parsed.attrs if tag == "rect"]
    assert len(rects) == 3  # three non-empty bins
    assert "p50 0.15 s" in " ".join(parsed.text)
    assert histogram([]) == ""
    labelled = bars([(EVIL, 0.5, "50%")], scale=1.0, title=EVIL)
    assert "<script" not in labelled and "&lt;script&gt;" in labelled
    widths = [float(str(a["width"])) for tag, a in _parse(labelled).attrs if tag == "rect"]
    assert widths[1] == widths[0] / 2  # the bar is half of its track


def test_a_real_run_escapes_a_scripted_answer(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump([{"match": "Capital of France?", "content": EVIL}]))
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "name": "xss",
                "defaults": {"model": "grok-3-mini"},
                "chats": [
                    {
                        "name": "q",
                        "id": "q",
                        "messages": [{"user": "Capital of France?"}],
                        "expect": [{"contains": "Paris"}],
                    }
                ],
            }
        )
    )
    out = tmp_path / "out"
    args = ["run", str(pipeline), "--local", "--responses", str(rules), "--out", str(out), "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    line = json.loads((out / "results.jsonl").read_text())
    assert line["content"] == EVIL and line["scores"]["passed"] is False
    page = (out / "report.html").read_text()
    assert "<script" not in page
    assert "got &#x27;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#x27;" in page
