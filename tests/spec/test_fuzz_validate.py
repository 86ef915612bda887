"""Mutation fuzz of ``validate`` over the examples (issue 10): 0 tracebacks, 0 hangs.

Each case takes an example of ``pipelines/``, applies a few seeded mutations
(keys deleted, duplicated or retyped, huge numbers, deep nesting, junk strings,
template bombs, Unicode controls, secrets, text damage, hostile ``--set``
values) and runs it through the function ``xai-run validate`` calls
(:func:`xai_pipelines.cli.spec_cmds.load_checked`, offline), in process, with a
per-case timeout. Every outcome must be a spec or a :class:`SpecError` whose
problems each carry a one-line message. A failure prints the case number and
its mutations; ``XAI_FUZZ_SEED`` changes the seed, ``--fuzz-cases N`` or
``XAI_FUZZ_CASES=N`` the number of cases (see ``tests/spec/conftest.py``).
"""

from __future__ import annotations

import copy
import os
import random
import re
import shutil
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from xai_pipelines.cli.spec_cmds import load_checked
from xai_pipelines.spec import SpecError
from xai_pipelines.spec.yaml_source import parse_yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "pipelines").glob("*.yaml"))
SEED = os.environ.get("XAI_FUZZ_SEED", "issue-10")
#: Far above any refusal's time (the template budget is 5 s of wall clock per render).
CASE_TIMEOUT_S = 30.0

BOMBS = [
    "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    "{{ 'x' | center(10**9) }}",
    "{{ 'x' * 10**9 }}",
    "{{ '%0999999999d' % 1 }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ (['x' * 1000000] * 1000) | join }}",
    "{{ ('x' * 4000000) | replace('x', 'xxxxx') }}",
    "{{ 'a\nb' | indent(10**8) }}",
    "{{ (2 ** 64) ** 64 }}",
    "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}",
    "{% for i in range(10) recursive %}{{ loop(range(10)) }}{% endfor %}",
    "{{ ''.__class__.__mro__ }}",
    "{{ lipsum(10**6) }}",
    "{{ row.nope }}",
    "{{ env.XAI_API_KEY }}",
    "{{ env['HOME'] }}",
    "{% include 'x' %}",
    "{{",
    "{% for %}",
    "{{ 1 / 0 }}",
    "{{ range(10**9) | list }}",
    "{{ '9' * 5000 | int }}",
]
CONTROLS = "\x00\x07\x1b\x7f\x85\x9b\u202a\u202e\u2066\u2069\u200b\ufeff\u2028\ud7ff"
JUNK_PARTS = [
    "..",
    "/",
    "\\",
    "../../etc/passwd",
    "/dev/zero",
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "&anchor",
    "*alias",
    "!!python/object",
    "<<",
    ": ",
    "- ",
    "#",
    "'",
    '"',
    "\t",
    "\n",
    "🙂",
    "日本",
    "ﷺ",
    *CONTROLS,
]
VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**31,
    2**63,
    1.5,
    -0.0,
    1e308,
    "",
    " ",
    "x",
    "grok-4.3",
    "data/capitals.jsonl",
    [],
    [None],
    {},
    {"a": 1},
    "@@HUGE@@",
    "@@NEGHUGE@@",
    "@@OVERFLOW@@",
    "@@LONGFLOAT@@",
    "@@DEEP:65@@",
    "@@DEEP:2000@@",
    "@@DEEP:100000@@",
]
SETS = [
    "execution.concurrency=1000000",
    "execution.concurrency=" + "9" * 5000,
    "execution.retries.initial_backoff=1e400",
    "execution.retries.initial_backoff=" + "9" * 56,
    "execution.timeout=99999999999h",
    "vars.x=" + "[" * 100000 + "]" * 100000,
    "vars.x=" + "9" * 5000,
    "x=" + "{{ 'x' | center(10**9) }}",
    "chats.0.model=" + "x" * 10000,
    "chats.99.model=m",
    "name=\u202eevil",
    "=x",
    "nokey",
    "datasets.x.path=/etc/passwd",
]


class _Hang(BaseException):
    """Raised by the per-case alarm (a BaseException: no ``except Exception`` swallows it)."""


def _alarm(signum: int, frame: Any) -> None:
    raise _Hang


def _slots(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, Any, tuple[Any, ...]]]:
    """Every (container, key, path) of a JSON-like tree."""
    if isinstance(node, dict):
        for key in list(node):
            yield node, key, (*path, key)
            yield from _slots(node[key], (*path, key))
    elif isinstance(node, list):
        for i in range(len(node)):
            yield node, i, (*path, i)
            yield from _slots(node[i], (*path, i))


def _junk(rng: random.Random) -> str:
    text = "".join(rng.choice(JUNK_PARTS) for _ in range(rng.randint(1, 12)))
    return text * (rng.choice([1, 1, 1, 50, 5000]))


def _pick(rng: random.Random, data: Any, strings: bool = False) -> tuple[Any, Any, str] | None:
    slots = [(c, k, p) for c, k, p in _slots(data) if not strings or isinstance(c[k], str)]
    if not slots:
        return None
    container, key, path = rng.choice(slots)
    return container, key, ".".join(map(str, path))


