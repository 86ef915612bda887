"""xai-pipelines: declarative YAML pipelines and batch jobs for the xAI API.

What ``xai-run run`` does is one call::

    from xai_pipelines import run_pipeline

    outcome = run_pipeline("pipelines/eval.yaml", local=True)  # no key: the emulator
    print(outcome.status, outcome.out.root, outcome.usage["totals"]["cost_usd"])

:func:`run_pipeline` raises :class:`PipelineRefused` for invalid input (nothing is
called or written). The client is :mod:`xai_pipelines.sdk`; the emulator
:mod:`xai_pipelines.emulator`.
"""

import typing

from xai_pipelines import _lazy
from xai_pipelines.version import __version__

__all__ = ["PipelineRefused", "RunOutcome", "__version__", "run_pipeline"]

if typing.TYPE_CHECKING:
    from xai_pipelines.cli.launch import PipelineRefused, run_pipeline
    from xai_pipelines.run.session import RunOutcome
else:  # imported on first use: ``import xai_pipelines`` stays light (see xai_pipelines._lazy)
    __getattr__, __dir__ = _lazy.exports(__name__)
