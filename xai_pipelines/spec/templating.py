"""Sandboxed Jinja templating for every string of a pipeline.

Templates run in Jinja's ``SandboxedEnvironment`` with ``StrictUndefined``: no
access to Python internals, no loader (so no ``include``/``import``/files),
no network, and an undefined name or field is an error. Environment variables
are reachable only as ``env.NAME`` for names listed in the pipeline's ``env:``.
A literal ``{{`` is written ``{{ '{{' }}`` (or inside ``{% raw %}...{% endraw %}``).

A value tree (the request a task will send, with :class:`Tpl` leaves where the
YAML had a template) is compiled once per task into a renderer; rendering
then only evaluates the templated leaves.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment, safe_range

from xai_pipelines.spec.errors import PathT, Problem, SpecError, did_you_mean
from xai_pipelines.spec.yaml_source import Positions

BUILTIN_NAMES = ("row", "index", "row_index", "repeat", "matrix", "name", "task", "env")
_MARKERS = ("{{", "{%", "{#")
_MAX_SIZE = 1_000_000

Context = Mapping[str, Any]
Renderer = Callable[[Context], Any]


def is_template(text: str) -> bool:
    """Whether ``text`` contains Jinja syntax (otherwise it is used as is)."""
    return any(m in text for m in _MARKERS)


@dataclass(frozen=True, slots=True)
class Tpl:
    """A templated string in a value tree, with the YAML path it came from."""

    text: str
    path: PathT


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file named in the pipeline whose contents are needed after rendering its path.

    Attributes:
        path: The (possibly templated) path, relative to the pipeline.
        kind: ``"image"`` (sent as a data URL), ``"attachment"`` (a message's file part)
            or ``"image_input"`` (an image job's input: a URL, or a file to upload).
        at: YAML path of the value, for problems.
    """

    path: str | Tpl
    kind: str
    at: PathT


