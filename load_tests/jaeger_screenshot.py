"""A picture of one saga's trace in Jaeger's UI, taken with Debian's headless Chromium.

    python -m load_tests.jaeger_screenshot http://127.0.0.1:16686/trace/<trace id> trace.png

(`make demo` prints such a URL for its compensated saga.) Jaeger's UI is a single-page app: the
virtual-time budget lets it fetch the trace and lay the spans out before the picture is taken.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the trace's URL in Jaeger's UI")
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1400)
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        print("chromium is not installed: apt-get install -y chromium", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="jaeger-shot-") as profile:
        result = subprocess.run(
            [
                chromium,
                *FLAGS,
                f"--user-data-dir={profile}",
                "--virtual-time-budget=15000",
                f"--window-size={args.width},{args.height}",
                f"--screenshot={args.png.resolve()}",
                args.url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    if result.returncode != 0 or not args.png.exists():
        print(f"chromium failed ({result.returncode}): {result.stderr[-500:]}", file=sys.stderr)
        return 1
    print(args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
