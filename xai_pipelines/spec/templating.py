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

import contextlib
import functools
import operator
import re
import threading
import time
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError, safe_range
from jinja2.visitor import NodeTransformer

from xai_pipelines.spec.errors import PathT, Problem, SpecError, did_you_mean
from xai_pipelines.spec.limits import (
    MAX_TEMPLATE_OUTPUT,
    MAX_TEMPLATE_SECONDS,
    MAX_TEMPLATE_STEPS,
)
from xai_pipelines.spec.secrets import ALWAYS_SECRET_ENV, secret_env_problem
from xai_pipelines.spec.yaml_source import Positions

BUILTIN_NAMES = ("row", "index", "row_index", "repeat", "matrix", "name", "task", "env")
_MARKERS = ("{{", "{%", "{#")

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
    """The environment variables a pipeline listed; any other name is an error.

    Secret ones (``secret``) are listed but hold no value here: reading one is an
    error, so a secret can never be rendered into anything.
    """

    def __init__(self, values: Mapping[str, str], secret: frozenset[str] = frozenset()) -> None:
        self._values = dict(values)
        self.secret = secret

    def __getitem__(self, name: str) -> str:
        if name in self.secret:
            raise _EnvNotListed(name, secret_env_problem(name))
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
    def __init__(self, name: str, message: str = "") -> None:
        super().__init__(message or f"environment variable '{name}' is not listed in env:")


class TemplateBudgetError(Exception):
    """A render went over one of the template limits of :mod:`xai_pipelines.spec.limits`."""


class _Budget:
    """What one render has spent: steps, output characters, time."""

    __slots__ = ("deadline", "output", "steps")

    def __init__(self) -> None:
        self.steps = 0
        self.output = 0
        self.deadline = time.monotonic() + MAX_TEMPLATE_SECONDS

    def step(self, count: int = 1) -> None:
        self.steps += count
        if self.steps > MAX_TEMPLATE_STEPS:
            raise TemplateBudgetError(
                f"more than {MAX_TEMPLATE_STEPS:,} loop iterations, calls and operations "
                "(nested loops?)"
            )
        if time.monotonic() > self.deadline:
            raise TemplateBudgetError(f"rendering took longer than {MAX_TEMPLATE_SECONDS:g} s")

    def emit(self, size: int) -> None:
        self.output += size
        if self.output > MAX_TEMPLATE_OUTPUT:
            raise _too_big("output")


def _too_big(what: str) -> TemplateBudgetError:
    return TemplateBudgetError(f"{what} too large (more than {MAX_TEMPLATE_OUTPUT:,} characters)")


def _weight(value: Any, limit: int = MAX_TEMPLATE_OUTPUT) -> int:
    """About how many characters ``str(value)`` has, counted up to just past ``limit``.

    Containers are walked (a list holding one large string many times is heavy
    however little memory it takes); the walk stops as soon as ``limit`` is passed.
    """
    total = 0
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, list | tuple | set | frozenset | Mapping):
            total += 2 * len(item) + 2
            if total <= limit:
                stack.extend(item.items() if isinstance(item, Mapping) else item)
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 + 1
        else:
            total += 8
    return total


def _check_weight(value: Any, what: str) -> None:
    if _weight(value) > MAX_TEMPLATE_OUTPUT:
        raise _too_big(what)


def _check_size(value: Any, what: str) -> None:
    """A result's own length (strings, lists, mappings) within the output limit."""
    if isinstance(value, str | list | tuple | dict | set) and len(value) > MAX_TEMPLATE_OUTPUT:
        raise _too_big(what)


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|[0-9]+)?(?:\.(\*|[0-9]+))?")
_BRACE_SPEC = re.compile(r"\{[^{}]*:[^{}]*\}|\{[^{}]*\{")


def _check_format(fmt: str, args: Any) -> None:
    """Refuse field widths or precisions that would build a huge string.

    ``args`` is what is formatted: a tuple or one value (``%``), or ``(args, kwargs)``.
    """
    parts = args if isinstance(args, tuple) else (args,)
    numbers = [
        n for part in parts for n in _ints(part if isinstance(part, tuple | dict) else (part,))
    ]
    widths = [w for m in _PERCENT_SPEC.finditer(fmt) for w in m.groups() if w]
    specs = _BRACE_SPEC.findall(fmt)
    widths += re.findall(r"[0-9]+", " ".join(specs))
    if "*" in widths or any(spec.count("{") > 1 for spec in specs):
        widths += [str(n) for n in numbers]  # widths taken from the arguments
    if any(w != "*" and (len(w) > 9 or int(w) > MAX_TEMPLATE_OUTPUT) for w in widths):
        raise _too_big("formatted field")
    _check_weight(args, "formatted value")


