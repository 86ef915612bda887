"""Benchmarks of issue 11 (Scale): ``python -m benchmarks`` (see ``__main__``)."""
