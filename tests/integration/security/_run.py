"""Running sagactl as a child process with a clean SAGA_* environment."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The test process's environment without its SAGA_* settings, plus `extra`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SAGA_")}
    return env | dict(extra)


def sagactl(
    args: Sequence[str], env: Mapping[str, str], *, timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args],
        cwd=REPO,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def spawn(args: Sequence[str], env: Mapping[str, str], log_file: Path) -> subprocess.Popen[bytes]:
    with log_file.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", *args],
            cwd=REPO,
            env=clean_env(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(children: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM (finish the batch, commit, exit), then a kill for what outlives 30 s."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()


def tails(logs: Path) -> str:
    """The end of every log in `logs`, for an assertion's message."""
    return "".join(f"\n--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(logs.glob("*.log")))


def demo_counts(stdout: str) -> dict[str, int]:
    """`sagactl demo`'s summary: sagas per status, and `all`."""
    return {
        match[1]: int(match[2])
        for match in re.finditer(r"^(\w+)\s+(\d+)\s", stdout, flags=re.MULTILINE)
    }
