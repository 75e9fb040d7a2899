"""py-spy of the busiest processes of the real path while a load runs."""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simulations.httpbench.plan import BIN, base_env


def profile_processes(tag: str, pids: list[tuple[int, str]], seconds: float,
                      workdir: Path, load: Callable[[], Any]) -> dict[str, Any]:
    """py-spy the given processes while ``load`` runs; top functions by own samples."""
    spy = BIN / "py-spy"
    if not spy.exists():
        return {"error": "py-spy is not installed in the venv"}
    procs = []
    for pid, label in pids:
        out = workdir / f"pyspy-{pid}.txt"
        p = subprocess.Popen(
            [str(spy), "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
             "--format", "raw", "--output", str(out), "--nonblocking", "--rate", "200"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=base_env(tag))
        procs.append((p, out, pid, label))
    load()
    report: dict[str, Any] = {}
    for p, out, pid, label in procs:
        try:
            _, errb = p.communicate(timeout=seconds + 60)
        except subprocess.TimeoutExpired:
            p.kill()
            _, errb = p.communicate()
        own: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        layer: Counter[str] = Counter()
        total = 0
        if out.exists():
            for line in out.read_text().splitlines():
                stack, _, count = line.rpartition(" ")
                if not count.isdigit():
                    continue
                n = int(count)
                total += n
                frames = stack.split(";")
                own[frames[-1]] += n
                layer[_layer(frames)] += n
                for frame in set(frames):
                    if any(k in frame for k in ("serve_apps", "actors/", "storage/",
                                                "cluster/", "fastapi/routing", "pydantic")):
                        inclusive[frame] += n
        report[f"{label} (pid {pid})"] = {
            "samples": total,
            "by_layer_pct": {k: round(100 * v / total, 1) for k, v in layer.most_common()}
            if total else {},
            "top_own_pct": {k: round(100 * v / total, 1) for k, v in own.most_common(15)}
            if total else {},
            # application frames (inplay, FastAPI routing, pydantic) incl. their callees
            "app_inclusive_pct": {k: round(100 * v / total, 1)
                                  for k, v in inclusive.most_common(25)} if total else {},
            "error": (errb or b"").decode(errors="replace")[-300:] if not total else "",
        }
    return report


_LAYERS = (("starlette", "http: starlette/fastapi"), ("fastapi", "http: starlette/fastapi"),
           ("uvicorn", "http: uvicorn"), ("h11", "http: uvicorn"), ("httptools", "http: uvicorn"),
           ("pydantic", "pydantic"), ("redis", "redis client"), ("ray/serve", "ray serve"),
           ("ray/_private", "ray core"), ("ray/actor", "ray core"), ("_raylet", "ray core"),
           ("serialization", "ray core"), ("asyncio", "asyncio"), ("uvloop", "asyncio"),
           ("serve_apps", "inplay serve_apps"), ("actors/", "inplay actors"),
           ("storage/", "inplay storage"), ("cluster/", "inplay cluster"))


def _layer(frames: list[str]) -> str:
    """The layer of the innermost frame that belongs to a known one."""
    for frame in reversed(frames):
        for needle, name in _LAYERS:
            if needle in frame:
                return name
    return "other"
