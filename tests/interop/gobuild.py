"""Build this directory's Go programs into .devstack/run/bin/, only when their sources change.

Each program is a Go module of its own under tests/interop/ (go.mod, go.sum, *.go). The stamp
beside the binary holds the SHA-256 of those files and the toolchain's version, so a second test
run reuses the binary, and any edit (or a new `go`) rebuilds it. Modules come from the Go module
proxy into the machine's module cache, as helm's do (see the Makefile).

    python -m tests.interop.gobuild inventory srcheck     # what the tests call, by hand
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

INTEROP = Path(__file__).resolve().parent
BIN = INTEROP.parents[1] / ".devstack" / "run" / "bin"
GO_FALLBACK = Path("/usr/local/go/bin/go")  # where the official tarball installs it


class GoBuildError(Exception):
    """`go` is missing or the build failed; the message carries go's own output."""


def go_binary() -> str:
    found = shutil.which("go")
    if found is not None:
        return found
    if GO_FALLBACK.exists():
        return str(GO_FALLBACK)
    raise GoBuildError("the Go toolchain (go) is needed to build the interop programs")


def _sources_digest(module: Path, go: str) -> str:
    digest = hashlib.sha256()
    version = subprocess.run([go, "version"], capture_output=True, text=True, check=True).stdout
    digest.update(version.encode())
    for path in sorted(module.rglob("*")):
        if path.is_file() and (path.suffix == ".go" or path.name in ("go.mod", "go.sum")):
            digest.update(str(path.relative_to(module)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def build(name: str) -> Path:
    """The path of tests/interop/<name> built as .devstack/run/bin/<name>, rebuilt if stale."""
    module = INTEROP / name
    if not (module / "go.mod").exists():
        raise GoBuildError(f"{module} is not a Go module")
    go = go_binary()
    target = BIN / name
    stamp = BIN / f"{name}.sources"
    digest = _sources_digest(module, go)
    if target.exists() and stamp.exists() and stamp.read_text() == digest:
        return target
    BIN.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "CGO_ENABLED": "0"}
    result = subprocess.run(
        [go, "build", "-o", str(target), "."],
        cwd=module,
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    if result.returncode != 0:
        raise GoBuildError(f"go build of {name} failed:\n{result.stdout}{result.stderr}")
    stamp.write_text(digest)
    return target


if __name__ == "__main__":
    try:
        for program in sys.argv[1:]:
            print(build(program))
    except GoBuildError as exc:
        print(f"gobuild: {exc}", file=sys.stderr)
        sys.exit(1)
