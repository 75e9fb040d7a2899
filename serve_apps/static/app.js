// inplay bettor page: ES modules, no build step; the only third-party code is hls.js (vendor/).
// Live video (WHEP, falling back to HLS), live odds (the event's SSE stream, polling only while
// it cannot be opened), a bet slip, the balance and the player's bets. Server data only ever
// reaches the DOM as text.
//
// Which event: ?event=ID pins one; otherwise the one in play (else the next scheduled one) from
// GET /v1/events, and the next one once it closes.

import { accountLoop, forgetBets, refreshBets, refreshWallet } from "./account.js";
import { api, onUnauthorized } from "./api.js";
import { forgetSession, loginHandler, showLogin } from "./auth.js";
import { placeBet } from "./bets.js";
import { $, sleep, text } from "./dom.js";
import { followOdds } from "./feed.js";
import { clearEvent, loadEvent } from "./odds.js";
import { clearSlip, renderSlip } from "./slip.js";
import { state } from "./state.js";
import { startVideo } from "./video.js";

export const PAGE = {
  nextEventMs: 3000, // a closed event stays on screen this long before the next one
  lookAgainMs: 10000, // no event to show (or the list failed): ask again after this
};
const LIVE_FIRST = { in_play: 0, suspended: 1, scheduled: 2 };

let run = null; // the signed-in page's loops: {stopped, onStop}

async function start() {
  stopAll();
  const mine = { stopped: false, onStop: null };
  run = mine;
  state.stopped = false;
  $("login-panel").hidden = true;
  $("app").hidden = false;
  $("account").hidden = false;
  $("skip").hidden = false;
  refreshWallet();
  accountLoop(mine);
  await new Promise((resolve, reject) => {
    followEvents(mine, resolve).then(resolve, reject);
  });
  // after the event is known: its bets are named from its snapshot, not read again
  if (!mine.stopped) refreshBets();
}

/** Shows one event after another until `mine` stops; `shown()` once the first is on screen. */
async function followEvents(mine, shown) {
  const pinned = new URLSearchParams(location.search).get("event");
  const finished = new Set(); // events seen closing (or gone): not picked again
  let first = true;
  while (!mine.stopped) {
    let eventId = pinned;
    if (!eventId) {
      try {
        eventId = await pickEvent(finished);
      } catch (err) {
        if (first) throw err;
        await sleep(PAGE.lookAgainMs);
        continue;
      }
    }
    if (mine.stopped) return;
    if (!eventId) {
      stopEvent();
      state.eventId = null;
      clearEvent();
      $("event-name").textContent = "No live or upcoming event";
      $("markets").replaceChildren(text("p", "Nothing to bet on right now.", "muted"));
      $("odds-feed").textContent = "";
      first = false;
      shown();
      await sleep(PAGE.lookAgainMs);
      continue;
    }
    const { closed } = await showEvent(mine, eventId, !!pinned);
    first = false;
    shown();
    await closed;
    if (mine.stopped || pinned) return;
    finished.add(eventId);
    await sleep(PAGE.nextEventMs);
  }
}

/** Puts `eventId` on screen and follows it: {closed}, resolved when it closes (never if
 * pinned) or the page stops. */
async function showEvent(mine, eventId, pinned) {
  stopEvent();
  clearSlip();
  clearEvent();
  state.eventId = eventId;
  const closed = new Promise((resolve) => { mine.onStop = resolve; });
  let result;
  try {
    result = await loadEvent(eventId);
  } catch (err) {
    if (err && err.status === 401) throw err;
    if (!pinned && err && err.status === 404) return { closed: null }; // gone: the next one
    // the event could not be read now: the feed below keeps trying (and polls)
  }
  if (mine.stopped) return { closed };
  if (result && result.closed && !pinned) return { closed: null };
  const onClosed = () => { // a pinned event stays followed (its markets are settled later)
    if (pinned || mine.stopped) return;
    stopEvent();
    if (mine.onStop) mine.onStop();
  };
  state.odds = followOdds(eventId, { onClosed });
  state.video = startVideo($("video"), eventId);
  return { closed };
}

/** The event to show: the one in play (else suspended, else the next scheduled), or null. */
async function pickEvent(finished) {
  const data = await api("/v1/events");
  const events = Array.isArray(data) ? data : (data && (data.items || data.events)) || [];
  const time = (e) => { const t = Date.parse(e.starts_at); return Number.isNaN(t) ? Infinity : t; };
  const candidates = events.filter((e) => e && e.event_id && !finished.has(e.event_id)
    && LIVE_FIRST[e.status] !== undefined);
  candidates.sort((a, b) => LIVE_FIRST[a.status] - LIVE_FIRST[b.status] || time(a) - time(b));
  return candidates.length ? candidates[0].event_id : null;
}

function stopEvent() {
  if (state.odds) state.odds.stop();
  state.odds = null;
  if (state.video) state.video.stop();
  state.video = null;
}

function stopAll() {
  if (run) {
    run.stopped = true;
    if (run.onStop) run.onStop();
    run = null;
  }
  state.stopped = true;
  stopEvent();
}

function logout(message) {
  forgetSession();
  stopAll();
  clearSlip();
  forgetBets();
  $("bets").querySelector("tbody").replaceChildren();
  $("balance").textContent = "…";
  $("reserved").textContent = "…";
  showLogin(message);
}

function main() {
  onUnauthorized(() => logout("Your session ended: please log in."));
  $("login-form").addEventListener("submit", loginHandler(start));
  $("logout").addEventListener("click", () => logout());
  $("slip").addEventListener("submit", placeBet);
  $("slip-clear").addEventListener("click", clearSlip);
  window.addEventListener("pagehide", () => stopAll());
  if (state.token) start().catch((err) => showLogin(err.message));
  else showLogin();
}

// Module bindings are not globals: these two are, for people at the console and for the browser
// test (tests/e2e/test_web_page.py sets state.slip.price, then calls renderSlip()).
window.state = state;
window.renderSlip = renderSlip;

// A module runs deferred, before DOMContentLoaded; wait for it anyway if it has not come yet.
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", main);
else main();
