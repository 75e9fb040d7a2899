"""CPU by process over a phase, RSS of the platform's processes, and the limits that applied.

Everything through psutil (``cluster.processes``): the platform's processes are those of its
launch (``LocalPlatform.pids()``: the run's marker, and the store working in its home), the
clients are the pool's worker processes, the publisher is this process.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import psutil

from cluster import processes

KB = 1024

# labels of the processes an open stream goes through
HAPROXY = "haproxy"
ODDS_REPLICA = "ray::ServeReplica:odds:odds"
ODDS_CACHE = "ray::OddsCache"
STREAM_PATH = (HAPROXY, ODDS_REPLICA, ODDS_CACHE)


def _machine_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, all cores."""
    times = psutil.cpu_times()
    total = sum(v for k, v in times._asdict().items() if k not in ("guest", "guest_nice"))
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


def _cpu_and_start(pid: int) -> tuple[float, float] | None:
    try:
        proc = psutil.Process(pid)
        times = proc.cpu_times()
        return times.user + times.system, proc.create_time()
    except (psutil.Error, OSError):
        return None


class PhaseCpu:
    """Cores used over a phase, by label, of the processes ``groups()`` names then
    (pid → label), and by the rest of the machine."""

    def __init__(self, groups: Callable[[], Mapping[int, str]]) -> None:
        self.groups = groups
        self._start: dict[int, tuple[float, float]] = {}
        self._machine = (0.0, 0.0)
        self._t0 = 0.0

    def start(self) -> PhaseCpu:
        self._start = {pid: got for pid in self.groups()
                       if (got := _cpu_and_start(pid)) is not None}
        self._machine = _machine_seconds()
        self._t0 = time.monotonic()
        return self

    def stop(self) -> dict[str, Any]:
        wall = time.monotonic() - self._t0
        busy1, total1 = _machine_seconds()
        by_label: dict[str, float] = {}
        for pid, name in self.groups().items():
            got = _cpu_and_start(pid)
            if got is None:
                continue
            before = self._start.get(pid)
            used = got[0] - (before[0] if before and before[1] == got[1] else 0.0)
            by_label[name] = by_label.get(name, 0.0) + used
        ncpu = os.cpu_count() or 1
        busy = (busy1 - self._machine[0]) / max(1e-9, total1 - self._machine[1]) * ncpu
        ours = sum(by_label.values()) / wall if wall > 0 else 0.0
        return {
            "wall_s": round(wall, 2), "machine_busy_cores": round(busy, 2),
            "benchmark_cores": round(ours, 2), "other_cores": round(max(0.0, busy - ours), 2),
            "by_process_cores": {k: round(v / wall, 3) for k, v in
                                 sorted(by_label.items(), key=lambda kv: -kv[1])
                                 if wall > 0 and v > 0},
        }


def labelled(pids: Iterable[int]) -> dict[int, str]:
    return {pid: processes.label(pid) for pid in pids}


def rss_by_label(pids: Iterable[int]) -> dict[str, int]:
    """Resident bytes by process label (processes sharing a label summed)."""
    out: dict[str, int] = {}
    for pid in pids:
        rss = processes.rss_bytes(pid)
        if rss is not None:
            name = processes.label(pid)
            out[name] = out.get(name, 0) + rss
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def per_stream(before: Mapping[str, int], after: Mapping[str, int], streams: int,
               top: int = 8) -> dict[str, Any]:
    """(after − before) / streams, in total and by label (KB = 1,024 bytes)."""
    if streams <= 0:
        return {"streams": streams, "kb_per_stream": None}
    names = set(before) | set(after)
    delta = {n: after.get(n, 0) - before.get(n, 0) for n in names}
    total = sum(delta.values())
    path = sum(delta.get(n, 0) for n in STREAM_PATH)
    ranked = sorted(delta.items(), key=lambda kv: -abs(kv[1]))
    return {
        "streams": streams,
        "rss_before_mb": round(sum(before.values()) / KB / KB, 1),
        "rss_after_mb": round(sum(after.values()) / KB / KB, 1),
        "delta_mb": round(total / KB / KB, 2),
        "kb_per_stream": round(total / streams / KB, 2),
        # HAProxy, the odds replica(s) and the odds cache alone: the rest is other processes'
        # own drift over the same seconds (noise at small counts)
        "kb_per_stream_stream_path": round(path / streams / KB, 2),
        "kb_per_stream_by_process": {n: round(d / streams / KB, 2) for n, d in ranked[:top]},
    }


# ------------------------------------------------------------------ limits


def _nofile(pid: int) -> list[int] | None:
    with contextlib.suppress(psutil.Error, OSError, AttributeError):
        soft, hard = psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE)
        return [int(soft), int(hard)]
    return None


def haproxy_config(pid: int) -> dict[str, Any]:
    """The config file an HAProxy process runs (``-f``) and its global limits."""
    args = processes.cmdline(pid).split()
    path = args[args.index("-f") + 1] if "-f" in args[:-1] else ""
    out: dict[str, Any] = {"pid": pid, "config": path, "nofile": _nofile(pid)}
    try:
        text = Path(path).read_text() if path else ""
    except OSError:
        text = ""
    head = text.split("\ndefaults", 1)[0]
    for key in ("maxconn", "nbthread"):
        found = re.search(rf"^\s*{key}\s+(\d+)", head, re.MULTILINE)
        out[key] = int(found.group(1)) if found else None
    timeouts = re.findall(r"^\s*timeout\s+(\w[\w-]*)\s+(\S+)", text, re.MULTILINE)
    out["timeouts"] = dict(timeouts)
    return out


def _sysctl(name: str) -> str | None:
    with contextlib.suppress(OSError):
        return Path("/proc/sys", *name.split(".")).read_text().strip()
    return None


def limits(platform_pids: Iterable[int], client_pids: Iterable[int],
           configured: Mapping[str, str]) -> dict[str, Any]:
    """What bounded the number of streams in this run."""
    pids = set(platform_pids)
    named = labelled(pids)
    haproxy = [haproxy_config(p) for p, name in sorted(named.items()) if name == HAPROXY]
    replicas = {str(p): _nofile(p) for p, name in named.items() if name == ODDS_REPLICA}
    return {
        "benchmark_nofile": _nofile(os.getpid()),
        "client_nofile": {str(p): _nofile(p) for p in client_pids},
        "haproxy": haproxy,
        "odds_replica_nofile": replicas,
        "configured": dict(configured),
        "ephemeral_ports": _sysctl("net.ipv4.ip_local_port_range"),
        "somaxconn": _sysctl("net.core.somaxconn"),
        "memory_available_mb": round(psutil.virtual_memory().available / KB / KB),
    }
