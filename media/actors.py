"""Ray actors for media: `media:<region>` owns publishers, HLS and K relays
`media-relay:<region>:<n>` (each its own process) that serve the WebRTC viewers.

Media actors are placed on nodes carrying the region (custom resource `region:<name>`) and run
in their own processes: video never shares a process with betting. All in namespace `inplay`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

import ray

from media import codec_probe
from media.hls import FrameAssembler, HlsPackager, HlsSettings
from media.pipe import PipeInput, PipeOutput
from media.playlist import Tier
from media.qos import (
    ReceiverReport,
    SlidingWindowViewers,
    TierStats,
    fastest_tier_latency_ms,
    latency_summary,
    rate,
    summarize_reports,
)
from media.rtp import CaptureStamp, capture_from_rtp_payload
from media.sfu import ForwardingSfu, MediaSettings, NoPublisher, SourceStream

NAMESPACE = "inplay"


def region_actor_name(region: str) -> str:
    """Name of a region's media actor."""
    return f"media:{region}"


def relay_actor_name(region: str, index: int) -> str:
    """Name of a region's n-th relay actor."""
    return f"media-relay:{region}:{index}"


def placement_options(region: str) -> dict[str, Any]:
    """Pin to the region's nodes when the cluster advertises the region resource."""
    resource = f"region:{region}"
    if resource in ray.cluster_resources():
        return {"resources": {resource: 0.01}}
    return {}


def lower_cpu_priority(nice: int) -> int:
    """Lower this process's CPU priority to ``nice`` (never raise it); returns the nice value
    now in force. Linux keeps a nice value per thread, so every thread already running (Ray's
    own and the event loop's) is set; threads started later inherit it."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return os.getpriority(os.PRIO_PROCESS, 0) if hasattr(os, "getpriority") else 0
    tasks = "/proc/self/task"
    ids = [int(t) for t in os.listdir(tasks)] if os.path.isdir(tasks) else [0]
    for tid in ids:
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            if os.getpriority(os.PRIO_PROCESS, tid) < nice:
                os.setpriority(os.PRIO_PROCESS, tid, min(nice, 19))
    return os.getpriority(os.PRIO_PROCESS, 0)


def _host() -> str:
    return socket.gethostbyname(socket.gethostname())


def _sfu_stats(sfu: ForwardingSfu) -> dict[str, Any]:
    outputs = sfu.viewer_outputs()
    return {"viewers": sfu.viewer_count,
            "sent_packets": sum(o.sent_packets for o in outputs),
            "dropped": sum(o.dropped for o in outputs),
            "retransmitted": sum(o.retransmitted for o in outputs)}


class EgressProbe:
    """Capture -> forwarded-to-every-viewer time of each stamped frame (transient QoS)."""

    def __init__(self, keep: int = 250) -> None:
        self.latencies: deque[float] = deque(maxlen=keep)
        self._stamp: CaptureStamp | None = None

    def __call__(self, packet: Any) -> None:
        if self._stamp is None:
            self._stamp = capture_from_rtp_payload(packet.payload)
        if packet.marker:
            if self._stamp is not None:
                self.latencies.append(time.time() - self._stamp.capture_time)
            self._stamp = None


@ray.remote(num_cpus=0, max_restarts=0)
class MediaRelayActor:
    """One relay process: receives events' streams by pipe and serves WHEP viewers."""

    def __init__(self, region: str, index: int, settings: MediaSettings | None = None) -> None:
        codec_probe.install()
        self.region, self.index = region, index
        self._settings = settings or MediaSettings()
        self.nice = lower_cpu_priority(self._settings.cpu_nice)
        self._sfus: dict[str, ForwardingSfu] = {}
        self._inputs: list[PipeInput] = []
        self._probes: dict[str, EgressProbe] = {}

    async def ping(self) -> str:
        """Liveness."""
        return "pong"

    async def attach(self, event_id: str, kind: str, codec: Any) -> tuple[str, int]:
        """Start receiving one stream of an event; return the UDP address to pipe it to."""
        sfu = self._sfus.setdefault(event_id, ForwardingSfu(self._settings))
        holder: dict[str, SourceStream] = {}
        pipe = PipeInput(lambda packet: holder["stream"].publish(packet))
        holder["stream"] = sfu.attach_source(kind, codec, pipe.request_keyframe)
        if kind == "video":
            holder["stream"].on_forwarded = self._probes.setdefault(event_id, EgressProbe())
        self._inputs.append(pipe)
        return await pipe.open(_host())

    async def whep(self, event_id: str, offer_sdp: str) -> tuple[str, str]:
        """A viewer's offer -> (session id, answer)."""
        sfu = self._sfus.get(event_id)
        if sfu is None:
            raise NoPublisher(f"event {event_id} has no publisher")
        return await sfu.subscribe(offer_sdp)

    async def end_session(self, event_id: str, session_id: str) -> None:
        """DELETE of a WHEP session."""
        await self._sfus[event_id].close_session(session_id)

    async def priority(self) -> tuple[int, int]:
        """(pid, nice) of this relay's process."""
        return os.getpid(), os.getpriority(os.PRIO_PROCESS, 0)

    async def viewer_count(self) -> int:
        """Viewers over all events."""
        return sum(s.viewer_count for s in self._sfus.values())

    async def stats(self, event_id: str) -> dict[str, Any]:
        """Per-event forwarding stats plus codec work done in this process (must stay 0)."""
        sfu = self._sfus.get(event_id)
        base = _sfu_stats(sfu) if sfu else {"viewers": 0}
        reports = await receiver_reports(sfu) if sfu else []
        probe = self._probes.get(event_id)
        return {**base, "rtt_ms": [1000 * r.rtt_s for r in reports if r.rtt_s],
                "reports": [asdict(r) for r in reports],
                "egress_latency_s": list(probe.latencies) if probe else [],
                "codec_calls": codec_probe.total(), "index": self.index}


