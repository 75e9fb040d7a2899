"""The latency plot as a PNG, drawn with numpy and written with zlib.

There is no plotting library in the venv (no matplotlib, no Pillow) and no other benchmark
here plots; the repository reads PNGs with the standard library already
(``tests/support/cdp.py``), so this draws one the same way: log-log axes, decade grid lines,
lines and markers, a 5×7 bitmap font for the labels.
"""

from __future__ import annotations

import itertools
import math
import struct
import zlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Color = tuple[int, int, int]
WHITE: Color = (255, 255, 255)
BLACK: Color = (0, 0, 0)
GRID: Color = (225, 225, 225)
GREY: Color = (120, 120, 120)
BLUE: Color = (31, 119, 180)
RED: Color = (214, 39, 40)
GREEN: Color = (44, 160, 44)
LIGHT_BLUE: Color = (160, 196, 225)
LIGHT_RED: Color = (240, 165, 165)

_GLYPHS = {
    "0": "01110 10001 10011 10101 11001 10001 01110",
    "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111",
    "3": "11111 00010 00100 00010 00001 10001 01110",
    "4": "00010 00110 01010 10010 11111 00010 00010",
    "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110",
    "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110",
    "9": "01110 10001 10001 01111 00001 00010 01100",
    "a": "00000 00000 01110 00001 01111 10001 01111",
    "b": "10000 10000 10110 11001 10001 10001 11110",
    "c": "00000 00000 01110 10000 10000 10001 01110",
    "d": "00001 00001 01101 10011 10001 10001 01111",
    "e": "00000 00000 01110 10001 11111 10000 01110",
    "f": "00110 01001 01000 11100 01000 01000 01000",
    "g": "00000 01111 10001 10001 01111 00001 01110",
    "h": "10000 10000 10110 11001 10001 10001 10001",
    "i": "00100 00000 01100 00100 00100 00100 01110",
    "j": "00010 00000 00110 00010 00010 10010 01100",
    "k": "10000 10000 10010 10100 11000 10100 10010",
    "l": "01100 00100 00100 00100 00100 00100 01110",
    "m": "00000 00000 11010 10101 10101 10001 10001",
    "n": "00000 00000 10110 11001 10001 10001 10001",
    "o": "00000 00000 01110 10001 10001 10001 01110",
    "p": "00000 00000 11110 10001 11110 10000 10000",
    "q": "00000 00000 01101 10011 01111 00001 00001",
    "r": "00000 00000 10110 11001 10000 10000 10000",
    "s": "00000 00000 01110 10000 01110 00001 11110",
    "t": "01000 01000 11100 01000 01000 01001 00110",
    "u": "00000 00000 10001 10001 10001 10011 01101",
    "v": "00000 00000 10001 10001 10001 01010 00100",
    "w": "00000 00000 10001 10001 10101 10101 01010",
    "x": "00000 00000 10001 01010 00100 01010 10001",
    "y": "00000 00000 10001 10001 01111 00001 01110",
    "z": "00000 00000 11111 00010 00100 01000 11111",
    " ": "00000 00000 00000 00000 00000 00000 00000",
    ".": "00000 00000 00000 00000 00000 01100 01100",
    ",": "00000 00000 00000 00000 01100 00100 01000",
    ":": "00000 01100 01100 00000 01100 01100 00000",
    "/": "00000 00001 00010 00100 01000 10000 00000",
    "(": "00010 00100 01000 01000 01000 00100 00010",
    ")": "01000 00100 00010 00010 00010 00100 01000",
    "-": "00000 00000 00000 11111 00000 00000 00000",
    "=": "00000 00000 11111 00000 11111 00000 00000",
    "%": "11000 11001 00010 00100 01000 10011 00011",
    "<": "00010 00100 01000 10000 01000 00100 00010",
    ">": "01000 00100 00010 00001 00010 00100 01000",
    "+": "00000 00100 00100 11111 00100 00100 00000",
    "?": "01110 10001 00001 00010 00100 00000 00100",
}
_FONT = {ch: np.array([[c == "1" for c in row] for row in rows.split()], dtype=bool)
         for ch, rows in _GLYPHS.items()}
