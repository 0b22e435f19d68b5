"""Fixtures for the interop tests: the worker tests' private World (own database, topics and
groups on the real broker), with the real HTTP schema registry served over its database."""

from __future__ import annotations

from tests.integration.worker.conftest import make_world

__all__ = ["make_world"]
