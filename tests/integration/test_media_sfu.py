"""WHIP publisher -> forwarding SFU -> WHEP viewers, all real aiortc peers on loopback."""

from __future__ import annotations

import asyncio
import statistics
import time

from aiortc import RTCPeerConnection, RTCSessionDescription

from media import codec_probe
from media.client import WhepViewer, WhipPublisher
from media.sfu import ForwardingSfu, NoPublisher
from media.synthetic import SyntheticVideoTrack

FRAMES = 50


async def _wait_for(predicate: object, limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def _start(sfu: ForwardingSfu, frames: int) -> tuple[WhipPublisher, asyncio.Event]:
    gate = asyncio.Event()
    publisher = WhipPublisher(SyntheticVideoTrack(frame_limit=frames, start=gate))

    async def whip(offer: str) -> str:
        return (await sfu.publish(offer))[1]

    await publisher.start(whip)
    return publisher, gate


async def _whep(sfu: ForwardingSfu, offer: str) -> str:
    return (await sfu.subscribe(offer))[1]


async def test_viewers_receive_every_frame_without_transcoding() -> None:
    probe = codec_probe.install()
    before = codec_probe.total()
    sfu = ForwardingSfu()
    publisher, gate = await _start(sfu, FRAMES)
    viewers = [WhepViewer(decode=i == 0) for i in range(4)]
    for viewer in viewers:
        await viewer.start(lambda o: _whep(sfu, o))
    await _wait_for(lambda: all(o._ready for o in sfu.viewer_outputs()))
    gate.set()
    await _wait_for(lambda: all(len(v.frames) >= FRAMES for v in viewers), limit_s=15)
    for viewer in viewers:
        assert [f.stamp.frame_index for f in viewer.frames] == list(range(FRAMES))
    # The decoding viewer read the capture time from pixels; glass-to-glass is plausible.
    latencies = [f.latency for v in viewers for f in v.frames]
    # plausible (seconds, not ms or minutes); how fast is bench_media's measurement
    assert 0 < statistics.median(latencies) < 2.0
    assert codec_probe.total() == before, f"aiortc codec work in the SFU process: {probe}"
    assert all(o.sent_packets > FRAMES for o in sfu.viewer_outputs())
    for viewer in viewers:
        await viewer.close()
    await publisher.close()
    await sfu.close()


async def test_codec_probe_sees_a_decoding_peer() -> None:
    """Positive control: the probe does count aiortc's decoder when it is used."""
    codec_probe.install()
    before = codec_probe.total()
    sfu = ForwardingSfu()
    publisher, gate = await _start(sfu, 25)
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    got: list[object] = []
    tasks: list[asyncio.Future[None]] = []

    @pc.on("track")
    def on_track(track: object) -> None:
        async def read() -> None:
            got.append(await track.recv())  # type: ignore[attr-defined]

        tasks.append(asyncio.ensure_future(read()))

    await pc.setLocalDescription(await pc.createOffer())
    answer = await _whep(sfu, pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    gate.set()
    await _wait_for(lambda: got)
    assert codec_probe.total() > before
    await pc.close()
    await publisher.close()
    await sfu.close()


async def test_late_viewer_gets_a_keyframe_and_nacks_are_answered() -> None:
    sfu = ForwardingSfu()
    publisher, gate = await _start(sfu, 200)
    gate.set()
    await _wait_for(lambda: sfu.streams.get("video") and sfu.streams["video"].counters.frames > 10)
    requests_before = publisher.track.keyframe_requests
    viewer = WhepViewer()
    await viewer.start(lambda o: _whep(sfu, o))
    await _wait_for(lambda: len(viewer.frames) > 5)
    assert publisher.track.keyframe_requests > requests_before
    output = sfu.viewer_outputs()[0]
    await output._on_nack([(output.stream.history_last_seq() + output._seq_offset) % 65536])
    assert output.retransmitted == 1
    await viewer.close()
    await publisher.close()
    await sfu.close()


async def test_whep_without_publisher_is_refused() -> None:
    sfu = ForwardingSfu()
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    try:
        await sfu.subscribe(pc.localDescription.sdp)
    except NoPublisher:
        pass
    else:
        raise AssertionError("a viewer was accepted with nothing published")
    finally:
        await pc.close()
