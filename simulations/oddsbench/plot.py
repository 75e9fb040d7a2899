"""The latency plot as a PNG (``simulations/plotting.py``: numpy and zlib, no plotting library).

Log-log axes, decade grid lines, the medians as lines with markers, each run as dots.
"""

from __future__ import annotations

from collections.abc import Sequence

from simulations.plotting import (
    BLUE,
    GREEN,
    LIGHT_BLUE,
    LIGHT_RED,
    RED,
    Canvas,
    Panel,
    Scale,
)


def latency_png(medians: Sequence[tuple[float, float, float]],
                runs: Sequence[tuple[float, float, float]] = (),
                aim_ms: float | None = 100.0, aim_n: float | None = 1000.0,
                title: str = "odds stream: delivery latency vs open streams",
                width: int = 900, height: int = 560) -> bytes:
    """p50 and p99 (ms) against open streams, log-log: ``medians`` as lines with markers,
    each run's values (``runs``) as small dots, the aim as a dashed line."""
    canvas = Canvas(width, height)
    every = [*medians, *runs]
    if not every:
        canvas.text(width // 2, height // 2, "no data", anchor="center")
        return canvas.png()
    ns = [n for n, _, _ in every if n > 0]
    values = [v for _, a, b in every for v in (a, b) if v > 0] + ([aim_ms] if aim_ms else [])
    panel = Panel(canvas, left=90, top=80, right=width - 30, bottom=height - 80,
                  x=Scale.fit(ns, log=True), y=Scale.fit(values, log=True))
    panel.grid()
    if aim_ms:
        panel.hline(aim_ms, GREEN, f"aim: p99 <= {aim_ms:g} ms")
    if aim_n and panel.x.lo <= aim_n <= panel.x.hi:
        panel.vline(aim_n, GREEN)
    for color, index in ((LIGHT_BLUE, 1), (LIGHT_RED, 2)):
        panel.dots([(r[0], r[index]) for r in runs], color)
    for color, index in ((BLUE, 1), (RED, 2)):
        panel.series([(p[0], p[index]) for p in medians], color)
    canvas.text(width // 2, 12, title, anchor="center")
    canvas.text((panel.left + panel.right) // 2, height - 40, "open sse streams (log scale)",
                anchor="center")
    canvas.text(14, panel.top - 32, "ms (log scale), from just before the grpc publish to the "
                "client read", scale=2)
    panel.legend((("p50 (median of runs)", BLUE), ("p99 (median of runs)", RED)),
                 "dots: each run" if runs else "")
    return canvas.png()
