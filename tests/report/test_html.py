"""``report.html``: sections, charts, gallery, every case embedded, and every run-provided text escaped."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from typer.testing import CliRunner

from xai_pipelines.cli.app import app
from xai_pipelines.evals import score_line
from xai_pipelines.records import UNSET, ErrorGroup, UsageReport
from xai_pipelines.report import build_evals, build_usage, html
from xai_pipelines.report.html import (
    JOB_FIELDS,
    MAX_GALLERY,
    MAX_TEXT,
    MIN_TEXT,
    STATUS,
    render_html,
    render_output_dir,
    text_limit,
)
from xai_pipelines.report.svg import bars, histogram
from xai_pipelines.store import OutputDir

EVIL = '<script>alert("x")</script>'


class _Page(HTMLParser):
    """Collects what the tests check: tags, section ids, attributes, text, script bodies."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.sections: list[str] = []
        self.attrs: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        found = dict(attrs)
        self.attrs.append((tag, found))
        if tag == "section":
            self.sections.append(str(found.get("id")))
        if tag == "script":
            self._script = found
            self.scripts.append((found, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            attrs, body = self.scripts[-1]
            self.scripts[-1] = (attrs, body + data)
        else:
            self.text.append(data)


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def embedded(page: str) -> list[dict[str, Any]]:
    """The job records of a page, as dicts with the shared strings looked up."""
    scripts = {a.get("id"): body for a, body in _parse(page).scripts}
    tables = json.loads(str(scripts["xr-tables"]))
    assert tables["fields"] == list(JOB_FIELDS) and tables["status"] == list(STATUS)
    jobs = []
    for record in json.loads(str(scripts["xr-jobs"])):
        job = dict(zip(JOB_FIELDS, record, strict=True))
        job["task"] = tables["tasks"][job["task"]]
        job["model"] = tables["models"][job["model"]]
        job["kind"] = tables["kinds"][job["kind"]]
        job["cell"] = tables["cells"][job["cell"]]
        job["vars"] = None if job["vars"] < 0 else tables["vars"][job["vars"]]
        job["prompt"] = None if job["prompt"] < 0 else tables["prompts"][job["prompt"]]
        job["status"] = STATUS[job["status"]]
        job["assertions"] = [
            (tables["labels"][label], bool(ok), tables["reasons"][reason])
            for label, ok, reason in job["assertions"]
        ]
        jobs.append(job)
    return sorted(jobs, key=lambda j: j["order"])


def _chat(
    job_id: str, content: str, expect: list[dict[str, Any]], latency: float, **over: Any
) -> dict[str, Any]:
    line = {
        "id": job_id,
        "kind": "chat",
        "task": "ask",
        "index": 0,
        "model": "grok-4",
        "request": {"messages": [{"role": "user", "content": f"Question {job_id}?"}]},
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "cost_usd_ticks": 1000},
        "cost_usd_ticks": 1000,
        "latency_s": latency,
        "calls": 1,
        "attempts": 1,
        "content": content,
        "outputs": [{"index": 0, "content": content, "tool_calls": [], "finish_reason": "stop"}],
        "expect": expect,
        "meta": {"row_index": 0, "row": {}, "matrix": {"model": "grok-4"}, "repeat": 0},
    } | over
    line["scores"] = score_line(line) if expect else None
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


def _usage(lines: list[dict[str, Any]], errors: list[dict[str, Any]] = ()) -> UsageReport:  # type: ignore[assignment]
    return msgspec.structs.replace(
        build_usage(lines, errors), generated_at="now", evals=build_evals(lines)
    )


def _render(lines: list[dict[str, Any]], manifest: dict[str, Any] | None = None) -> str:
    return render_html(_usage(lines), manifest, iter(lines))


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
    assert parsed.sections == [
        "totals", "models", "latency", "evals", "failures", "cases", "gallery"
    ]  # fmt: skip
    assert parsed.tags.count("svg") >= 4  # percentile bars, histogram, two pass-rate charts
    text = " ".join(parsed.text)
    assert "xai-run: demo" in text and "status completed in 1.5 s" in text
    assert "eval pass rate" in text and "50.0%" in text
    assert "expected to contain 'Paris', got 'Lyon'" in text
    assert "3 jobs." in text
    links = [a.get("href") for tag, a in parsed.attrs if tag == "a"]
    assert "#job=bad" in links  # a failing job links to its case


def test_self_contained_one_script_allowed_by_its_hash() -> None:
    page = _render([_chat("a", "x", [], 0.1), _image("img", ["images/img/0.png"])])
    parsed = _parse(page)
    assert "link" not in parsed.tags and "iframe" not in parsed.tags
    for _tag, attrs in parsed.attrs:
        for name in ("src", "href"):
            value = attrs.get(name)
            assert value is None or not value.startswith(("http:", "https:", "//", "/"))
    data = [a.get("id") for a, _ in parsed.scripts if a.get("type") == "application/json"]
    code = [body for a, body in parsed.scripts if a.get("type") is None]
    assert data == ["xr-tables", "xr-jobs"] and len(code) == 1
    assert all("src" not in a for a, _ in parsed.scripts)
    csp = next(
        a["content"] for t, a in parsed.attrs if a.get("http-equiv") == "Content-Security-Policy"
    )
    digest = base64.b64encode(hashlib.sha256(code[0].encode()).digest()).decode()
    assert csp is not None and "default-src 'none'" in csp
    assert f"script-src 'sha256-{digest}'" in csp  # that script and no other may run


def test_run_text_is_escaped_everywhere() -> None:
    job_id = f"job-{EVIL}"
    lines = [
        _chat(
            job_id,
            f"Answer: {EVIL}",
            [{"contains": "Paris", "name": EVIL}],
            0.2,
            meta={"row_index": 0, "row": {"q": EVIL}, "matrix": {"model": EVIL}, "repeat": 0},
            request={"messages": [{"role": "user", "content": EVIL}]},
        ),
        _image("img", ["images/img/0.png"]),
    ]
    lines[0]["model"] = f"grok-{EVIL}"
    page = _render(lines, {"run_id": "r1", "spec": {"name": EVIL}, "status": EVIL})
    assert EVIL not in page and "</script>alert" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    parsed = _parse(page)
    assert [t for t in parsed.tags if t == "script"] == ["script"] * 3  # the page's own three
    assert any(EVIL in t for t in parsed.text)  # shown as text, not markup
    alts = [a.get("alt") for tag, a in parsed.attrs if tag == "img"]
    assert alts == [f"a fox {EVIL}"]
    job = embedded(page)[0]  # and the embedded JSON gives the text back intact
    assert job["id"] == job_id and job["answer"] == f"Answer: {EVIL}"
    assert job["model"] == f"grok-{EVIL}" and job["prompt"] == EVIL
    assert job["vars"] == {"q": EVIL} and job["cell"] == {"model": EVIL}
    assert job["assertions"][0][0] == EVIL


def test_gallery_keeps_only_relative_image_paths_shows_prompts_and_is_bounded() -> None:
    unsafe = ["../../etc/passwd", "https://evil.example/x.png", "/abs/0.png", "images/a b/0.png"]
    page = _render([_image("img", ["images/img/0.png", *unsafe])])
    images = [a for tag, a in _parse(page).attrs if tag == "img"]
    assert [i["src"] for i in images] == ["images/img/0.png"]
    assert images[0]["loading"] == "lazy"
    assert f"a fox {EVIL}" in _parse(page).text  # the caption shows the prompt
    job = embedded(page)[0]
    assert job["answer"] == ["images/img/0.png"] and job["length"] == 5  # five made, one shown
    assert job["prompt"] == f"a fox {EVIL}"
    many = [_image(f"m{i}", [f"images/m{i}/{k}.png" for k in range(4)]) for i in range(40)]
    shown = [a for tag, a in _parse(_render(many)).attrs if tag == "img"]
    assert len(shown) == MAX_GALLERY
    assert f"{160 - MAX_GALLERY} more images" in _render(many)


def test_no_evals_and_no_jobs() -> None:
    page = _render([])
    parsed = _parse(page)
    assert parsed.sections == ["totals", "models", "latency", "evals", "cases"]
    assert "No job had expectations." in page and "No jobs." in page
    assert embedded(page) == []


def test_every_job_is_embedded_last_line_wins() -> None:
    multi_turn = _chat(
        "chat-2",
        "Lima",
        [{"regex": "^Lima$", "name": "one word"}, {"contains": "Peru"}],
        0.25,
        index=2,
        turns=[
            {"user": {"role": "user", "content": "What is its capital?"}, "outputs": []},
            {"user": {"role": "user", "content": [{"type": "text", "text": "One word."}]}},
        ],
        meta={
            "row_index": 4,
            "row": {"country": "Peru", "n": 3},
            "matrix": {"model": "m", "t": 0.5},
            "repeat": 1,
        },
        cached=True,
    )
    replaced = _chat("chat-1", "old answer", [], 0.1, index=1)
    lines = [replaced, multi_turn, _chat("chat-1", "new answer", [], 0.3, index=1)]
    lines += [_chat(f"fill-{i}", "x", [], 0.1, index=10 + i) for i in range(2100)]
    lines.append(_chat("fill-5", "replaced in the first chunk", [], 0.1, index=15))
    page = _render(lines)
    jobs = embedded(page)
    assert len(jobs) == 2102 and len({j["id"] for j in jobs}) == 2102
    by_id = {j["id"]: j for j in jobs}
    assert by_id["chat-1"]["answer"] == "new answer" and by_id["chat-1"]["status"] == "done"
    assert by_id["fill-5"]["answer"] == "replaced in the first chunk"
    job = by_id["chat-2"]
    assert job["task"] == "ask" and job["model"] == "grok-4" and job["kind"] == "chat"
    assert job["prompt"] == "One word."  # the last user message sent
    assert job["vars"] == {"country": "Peru", "n": "3"} and job["row"] == 4 and job["repeat"] == 1
    assert job["cell"] == {"model": "m", "t": "0.5"}
    assert job["status"] == "failed" and job["cached"] == 1 and job["latency"] == 0.25
    assert job["assertions"] == [
        ("one word", True, "match /^Lima$/"),
        ("contains", False, "expected to contain 'Peru', got 'Lima'"),
    ]
    assert [j["id"] for j in jobs[:3]] == ["chat-1", "chat-2", "fill-0"]  # plan order
    text = " ".join(_parse(page).text)
    assert "served from cache" in text
    assert "2102 jobs; tallest bar" in text  # the histogram counts each job once


def test_long_answers_are_cut_and_their_length_noted() -> None:
    assert text_limit(10) == MAX_TEXT and text_limit(100_000) == MIN_TEXT
    assert MIN_TEXT < text_limit(10_000) < MAX_TEXT
    long = "word " * 1000
    page = _render([_chat("long", long, [], 0.1)])
    job = embedded(page)[0]
    assert job["length"] == len(long) == 5000
    assert len(job["answer"]) == MAX_TEXT and job["answer"].endswith("…")


def test_a_lone_surrogate_in_a_line_still_writes_as_utf8() -> None:
    line = json.loads('{"id": "s", "kind": "chat", "content": "bad \\ud800 text", "index": 0}')
    page = _render([line])
    page.encode("utf-8")  # no UnicodeEncodeError when report.html is written
    assert embedded(page)[0]["answer"] == "bad ? text"


def _write_lines(path: Path, lines: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_jobs_failed_at_the_api_are_cases_with_their_error(tmp_path: Path) -> None:
    out = OutputDir(tmp_path)
    done = _chat("done", "Paris", [{"contains": "Paris"}], 0.1, index=0)
    lost = {
        "id": "lost",
        "kind": "chat",
        "task": "ask",
        "index": 1,
        "request": {"model": "grok-4", "messages": [{"role": "user", "content": "Where?"}]},
        "turns": [],
        "meta": {"row_index": 1, "row": {"city": "Lyon"}, "matrix": {}, "repeat": 0},
    }
    _write_lines(out.plan, [{k: v for k, v in done.items() if k != "scores"}, lost])
    _write_lines(out.results, [done])
    message = "address lookup failed for api.x.ai"
    errors = [
        {
            "id": "done",
            "kind": "chat",
            "model": "grok-4",
            "final": False,
            "code": "UNAVAILABLE",
            "message": "blip",
        },
        {
            "id": "done",
            "kind": "chat",
            "model": "grok-4",
            "final": True,
            "code": "UNAVAILABLE",
            "message": "x",
        },
        {
            "id": "lost",
            "kind": "chat",
            "model": "grok-4",
            "final": False,
            "code": "UNAVAILABLE",
            "message": "retry",
        },
        {
            "id": "lost",
            "kind": "chat",
            "model": "grok-4",
            "final": True,
            "code": "UNAVAILABLE",
            "message": message,
        },
        {
            "id": "gone",
            "kind": "image",
            "model": "img",
            "final": True,
            "code": "INTERNAL",
            "message": EVIL,
        },
    ]
    _write_lines(out.errors, errors)
    usage = _usage([done], errors)
    usage.totals.error_groups = [
        ErrorGroup(code="UNAVAILABLE", message=message, count=1, example_ids=["lost"]),
        ErrorGroup(code="INTERNAL", message=EVIL, count=1, example_ids=["gone"]),
    ]
    page = render_output_dir(out, usage, None)
    jobs = {j["id"]: j for j in embedded(page)}
    assert list(jobs) == ["done", "lost", "gone"]  # plan order; the unplanned one last
    assert jobs["done"]["status"] == "passed" and jobs["done"]["error"] is None
    lost_job = jobs["lost"]
    assert lost_job["status"] == "error" and lost_job["error"] == ["UNAVAILABLE", message]
    assert lost_job["prompt"] == "Where?" and lost_job["vars"] == {"city": "Lyon"}
    assert lost_job["task"] == "ask" and lost_job["model"] == "grok-4"
    assert jobs["gone"]["error"] == ["INTERNAL", EVIL] and jobs["gone"]["task"] == "?"
    parsed = _parse(page)
    assert "errors" in parsed.sections
    text = " ".join(parsed.text)
    assert message in text and EVIL in text and EVIL not in page
    assert "#job=lost" in [a.get("href") for tag, a in parsed.attrs if tag == "a"]
    usage.totals.error_groups = UNSET  # a usage.json from before error groups: codes only
    fallback = " ".join(_parse(render_output_dir(out, usage, None)).text)
    assert "UNAVAILABLE" in fallback and "INTERNAL" in fallback and message not in fallback


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
    assert EVIL not in page
    assert "got &#39;&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&#39;" in page
    job = embedded(page)[0]
    assert job["answer"] == EVIL and job["prompt"] == "Capital of France?"
    assert re.search(r"\\u003cscript\\u003e", page)  # inside the embedded JSON


def test_a_run_larger_than_the_cap_embeds_every_failing_job_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(html, "MAX_CASES", 40)
    out = OutputDir(tmp_path)
    lines = [_chat(f"ok-{i}", "Paris", [{"contains": "Paris"}], 0.1, index=i) for i in range(60)]
    lines += [
        _chat(f"bad-{i}", "Rome", [{"contains": "Paris"}], 0.2, index=60 + i) for i in range(15)
    ]
    lines.insert(5, _chat("bad-3", "first try", [{"contains": "Paris"}], 0.2, index=63))
    _write_lines(out.results, lines)
    errors = [
        {"id": "lost", "kind": "chat", "model": "grok-4", "code": "UNAVAILABLE", "message": "down",
         "final": True, "attempt": 3, "task": "ask", "index": 99},
    ]  # fmt: skip
    _write_lines(out.errors, errors)
    usage = msgspec.structs.replace(
        build_usage(lines, errors), generated_at="now", evals=build_evals(lines, errors)
    )
    page = render_output_dir(out, usage, None)
    jobs = embedded(page)
    ids = {j["id"] for j in jobs}
    assert len(jobs) == 40 and len(ids) == 40
    assert {f"bad-{i}" for i in range(15)} | {"lost"} <= ids  # every failing job
    assert ids - {f"bad-{i}" for i in range(15)} - {"lost"} == {f"ok-{i}" for i in range(24)}
    assert next(j for j in jobs if j["id"] == "bad-3")["answer"] == "Rome"  # its last line
    text = " ".join(" ".join(_parse(page).text).split())
    assert "76 jobs. 40 of them are shown: every failing job first" in text
    assert "75 jobs; tallest bar" in text  # the histogram: every job with a latency


def test_a_run_within_the_cap_says_nothing_of_it() -> None:
    page = _render([_chat(f"ok-{i}", "x", [], 0.1, index=i) for i in range(3)])
    assert "xr-cases-cut" not in page and len(embedded(page)) == 3