async def receiver_reports(sfu: ForwardingSfu) -> list[ReceiverReport]:
    """The last RTCP receiver report of each viewer's video stream."""
    found: list[ReceiverReport] = []
    for output in sfu.viewer_outputs():
        if output.stream.kind != "video":
            continue
        report = await output.sender.getStats()
        for s in report.values():
            if getattr(s, "type", "") == "remote-inbound-rtp":
                found.append(ReceiverReport(s.packetsReceived, s.packetsLost, float(s.jitter),
                                            output.stream.codec.clockRate,
                                            s.roundTripTime or None))
    return found


@dataclass
class EventMedia:
    """Everything the region actor keeps for one event (transient: media is live only)."""

    sfu: ForwardingSfu
    hls: HlsPackager
    assembler: FrameAssembler = field(default_factory=FrameAssembler)
    pipes: dict[int, list[PipeOutput]] = field(default_factory=dict)
    whep_sessions: dict[str, int] = field(default_factory=dict)
    hooked: set[int] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)
    hls_viewers: dict[Tier, SlidingWindowViewers] = field(default_factory=dict)

    def saw_hls_viewer(self, tier: Tier, viewer: str, now: float) -> None:
        """A playlist request of an HLS tier (viewers are counted over a sliding window)."""
        self.hls_viewers.setdefault(tier, SlidingWindowViewers()).saw(viewer, now)

    def hls_viewer_count(self, tier: Tier, now: float) -> int:
        """Distinct playlist clients of a tier within the window."""
        counter = self.hls_viewers.get(tier)
        return counter.count(now) if counter else 0


class _HlsSink:
    """Feeds the region's video stream into the single remux (and samples ingest latency)."""

    def __init__(self, media: EventMedia) -> None:
        self._media = media

    async def forward(self, packet: Any, is_keyframe_start: bool) -> None:
        unit = self._media.assembler.push(packet.payload, packet.timestamp, bool(packet.marker))
        if unit is not None:
            self._media.hls.push(unit)
            if unit.capture_time is not None:
                self._media.latencies = [*self._media.latencies[-249:],
                                         time.time() - unit.capture_time]


