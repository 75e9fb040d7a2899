// HLS playback with hls.js (vendor/hls.min.js, see vendor/README.md): LL-HLS parts, preload
// hints and blocking playlist reloads (_HLS_msn/_HLS_part), the bearer token on every request.
// hls.js is loaded on first use, so a viewer on WebRTC never downloads it.

import { Problem, authorization, sessionEnded } from "./api.js";
import { controller, firstFrame, showMode, watchProgress } from "./playback.js";

const HLS_JS = "/static/vendor/hls.min.js";

let loading = null;

/** window.Hls, adding the vendored UMD build as a script from our own origin (CSP-safe). */
function loadHlsJs() {
  if (window.Hls) return Promise.resolve(window.Hls);
  loading = loading || new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = HLS_JS;
    script.onload = () => (window.Hls ? resolve(window.Hls) : reject(new Error("hls.js missing")));
    script.onerror = () => { script.remove(); reject(new Error("hls.js did not load")); };
    document.head.append(script);
  }).catch((err) => { loading = null; throw err; }); // try again next time
  return loading;
}

/** Plays `/v1/media/{event}/{path}/index.m3u8`; the controller once frames move, else throws. */
export async function startHls(video, eventId, path, label) {
  const url = `/v1/media/${encodeURIComponent(eventId)}/${path}/index.m3u8`;
  const Hls = await loadHlsJs().catch(() => null);
  if (Hls && Hls.isSupported()) return startHlsJs(Hls, video, url, label);
  // Native HLS cannot send the bearer token: use it only where the playlist is public (a CDN).
  if (video.canPlayType("application/vnd.apple.mpegurl")) {
    const open = await fetch(url, { cache: "no-store" }).catch(() => null);
    if (open && open.ok) return startNativeHls(video, url, `${label} (native)`);
  }
  throw new Error(Hls ? "no HLS support" : "hls.js did not load");
}

function startHlsJs(Hls, video, url, label) {
  showMode(`${label}: connecting…`);
  const hls = new Hls({
    lowLatencyMode: true,
    enableWorker: false, // the UMD build's worker is a blob: URL, which the page's CSP forbids
    backBufferLength: 30,
    xhrSetup: (xhr, requestUrl) => {
      xhr.open("GET", requestUrl, true); // hls.js opens it only if we do not
      if (authorization()) xhr.setRequestHeader("Authorization", authorization());
    },
  });
  const ctl = controller();
  ctl.stop = () => {
    if (ctl.stopped) return;
    ctl.stopped = true;
    ctl.finish();
    hls.destroy(); // also empties the <video>
  };
  let details = null;
  let playing = false;
  return new Promise((resolve, reject) => {
    const fail = (err) => { ctl.stop(); reject(err); };
    hls.on(Hls.Events.LEVEL_LOADED, (_, data) => { details = data.details; });
    hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch(() => {}));
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (!data.fatal) return; // hls.js retries and recovers from those itself
      const failure = hlsFailure(data);
      if (failure.status === 401) sessionEnded();
      if (playing) ctl.finish(); else fail(failure); // 403 (tier not entitled): next tier
    });
    video.srcObject = null;
    hls.attachMedia(video);
    hls.loadSource(url);
    firstFrame(video, 15000).then(() => {
      if (ctl.stopped) return reject(new Error("stopped"));
      playing = true;
      const parts = !!(details && details.partList && details.partList.length);
      showMode(label + (parts ? " (parts)" : ""));
      const target = (details && details.targetduration) || 1;
      watchProgress(video, ctl, parts ? 6000 : 4000 + 3000 * target);
      resolve(ctl);
    }, fail);
  });
}

/** A fatal hls.js error as a Problem (the API's problem+json) or an Error named by hls.js. */
function hlsFailure(data) {
  const status = data.response && data.response.code;
  if (!status || status < 400) return new Error(data.details || "HLS error");
  let body = null;
  try { body = JSON.parse(data.networkDetails.responseText); } catch { /* not problem+json */ }
  return new Problem(status, body);
}

async function startNativeHls(video, url, label) {
  const ctl = controller();
  ctl.stop = () => { ctl.stopped = true; ctl.finish(); video.removeAttribute("src"); video.load(); };
  video.srcObject = null;
  video.src = url;
  video.play().catch(() => {});
  await firstFrame(video, 10000).catch((err) => { ctl.stop(); throw err; });
  showMode(label);
  watchProgress(video, ctl, 8000);
  return ctl;
}