def _delete(rng: random.Random, data: Any) -> str:
    slot = _pick(rng, data)
    if slot is None:
        return "delete: nothing"
    container, key, where = slot
    del container[key]
    return f"delete {where}"


def _duplicate(rng: random.Random, data: Any) -> str:
    slot = _pick(rng, data)
    if slot is None:
        return "duplicate: nothing"
    container, key, where = slot
    if isinstance(container, list):
        container.insert(key, copy.deepcopy(container[key]))
        return f"duplicate item {where}"
    other = _pick(rng, data)
    name = str(other[1]) if other is not None else f"{key}_2"
    container[name] = copy.deepcopy(container[key])
    return f"copy {where} to key {name!r}"


def _retype(rng: random.Random, data: Any) -> str:
    slot = _pick(rng, data)
    if slot is None:
        return "retype: nothing"
    container, key, where = slot
    value = copy.deepcopy(rng.choice(VALUES))
    container[key] = value
    return f"set {where} = {value!r:.40}"


def _junk_string(rng: random.Random, data: Any) -> str:
    slot = _pick(rng, data, strings=rng.random() < 0.7)
    if slot is None:
        return "junk: nothing"
    container, key, where = slot
    container[key] = _junk(rng)
    return f"junk at {where}"


def _bomb(rng: random.Random, data: Any) -> str:
    slot = _pick(rng, data, strings=True) or _pick(rng, data)
    if slot is None:
        return "bomb: nothing"
    container, key, where = slot
    bomb = rng.choice(BOMBS)
    old = container[key]
    container[key] = f"{old} {bomb}" if isinstance(old, str) and rng.random() < 0.5 else bomb
    return f"bomb at {where}: {bomb[:40]}"


def _controls(rng: random.Random, data: Any) -> str:
    slot = _pick(rng, data, strings=True)
    if slot is None:
        return "controls: nothing"
    container, key, where = slot
    text = container[key]
    at = rng.randint(0, len(text))
    container[key] = text[:at] + rng.choice(CONTROLS) + text[at:]
    return f"control character in {where}"


def _unknown_key(rng: random.Random, data: Any) -> str:
    dicts = [c[k] for c, k, _ in _slots(data) if isinstance(c[k], dict)] + [data]
    target = rng.choice(dicts)
    name = rng.choice(["typo", "mdoel", "__proto__", "0", "", "id", "row", "env", "matrix"])
    target[name] = copy.deepcopy(rng.choice(VALUES))
    return f"add key {name!r}"


def _secret(rng: random.Random, data: Any) -> str:
    data["env"] = rng.choice([["XAI_API_KEY"], {"T": {"secret": True, "default": "s"}}])
    slot = _pick(rng, data, strings=True)
    if slot is not None:
        container, key, _ = slot
        container[key] = "{{ env.XAI_API_KEY }}{{ env.T }}"
    return "secret referenced"


#: Hostile dataset contents by format (a row nested too deep, a huge number, junk...).
DATA: dict[str, list[bytes]] = {
    "jsonl": [
        b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
        b'{"a": ' + b"9" * 5000 + b"}\n",
        b'{"a": 1e400, "b": NaN, "c": -Infinity}\n',
        b'{"a": "\\u202e\\u0000\\ud800"}\n',
        b'{"a": 1}\n[1, 2]\n',
        b'{"a": 1}\n{"a": \n',
        b"\xff\xfe\x00garbage\n",
        b"",
        b'{"a": "' + b"x" * 9_000_000 + b'"}\n',
    ],
    "json": [b"[" * 100_000, b'[{"a": 1}, 2]', b'{"a": 1}', b"[", b'[{"a": ' + b"1" * 5000 + b"}]"],
    "csv": [b"a,b\n1\n", b"a\n" + b"x" * 200_000 + b"\n", b'a\n"unclosed\n', b"\xff\n"],
    "yaml": [
        b"- a: " + b"[" * 3000 + b"]" * 3000 + b"\n",
        b"a: 1\n",
        b"- &x [*x]\n",
        b"- !!python/x 1\n",
    ],
    "txt": [b"\x00\x01\n", b"line\n" * 1000, b"\xc3\x28\n"],
}
_FILES: dict[str, bytes] = {}


def _hostile_data(rng: random.Random, data: Any) -> str:
    ext = rng.choice(sorted(DATA))
    name = f"fuzz-data.{ext}"
    _FILES[name] = rng.choice(DATA[ext])
    datasets = data.get("datasets")
    if isinstance(datasets, dict) and datasets and rng.random() < 0.7:
        target = rng.choice(sorted(datasets))
        entry = datasets[target] if isinstance(datasets[target], dict) else {}
        entry.pop("rows", None)
        entry["path"] = name
        datasets[target] = entry
        return f"dataset {target} reads hostile {name}"
    data["datasets"] = {"fz": {"path": name}}
    chats = data.get("chats")
    for task in chats if isinstance(chats, list) else []:
        if isinstance(task, dict):
            task["for_each"] = "fz"
            break
    return f"a new dataset reads hostile {name}"