def _ints(values: Any) -> list[int]:
    """The integers among a tuple's items or a mapping's values."""
    items = values.values() if isinstance(values, Mapping) else values
    return [abs(v) for v in items if isinstance(v, int) and not isinstance(v, bool)]


def _count(text: str, sub: str) -> int:
    return text.count(sub) if sub else len(text) + 1


def _width(value: Any) -> int:
    return len(value) if isinstance(value, str) else abs(value) if isinstance(value, int) else 0


def _estimate_filter(
    name: str, value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> int:
    """About how large a filter's result will be, for the filters whose result can outgrow their input."""
    text = value if isinstance(value, str) else ""

    def arg(i: int, key: str, default: Any) -> Any:
        return args[i] if len(args) > i else kwargs.get(key, default)

    if name == "center":
        return max(len(text), _width(arg(0, "width", 80)))
    if name == "indent":
        return len(text) + (text.count("\n") + 1) * _width(arg(0, "width", 4))
    if name == "wordwrap":
        width = max(_width(arg(0, "width", 79)), 1)
        wrap = arg(2, "wrapstring", None)
        pieces = len(text) // width + text.count("\n") + 1
        return len(text) + pieces * max(_width(wrap) if wrap is not None else 1, 1)
    if name == "replace":
        old, new = arg(0, "old", ""), arg(1, "new", "")
        count = arg(2, "count", None)
        times = (
            _count(text, str(old)) if count is None else min(_width(count), _count(text, str(old)))
        )
        return len(text) + times * _width(new)
    if name == "join":
        items = value if isinstance(value, list | tuple | str) else []
        return _weight(items) + len(items) * _width(arg(0, "d", ""))
    if name == "format":
        _check_format(text, (args, kwargs))
        return len(text)
    if name in _HEAVY_FILTERS:
        return _weight(value)
    return 0


#: Filters whose result is about as large as everything their input holds, however it is shared.
_HEAVY_FILTERS = frozenset(
    {"tojson", "pprint", "string", "sum", "urlencode", "xmlattr", "e", "escape", "forceescape"}
)

_STR_WIDTH_METHODS = frozenset({"ljust", "rjust", "center", "zfill"})


def _estimate_call(obj: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """About how large a string method's result will be (other calls: 0)."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if not isinstance(owner, str):
        return 0
    first = args[0] if args else next(iter(kwargs.values()), None)
    if name in _STR_WIDTH_METHODS:
        return _width(first)
    if name == "expandtabs":
        return len(owner) + owner.count("\t") * _width(8 if first is None else first)
    if name == "replace" and len(args) >= 2:
        times = _count(owner, str(args[0]))
        if len(args) > 2:
            times = min(times, _width(args[2]))
        return len(owner) + times * _width(args[1])
    if name == "join":
        items = list(first) if isinstance(first, list | tuple | str) else []
        return _weight(items) + len(items) * len(owner)
    return 0


class _Guard(NodeTransformer):
    """Routes every for-loop and ``~`` concatenation of a template through the budget."""

    def __init__(self, env: _Sandbox) -> None:
        self.env = env

    def _call(self, name: str, args: list[nodes.Expr], lineno: int) -> nodes.Call:
        node = nodes.Call(nodes.EnvironmentAttribute(name), args, [], None, None)
        node.set_lineno(lineno)
        node.set_environment(self.env)
        return node

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        literal = sum(len(d.data) for d in node.find_all(nodes.TemplateData))
        size = nodes.Const(literal)
        size.set_lineno(node.lineno)
        iterable = node.iter
        assert isinstance(iterable, nodes.Expr)  # (jinja types it as a Node)
        node.iter = self._call("budget_iter", [iterable, size], node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return self._call("budget_concat", list(node.nodes), node.lineno)


class _JobOutput:
    """The block of :meth:`_Sandbox.job` (a class: one is entered per planned job)."""

    __slots__ = ("_local", "_outer")

    def __init__(self, local: threading.local) -> None:
        self._local = local
        self._outer: int | None = None

    def __enter__(self) -> None:
        self._outer = getattr(self._local, "job", None)
        self._local.job = 0

    def __exit__(self, *exc_info: object) -> None:
        self._local.job = self._outer


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's sandbox with a budget: steps, size of every built value, output and time.

    Lists, dicts and sets cannot be changed in place (``append``, ``update``...), so a
    value only grows through an operator or a filter, and each of those is checked.
    """

    intercepted_binops = frozenset({"**", "*", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=self._finalize, **options)
        self._local = threading.local()

    # -- the budget of the render under way (one per thread) ----------------

    def begin(self) -> _Budget:
        budget = _Budget()
        self._local.budget = budget
        return budget

    def job(self) -> _JobOutput:
        """Count the output of every render inside toward one job's total (``with env.job():``)."""
        return _JobOutput(self._local)

    def job_output(self, size: int) -> None:
        total: int | None = getattr(self._local, "job", None)
        if total is None:
            return
        self._local.job = total + size
        if total + size > MAX_TEMPLATE_OUTPUT:
            raise TemplateBudgetError(
                f"templates rendered together (one job's, or the vars and paths of the "
                f"pipeline) produce more than {MAX_TEMPLATE_OUTPUT:,} characters"
            )

    @property
    def budget(self) -> _Budget:
        budget: _Budget | None = getattr(self._local, "budget", None)
        return budget if budget is not None else self.begin()

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        _Guard(self).visit(tree)
        return tree

    def budget_iter(self, iterable: Any, literal: int) -> Iterator[Any]:
        budget = self.budget
        for item in iterable:
            budget.step()
            budget.emit(literal)
            yield item

    def budget_concat(self, *parts: Any) -> str:
        for part in parts:
            if not isinstance(part, str):
                _check_weight(part, "concatenated value")
        out = "".join(map(str, parts))
        _check_size(out, "concatenated string")
        return out

    def _finalize(self, value: Any) -> Any:
        budget = self.budget
        budget.step()
        budget.emit(len(value) if isinstance(value, str) else _weight(value))
        return value

    def _range(self, *args: int) -> range:
        result = safe_range(*args)
        self.budget.step(len(result))
        return result

    # -- the sandbox's hooks ------------------------------------------------

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        self.budget.step()
        if operator_name == "**":
            bits = left.bit_length() if isinstance(left, int) else 64
            if isinstance(right, int | float) and (abs(right) > 64 or bits * abs(right) > 4096):
                raise SecurityError("exponent too large in template")
            return operator.pow(left, right)
        if operator_name == "*":
            _check_product(left, right)
            return operator.mul(left, right)
        if operator_name == "%":
            if isinstance(left, str):
                _check_format(left, right if isinstance(right, tuple | Mapping) else (right,))
            return operator.mod(left, right)
        if _len(left) + _len(right) > MAX_TEMPLATE_OUTPUT and not _numbers(left, right):
            raise _too_big("result of '+'")
        return operator.add(left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(__obj, "__func__", None) in _GUARDS:  # the guard's own calls, from _Guard
            return __obj(*args)
        __self.budget.step()
        if __obj is safe_range:
            __obj = __self._range
        if _is_str_method(__obj) and max(_ints(args), default=0) > MAX_TEMPLATE_OUTPUT:
            raise _too_big("argument")
        if _estimate_call(__obj, args, kwargs) > MAX_TEMPLATE_OUTPUT:
            raise _too_big(f"result of {getattr(__obj, '__name__', 'the call')}()")
        result = super().call(__context, __obj, *args, **kwargs)
        _check_size(result, "result of a call")
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        fmt: str = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            self.budget.step()
            _check_format(fmt, (args, kwargs))
            return wrapper(*args, **kwargs)

        return checked

    def guard_filters(self) -> None:
        """Wrap every filter so its arguments and its result are checked (call once, after adding filters)."""
        self.filters = {name: _guarded_filter(self, name, f) for name, f in self.filters.items()}


_GUARDS = (_Sandbox.budget_iter, _Sandbox.budget_concat)


def _is_str_method(obj: Any) -> bool:
    return isinstance(getattr(obj, "__self__", None), str)


def _numbers(*values: Any) -> bool:
    return all(isinstance(v, int | float) for v in values)


def _check_product(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > 4096:
            raise SecurityError("number too large in template")
        return
    if _numbers(left, right):
        return
    size = max(_len(left), 1) * max(_len(right), 1)
    if size > MAX_TEMPLATE_OUTPUT:
        raise _too_big("result of '*'")


def _guarded_filter(env: _Sandbox, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    pass_arg = getattr(func, "jinja_pass_arg", None)

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        env.budget.step()
        head, rest = (args[:1], args[1:]) if pass_arg is not None else ((), args)
        value, extra = (rest[0], rest[1:]) if rest else (None, ())
        if name == "join" and isinstance(value, Iterator | range):
            value = list(value)  # (so its size is known before the result is built)
            args = (*head, value, *extra)
        numbers = _ints(extra) + _ints(kwargs)
        if numbers and max(numbers) > MAX_TEMPLATE_OUTPUT:
            raise TemplateBudgetError(
                f"argument of filter '{name}' too large (more than {MAX_TEMPLATE_OUTPUT:,})"
            )
        if _estimate_filter(name, value, extra, kwargs) > MAX_TEMPLATE_OUTPUT:
            raise _too_big(f"result of filter '{name}'")
        result = func(*args, **kwargs)
        _check_size(result, f"result of filter '{name}'")
        return result

    return guarded


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
        #: Secret environment variable names: any template naming one is a problem.
        self.secret_env: frozenset[str] = ALWAYS_SECRET_ENV
        self.env = _Sandbox(
            undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
        )
        self.env.globals = {"range": safe_range}
        self.env.filters["slug"] = _slug
        self.env.guard_filters()
        self._cache: dict[str, jinja2.Template] = {}

    def _problem(self, path: PathT, message: str, line_offset: int = 0) -> Problem:
        problem = self.positions.problem(path, message)
        if line_offset and problem.file == self.positions.file:
            # A block scalar's content starts on the line after its indicator.
            return Problem(
                problem.file, problem.line + line_offset, problem.column, problem.path, message
            )
        return problem

    def check_syntax(self, text: str, path: PathT, known: AbstractSet[str] | None) -> list[Problem]:
        """Compile ``text``; report syntax errors and (when ``known`` is given) undeclared names."""
        try:
            ast = self.env.parse(text)
        except jinja2.TemplateSyntaxError as exc:
            offset = (exc.lineno or 1) if "\n" in text else 0
            return [self._problem(path, f"template syntax error: {exc.message}", offset)]
        out = [
            self._problem(path, secret_env_problem(name))
            for name in sorted(_env_names(ast) & self.secret_env)
        ]
        if known is None:
            return out
        names = meta.find_undeclared_variables(ast)  # (few: filter them, never copy `known`)
        for name in sorted(n for n in names if n not in known and n not in self.env.globals):
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

    def job(self) -> contextlib.AbstractContextManager[None]:
        """Within it, every template rendered counts toward one job's output limit."""
        return self.env.job()

    def render(self, tpl: Tpl, context: Context, where: str = "") -> str:
        """Render one template; problems name its position (and ``where``, e.g. a dataset row)."""
        template = self.template(tpl)
        self.env.begin()
        try:
            # Shared, layered context: Template.render would copy every var for each render.
            layered: Any = ChainMap(context, template.globals)  # type: ignore[arg-type]
            out = "".join(template.root_render_func(template.new_context(layered, shared=True)))
            if len(out) > MAX_TEMPLATE_OUTPUT:
                raise _too_big("output")
            self.env.job_output(len(out))
            return out
        except TemplateBudgetError as exc:
            message = f"template over its budget: {exc} (limits: see 'Limits' in docs/pipelines.md)"
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


#: Largest result the fast path returns by itself (larger ones are rendered by Jinja).
_FAST_MAX = 1 << 16

_SIMPLE = re.compile(r"\{\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\}")


def _env_names(ast: nodes.Template) -> set[str]:
    """The ``env`` entries a template names literally (``env.NAME``, ``env['NAME']``)."""
    out = set()
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)
        if isinstance(node.node, nodes.Name) and node.node.name == "env":
            if isinstance(node, nodes.Getattr):
                out.add(node.attr)
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                out.add(node.arg.value)
    return out


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
        text = "".join(out)
        # A large result goes through Jinja, which accounts for it (and reports it, if too
        # large): chained vars ("{{ a }}{{ a }}") could otherwise double without a check.
        return text if len(text) < _FAST_MAX else self.slow(ctx)


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
