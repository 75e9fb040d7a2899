// inplay bettor page: ES modules, no build step; the only third-party code is hls.js (vendor/).
// Live video (WHEP, falling back to HLS), live odds (SSE, falling back to polling), a bet slip,
// the balance and the player's bets. Server data only ever reaches the DOM as text.

import { accountLoop, refreshAccount } from "./account.js";
import { api, onUnauthorized } from "./api.js";
import { forgetSession, loginHandler, showLogin } from "./auth.js";
import { placeBet } from "./bets.js";
import { $, text } from "./dom.js";
import { followOdds } from "./feed.js";
import { loadEvent } from "./odds.js";
import { clearSlip, renderSlip } from "./slip.js";
import { state } from "./state.js";
import { startVideo } from "./video.js";

async function start() {
  state.stopped = false;
  $("login-panel").hidden = true;
  $("app").hidden = false;
  $("account").hidden = false;
  refreshAccount();
  const eventId = await chooseEvent();
  if (!eventId) {
    $("event-name").textContent = "No live or upcoming event";
    $("markets").replaceChildren(text("p", "Nothing to bet on right now.", "muted"));
    return;
  }
  state.eventId = eventId;
  await loadEvent();
  followOdds();
  state.video = startVideo($("video"), eventId);
  accountLoop();
}

function stopAll() {
  state.stopped = true;
  if (state.video) state.video.stop();
  state.video = null;
}

function logout(message) {
  forgetSession();
  stopAll();
  showLogin(message);
}

async function chooseEvent() {
  const wanted = new URLSearchParams(location.search).get("event");
  if (wanted) return wanted;
  const data = await api("/v1/events");
  const events = Array.isArray(data) ? data : (data && (data.items || data.events)) || [];
  const pick = events.find((e) => e.status === "in_play")
    || events.find((e) => e.status === "scheduled");
  return pick ? pick.event_id : null;
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
