"""Percentiles, delivery latency and the figures of a run, medians over runs, the aims (pure).

Latency samples come from the clients as two parallel arrays, the ``id`` of each ``odds``
message and the time it was received (``time.monotonic()``: one clock for every process of
the machine), and are matched here against the publisher's record: the event's version in
each ack → the time just before the gRPC call that carried the message.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

PERCENTILES = (50.0, 90.0, 99.0, 99.9)

# aims of the live-odds issue (item 7)
AIM_P99_MS = 100.0
AIM_P99_AT = 1000
AIM_STREAMS = 5000
AIM_KB_PER_STREAM = 50.0
AIM_BETS_RATIO = 0.90
AIM_BETS_STREAMS = 1000


def nearest_rank(ordered: Sequence[float] | npt.NDArray[np.float64], p: float) -> float:
    """The ``p``-th percentile of already sorted values (nearest rank: a value that was
    measured, never an interpolation)."""
    n = len(ordered)
    if n == 0:
        raise ValueError("no values")
    return float(ordered[min(n - 1, max(0, math.ceil(p / 100 * n) - 1))])


def summary_ms(values: Iterable[float] | npt.NDArray[np.float64]) -> dict[str, float]:
    """count, p50/p90/p99/p99.9, min, max and mean of milliseconds ({} for none)."""
    xs = np.sort(np.asarray(list(values) if not isinstance(values, np.ndarray) else values,
                            dtype=np.float64))
    if xs.size == 0:
        return {}
    out = {"count": float(xs.size)}
    for p in PERCENTILES:
        out[f"p{p:g}"] = round(nearest_rank(xs, p), 3)
    out["min"] = round(float(xs[0]), 3)
    out["max"] = round(float(xs[-1]), 3)
    out["mean"] = round(float(xs.mean()), 3)
    return out


@dataclass(frozen=True)
class Matched:
    """Latencies of the samples whose id is a published version, and what did not match."""

    latency_ms: npt.NDArray[np.float64]
    unmatched: int  # ids the publisher never got back in an ack (none expected)
    too_early: int  # received before the publish call started: a clock or matching error


def match(ids: npt.NDArray[np.int64], received: npt.NDArray[np.float64],
          published: Mapping[int, float]) -> Matched:
    """Latency (ms) of each sample: its receive time minus the publish time of its id."""
    if not published or ids.size == 0:
        return Matched(np.zeros(0), int(ids.size), 0)
    versions = np.fromiter(published.keys(), dtype=np.int64, count=len(published))
    times = np.fromiter(published.values(), dtype=np.float64, count=len(published))
    order = np.argsort(versions)
    versions, times = versions[order], times[order]
    at = np.searchsorted(versions, ids)
    at_clipped = np.minimum(at, versions.size - 1)
    hit = versions[at_clipped] == ids
    lat = (received[hit] - times[at_clipped[hit]]) * 1000.0
    early = int(np.count_nonzero(lat < 0))
    return Matched(lat, int(ids.size - np.count_nonzero(hit)), early)


def delivery(published: int, per_stream: Sequence[int] | npt.NDArray[np.int64],
             duration_s: float) -> dict[str, Any]:
    """How completely the published versions reached the streams.

    ``per_stream``: matched ``odds`` messages each stream received in the window.
    """
    counts = np.asarray(per_stream, dtype=np.int64)
    streams = int(counts.size)
    expected = published * streams
    got = int(counts.sum())
    out: dict[str, Any] = {
        "published": published, "streams": streams, "expected": expected, "delivered": got,
        "delivered_share": round(got / expected, 5) if expected else None,
        "streams_complete": int(np.count_nonzero(counts >= published)) if streams else 0,
    }
    if streams and duration_s > 0:
        ordered = np.sort(counts).astype(np.float64)
        out["per_stream_per_s"] = {
            "p50": round(nearest_rank(ordered, 50) / duration_s, 2),
            "min": round(float(ordered[0]) / duration_s, 2),
            "max": round(float(ordered[-1]) / duration_s, 2)}
        out["published_per_s"] = round(published / duration_s, 2)
    return out


# ------------------------------------------------------------------ figures, medians, aims


def key_figures(run: Mapping[str, Any]) -> dict[str, float]:
    """The figures of one run that are compared across runs (those it measured)."""
    out: dict[str, float] = {}
    for level in run.get("levels", []):
        if not level.get("ramp_max") and not (level.get("open") or {}).get("held", True):
            continue  # a level that did not open in full is not that level (the max is)
        n = level.get("n")
        tag = "max" if level.get("ramp_max") else level.get("target", n)
        lat = (level.get("latency") or {}).get("latency_ms") or {}
        if lat:
            out[f"p50_ms_at_{tag}"] = lat["p50"]
            out[f"p99_ms_at_{tag}"] = lat["p99"]
        call = ((level.get("latency") or {}).get("publish") or {}).get("call_ms") or {}
        fan = (level.get("latency") or {}).get("after_ack_ms") or {}
        if call:
            out[f"publish_ack_p50_ms_at_{tag}"] = call["p50"]
        if fan:
            out[f"ack_to_client_p99_ms_at_{tag}"] = fan["p99"]
        if level.get("ramp_max") and n:
            out["n_at_max"] = float(n)
        flat = (level.get("flat_out") or {}).get("delivery") or {}
        if flat.get("per_stream_per_s"):
            out[f"sustained_updates_per_s_at_{tag}"] = flat["per_stream_per_s"]["p50"]
            out[f"published_per_s_flat_out_at_{tag}"] = flat["published_per_s"]
        mem = level.get("memory") or {}
        if mem.get("kb_per_stream") is not None:
            out[f"kb_per_stream_at_{tag}"] = mem["kb_per_stream"]
        if mem.get("kb_per_stream_stream_path") is not None:
            out[f"kb_per_stream_path_at_{tag}"] = mem["kb_per_stream_stream_path"]
        cpu = (level.get("latency") or {}).get("client_cores")
        if cpu is not None:
            out[f"client_cores_at_{tag}"] = cpu
    ramp = run.get("ramp") or {}
    if ramp.get("held") is not None:
        out["max_streams_held"] = float(ramp["held"])
    bets = run.get("bets") or {}
    for key in ("ratio", "with_per_s", "without_per_s"):
        if bets.get(key) is not None:
            out[f"bets_{key}"] = float(bets[key])
    return out


def medians(figures: Sequence[Mapping[str, float]]) -> dict[str, dict[str, Any]]:
    """Per figure: the median over the runs that measured it, and every run's value."""
    names = sorted({k for f in figures for k in f})
    table: dict[str, dict[str, Any]] = {}
    for name in names:
        values = [float(f[name]) for f in figures if name in f]
        if values:
            table[name] = {"median": round(statistics.median(values), 3), "runs": values}
    return table


