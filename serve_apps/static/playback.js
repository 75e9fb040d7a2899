// What every way of playing video shares: a controller whose `ended` resolves when the stream
// stalls or fails, the first-frame wait, and the "Video:" line (#video-mode).

import { $ } from "./dom.js";

export function showMode(label) {
  $("video-mode").textContent = label;
}

/** {stopped, ended, finish}: `finish()` resolves `ended`; each player adds its own stop(). */
export function controller() {
  const ctl = { stopped: false };
  ctl.ended = new Promise((resolve) => { ctl.finish = resolve; });
  return ctl;
}

/** Calls ctl.finish() when the picture stops moving for stallMs. */
export function watchProgress(video, ctl, stallMs) {
  let last = -1;
  let since = performance.now();
  const timer = setInterval(() => {
    if (ctl.stopped) return clearInterval(timer);
    if (video.currentTime !== last) { last = video.currentTime; since = performance.now(); return; }
    if (performance.now() - since > stallMs) { clearInterval(timer); ctl.finish(); }
  }, 500);
}

/** Resolves once the video has data and its time moves on from there (a seek is not play). */
export function firstFrame(video, timeoutMs) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let from = null;
    const timer = setInterval(() => {
      if (video.readyState >= 2) {
        if (from === null) from = video.currentTime;
        else if (video.currentTime > from) { clearInterval(timer); resolve(); return; }
      }
      if (performance.now() - t0 > timeoutMs) { clearInterval(timer); reject(new Error("no frames")); }
    }, 100);
  });
}
