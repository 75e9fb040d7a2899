// The odds feed: GET /v1/events/{id}/stream (server-sent events, read with fetch so the reading
// can be aborted and watched), applied in version order by odds.js/model.js.
//
// The stream's first message is a snapshot; then odds, status and score messages, each with
// `id: <version>`. A dropped stream is opened again at once with Last-Event-ID (the server
// sends what was missed, or a fresh snapshot); while it cannot be opened, the page polls the
// event every second and keeps trying the stream with a growing delay. A stream silent for
// longer than a few keep-alives (~15 s each) is taken for dead and opened again.
// #odds-feed shows the state: "live" or "reconnecting" (its data-state says the same).

import { api } from "./api.js";
import { $ } from "./dom.js";
import { applyFeedMessage, loadEvent } from "./odds.js";
import { SseParser } from "./sse.js";
import { state } from "./state.js";

export const FEED = {
  pollMs: 1000, // polling, only while the stream cannot be opened
  reopenMs: 500, // the first try after a stream that was live ends
  backoffMs: 1000, // then 1 s, 2 s, 4 s ... up to maxBackoffMs (±20%)
  maxBackoffMs: 15000,
  silentMs: 45000, // no byte for this long (three keep-alives): the stream is dead
  usefulMs: 5000, // a stream that ends sooner without a message counts as a failed open
};

/**
 * Follows the odds of `eventId` until stop(); `onClosed()` is called once the event is closed.
 * Returns the controller: {stop(), eventId, state}.
 */
export function followOdds(eventId = state.eventId, { onClosed = () => {} } = {}) {
  const ctl = { eventId, stopped: false, state: null, polling: false, abort: null,
    closedSaid: false, wake: null };
  ctl.stop = () => {
    ctl.stopped = true;
    ctl.polling = false;
    if (ctl.abort) ctl.abort.abort();
    if (ctl.wake) ctl.wake();
  };
  ctl.applied = (result) => {
    if (result && result.closed && !ctl.closedSaid) {
      ctl.closedSaid = true;
      onClosed();
    }
  };
  follow(ctl);
  return ctl;
}

function current(ctl) {
  return !ctl.stopped && !state.stopped && state.eventId === ctl.eventId;
}

function showFeed(ctl, feedState) {
  if (!current(ctl)) return;
  ctl.state = feedState;
  state.feed = feedState;
  const el = $("odds-feed");
  el.dataset.state = feedState;
  el.textContent = feedState === "live" ? "live"
    : ctl.polling ? "reconnecting (updating every second)" : "reconnecting";
}

async function follow(ctl) {
  let failures = 0;
  while (current(ctl)) {
    let response = null;
    try {
      response = await openStream(ctl);
    } catch {
      response = null;
    }
    if (!current(ctl)) break;
    if (response) {
      ctl.polling = false; // the stream is back: no more polling
      showFeed(ctl, "live");
      const opened = Date.now();
      const messages = await readStream(ctl, response);
      if (!current(ctl)) break;
      showFeed(ctl, "reconnecting");
      if (messages > 0 || Date.now() - opened > FEED.usefulMs) {
        failures = 0;
        await pause(ctl, ctl.retryMs ?? FEED.reopenMs); // open it again, Last-Event-ID on
        continue;
      } // else it ended at once, empty: as good as not opened (no tight reconnect loop)
    }
    failures++;
    startPolling(ctl); // the stream cannot be opened: poll meanwhile
    showFeed(ctl, "reconnecting");
    await pause(ctl, backoff(failures));
  }
  ctl.polling = false;
}

export function backoff(failures) {
  const base = Math.min(FEED.maxBackoffMs, FEED.backoffMs * 2 ** Math.max(0, failures - 1));
  return Math.round(base * (0.8 + 0.4 * Math.random()));
}

/** Sleeps `ms`, or less if the feed is stopped meanwhile. */
function pause(ctl, ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() { clearTimeout(timer); if (ctl.wake === done) ctl.wake = null; resolve(); }
    ctl.wake = done;
  });
}

async function openStream(ctl) {
  const headers = { Accept: "text/event-stream" };
  const last = lastEventId();
  if (last !== null) headers["Last-Event-ID"] = String(last);
  ctl.abort = new AbortController();
  const response = await api(`/v1/events/${encodeURIComponent(ctl.eventId)}/stream`,
    { raw: true, headers, signal: ctl.abort.signal });
  const type = response.headers.get("content-type") || "";
  if (response.status !== 200 || !type.startsWith("text/event-stream") || !response.body) {
    ctl.abort.abort();
    return null;
  }
  return response;
}

function lastEventId() {
  // The last version applied (what the page shows), else none: the server starts afresh.
  return state.version === null || state.version === undefined ? null : state.version;
}

async function readStream(ctl, response) {
  const parser = new SseParser();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let heard = Date.now();
  let messages = 0;
  const watchdog = setInterval(() => {
    if (Date.now() - heard > FEED.silentMs && ctl.abort) ctl.abort.abort();
  }, Math.min(5000, FEED.silentMs / 3));
  try {
    while (current(ctl)) {
      const { value, done } = await reader.read();
      if (done) break;
      heard = Date.now();
      for (const message of parser.push(value)) {
        if (!current(ctl)) break;
        messages++;
        handle(ctl, message);
      }
      if (parser.retry !== null) ctl.retryMs = parser.retry;
    }
  } catch {
    // aborted (stopped, or silent too long) or the connection broke: reconnect
  } finally {
    clearInterval(watchdog);
    parser.end();
    reader.cancel().catch(() => {});
    if (ctl.abort) ctl.abort.abort();
  }
  return messages;
}

function handle(ctl, message) {
  if (!["snapshot", "odds", "status", "score"].includes(message.type)) return;
  let data;
  try { data = JSON.parse(message.data); } catch { return; }
  if (data && typeof data === "object" && data.version === undefined && message.id !== "") {
    data.version = Number(message.id); // the id is the version, when the body leaves it out
  }
  ctl.applied(applyFeedMessage(message.type, data));
}

async function startPolling(ctl) {
  if (ctl.polling) return;
  ctl.polling = true;
  while (ctl.polling && current(ctl)) {
    try { ctl.applied(await loadEvent(ctl.eventId)); } catch { /* a blip must not stop it */ }
    if (!ctl.polling) break;
    await new Promise((resolve) => setTimeout(resolve, FEED.pollMs));
  }
}
