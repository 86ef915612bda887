"""Lazy re-exports for package ``__init__`` modules.

A package that re-exports names from its submodules would import all of them
(and grpc, jsonschema, jinja2 behind them) as soon as any one submodule is
imported. Instead its ``__init__`` lists the re-exports once, as ordinary
imports under ``if TYPE_CHECKING:`` (so type checkers and readers see them),
and hands :func:`exports` its module name; the imports run on first use::

    from typing import TYPE_CHECKING

    from xai_pipelines._lazy import exports

    if TYPE_CHECKING:
        from xai_pipelines.sdk.client import Client
    else:
        __getattr__, __dir__ = exports(__name__)

    __all__ = ["Client"]

(``else:``, so a type checker still reports a name the package does not export.)

``from xai_pipelines.sdk import Client``, ``xai_pipelines.sdk.Client`` and
``from xai_pipelines.sdk import *`` work as with eager imports; so does an
attribute naming a submodule (``xai_pipelines.sdk.errors``), imported on use.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["exports"]


def _type_checking_imports(source: str, package: str) -> dict[str, tuple[str, str]]:
    """``{exported name: (module, attribute)}`` of the ``if TYPE_CHECKING:`` imports."""
    import ast  # only when a lazy name is first asked for

    table: dict[str, tuple[str, str]] = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"):
            continue
        for stmt in node.body:
            if isinstance(stmt, ast.ImportFrom) and stmt.module is not None:
                module = importlib.util.resolve_name("." * stmt.level + stmt.module, package)
                for alias in stmt.names:
                    table[alias.asname or alias.name] = (module, alias.name)
    return table


def exports(name: str) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for the package ``name`` (PEP 562).

    The package's own source is read on the first attribute it lacks, not at
    import, so importing the package costs nothing more than its other lines.

    Args:
        name: The package's ``__name__``.
    """
    package = sys.modules[name]
    table: dict[str, tuple[str, str]] | None = None

    def resolve(attribute: str) -> tuple[str, str] | None:
        nonlocal table
        if table is None:
            spec = package.__spec__
            origin = spec.origin if spec is not None else None
            if origin is None:
                raise ImportError(f"{name} has no source to read its lazy exports from")
            with open(origin, encoding="utf-8") as handle:
                table = _type_checking_imports(handle.read(), name)
        return table.get(attribute)

    def __getattr__(attribute: str) -> Any:
        target = resolve(attribute)
        if target is not None:
            value = getattr(importlib.import_module(target[0]), target[1])
        elif importlib.util.find_spec(f"{name}.{attribute}") is not None:
            value = importlib.import_module(f"{name}.{attribute}")
        else:
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}")
        setattr(package, attribute, value)  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        resolve("")
        return sorted({*vars(package), *(table or {})})

    return __getattr__, __dir__
