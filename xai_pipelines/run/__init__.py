"""Running a plan: executor, rate limiting, chat/image/batch jobs, cache, progress, signals.

A regular package (not a namespace one), so the layer contracts of
docs/ARCHITECTURE.md (``lint-imports``) see its modules.
"""
