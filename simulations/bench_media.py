"""Media benchmark: SFU CPU per viewer and glass-to-glass latency, saved to
simulations/results/media.json.

The SFU runs in its own process pinned to core 0; the publisher and viewers run in this process
pinned to core 1, so viewers' cost stays out of the SFU figure. Scale viewers read the capture
time from the SEI without decoding; one decoding viewer measures what a player would show.
Janus (Debian's package, installed when missing; streaming plugin, one event loop, loopback)
serves the same stream to the same number of non-decoding viewers, pinned to the same core, as
the peer to beat. The full mode steps viewers up until one relay process fails full frame rate
or p95 <= 100 ms, so the relay's capacity is measured, not extrapolated.
Usage: python -m simulations.bench_media [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from cluster import processes
from storage.embedded import free_port

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
    return processes.cpu_seconds(pid) or 0.0


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


# --- Janus, the peer to beat ---------------------------------------------------------------

JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
JANUS_PLUGINS_OFF = ("audiobridge", "duktape", "echotest", "lua", "nosip", "recordplay", "sip",
                     "textroom", "videocall", "videoroom", "voicemail")
JANUS_TRANSPORTS_OFF = ("websockets", "mqtt", "nanomsg", "pfunix", "rabbitmq")


def ensure_janus() -> str | None:
    """Debian's janus, installed by apt-get when missing; None when it cannot be had."""
    found = shutil.which("janus")
    if found is None:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update"], ["apt-get", "install", "-y", "janus"]):
            if subprocess.run(command, env=env, capture_output=True, timeout=900).returncode:
                return None
        found = shutil.which("janus")
    return found


def janus_config(folder: Path, http_port: int, video_port: int, payload_type: int) -> Path:
    """Write a minimal Janus config: streaming plugin and HTTP transport only, one event loop,
    loopback only, and one RTP mountpoint (id 1) for our H.264 stream."""
    folder.mkdir(parents=True, exist_ok=True)
    plugins_off = ",".join(f"libjanus_{p}.so" for p in JANUS_PLUGINS_OFF)
    transports_off = ",".join(f"libjanus_{t}.so" for t in JANUS_TRANSPORTS_OFF)
    (folder / "janus.jcfg").write_text(f"""general: {{
  configs_folder = "{folder}"
  plugins_folder = "{JANUS_LIB}/plugins"
  transports_folder = "{JANUS_LIB}/transports"
  events_folder = "{JANUS_LIB}/events"
  loggers_folder = "{JANUS_LIB}/loggers"
  debug_level = 3
  event_loops = 1
  session_timeout = 0
}}
media: {{ rtp_port_range = "40000-49999" }}
nat: {{ ice_enforce_list = "lo" }}
plugins: {{ disable = "{plugins_off}" }}
transports: {{ disable = "{transports_off}" }}
events: {{ broadcast = false }}
loggers: {{ disable = "libjanus_jsonlog.so" }}
""")
    (folder / "janus.transport.http.jcfg").write_text(f"""general: {{
  base_path = "/janus"
  http = true
  port = {http_port}
  ip = "127.0.0.1"
  https = false
}}
admin: {{ admin_http = false }}
""")
    (folder / "janus.plugin.streaming.jcfg").write_text(f"""bench: {{
  type = "rtp"
  id = 1
  description = "inplay bench"
  audio = false
  video = true
  videoport = {video_port}
  videoiface = "127.0.0.1"
  videopt = {payload_type}
  videocodec = "h264"
  videofmtp = "profile-level-id=42e01f;packetization-mode=1"
  videobufferkf = true
}}
""")
    return folder / "janus.jcfg"