def _judge(value: float | None, ok: bool, measured_at: str = "") -> dict[str, Any]:
    if value is None:
        return {"value": None, "verdict": "n/a", "note": measured_at or "not measured"}
    return {"value": value, "verdict": "PASS" if ok else "MISS", "note": measured_at}


def aims(table: Mapping[str, Mapping[str, Any]], bets_streams: int | None = None,
         largest_n: int | None = None) -> dict[str, dict[str, Any]]:
    """PASS/MISS (or n/a) per aim from the medians ``table`` (a figure → {"median"})."""
    def med(name: str) -> float | None:
        row = table.get(name)
        return None if row is None else float(row["median"])

    out: dict[str, dict[str, Any]] = {}
    p99 = med(f"p99_ms_at_{AIM_P99_AT}")
    out[f"p99 <= {AIM_P99_MS:g} ms at {AIM_P99_AT:,} clients"] = _judge(
        p99, p99 is not None and p99 <= AIM_P99_MS,
        "" if p99 is not None else f"no level of {AIM_P99_AT:,} clients in this run")
    held = med("max_streams_held")
    out[f">= {AIM_STREAMS:,} open streams"] = _judge(
        held, held is not None and held >= AIM_STREAMS,
        "" if held is not None else "no ramp in this run")
    # at 5,000 streams (the aim's count), else at the most held, else at the largest level
    kb_name = next((name for name in (f"kb_per_stream_at_{AIM_STREAMS}", "kb_per_stream_at_max",
                                      f"kb_per_stream_at_{largest_n}") if name in table),
                   None)
    kb = med(kb_name) if kb_name else None
    at = "" if kb_name is None else kb_name.rsplit("_", 1)[-1]
    if at == "max":
        at = f"{med('n_at_max') or 0:,.0f} (the most held)"
    out[f"<= {AIM_KB_PER_STREAM:g} KB per idle stream"] = _judge(
        kb, kb is not None and kb <= AIM_KB_PER_STREAM,
        f"at {at} streams" if kb is not None else "")
    ratio = med("bets_ratio")
    note = ""
    if ratio is not None and bets_streams is not None and bets_streams != AIM_BETS_STREAMS:
        note = f"with {bets_streams:,} streams open, not {AIM_BETS_STREAMS:,}"
    out[f"bets/s with {AIM_BETS_STREAMS:,} streams >= {AIM_BETS_RATIO:.0%} of without"] = \
        _judge(ratio, ratio is not None and ratio >= AIM_BETS_RATIO, note)
    return out
