// The odds feed: server-sent events read with fetch (EventSource cannot send the bearer token
// or show the status), falling back to polling the event every second.

import { api } from "./api.js";
import { $, sleep } from "./dom.js";
import { applyDelta, loadEvent, scheduleReload } from "./odds.js";
import { state } from "./state.js";

const POLL_MS = 1000;

export function followOdds() {
  followSse().catch(() => pollOdds());
}

async function followSse() {
  const headers = {};
  if (state.lastEventId) headers["Last-Event-ID"] = state.lastEventId;
  const response = await api(`/v1/events/${encodeURIComponent(state.eventId)}/stream`,
    { raw: true, headers });
  const type = response.headers.get("content-type") || "";
  if (response.status !== 200 || !type.startsWith("text/event-stream") || !response.body) {
    throw new Error("no SSE");
  }
  state.feed = "sse";
  $("odds-feed").textContent = "live";
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    while (!state.stopped) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        handleSseBlock(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  if (!state.stopped) {
    await sleep(1000); // the server closed the stream: reconnect and catch up
    followOdds();
  }
}

function handleSseBlock(block) {
  let type = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const at = line.indexOf(":");
    const field = at < 0 ? line : line.slice(0, at);
    const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
    if (field === "event") type = value;
    else if (field === "data") data.push(value);
    else if (field === "id") state.lastEventId = value;
  }
  if (!data.length) return;
  let parsed = null;
  try { parsed = JSON.parse(data.join("\n")); } catch { return scheduleReload(); }
  applyDelta(type, parsed);
}

async function pollOdds() {
  state.feed = "poll";
  $("odds-feed").textContent = "updating every second";
  while (!state.stopped) {
    await sleep(POLL_MS);
    try { await loadEvent(); } catch { /* keep polling: a blip must not stop the odds */ }
  }
}