@ray.remote(num_cpus=0, max_restarts=0)
class RegionMediaActor:
    """A region's media actor: WHIP publishers, the HLS remux, and the relays."""

    def __init__(self, region: str, viewers_per_relay: int = 150,
                 hls: HlsSettings | None = None, settings: MediaSettings | None = None) -> None:
        codec_probe.install()
        self.region = region
        self._per_relay = viewers_per_relay
        self._hls_settings = hls or HlsSettings()
        self._settings = settings or MediaSettings()
        self.nice = lower_cpu_priority(self._settings.cpu_nice)
        self._events: dict[str, EventMedia] = {}
        self._relays: dict[int, Any] = {}
        self._next_index = 0
        self._lock = asyncio.Lock()

    async def ping(self) -> str:
        """Liveness."""
        return "pong"

    def _event(self, event_id: str) -> EventMedia:
        if event_id not in self._events:
            self._events[event_id] = EventMedia(ForwardingSfu(self._settings),
                                                HlsPackager(self._hls_settings))
        return self._events[event_id]

    async def whip(self, event_id: str, offer_sdp: str) -> tuple[str, str]:
        """A publisher's offer -> (session id, answer); (re)connects the relays' pipes."""
        media = self._event(event_id)
        result = await media.sfu.publish(offer_sdp)
        video = media.sfu.streams.get("video")
        if video is not None and not any(isinstance(s, _HlsSink) for s in video.sinks):
            video.sinks.add(_HlsSink(media))
        for index in list(media.pipes):
            await self._pipe_event(event_id, index)
        return result

    async def end_session(self, event_id: str, session_id: str) -> None:
        """DELETE of a WHIP (or WHEP, then forwarded to its relay) session."""
        media = self._event(event_id)
        if session_id in media.whep_sessions:
            relay = self._relays.get(media.whep_sessions.pop(session_id))
            if relay is not None:
                await relay.end_session.remote(event_id, session_id)
            return
        await media.sfu.close_session(session_id)

    async def whep(self, event_id: str, offer_sdp: str) -> tuple[str, str]:
        """A viewer's offer -> (session id, answer) from the least loaded live relay."""
        media = self._event(event_id)
        if not media.sfu.streams:
            raise NoPublisher(f"event {event_id} has no publisher")
        async with self._lock:
            index = await self._pick_relay()
            if index not in media.pipes:
                await self._pipe_event(event_id, index)
        session_id, answer = await self._relays[index].whep.remote(event_id, offer_sdp)
        media.whep_sessions[session_id] = index
        return session_id, answer

    async def _pick_relay(self) -> int:
        loads: dict[int, int] = {}
        for index, relay in list(self._relays.items()):
            try:
                loads[index] = await asyncio.wait_for(relay.viewer_count.remote(), 2.0)
            except Exception:  # dead or hung relay: forget it, its viewers will come back
                self._drop_relay(index)
        free = [i for i, n in sorted(loads.items(), key=lambda kv: kv[1]) if n < self._per_relay]
        return free[0] if free else await self._spawn_relay()

    async def _spawn_relay(self) -> int:
        index, self._next_index = self._next_index, self._next_index + 1
        relay = MediaRelayActor.options(  # type: ignore[attr-defined]
            name=relay_actor_name(self.region, index), namespace=NAMESPACE,
            **placement_options(self.region)).remote(self.region, index, self._settings)
        await relay.ping.remote()
        self._relays[index] = relay
        return index

    def _drop_relay(self, index: int) -> None:
        self._relays.pop(index, None)
        for media in self._events.values():
            for pipe in media.pipes.pop(index, []):
                pipe.close()

    async def _pipe_event(self, event_id: str, index: int) -> None:
        media = self._events[event_id]
        for pipe in media.pipes.pop(index, []):
            pipe.close()
        pipes = []
        for kind, stream in media.sfu.streams.items():
            address = await self._relays[index].attach.remote(event_id, kind, stream.codec)
            pipe = PipeOutput(stream, tuple(address))
            await pipe.open()
            stream.sinks.add(pipe)
            pipes.append(pipe)
        media.pipes[index] = pipes

    async def priority(self) -> tuple[int, int]:
        """(pid, nice) of the region actor's process."""
        return os.getpid(), os.getpriority(os.PRIO_PROCESS, 0)

    async def relay_names(self) -> list[str]:
        """Names of the live relays."""
        return [relay_actor_name(self.region, i) for i in sorted(self._relays)]

    async def hls_playlist(self, event_id: str, tier: str, msn: int | None = None,
                           part: int | None = None, viewer: str | None = None) -> str | None:
        """A tier's media playlist; blocks for LL-HLS when _HLS_msn is given. `viewer` names
        the client (for the tier's viewer count)."""
        media = self._events.get(event_id)
        if media is None or media.hls.init is None:
            return None
        if viewer is not None:
            media.saw_hls_viewer(Tier(tier), viewer, time.monotonic())
        if Tier(tier) == Tier.LL_HLS and msn is not None:
            return await media.hls.blocking_playlist(msn, part)
        return media.hls.playlist(Tier(tier))

    async def hls_file(self, event_id: str, name: str) -> bytes | None:
        """init.mp4, a part or a segment (waits briefly for a preload-hinted part)."""
        media = self._events.get(event_id)
        return None if media is None else await media.hls.wait_for_file(name)

    async def stats(self, event_id: str) -> dict[str, Any]:
        """Viewers, bitrate, fps, RTT and latency per tier (see qos.TierStats)."""
        media = self._events.get(event_id)
        if media is None or "video" not in media.sfu.streams:
            return {"event_id": event_id, "live": False, "tiers": {}}
        relays = []
        for relay in list(self._relays.values()):
            with contextlib.suppress(Exception):
                relays.append(await asyncio.wait_for(relay.stats.remote(event_id), 2.0))
        return _stats_document(event_id, media, relays)


