"""``python -m xai_pipelines`` is ``xai-run``."""

from xai_pipelines.cli.app import main

main()
