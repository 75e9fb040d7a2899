// Live video: WebRTC (WHEP) first, then the HLS tiers from fastest to slowest, starting over
// from the fastest whenever the playing one stalls or fails.

import { Problem } from "./api.js";
import { $, sleep } from "./dom.js";
import { startHls } from "./hls-player.js";
import { showMode } from "./playback.js";
import { startWhep } from "./whep.js";

// [path under /v1/media/{event}/, the label #video-mode shows]
const HLS_TIERS = [["hls", "LL-HLS"], ["hls-standard", "HLS"], ["hls-delayed", "delayed HLS"]];

/** Starts playing into `video`; the returned controller's stop() ends it for good. */
export function startVideo(video, eventId) {
  const ctl = { stopped: false, current: null };
  ctl.stop = () => { ctl.stopped = true; if (ctl.current) ctl.current.stop(); };
  keepPlaying(video, eventId, ctl);
  return ctl;
}

function ways(video, eventId) {
  // ?video=hls skips WebRTC (e.g. behind a firewall that blocks UDP); ?video=webrtc: no HLS.
  const only = new URLSearchParams(location.search).get("video");
  const list = [];
  if (only !== "hls") list.push(() => startWhep(video, eventId));
  if (only !== "webrtc") {
    for (const [path, label] of HLS_TIERS) list.push(() => startHls(video, eventId, path, label));
  }
  return list;
}

async function keepPlaying(video, eventId, ctl) {
  let attempt = 0;
  while (!ctl.stopped) {
    const failures = [];
    for (const tryOne of ways(video, eventId)) {
      if (ctl.stopped) return;
      try {
        ctl.current = await tryOne();
        if (ctl.stopped) return ctl.current.stop(); // stopped while it was starting
        $("video-note").textContent = "";
        await ctl.current.ended; // resolves when the stream stalls or fails
        ctl.current.stop();
        ctl.current = null;
        failures.push("stream stalled");
        break; // start again from the fastest tier
      } catch (err) {
        failures.push(err instanceof Problem ? err.code : err.message);
      }
    }
    if (ctl.stopped) return;
    showMode("not available");
    $("video-note").textContent = `(${failures.join(", ")}; retrying)`;
    await sleep(Math.min(10000, 1000 * 2 ** Math.min(attempt++, 3)));
  }
}