def _stats_document(event_id: str, media: EventMedia,
                    relays: list[dict[str, Any]]) -> dict[str, Any]:
    counters = media.sfu.streams["video"].counters
    elapsed = time.monotonic() - counters.started
    bitrate, fps = rate(8 * counters.octets, elapsed), rate(counters.frames, elapsed)
    reports = [ReceiverReport(**r) for relay in relays for r in relay.get("reports", [])]
    summary = summarize_reports(reports)
    egress = [x for relay in relays for x in relay.get("egress_latency_s", [])]
    p50, p95 = latency_summary(egress)
    half_rtt = (summary.rtt_ms or 0.0) / 2
    webrtc = TierStats(viewers=sum(r.get("viewers", 0) for r in relays), bitrate_bps=bitrate,
                       fps=fps, rtt_ms=summary.rtt_ms, jitter_ms=summary.jitter_ms,
                       loss_fraction=summary.loss_fraction,
                       glass_to_glass_p50_ms=None if p50 is None else p50 + half_rtt,
                       glass_to_glass_p95_ms=None if p95 is None else p95 + half_rtt)
    now = time.monotonic()
    # HLS goes over TCP: no RTP loss or jitter to report. Its latency is capture -> a part
    # being available at the origin plus what a player holds back (PART-HOLD-BACK / 3 targets).
    ingest_p50, ingest_p95 = latency_summary(media.latencies)
    shape = media.hls.shape
    hold = {Tier.LL_HLS: shape.part_target * 4, Tier.HLS: shape.segment_target * 4,
            Tier.DELAYED: media.hls.settings.delay + shape.segment_target * 4}

    def hls(tier: Tier) -> dict[str, Any]:
        extra = 1000 * hold[tier]
        return TierStats(viewers=media.hls_viewer_count(tier, now), bitrate_bps=bitrate,
                         fps=fps,
                         glass_to_glass_p50_ms=None if ingest_p50 is None else ingest_p50 + extra,
                         glass_to_glass_p95_ms=None if ingest_p95 is None else ingest_p95 + extra,
                         ).as_dict()

    fastest = fastest_tier_latency_ms(egress, summary.rtt_ms)
    if fastest is None and ingest_p95 is not None:  # no WebRTC viewer yet: LL-HLS is fastest
        fastest = ingest_p95 + 1000 * hold[Tier.LL_HLS]
    return {"event_id": event_id, "live": True, "relays": len(relays),
            "codec_calls": sum(r.get("codec_calls", 0) for r in relays),
            "tiers": {Tier.WEBRTC.value: webrtc.as_dict(), Tier.LL_HLS.value: hls(Tier.LL_HLS),
                      Tier.HLS.value: hls(Tier.HLS), Tier.DELAYED.value: hls(Tier.DELAYED)},
            "ingest_p95_ms": ingest_p95,
            "fastest_tier_p95_ms": fastest, "fastest_tier_latency_ms": fastest}


def get_or_create_region_actor(region: str, **kwargs: Any) -> Any:
    """The region's media actor handle (detached, get-if-exists; blocking: call via to_thread)."""
    return RegionMediaActor.options(  # type: ignore[attr-defined]
        name=region_actor_name(region), namespace=NAMESPACE, lifetime="detached",
        get_if_exists=True, **placement_options(region)).remote(region, **kwargs)
