// WebRTC playback over WHEP: one POSTed SDP offer (all ICE candidates in it), one answer.

import { api, problemOf } from "./api.js";
import { controller, firstFrame, showMode, watchProgress } from "./playback.js";

export async function startWhep(video, eventId) {
  if (!window.RTCPeerConnection) throw new Error("no WebRTC");
  showMode("WebRTC: connecting…");
  const pc = new RTCPeerConnection({ iceServers: [] });
  const ctl = controller();
  let resource = null;
  ctl.stop = () => {
    ctl.stopped = true;
    pc.close();
    if (resource) api(resource, { method: "DELETE", raw: true, keepalive: true }).catch(() => {});
  };
  try {
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    const stream = new MediaStream();
    pc.ontrack = (e) => {
      stream.addTrack(e.track);
      if (video.srcObject !== stream) { video.removeAttribute("src"); video.srcObject = stream; }
      video.play().catch(() => {});
    };
    await pc.setLocalDescription(await pc.createOffer());
    await waitIceGathering(pc, 2000);
    const response = await api(`/v1/media/${encodeURIComponent(eventId)}/whep`, {
      method: "POST", raw: true, body: pc.localDescription.sdp,
      headers: { "Content-Type": "application/sdp" } });
    if (response.status !== 201) throw await problemOf(response);
    resource = response.headers.get("Location");
    await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "failed" || pc.connectionState === "closed") ctl.finish();
    });
    await firstFrame(video, 8000);
    showMode("WebRTC");
    watchProgress(video, ctl, 4000);
    return ctl;
  } catch (err) {
    ctl.stop();
    video.srcObject = null;
    throw err;
  }
}

function waitIceGathering(pc, timeoutMs) {
  // The server does not trickle: the offer must carry every candidate.
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") { cleanup(); resolve(); } };
    const timer = setTimeout(() => { cleanup(); resolve(); }, timeoutMs);
    const cleanup = () => { clearTimeout(timer); pc.removeEventListener("icegatheringstatechange", done); };
    pc.addEventListener("icegatheringstatechange", done);
  });
}
