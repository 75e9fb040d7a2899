"""Charts as PNGs, drawn with numpy and written with zlib, for the benchmarks.

There is no plotting library in the venv (no matplotlib, no Pillow); the repository reads
PNGs with the standard library already (``tests/support/cdp.py``), so the benchmarks draw
them the same way: a ``Canvas`` of pixels (rectangles, lines, a 5×7 bitmap font) and a
``Panel`` (a plot area with linear or log axes, its grid and tick labels, lines with
markers). ``simulations/oddsbench/plot.py`` and ``simulations/httpbench/shedding.py`` use it.
"""

from __future__ import annotations

import itertools
import math
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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


def nice(value: float, up: bool) -> float:
    """The nearest 1, 2 or 5 × 10^k at or above (``up``) or at or below ``value``."""
    exponent = math.floor(math.log10(max(value, 1e-9)))
    steps = [m * 10.0 ** e for e in (exponent - 1, exponent, exponent + 1) for m in (1, 2, 5)]
    if up:
        return min(s for s in steps if s >= value * 0.999)
    return max(s for s in steps if s <= value * 1.001)


def span(low: float, high: float) -> tuple[float, float]:
    lo, hi = nice(low, up=False), nice(high, up=True)
    return (lo, hi) if hi > lo else (lo, nice(lo * 2, up=True))


def tick(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


@dataclass(frozen=True)
class Scale:
    """One axis: the values from ``lo`` to ``hi``, linear or log."""

    lo: float
    hi: float
    log: bool = False

    @classmethod
    def fit(cls, values: Sequence[float], log: bool = False, zero: bool = True) -> Scale:
        """A scale with round ends around ``values`` (from 0 when linear and ``zero``)."""
        if log:
            positive = [v for v in values if v > 0] or [1.0]
            return cls(*span(min(positive) * 0.8, max(positive) * 1.25), log=True)
        hi = max([*values, 1e-9])
        lo = 0.0 if zero else min(values)
        step = nice((hi - lo) / 5 or 1.0, up=True)
        return cls(math.floor(lo / step) * step, math.ceil(hi * 1.0001 / step) * step)

    def fraction(self, value: float) -> float:
        """Where ``value`` lies, 0 at ``lo`` and 1 at ``hi`` (log: clipped at ``lo``)."""
        if self.log:
            value = max(value, self.lo)
            return (math.log10(value) - math.log10(self.lo)) / (
                math.log10(self.hi) - math.log10(self.lo))
        return (value - self.lo) / ((self.hi - self.lo) or 1.0)

    def ticks(self) -> list[tuple[float, bool]]:
        """(value, major): log, 1/2/5 × 10^k with the decades major; linear, a round step."""
        if self.log:
            out = []
            for exponent in range(math.floor(math.log10(self.lo)),
                                  math.ceil(math.log10(self.hi)) + 1):
                for m in (1, 2, 5):
                    value = m * 10.0 ** exponent
                    if self.lo <= value <= self.hi:
                        out.append((value, m == 1))
            return out
        step = nice((self.hi - self.lo) / 5 or 1.0, up=True)
        first = math.ceil(self.lo / step - 1e-9)
        return [(round(k * step, 9), True) for k in range(first, first + 12)
                if k * step <= self.hi * (1 + 1e-9)]


@dataclass
class Panel:
    """A plot area of a canvas, with an x and a y scale (y grows upwards)."""

    canvas: Canvas
    left: int
    top: int
    right: int
    bottom: int
    x: Scale
    y: Scale

    def px(self, value: float) -> float:
        return self.left + self.x.fraction(value) * (self.right - self.left)

    def py(self, value: float) -> float:
        return self.bottom - self.y.fraction(value) * (self.bottom - self.top)

    def grid(self, x_label: Callable[[float], str] = tick,
             y_label: Callable[[float], str] = tick) -> None:
        """Grid lines, tick labels (minor ones grey) and the two axes."""
        canvas = self.canvas
        for value, major in self.x.ticks():
            canvas.line(self.px(value), self.bottom, self.px(value), self.top, GRID)
            canvas.text(int(self.px(value)), self.bottom + 8, x_label(value),
                        BLACK if major else GREY, anchor="center")
        for value, major in self.y.ticks():
            canvas.line(self.left, self.py(value), self.right, self.py(value), GRID)
            canvas.text(self.left - 8, int(self.py(value)) - 7, y_label(value),
                        BLACK if major else GREY, anchor="right")
        canvas.line(self.left, self.bottom, self.right, self.bottom, BLACK, 2)
        canvas.line(self.left, self.bottom, self.left, self.top, BLACK, 2)

    def series(self, points: Sequence[tuple[float, float]], color: Color, width: int = 3,
               marker: int = 5, dash: int = 0) -> None:
        """A line through ``points`` (sorted by x; log axes skip values <= 0), with markers."""
        usable = [(a, b) for a, b in sorted(points)
                  if (a > 0 or not self.x.log) and (b > 0 or not self.y.log)]
        pts = [(self.px(a), self.py(b)) for a, b in usable]
        for (ax, ay), (bx, by) in itertools.pairwise(pts):
            self.canvas.line(ax, ay, bx, by, color, width, dash=dash)
        for x, y in pts if marker else ():
            self.canvas.rect(int(x) - marker, int(y) - marker, int(x) + marker,
                             int(y) + marker, color)

    def dots(self, points: Sequence[tuple[float, float]], color: Color, size: int = 2) -> None:
        for a, b in points:
            if (a > 0 or not self.x.log) and (b > 0 or not self.y.log):
                x, y = int(self.px(a)), int(self.py(b))
                self.canvas.rect(x - size, y - size, x + size, y + size, color)

    def hline(self, value: float, color: Color, label: str = "", dash: int = 6) -> None:
        self.canvas.line(self.left, self.py(value), self.right, self.py(value), color, 2,
                         dash=dash)
        if label:
            self.canvas.text(self.right - 4, int(self.py(value)) - 18, label, color,
                             anchor="right")

    def vline(self, value: float, color: Color, label: str = "", dash: int = 4) -> None:
        self.canvas.line(self.px(value), self.bottom, self.px(value), self.top, color, 1,
                         dash=dash)
        if label:
            self.canvas.text(int(self.px(value)) + 6, self.top + 4, label, color)

    def legend(self, entries: Sequence[tuple[str, Color]], note: str = "") -> None:
        """Names and their colours, in a white box at the panel's top left."""
        lx, ly = self.left + 16, self.top + 12
        rows = len(entries) + (1 if note else 0)
        width = 12 * max([len(name) for name, _ in entries] + [len(note)]) + 50
        self.canvas.rect(lx - 8, ly - 8, lx + width, ly + rows * 24 + 2, WHITE)
        for i, (name, color) in enumerate(entries):
            self.canvas.rect(lx, ly + 6 + i * 24, lx + 24, ly + 9 + i * 24, color)
            self.canvas.text(lx + 34, ly + i * 24, name, color)
        if note:
            self.canvas.text(lx + 34, ly + len(entries) * 24, note, GREY)