MUTATIONS: list[Callable[[random.Random, Any], str]] = [
    _delete,
    _duplicate,
    _retype,
    _junk_string,
    _bomb,
    _controls,
    _unknown_key,
    _secret,
    _hostile_data,
]

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # (libyaml's: long junk dumps fast)
_MARKER = re.compile(r"""(['"]?)@@([A-Z]+)(?::(\d+))?@@\1""")


def _expand(match: re.Match[str]) -> str:
    kind, size = match.group(2), int(match.group(3) or 0)
    return {
        "HUGE": "9" * 5000,
        "NEGHUGE": "-" + "9" * 5000,
        "OVERFLOW": "1e400",
        "LONGFLOAT": "1" + "0" * 400 + ".5",
        "DEEP": "[" * size + "]" * size,
    }[kind]


def _damage(rng: random.Random, text: str) -> tuple[str, str]:
    """Text-level damage, sometimes: truncation, a doubled line, a tab, bytes that are not UTF-8."""
    choice = rng.random()
    lines = text.splitlines(keepends=True)
    if choice < 0.05 and text:
        cut = rng.randint(0, len(text))
        return text[:cut], f"truncated at {cut}"
    if choice < 0.10 and lines:
        i = rng.randrange(len(lines))
        return "".join(lines[: i + 1] + lines[i:]), f"line {i + 1} doubled"
    if choice < 0.13 and lines:
        i = rng.randrange(len(lines))
        return "".join([*lines[:i], "\t" + lines[i], *lines[i + 1 :]]), f"tab on line {i + 1}"
    return text, ""


def _case(rng: random.Random, base: Any) -> tuple[str, list[str], list[str], dict[str, bytes]]:
    data = copy.deepcopy(base)
    _FILES.clear()
    done = [rng.choice(MUTATIONS)(rng, data) for _ in range(rng.choice([1, 1, 2, 3]))]
    text = yaml.dump(data, Dumper=_DUMPER, allow_unicode=True, sort_keys=False, width=1 << 20)
    text = _MARKER.sub(_expand, text)
    text, damage = _damage(rng, text)
    if damage:
        done.append(damage)
    sets = rng.sample(SETS, k=1) if rng.random() < 0.1 else []
    return text, sets, done + [f"--set {s[:40]}" for s in sets], dict(_FILES)


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, Any]]:
    """A copy of pipelines/ (mutants sit next to the files they name) and each example's data."""
    work = tmp_path_factory.mktemp("fuzz") / "pipelines"
    shutil.copytree(ROOT / "pipelines", work)
    out = []
    for example in EXAMPLES:
        data, _ = parse_yaml(example.read_text(encoding="utf-8"), str(example))
        out.append((work / f"fuzz-{example.stem}.yaml", data))
    return out


def _run_case(path: Path, sets: list[str]) -> str:
    """``ok``, ``spec-error`` or ``hang``; anything else raises (a traceback: the bug)."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, CASE_TIMEOUT_S)
    try:
        load_checked(path, sets, allow_outside=False)
        return "ok"
    except SpecError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.message.strip(), problem
            assert "\n" not in problem.message and "\n" not in problem.path, problem
            assert "Traceback" not in problem.message, problem
        return "spec-error"
    except _Hang:
        return "hang"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_examples_are_valid_before_mutation():
    assert len(EXAMPLES) >= 4
    for example in EXAMPLES:
        load_checked(example, [], allow_outside=False)


@pytest.mark.slow
def test_validate_never_tracebacks_or_hangs_on_mutated_examples(examples, fuzz_cases):
    outcomes: dict[str, int] = {"ok": 0, "spec-error": 0, "hang": 0}
    failures: list[str] = []
    slowest = (0.0, "")
    for i in range(fuzz_cases):
        rng = random.Random(f"{SEED}-{i}")
        path, base = examples[i % len(examples)]
        text, sets, done, files = _case(rng, base)
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        for name, content in files.items():
            (path.parent / name).write_bytes(content)
        what = f"case {i} ({path.name}): {'; '.join(done)}"
        start = time.monotonic()
        try:
            outcome = _run_case(path, sets)
        except (Exception, AssertionError):
            failures.append(f"{what}\n{traceback.format_exc(limit=-4)}")
            continue
        elapsed = time.monotonic() - start
        slowest = max(slowest, (elapsed, what))
        outcomes[outcome] += 1
        if outcome == "hang":
            failures.append(f"{what}: no answer within {CASE_TIMEOUT_S} s")
    assert not failures, f"{len(failures)} of {fuzz_cases} cases failed:\n" + "\n".join(
        failures[:5]
    )
    # The mutations must exercise both sides: some mutants stay valid, most are refused.
    assert outcomes["spec-error"] > fuzz_cases // 3, outcomes
    assert outcomes["ok"] > 0, outcomes
    assert slowest[0] < CASE_TIMEOUT_S, slowest