class JanusApi:
    """The few calls of Janus's HTTP API a streaming viewer needs."""

    def __init__(self, client: Any, base: str) -> None:
        self._client, self._base = client, base

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "transaction": uuid.uuid4().hex}
        reply: dict[str, Any] = (await self._client.post(self._base + path, json=body)).json()
        if reply.get("janus") == "error":
            raise RuntimeError(f"janus: {reply}")
        return reply

    async def watch(self) -> tuple[str, str, str]:
        """Create a session and streaming handle, ask for mountpoint 1: (session, handle,
        Janus's SDP offer)."""
        session = (await self._post("", {"janus": "create"}))["data"]["id"]
        handle = (await self._post(f"/{session}", {"janus": "attach",
                                                   "plugin": "janus.plugin.streaming"}))
        handle_id = handle["data"]["id"]
        await self._post(f"/{session}/{handle_id}", {"janus": "message",
                                                     "body": {"request": "watch", "id": 1}})
        for _ in range(40):
            events = (await self._client.get(f"{self._base}/{session}?maxev=5")).json()
            for event in events if isinstance(events, list) else [events]:
                if "jsep" in event:
                    return str(session), str(handle_id), event["jsep"]["sdp"]
        raise RuntimeError("janus sent no offer")

    async def start(self, session: str, handle: str, answer: str) -> None:
        """Answer Janus's offer: media starts."""
        await self._post(f"/{session}/{handle}", {
            "janus": "message", "body": {"request": "start"},
            "jsep": {"type": "answer", "sdp": answer}})


async def _janus_viewer(api: JanusApi) -> Any:
    """A non-decoding viewer of Janus: answers its offer, reads capture stamps from the SEI."""
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from media import aiortc_adapter as adapter
    from media.client import WhepViewer

    viewer = WhepViewer()
    session, handle, offer = await api.watch()
    viewer.pc = pc = RTCPeerConnection()
    await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
    for transceiver in pc.getTransceivers():
        if transceiver.kind == "video":
            adapter.intercept_receiver(transceiver.receiver, viewer._on_packet)
    await pc.setLocalDescription(await pc.createAnswer())
    await api.start(session, handle, pc.localDescription.sdp)
    return viewer


async def _measure_janus(janus: str, viewers: int, seconds: float) -> dict[str, Any]:
    """Janus under the same load: the same synthetic stream, piped to an RTP mountpoint."""
    import httpx

    from media.client import WhipPublisher
    from media.pipe import PipeOutput
    from media.qos import latency_summary
    from media.sfu import ForwardingSfu
    from media.synthetic import SyntheticVideoTrack

    sfu = ForwardingSfu()  # only receives the WHIP publisher and pipes RTP to Janus
    publisher = WhipPublisher(SyntheticVideoTrack())

    async def whip(offer: str) -> str:
        return (await sfu.publish(offer))[1]

    await publisher.start(whip)
    for _ in range(100):
        if "video" in sfu.streams:
            break
        await asyncio.sleep(0.1)
    stream = sfu.streams["video"]
    http_port, video_port = _free_port("tcp"), _free_port("udp")
    folder = Path(tempfile.mkdtemp(prefix="inplay-janus-"))
    config = janus_config(folder, http_port, video_port, stream.codec.payloadType or 102)
    process, log = _start_janus(janus, config, folder)
    clients: list[Any] = []
    try:
        _pin_pid(process.pid, 0)
        async with httpx.AsyncClient(timeout=30) as client:
            api = JanusApi(client, f"http://127.0.0.1:{http_port}/janus")
            for _ in range(100):
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"http://127.0.0.1:{http_port}/janus/info")).is_success:
                        break
                await asyncio.sleep(0.1)
            pipe = PipeOutput(stream, ("127.0.0.1", video_port))
            await pipe.open()
            stream.sinks.add(pipe)
            stream.keyframe_needed()
            clients = [await _janus_viewer(api) for _ in range(viewers)]
            await asyncio.sleep(3.0)
            for c in clients:
                c.frames.clear()
            cpu0, t0 = _cpu_seconds(process.pid), time.monotonic()
            await asyncio.sleep(seconds)
            elapsed = time.monotonic() - t0
            cpu = (_cpu_seconds(process.pid) - cpu0) / elapsed
            latencies = [f.latency for c in clients for f in c.frames]
            fps = min((len(c.frames) / elapsed for c in clients), default=0.0)
    finally:
        for c in clients:
            await c.close()
        await publisher.close()
        await sfu.close()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
    p50, p95 = latency_summary(latencies)
    return {"viewers": viewers, "janus_cores": cpu, "min_viewer_fps": fps,
            "webrtc_p50_ms": p50, "webrtc_p95_ms": p95, "log": str(folder / "janus.log")}


