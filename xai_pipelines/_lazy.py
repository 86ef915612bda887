"""Lazy re-exports for package ``__init__`` modules.

A package that re-exports names from its submodules would import all of them
(and grpc, jsonschema, jinja2 behind them) as soon as any one submodule is
imported. Instead its ``__init__`` lists the re-exports once, as ordinary
imports under ``if TYPE_CHECKING:`` (so type checkers and readers see them),
and hands :func:`exports` its module name; the imports run on first use::

    import typing

    from xai_pipelines import _lazy

    if typing.TYPE_CHECKING:
        from xai_pipelines.sdk.client import Client
    else:
        __getattr__, __dir__ = _lazy.exports(__name__)

    __all__ = ["Client"]

(``else:``, so a type checker still reports a name the package does not export;
``typing`` and ``_lazy``, so the package's public names are only its exports.)

``from xai_pipelines.sdk import Client``, ``xai_pipelines.sdk.Client`` and
``from xai_pipelines.sdk import *`` work as with eager imports; so does an
attribute naming a submodule (``xai_pipelines.sdk.errors``), imported on use.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Callable
from typing import Any

__all__ = ["exports"]

_TYPE_CHECKING = ("typing.TYPE_CHECKING", "TYPE_CHECKING")


def _type_checking_imports(source: str, package: str) -> dict[str, tuple[str, str]]:
    """``{exported name: (module, attribute)}`` of the ``if TYPE_CHECKING:`` imports."""
    import ast  # only when a lazy name is first asked for

    table: dict[str, tuple[str, str]] = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.If) and ast.unparse(node.test) in _TYPE_CHECKING):
            continue
        for stmt in node.body:
            if isinstance(stmt, ast.ImportFrom) and stmt.module is not None:
                module = importlib.util.resolve_name("." * stmt.level + stmt.module, package)
                for alias in stmt.names:
                    table[alias.asname or alias.name] = (module, alias.name)
    return table


class _Exports:
    """The lazy exports of one package: read from its source when first needed."""

    def __init__(self, package: types.ModuleType) -> None:
        self.package = package
        self._table: dict[str, tuple[str, str]] | None = None

    @property
    def table(self) -> dict[str, tuple[str, str]]:
        if self._table is None:
            spec = self.package.__spec__
            origin = spec.origin if spec is not None else None
            if origin is None:
                raise ImportError(f"{self.package.__name__} has no source to read its exports from")
            with open(origin, encoding="utf-8") as handle:
                self._table = _type_checking_imports(handle.read(), self.package.__name__)
        return self._table

    def getattr(self, attribute: str) -> Any:
        name = self.package.__name__
        target = self.table.get(attribute)
        if target is not None:
            value = getattr(importlib.import_module(target[0]), target[1])
        elif importlib.util.find_spec(f"{name}.{attribute}") is not None:
            value = importlib.import_module(f"{name}.{attribute}")
        else:
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}")
        setattr(self.package, attribute, value)  # later lookups skip this function
        return value

    def dir(self) -> list[str]:
        return sorted({*vars(self.package), *self.table})


class _LazyPackage(types.ModuleType):
    """A package with lazy exports: an export wins over a submodule of the same name.

    The import system binds every imported submodule on its package, so importing
    ``xai_pipelines/sdk/image.py`` would make ``xai_pipelines.sdk.image`` that
    module, where the package exports the ``image()`` message helper (the eager
    imports bound the helper last). Such a binding of a name in ``__all__`` is
    dropped here; the export is then imported on use as any other.
    """

    def __setattr__(self, attribute: str, value: Any) -> None:
        if (
            isinstance(value, types.ModuleType)
            and value.__name__ == f"{self.__name__}.{attribute}"
            and attribute in self.__dict__.get("__all__", ())  # spares reading the source
            and attribute in self.__dict__["_lazy_exports"].table
        ):
            return
        super().__setattr__(attribute, value)


def exports(name: str) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for the package ``name`` (PEP 562).

    The package's own source is read when an export is first needed (or a
    submodule first imported), not at import, so importing the package costs
    nothing more than its other lines.

    Args:
        name: The package's ``__name__``.
    """
    package = sys.modules[name]
    state = _Exports(package)
    package.__dict__["_lazy_exports"] = state
    package.__class__ = _LazyPackage
    return state.getattr, state.dir
