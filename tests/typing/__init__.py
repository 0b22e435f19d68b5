"""Typing tests (as structlog's): files that mypy --strict must accept as they are.

Correct usage must type-check; each wrong usage carries a ``# type: ignore[code]`` and mypy runs
with ``warn_unused_ignores``, so a wrong usage that stops being an error fails the check.
`tests/unit/saga/test_typing.py` runs it; so does `make lint` (pyproject's mypy packages).
"""
