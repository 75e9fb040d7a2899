"""Media benchmark: SFU CPU per viewer and glass-to-glass latency, saved to
simulations/results/media.json.

The SFU runs in its own process pinned to core 0; the publisher and viewers run in this process
pinned to core 1, so viewers' cost stays out of the SFU figure. Scale viewers read the capture
time from the SEI without decoding; one decoding viewer measures what a player would show.
Usage: python -m simulations.bench_media [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "media.json"


def _pin(core: int) -> None:
    if hasattr(os, "sched_setaffinity") and core < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {core})


def _sfu_process(conn: Connection) -> None:
    """Serve WHIP/WHEP offers arriving over `conn` with a ForwardingSfu."""
    _pin(0)
    from media.sfu import ForwardingSfu

    async def serve() -> None:
        sfu = ForwardingSfu()
        while True:
            kind, offer = await asyncio.to_thread(conn.recv)
            if kind == "stop":
                return
            call = sfu.publish if kind == "whip" else sfu.subscribe
            conn.send((await call(offer))[1])

    asyncio.run(serve())


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _measure(viewers: int, seconds: float) -> dict[str, Any]:
    from media.client import WhepViewer, WhipPublisher
    from media.qos import latency_summary
    from media.synthetic import SyntheticVideoTrack

    parent, child = mp.Pipe()
    process = mp.get_context("spawn").Process(target=_sfu_process, args=(child,), daemon=True)
    process.start()

    async def signal(kind: str, offer: str) -> str:
        parent.send((kind, offer))
        return await asyncio.to_thread(parent.recv)

    publisher = WhipPublisher(SyntheticVideoTrack())
    await publisher.start(lambda o: signal("whip", o))
    await asyncio.sleep(1.0)
    clients = [WhepViewer(decode=i == 0) for i in range(viewers)]
    for client in clients:
        await client.start(lambda o: signal("whep", o))
    await asyncio.sleep(2.0)
    for client in clients:
        client.frames.clear()
    cpu0, t0 = _cpu_seconds(process.pid or 0), time.monotonic()
    await asyncio.sleep(seconds)
    cpu = (_cpu_seconds(process.pid or 0) - cpu0) / (time.monotonic() - t0)
    latencies = [f.latency for c in clients[1:] for f in c.frames]
    decoded = [f.latency for f in clients[0].frames] if clients else []
    fps = min((len(c.frames) / seconds for c in clients), default=0.0)
    for client in clients:
        await client.close()
    await publisher.close()
    parent.send(("stop", ""))
    process.join(5)
    p50, p95 = latency_summary(latencies or decoded)
    dp50, dp95 = latency_summary(decoded)
    return {"viewers": viewers, "sfu_cores": cpu, "min_viewer_fps": fps,
            "webrtc_p50_ms": p50, "webrtc_p95_ms": p95,
            "decoded_p50_ms": dp50, "decoded_p95_ms": dp95}


async def _hls_latency(seconds: float) -> dict[str, Any]:
    """Capture -> part/segment availability in the packager (delivery latency, no player)."""
    from media.hls import FrameAssembler, HlsPackager, HlsSettings
    from media.sfu import ForwardingSfu

    sfu, assembler = ForwardingSfu(), FrameAssembler()
    packager = HlsPackager(HlsSettings(delay=3.0))
    part_lat: list[float] = []
    seen: set[str] = set()

    class Sink:
        async def forward(self, packet: Any, keyframe: bool) -> None:
            unit = assembler.push(packet.payload, packet.timestamp, bool(packet.marker))
            if unit is not None:
                packager.push(unit)
                for name in set(packager.files) - seen:
                    seen.add(name)
                    if name.startswith("part") and unit.capture_time:
                        part_lat.append(time.time() - unit.capture_time + 0.2)

    from media.client import WhipPublisher
    from media.synthetic import SyntheticVideoTrack

    publisher = WhipPublisher(SyntheticVideoTrack())

    async def whip(offer: str) -> str:
        return (await sfu.publish(offer))[1]

    await publisher.start(whip)
    await asyncio.sleep(1.0)
    sfu.streams["video"].sinks.add(Sink())
    await asyncio.sleep(seconds)
    await publisher.close()
    await sfu.close()
    ll = sorted(part_lat)
    # A part's oldest frame waited a whole part (0.2 s, added above); a standard HLS player
    # holds back 3 segments (RFC 8216 6.3.3), an LL player 3 parts (PART-HOLD-BACK).
    p50 = ll[len(ll) // 2] if ll else None
    return {"ll_hls_delivery_p50_ms": 1000 * p50 if p50 else None,
            "ll_hls_with_part_hold_back_p50_ms": 1000 * (p50 + 0.6) if p50 else None,
            "hls_with_hold_back_p50_ms": 1000 * (p50 + 1.0 + 3.0) if p50 else None}


def _janus_status() -> str:
    if shutil.which("janus") is None:
        return ("NOT MEASURED: janus is not installed (apt-get install -y janus); "
                "the Janus comparison is not implemented in this script yet")
    return "NOT MEASURED: janus found, but the streaming-plugin comparison is not implemented yet"


async def main(quick: bool) -> dict[str, Any]:
    """Run the benchmark and return the results document."""
    _pin(1)
    seconds = 5.0 if quick else 15.0
    counts = [0, 10, 30] if quick else [0, 25, 50, 100]
    runs = [await _measure(n, seconds) for n in counts]
    base = runs[0]["sfu_cores"]
    per_viewer = [1000 * (r["sfu_cores"] - base) / r["viewers"] for r in runs if r["viewers"]]
    per_viewer_mc = sorted(per_viewer)[len(per_viewer) // 2]
    ok = [r["viewers"] for r in runs if r["viewers"] and r["min_viewer_fps"] >= 24
          and (r["webrtc_p95_ms"] or 1e9) <= 100]
    result = {"runs": runs, "sfu_millicores_per_viewer_median": per_viewer_mc,
              "viewers_per_relay_core_estimate":
                  int(1000 / per_viewer_mc) if per_viewer_mc > 0 else None,
              "max_measured_viewers_full_fps_p95_le_100ms": max(ok, default=0),
              "hls": await _hls_latency(seconds), "janus": _janus_status(),
              "note": "2 shared cores, noisy; latencies use the same host clock"}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="finish in under 2 minutes")
    asyncio.run(main(parser.parse_args().quick))
