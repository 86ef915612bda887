"""Plan tests share the spec tests' ``write`` fixture (a pipeline and its files in a tmp dir)."""

from spec.conftest import write

__all__ = ["write"]
