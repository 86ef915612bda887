"""The seed rule: which seed each job sends.

A job's base seed is the ``seed`` in effect for it (the chat's own, the
matrix's, or ``defaults.seed``, the pipeline seed). Repeat ``r`` of a job sends

* ``r == 0``: the base seed itself, so ``seed: 7`` without ``repeat`` sends 7;
* ``r >= 1``: ``int(sha256(f"xai-pipelines/seed/{base}/{r}")[:8 hex], 16) & 0x7FFFFFFF``,
  a distinct, reproducible 31-bit seed (the wire field is int32).

With no seed in effect, a job sends none, except when ``repeat > 1``: then the
base seed is taken as 0 so the samples differ and are reproducible. Rows and
matrix cells keep the same seed (their requests differ anyway).
"""

from __future__ import annotations

import hashlib

MAX_SEED = 0x7FFFFFFF


def job_seed(base: int | None, repeat_index: int, repeat: int) -> int | None:
    """The seed sent by repeat ``repeat_index`` (0-based) of a job repeated ``repeat`` times."""
    if base is None:
        if repeat <= 1:
            return None
        base = 0
    if repeat_index == 0:
        return base
    digest = hashlib.sha256(f"xai-pipelines/seed/{base}/{repeat_index}".encode()).hexdigest()
    return int(digest[:8], 16) & MAX_SEED
