"""Headless Chromium for the forensics tests: screenshots, DOM dumps, and Mermaid's own parser.

Nothing here downloads anything. Chromium is Debian's `chromium` package; the Mermaid bundle
is the `mermaid` npm package that install_browser_check.sh put in .devstack/run/mermaid. A
missing one FAILS the test (with the command that installs it), it never skips.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
MERMAID_BUNDLE = REPO / ".devstack/run/mermaid/node_modules/mermaid/dist/mermaid.min.js"
INSTALL = "tests/integration/forensics/install_browser_check.sh"
# Without the background-networking flags chromium keeps trying to reach Google services,
# which a closed network refuses many at a time; the rest keep a run hermetic and quiet.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("chromium is not installed: apt-get install -y chromium", pytrace=False)
    return found


def run_chromium(*args: str, timeout: float = 90.0) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="forensics-chromium-") as profile:
        result = subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    assert result.returncode == 0, f"chromium exited {result.returncode}: {result.stderr[-2000:]}"
    return result


def screenshot(page: Path, png: Path, width: int, height: int) -> None:
    run_chromium(f"--screenshot={png}", f"--window-size={width},{height}", page.as_uri())
    assert png.exists(), "chromium wrote no screenshot"


def dump_dom(page: Path, *, virtual_time_ms: int | None = None) -> str:
    budget = () if virtual_time_ms is None else (f"--virtual-time-budget={virtual_time_ms}",)
    return run_chromium(*budget, "--dump-dom", page.as_uri()).stdout


def mermaid_parse(diagram: str, workdir: Path) -> str:
    """Mermaid's verdict on the text: "ok", or its parse error. The page loads the bundle from
    a local file and writes the verdict into the DOM, which `--dump-dom` then returns."""
    if not MERMAID_BUNDLE.exists():
        pytest.fail(f"the mermaid npm package is not installed: run {INSTALL}", pytrace=False)
    page = workdir / "mermaid-parse.html"
    page.write_text(
        "<!DOCTYPE html><html><body><pre id='verdict'>pending</pre>"
        f"<script src='{MERMAID_BUNDLE.as_uri()}'></script>"
        "<script>"
        f"const text = {json.dumps(diagram)};"
        "const out = document.getElementById('verdict');"
        "mermaid.initialize({startOnLoad: false});"
        "mermaid.parse(text).then(() => { out.textContent = 'ok'; },"
        " (e) => { out.textContent = 'error: ' + (e && e.message || e); });"
        "</script></body></html>",
        encoding="utf-8",
    )
    dom = dump_dom(page, virtual_time_ms=10_000)
    start = dom.index('<pre id="verdict">') + len('<pre id="verdict">')
    return dom[start : dom.index("</pre>", start)]


@dataclass(frozen=True)
class Image:
    width: int
    height: int
    pixels: list[tuple[int, int, int]]  # row-major RGB

    def colours(self) -> set[tuple[int, int, int]]:
        return set(self.pixels)

    def share_not_white(self) -> float:
        return sum(1 for p in self.pixels if p != (255, 255, 255)) / len(self.pixels)

    def count_near(self, colour: str, tolerance: int = 24) -> int:
        r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
        return sum(
            1
            for pr, pg, pb in self.pixels
            if abs(pr - r) <= tolerance and abs(pg - g) <= tolerance and abs(pb - b) <= tolerance
        )


def read_png(path: Path) -> Image:
    """A minimal PNG reader (8-bit RGB or RGBA, non-interlaced: what chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat, header = 8, b"", b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8, f"bit depth {depth}"
    assert colour_type in {2, 6}, f"colour type {colour_type}"
    assert interlace == 0, "interlaced"
    channels = 3 if colour_type == 2 else 4
    stride = width * channels
    raw = zlib.decompress(idat)
    previous = bytearray(stride)
    pixels: list[tuple[int, int, int]] = []
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        _unfilter(kind, line, previous, channels)
        pixels.extend((line[i], line[i + 1], line[i + 2]) for i in range(0, stride, channels))
        previous = line
    return Image(width, height, pixels)


def _unfilter(kind: int, line: bytearray, previous: bytearray, bpp: int) -> None:
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        up = previous[i]
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            up_left = previous[i - bpp] if i >= bpp else 0
            p = left + up - up_left
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
            predictor = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
            line[i] = (line[i] + predictor) & 0xFF
