"""The ``xai-run`` command line (typer)."""
