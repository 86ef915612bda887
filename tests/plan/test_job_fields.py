"""A job stores each fact once: its digest is computed once, its seed lives in its request."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from xai_pipelines.plan import ChatJob, ImageJob, iter_jobs, jobs
from xai_pipelines.spec import load_pipeline

PIPELINE = """
defaults: {model: grok-4.3, seed: 7}
chats:
  - name: c
    repeat: 3
    messages: [{user: hi}]
images:
  - name: i
    model: grok-imagine-image
    prompt: a fox
"""


def test_the_digest_is_computed_once_per_job(write, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    real = jobs._digest
    monkeypatch.setattr(jobs, "_digest", lambda value: calls.append(value) or real(value))
    planned = list(iter_jobs(load_pipeline(write(PIPELINE))))
    assert [j.kind for j in planned] == ["chat", "chat", "chat", "image"]
    first = [j.digest for j in planned]
    again = [j.digest for j in planned] + [j.to_dict()["digest"] for j in planned]
    assert again == first * 2 and len(calls) == len(planned)


def test_a_changed_copy_has_its_own_digest() -> None:
    job = ChatJob(id="a", request={"model": "grok-4.3", "messages": [], "seed": 1})
    other = dataclasses.replace(job, mode="stream")
    assert job.digest and other.digest != job.digest
    assert ImageJob(id="i", request={"model": "m", "prompt": "p"}).digest != job.digest


def test_the_seed_is_the_one_the_request_sends(write) -> None:
    planned = list(iter_jobs(load_pipeline(write(PIPELINE))))
    chats = [j for j in planned if isinstance(j, ChatJob)]
    assert [j.seed for j in chats] == [j.request["seed"] for j in chats]
    assert chats[0].seed == 7 and len({j.seed for j in chats}) == 3
    assert all(j.to_dict()["seed"] == j.seed for j in chats)
    assert "seed" not in {f.name for f in dataclasses.fields(ChatJob)}
    assert ChatJob(id="n", request={"model": "grok-4.3", "messages": []}).seed is None
