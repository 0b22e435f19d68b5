"""The package's public surface, and that importing it loads no database driver."""

from __future__ import annotations

import subprocess
import sys

import event_store


def test_all_names_exist() -> None:
    for name in event_store.__all__:
        assert hasattr(event_store, name), name


def test_importing_the_package_loads_no_driver() -> None:
    # The saga decider imports event_store types and must stay free of psycopg.
    code = "import sys, event_store; print('psycopg' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