class EnvVars(Mapping[str, str]):
    """The environment variables a pipeline listed; any other name is an error."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    def __getitem__(self, name: str) -> str:
        if name not in self._values:
            raise _EnvNotListed(name)
        return self._values[name]

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


class _EnvNotListed(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"environment variable '{name}' is not listed in env:")


class _Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"**", "*"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            bits = left.bit_length() if isinstance(left, int) else 64
            if isinstance(right, int | float) and (abs(right) > 64 or bits * abs(right) > 4096):
                raise jinja2.sandbox.SecurityError("exponent too large in template")
            return operator.pow(left, right)
        size = max(_len(left), 1) * max(_len(right), 1)
        if size > _MAX_SIZE:
            raise jinja2.sandbox.SecurityError("template result too large")
        return operator.mul(left, right)


def _len(value: Any) -> int:
    if isinstance(value, str | list | tuple):
        return len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value)
    return 1


def _slug(value: Any) -> str:
    """Lower-case, with runs of characters other than letters and digits turned into ``-``."""
    out, dash = [], False
    for ch in str(value).lower():
        if ch.isalnum():
            out.append(ch)
            dash = False
        elif not dash:
            out.append("-")
            dash = True
    return "".join(out).strip("-")


class TemplateEngine:
    """Compiles and renders the templates of one pipeline, reporting problems at their positions."""

    def __init__(self, positions: Positions) -> None:
        self.positions = positions
        self.env = _Sandbox(
            undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
        )
        self.env.globals = {"range": safe_range}
        self.env.filters["slug"] = _slug
        self._cache: dict[str, jinja2.Template] = {}

    def _problem(self, path: PathT, message: str, line_offset: int = 0) -> Problem:
        problem = self.positions.problem(path, message)
        if line_offset and problem.file == self.positions.file:
            # A block scalar's content starts on the line after its indicator.
            return Problem(
                problem.file, problem.line + line_offset, problem.column, problem.path, message
            )
        return problem

    def check_syntax(self, text: str, path: PathT, known: set[str] | None) -> list[Problem]:
        """Compile ``text``; report syntax errors and (when ``known`` is given) undeclared names."""
        try:
            ast = self.env.parse(text)
        except jinja2.TemplateSyntaxError as exc:
            offset = (exc.lineno or 1) if "\n" in text else 0
            return [self._problem(path, f"template syntax error: {exc.message}", offset)]
        if known is None:
            return []
        out = []
        for name in sorted(meta.find_undeclared_variables(ast) - known - set(self.env.globals)):
            out.append(
                self._problem(path, f"undefined variable '{name}'{did_you_mean(name, known)}")
            )
        return out

    def template(self, tpl: Tpl) -> jinja2.Template:
        """The compiled template (compiled once per distinct text)."""
        compiled = self._cache.get(tpl.text)
        if compiled is None:
            try:
                compiled = self.env.from_string(tpl.text)
            except jinja2.TemplateSyntaxError as exc:
                raise SpecError(
                    [self._problem(tpl.path, f"template syntax error: {exc.message}")]
                ) from None
            self._cache[tpl.text] = compiled
        return compiled

    def render(self, tpl: Tpl, context: Context, where: str = "") -> str:
        """Render one template; problems name its position (and ``where``, e.g. a dataset row)."""
        try:
            return self.template(tpl).render(context)
        except _EnvNotListed as exc:
            message = str(exc)
        except jinja2.UndefinedError as exc:
            message = _undefined_message(str(exc.message), context)
        except Exception as exc:  # any error raised by a template expression is the user's input
            message = f"template error: {exc}"
        raise SpecError([self._problem(tpl.path, message + (f" ({where})" if where else ""))])

    def compile_tree(self, value: Any, resolve_file: Callable[[FileRef, str], Any]) -> Renderer:
        """Compile a value tree into a function of the context returning the rendered tree.

        Subtrees without templates are returned as they are (shared between renders;
        callers never mutate them).
        """
        if isinstance(value, Tpl):
            slow: Renderer = lambda ctx: self.render(value, ctx, _where(ctx))  # noqa: E731
            parts = _simple_parts(value.text)
            return slow if parts is None else _FastRenderer(parts, slow)
        if isinstance(value, FileRef):
            path = self.compile_tree(value.path, resolve_file)
            return lambda ctx: resolve_file(FileRef(path(ctx), value.kind, value.at), _where(ctx))
        if isinstance(value, Mapping):
            funcs_by_key = {k: self.compile_tree(v, resolve_file) for k, v in value.items()}
            if all(_is_const(f) for f in funcs_by_key.values()):
                return _const(value)
            items = list(funcs_by_key.items())
            return lambda ctx: {k: f(ctx) for k, f in items}
        if isinstance(value, list | tuple):
            funcs = [self.compile_tree(v, resolve_file) for v in value]
            if all(_is_const(f) for f in funcs):
                return _const(list(value))
            return lambda ctx: [f(ctx) for f in funcs]
        return _const(value)


_SIMPLE = re.compile(r"\{\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\}")


def _simple_parts(text: str) -> list[str | tuple[str, ...]] | None:
    """Split ``"a {{ row.x }} b"`` into literals and lookup paths, or ``None`` if not that simple."""
    parts: list[str | tuple[str, ...]] = []
    pos = 0
    for match in _SIMPLE.finditer(text):
        parts += [text[pos : match.start()], tuple(match.group(1).split("."))]
        pos = match.end()
    parts.append(text[pos:])
    if any(
        is_template(p) if isinstance(p, str) else any(hasattr(dict, k) for k in p) for p in parts
    ):
        return None
    return parts


class _FastRenderer:
    """Renders plain ``{{ name.field }}`` substitutions without Jinja's per-call overhead.

    Planning a million rows spends most of its time in ``Template.render``; lookups
    of present mapping keys give exactly Jinja's output (``str`` of the value);
    anything else (a missing name or field, a value that is not a plain dict) is
    handed to Jinja so its semantics and errors stay the only ones. Fields named
    like ``dict`` attributes (``items``...) never take the fast path.
    """

    __slots__ = ("parts", "slow")

    def __init__(self, parts: list[str | tuple[str, ...]], slow: Renderer) -> None:
        self.parts = parts
        self.slow = slow

    def __call__(self, ctx: Context) -> Any:
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value: Any = ctx
            for key in part:
                if type(value) is not dict or key not in value:
                    return self.slow(ctx)
                value = value[key]
            out.append(str(value))
        return "".join(out)


class _Const:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __call__(self, ctx: Context) -> Any:
        return self.value


def _const(value: Any) -> Renderer:
    return _Const(value)


def _is_const(func: Renderer) -> bool:
    return isinstance(func, _Const)


def _where(ctx: Context) -> str:
    origin = ctx.get("_origin")
    return f"row {origin}" if origin else ""


def _undefined_message(raw: str, context: Context) -> str:
    if raw.endswith(" is undefined"):
        name = raw.split("'")[1] if "'" in raw else raw
        names = [k for k in context if not k.startswith("_")]
        return f"undefined variable '{name}'{did_you_mean(name, names)}"
    if "has no attribute" in raw:
        field = raw.rsplit("'", 2)[-2]
        row = context.get("row")
        if isinstance(row, Mapping) and field not in row:
            fields = ", ".join(str(k) for k in row)
            return f"undefined field '{field}'{did_you_mean(field, map(str, row))} (row fields: {fields})"
        return f"undefined field '{field}'"
    return f"undefined value: {raw}"


def tree_templates(value: Any) -> Iterator[Tpl]:
    """Every :class:`Tpl` in a value tree."""
    if isinstance(value, Tpl):
        yield value
    elif isinstance(value, FileRef):
        yield from tree_templates(value.path)
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from tree_templates(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from tree_templates(v)


def mark_templates(value: Any, path: PathT) -> Any:
    """Replace every templated string in a YAML value by a :class:`Tpl` carrying its path."""
    if isinstance(value, str):
        return Tpl(value, path) if is_template(value) else value
    if isinstance(value, dict):
        return {k: mark_templates(v, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mark_templates(v, (*path, i)) for i, v in enumerate(value)]
    return value