def _start_janus(janus: str, config: Path, folder: Path) -> tuple[subprocess.Popen[bytes], Any]:
    log = (folder / "janus.log").open("w")
    process = subprocess.Popen([janus, "-C", str(config), "-F", str(folder)],
                               stdout=log, stderr=subprocess.STDOUT)
    return process, log


def _janus_version(janus: str) -> str:
    done = subprocess.run([janus, "--version"], capture_output=True, text=True, timeout=30)
    return done.stdout.split("\n")[0]


def _free_port(kind: str) -> int:
    return free_port(udp=kind == "udp")


def _pin_pid(pid: int, core: int) -> None:
    if hasattr(os, "sched_setaffinity") and core < (os.cpu_count() or 1):
        os.sched_setaffinity(pid, {core})


def _sustains(run: dict[str, Any]) -> bool:
    """Full frame rate (>= 24 of 25 fps for every viewer) and p95 <= 100 ms."""
    return run["min_viewer_fps"] >= 24 and (run["webrtc_p95_ms"] or 1e9) <= 100


def _per_viewer_mc(run: dict[str, Any], base: dict[str, Any], key: str) -> float | None:
    return 1000 * (run[key] - base[key]) / run["viewers"] if run["viewers"] else None


async def _janus_comparison(seconds: float, viewers: int,
                            ours: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    janus = await asyncio.to_thread(ensure_janus)
    if janus is None:
        return {"status": "NOT MEASURED: apt-get install -y janus failed"}
    idle = await _measure_janus(janus, 0, seconds)
    loaded = await _measure_janus(janus, viewers, seconds)
    janus_mc = _per_viewer_mc(loaded, idle, "janus_cores")
    ours_mc = _per_viewer_mc(ours, base, "sfu_cores")
    return {"status": "measured", "version": await asyncio.to_thread(_janus_version, janus),
            "runs": [idle, loaded], "viewers": viewers,
            "janus_millicores_per_viewer": janus_mc, "ours_millicores_per_viewer": ours_mc,
            "ours_over_janus_cpu_per_viewer": (ours_mc / janus_mc
                                               if ours_mc and janus_mc else None),
            "janus_webrtc_p95_ms": loaded["webrtc_p95_ms"],
            "ours_webrtc_p95_ms": ours["webrtc_p95_ms"]}


async def main(quick: bool) -> dict[str, Any]:
    """Run the benchmark and return the results document."""
    _pin(1)
    seconds = 5.0 if quick else 15.0
    counts = [0, 10, 30] if quick else [0, 25, 50, 100]
    runs = [await _measure(n, seconds) for n in counts]
    if not quick:  # step up until one relay process no longer keeps up
        viewers = counts[-1]
        while _sustains(runs[-1]) and viewers < 500:
            viewers += 50
            runs.append(await _measure(viewers, seconds))
    base = runs[0]
    per_viewer = [v for r in runs if (v := _per_viewer_mc(r, base, "sfu_cores")) is not None]
    per_viewer_mc = sorted(per_viewer)[len(per_viewer) // 2]
    ok = [r["viewers"] for r in runs if r["viewers"] and _sustains(r)]
    first_fail = next((r["viewers"] for r in runs if r["viewers"] and not _sustains(r)), None)
    compared = next(r for r in runs if r["viewers"] == counts[-1])
    result = {"runs": runs, "sfu_millicores_per_viewer_median": per_viewer_mc,
              "viewers_per_relay_core_estimate":
                  int(1000 / per_viewer_mc) if per_viewer_mc > 0 else None,
              "max_measured_viewers_full_fps_p95_le_100ms": max(ok, default=0),
              "first_failing_viewer_count": first_fail,
              "hls": await _hls_latency(seconds),
              "janus": await _janus_comparison(seconds, counts[-1], compared, base),
              "note": "2 shared cores, noisy; latencies use the same host clock; SFU/Janus on "
                      "core 0, publisher and viewers on core 1 (the viewers' own Python cost "
                      "can be the limit before the SFU's is)"}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="finish in under 2 minutes")
    asyncio.run(main(parser.parse_args().quick))
