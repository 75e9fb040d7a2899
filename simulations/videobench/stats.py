"""The pure parts of the video benchmark: the video a window delivered, CPU grouped by what it
served, the with/without comparison, the figures of a run, the aims.

No Ray, no processes: every function here takes plain numbers and dicts (unit-tested in
``tests/unit/test_bench_video.py``). Medians over runs are ``oddsbench.stats.medians``.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from simulations.oddsbench.stats import nearest_rank, summary_ms

# the aims of the "video never slows bets" issue: with the video running, bets/s at least
# 90% of without, and p99 (open loop, a constant rate) at most 1.5 times without
AIM_BETS_RATIO = 0.90
AIM_P99_RATIO = 1.5
VIDEO_FPS = 25  # the synthetic match (media.synthetic.SyntheticSettings.fps)
# a viewer at full rate (not an aim of the issue: shown so "bets not slowed" cannot hide
# "video starved")
FULL_RATE_FPS = 24.0

# what a process's label (cluster.processes.label) says it serves
MEDIA_MARKERS = ("RegionMediaActor", "MediaRelayActor", "ServeReplica:media")
VIDEO_CLIENTS = ("video publisher", "video viewers")
LOAD_GENERATOR = "bet load generator"
BENCHMARK = "benchmark (this process)"


def is_media(label: str) -> bool:
    """A media process of the platform (region actor, relay, the media HTTP deployment)."""
    return any(marker in label for marker in MEDIA_MARKERS)


def cpu_groups(by_process: Mapping[str, float]) -> dict[str, float]:
    """Cores by what they served: the platform's media processes, the rest of the platform
    (the bet path, Ray, Redis, ...), the video's clients, the bets' load generator, this
    process."""
    out = {"platform media": 0.0, "platform (bet path and the rest)": 0.0,
           "video clients": 0.0, LOAD_GENERATOR: 0.0, BENCHMARK: 0.0}
    for label, cores in by_process.items():
        if label in VIDEO_CLIENTS:
            out["video clients"] += cores
        elif label in (LOAD_GENERATOR, BENCHMARK):
            out[label] += cores
        elif is_media(label):
            out["platform media"] += cores
        else:
            out["platform (bet path and the rest)"] += cores
    return {k: round(v, 3) for k, v in out.items()}


def nice_from_stat(text: str) -> int:
    """The nice value in a ``/proc/<pid>/stat`` (or ``.../task/<tid>/stat``) line.

    Field 19 of proc(5); the command in field 2 may hold spaces and parentheses, so the
    fields are counted from after its last ``)`` (where field 3 begins)."""
    rest = text[text.rindex(")") + 2:].split()
    return int(rest[19 - 3])


def video_window(replies: Sequence[Mapping[str, Any]], fps: int = VIDEO_FPS
                 ) -> dict[str, Any]:
    """What the viewers received (and the publisher sent) over one measured window, from
    the client processes' ``collect`` replies."""
    frames: list[int] = []
    latencies: list[float] = []
    out: dict[str, Any] = {}
    seconds = max((float(r["seconds"]) for r in replies), default=0.0)
    for reply in replies:
        if reply.get("autogroup"):
            out.setdefault("client_autogroups", []).append(reply["autogroup"])
        if reply.get("role") == "publisher":
            if reply.get("frames_sent") is not None and reply["seconds"]:
                out["publisher_fps"] = round(reply["frames_sent"] / reply["seconds"], 2)
            out["publisher_cores"] = round(reply["cpu_s"] / max(1e-9, reply["seconds"]), 3)
            continue
        frames.extend(int(n) for n in reply.get("frames_per_viewer", []))
        latencies.extend(float(x) for x in reply.get("latency_ms", []))
        out.setdefault("viewer_cores", 0.0)
        out["viewer_cores"] = round(out["viewer_cores"]
                                    + reply["cpu_s"] / max(1e-9, reply["seconds"]), 3)
    out["viewers"] = len(frames)
    out["seconds"] = round(seconds, 2)
    if frames and seconds > 0:
        per_s = sorted(n / seconds for n in frames)
        out["viewer_fps"] = {"median": round(statistics.median(per_s), 2),
                             "min": round(per_s[0], 2), "max": round(per_s[-1], 2),
                             "p10": round(nearest_rank(per_s, 10), 2)}
        out["viewers_full_rate"] = sum(1 for x in per_s if x >= FULL_RATE_FPS * fps / VIDEO_FPS)
        out["viewers_without_frames"] = sum(1 for n in frames if n == 0)
        out["delivered_share"] = round(sum(frames) / (len(frames) * fps * seconds), 4)
    lat = summary_ms(latencies)
    out["glass_to_glass_ms"] = {k: lat[k] for k in ("p50", "p99", "max") if k in lat}
    return out


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def compare(segments: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """With video over without: the mean of the "with" segments over the mean of the
    "without" ones (in a symmetric order a steady drift cancels), for the closed loop's
    accepted bets/s and for the open loop's p50/p99/p99.9.

    Each segment: ``{"video": bool, "closed": {"ok_per_s"}, "open": {"latency_ms": {...}}}``.
    """
    out: dict[str, Any] = {}
    for name, video in (("with", True), ("without", False)):
        chosen = [s for s in segments if bool(s.get("video")) is video]
        out[f"bets_per_s_{name}"] = _round(_mean([float(s["closed"]["ok_per_s"])
                                                  for s in chosen if s.get("closed")]))
        for p in ("p50", "p99", "p99.9"):
            values = [float(s["open"]["latency_ms"][p]) for s in chosen
                      if (s.get("open") or {}).get("latency_ms", {}).get(p) is not None]
            out[f"open_{p}_ms_{name}"] = _round(_mean(values))
    out["bets_ratio"] = _ratio(out["bets_per_s_with"], out["bets_per_s_without"])
    for p in ("p50", "p99", "p99.9"):
        out[f"{p}_ratio"] = _ratio(out[f"open_{p}_ms_with"], out[f"open_{p}_ms_without"])
    return out


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def open_rate(capacity: float, share: float = 0.5, cap: float = 1000.0) -> float:
    """The open loop's constant rate: ``share`` of the no-video capacity, at most ``cap``
    (rounded to tens, at least 10/s)."""
    return float(max(10.0, min(cap, round(capacity * share, -1))))


def key_figures(run: Mapping[str, Any]) -> dict[str, float]:
    """The figures of one run compared across runs (those it measured)."""
    out: dict[str, float] = {}
    comparison = run.get("comparison") or {}
    for key, value in comparison.items():
        if value is not None:
            out[key] = float(value)
    for key in ("capacity_per_s", "open_rate_per_s"):
        if run.get(key) is not None:
            out[key] = float(run[key])
    with_video = [s for s in run.get("segments", []) if s.get("video")]
    for phase in ("closed", "open"):
        windows = [(s.get(phase) or {}).get("video") or {} for s in with_video]
        fps = [w["viewer_fps"] for w in windows if w.get("viewer_fps")]
        if fps:
            out[f"viewer_fps_median_{phase}"] = round(statistics.median(
                f["median"] for f in fps), 2)
            out[f"viewer_fps_min_{phase}"] = min(f["min"] for f in fps)
        g2g = [w["glass_to_glass_ms"]["p99"] for w in windows
               if (w.get("glass_to_glass_ms") or {}).get("p99") is not None]
        if g2g:
            out[f"glass_to_glass_p99_ms_{phase}"] = round(statistics.median(g2g), 1)
        groups = [(s.get(phase) or {}).get("cpu_groups") or {} for s in with_video]
        for name, key in (("platform media", "media_cores"),
                          ("video clients", "video_client_cores")):
            values = [g[name] for g in groups if name in g]
            if values:
                out[f"{key}_{phase}"] = round(statistics.median(values), 3)
    return out


def _judge(value: float | None, ok: bool, note: str = "") -> dict[str, Any]:
    if value is None:
        return {"value": None, "verdict": "n/a", "note": note or "not measured"}
    return {"value": value, "verdict": "PASS" if ok else "MISS", "note": note}


def aims(table: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """PASS/MISS (n/a when not measured) from the medians ``table`` (figure → {"median"});
    printed, never asserted."""
    def med(name: str) -> float | None:
        row = table.get(name)
        return None if row is None else float(row["median"])

    bets, p99 = med("bets_ratio"), med("p99_ratio")
    fps = med("viewer_fps_median_closed")
    low = med("viewer_fps_min_closed")
    return {
        f"bets/s with video >= {AIM_BETS_RATIO:.0%} of without": _judge(
            bets, bets is not None and bets >= AIM_BETS_RATIO),
        f"p99 with video <= {AIM_P99_RATIO:g}x without (open loop)": _judge(
            p99, p99 is not None and p99 <= AIM_P99_RATIO),
        f"video delivered while bets run flat out: median viewer >= {FULL_RATE_FPS:g} fps "
        "(a check, not an aim of the issue)": _judge(
            fps, fps is not None and fps >= FULL_RATE_FPS,
            "" if low is None else f"slowest viewer {low:g} fps"),
    }
