"""Certificate and key files are checked when the settings are read, so that a wrong path is
one line naming its variable instead of a TLS failure deep inside a client library."""

from __future__ import annotations

import os


def check_readable_file(variable: str, path: str) -> str | None:
    """None if `path` is a readable file, else the one-line problem."""
    if not os.path.isfile(path):
        return f"{variable}: {path} is not a file"
    if not os.access(path, os.R_OK):
        return f"{variable}: {path} is not readable by this process"
    return None