_SUBSTITUTES = {"≤": "<=", "≥": ">=", "×": "x", "µ": "u", "—": "-", "–": "-"}


def encode_png(pixels: npt.NDArray[np.uint8]) -> bytes:
    """An 8-bit RGB PNG of an (height, width, 3) array."""
    height, width, channels = pixels.shape
    if channels != 3:
        raise ValueError("RGB only")
    raw = np.zeros((height, width * 3 + 1), dtype=np.uint8)  # filter byte 0 on each row
    raw[:, 1:] = pixels.reshape(height, width * 3)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), 9)) + chunk(b"IEND", b""))


class Canvas:
    """Pixels, and the few primitives a chart needs."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = np.full((height, width, 3), 255, dtype=np.uint8)

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        """Filled, inclusive of both corners (clipped)."""
        xa, xb = sorted((x0, x1))
        ya, yb = sorted((y0, y1))
        xa, ya = max(0, xa), max(0, ya)
        xb, yb = min(self.width - 1, xb), min(self.height - 1, yb)
        if xa <= xb and ya <= yb:
            self.pixels[ya:yb + 1, xa:xb + 1] = color

    def line(self, x0: float, y0: float, x1: float, y1: float, color: Color,
             width: int = 1, dash: int = 0) -> None:
        length = math.hypot(x1 - x0, y1 - y0)
        steps = max(1, int(length * 2))
        half = width // 2
        for i in range(steps + 1):
            if dash and int(i / 2 / dash) % 2:
                continue
            x = round(x0 + (x1 - x0) * i / steps)
            y = round(y0 + (y1 - y0) * i / steps)
            self.rect(x - half, y - half, x - half + width - 1, y - half + width - 1, color)

    def text(self, x: int, y: int, text: str, color: Color = BLACK, scale: int = 2,
             anchor: str = "left") -> int:
        """Draws ``text`` with its top at ``y``; returns its width in pixels."""
        for bad, good in _SUBSTITUTES.items():
            text = text.replace(bad, good)
        text = text.lower()
        advance = 6 * scale
        width = len(text) * advance - scale
        if anchor == "center":
            x -= width // 2
        elif anchor == "right":
            x -= width
        for i, ch in enumerate(text):
            glyph = _FONT.get(ch, _FONT["?"])
            ys, xs = np.nonzero(glyph)
            for gy, gx in zip(ys, xs, strict=True):
                px, py = x + i * advance + gx * scale, y + gy * scale
                self.rect(int(px), int(py), int(px) + scale - 1, int(py) + scale - 1, color)
        return width

    def png(self) -> bytes:
        return encode_png(self.pixels)


def _nice(value: float, up: bool) -> float:
    """The nearest 1, 2 or 5 × 10^k at or above (``up``) or at or below ``value``."""
    exponent = math.floor(math.log10(max(value, 1e-9)))
    steps = [m * 10.0 ** e for e in (exponent - 1, exponent, exponent + 1) for m in (1, 2, 5)]
    if up:
        return min(s for s in steps if s >= value * 0.999)
    return max(s for s in steps if s <= value * 1.001)


def _span(low: float, high: float) -> tuple[float, float]:
    lo, hi = _nice(low, up=False), _nice(high, up=True)
    return (lo, hi) if hi > lo else (lo, _nice(lo * 2, up=True))


def _tick(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def latency_png(medians: Sequence[tuple[float, float, float]],
                runs: Sequence[tuple[float, float, float]] = (),
                aim_ms: float | None = 100.0, aim_n: float | None = 1000.0,
                title: str = "odds stream: delivery latency vs open streams",
                width: int = 900, height: int = 560) -> bytes:
    """p50 and p99 (ms) against open streams, log-log: ``medians`` as lines with markers,
    each run's values (``runs``) as small dots, the aim as a dashed line."""
    canvas = Canvas(width, height)
    left, right, top, bottom = 90, 30, 80, 80
    x0, x1, y0, y1 = left, width - right, height - bottom, top
    every = [*medians, *runs]
    if not every:
        canvas.text(width // 2, height // 2, "no data", anchor="center")
        return canvas.png()
    ns = [n for n, _, _ in every if n > 0]
    values = [v for _, a, b in every for v in (a, b) if v > 0]
    if aim_ms:
        values.append(aim_ms)
    xlo, xhi = _span(min(ns) * 0.8, max(ns) * 1.25)
    ylo, yhi = _span(min(values) * 0.8, max(values) * 1.25)

    def px(n: float) -> float:
        return x0 + (math.log10(n) - math.log10(xlo)) / (math.log10(xhi) - math.log10(xlo)) \
            * (x1 - x0)

    def py(v: float) -> float:
        v = max(v, ylo)
        return y0 - (math.log10(v) - math.log10(ylo)) / (math.log10(yhi) - math.log10(ylo)) \
            * (y0 - y1)

    # grid and ticks: decades labelled, 2x and 5x lines lighter
    for exponent in range(math.floor(math.log10(xlo)), math.ceil(math.log10(xhi)) + 1):
        for m in (1, 2, 5):
            n = m * 10.0 ** exponent
            if xlo <= n <= xhi:
                canvas.line(px(n), y0, px(n), y1, GRID)
                canvas.text(int(px(n)), y0 + 8, _tick(n), GREY if m != 1 else BLACK,
                            anchor="center")
    for exponent in range(math.floor(math.log10(ylo)), math.ceil(math.log10(yhi)) + 1):
        for m in (1, 2, 5):
            v = m * 10.0 ** exponent
            if ylo <= v <= yhi:
                canvas.line(x0, py(v), x1, py(v), GRID)
                canvas.text(x0 - 8, int(py(v)) - 7, _tick(v), GREY if m != 1 else BLACK,
                            anchor="right")
    canvas.line(x0, y0, x1, y0, BLACK, 2)
    canvas.line(x0, y0, x0, y1, BLACK, 2)
    if aim_ms:
        canvas.line(x0, py(aim_ms), x1, py(aim_ms), GREEN, 2, dash=6)
        canvas.text(x1 - 4, int(py(aim_ms)) - 18, f"aim: p99 <= {aim_ms:g} ms", GREEN,
                    anchor="right")
    if aim_n and xlo <= aim_n <= xhi:
        canvas.line(px(aim_n), y0, px(aim_n), y1, GREEN, 1, dash=4)
    for n, p50, p99 in runs:
        for v, color in ((p50, LIGHT_BLUE), (p99, LIGHT_RED)):
            if n > 0 and v > 0:
                canvas.rect(int(px(n)) - 2, int(py(v)) - 2, int(px(n)) + 2, int(py(v)) + 2,
                            color)
    ordered = sorted((p for p in medians if p[0] > 0), key=lambda p: p[0])
    for index, color in ((1, BLUE), (2, RED)):
        pts = [(px(p[0]), py(p[index])) for p in ordered if p[index] > 0]
        for (ax, ay), (bx, by) in itertools.pairwise(pts):
            canvas.line(ax, ay, bx, by, color, 3)
        for x, y in pts:
            canvas.rect(int(x) - 5, int(y) - 5, int(x) + 5, int(y) + 5, color)
    canvas.text(width // 2, 12, title, anchor="center")
    canvas.text((x0 + x1) // 2, height - 40, "open sse streams (log scale)", anchor="center")
    canvas.text(14, top - 32, "ms (log scale), from just before the grpc publish to the "
                "client read", scale=2)
    # legend
    lx, ly = x0 + 16, y1 + 12
    canvas.rect(lx - 8, ly - 8, lx + 300, ly + 70, WHITE)
    for i, (name, color) in enumerate((("p50 (median of runs)", BLUE),
                                       ("p99 (median of runs)", RED))):
        canvas.rect(lx, ly + 6 + i * 24, lx + 24, ly + 9 + i * 24, color)
        canvas.text(lx + 34, ly + i * 24, name, color)
    if runs:
        canvas.text(lx + 34, ly + 48, "dots: each run", GREY)
    return canvas.png()
