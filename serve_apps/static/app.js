// inplay bettor page: plain ES2020, no build step, no third-party code.
// Live video (WHEP, falling back to HLS), live odds (SSE, falling back to polling), a bet slip,
// the balance and the player's bets. Server data only ever reaches the DOM as text.
"use strict";

const TOKEN_KEY = "inplay.token";
const POLL_MS = 1000;
const ACCOUNT_REFRESH_MS = 5000;

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  eventId: null,
  event: null,
  markets: new Map(), // market_id -> market (with selections)
  slip: null, // {market_id, selection_id, name, price, price_version}
  lastEventId: null,
  feed: null, // "sse" | "poll"
  stopped: false,
  video: null, // the running video controller (has stop())
};

// ---------------------------------------------------------------------------------------------
// HTTP

class Problem extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.title)) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.code = this.body.code || `HTTP_${status}`;
  }
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  let body = options.body;
  if (body !== undefined && typeof body !== "string") {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(body);
  }
  const response = await fetch(path, {
    method: options.method || "GET", headers, body, signal: options.signal,
    keepalive: options.keepalive || false, cache: "no-store",
  });
  if (options.raw) return response;
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json().catch(() => null) : null;
  if (response.status === 401 && !options.noLogout) logout("Your session ended: please log in.");
  if (!response.ok) throw new Problem(response.status, data);
  return data;
}

async function problemOf(response) {
  const data = await response.json().catch(() => null);
  return new Problem(response.status, data);
}

// ---------------------------------------------------------------------------------------------
// Login

function showLogin(message) {
  $("login-panel").hidden = false;
  $("app").hidden = true;
  $("account").hidden = true;
  $("login-error").textContent = message || "";
  $("username").focus();
}

function logout(message) {
  state.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  stopAll();
  showLogin(message);
}

async function onLogin(event) {
  event.preventDefault();
  const button = event.submitter || $("login-form").querySelector("button");
  button.disabled = true;
  $("login-error").textContent = "";
  try {
    const session = await api("/v1/sessions", {
      method: "POST", noLogout: true,
      body: { username: $("username").value.trim(), password: $("password").value },
    });
    state.token = session.token;
    sessionStorage.setItem(TOKEN_KEY, session.token);
    $("password").value = "";
    await start();
  } catch (err) {
    $("login-error").textContent = err instanceof Problem
      ? `${err.code}: ${err.message}` : `Could not log in: ${err.message}`;
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Start / stop

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
  state.video = startVideo(eventId);
  accountLoop();
}

function stopAll() {
  state.stopped = true;
  if (state.video) state.video.stop();
  state.video = null;
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

// ---------------------------------------------------------------------------------------------
// Odds

async function loadEvent() {
  const event = await api(`/v1/events/${encodeURIComponent(state.eventId)}`);
  applySnapshot(event);
}

function applySnapshot(event) {
  state.event = event;
  $("event-name").textContent = event.name || event.event_id;
  document.title = `${event.name || event.event_id} — inplay`;
  setEventStatus(event.status, event.score);
  const changes = [];
  for (const market of event.markets || []) {
    const old = state.markets.get(market.market_id);
    if (old && market.version !== undefined && old.version !== undefined
        && Number(market.version) < Number(old.version)) continue; // never go back in time
    for (const sel of market.selections || []) {
      const before = old && (old.selections || []).find((s) => s.selection_id === sel.selection_id);
      if (before && before.price !== sel.price) changes.push([market, sel, before.price]);
    }
    state.markets.set(market.market_id, market);
  }
  renderMarkets(changes);
}

function applyDelta(type, data) {
  // Delta shapes accepted: {market_id, version, prices: {sel: price}} or
  // {market_id, version, selections: [...]}, {market_id, status}, {status}, {score};
  // a full event ({markets: [...]}) is a snapshot. Anything else: re-read the event.
  if (!data || typeof data !== "object") return scheduleReload();
  if (Array.isArray(data.markets)) return applySnapshot(Object.assign({}, state.event, data));
  if (type === "score" || (data.score !== undefined && !data.market_id)) {
    setEventStatus(state.event && state.event.status, data.score);
    if (state.event) state.event.score = data.score;
    if (!data.market_id) return;
  }
  if (!data.market_id) {
    if (data.status) {
      if (state.event) state.event.status = data.status;
      setEventStatus(data.status, state.event && state.event.score);
      return scheduleReload(); // markets may have been suspended with it
    }
    return scheduleReload();
  }
  const market = state.markets.get(data.market_id);
  if (!market) return scheduleReload();
  if (data.version !== undefined && market.version !== undefined
      && Number(data.version) < Number(market.version)) return;
  const next = Object.assign({}, market, { selections: (market.selections || []).map((s) => ({ ...s })) });
  if (data.version !== undefined) next.version = data.version;
  if (data.status) next.status = data.status;
  if (data.in_play_delay_s !== undefined) next.in_play_delay_s = data.in_play_delay_s;
  const prices = data.prices || Object.fromEntries((data.selections || [])
    .filter((s) => s.price !== undefined).map((s) => [s.selection_id, s.price]));
  if (!data.prices && !data.selections && !data.status && type === "odds") return scheduleReload();
  const changes = [];
  for (const sel of next.selections) {
    if (prices[sel.selection_id] !== undefined && String(prices[sel.selection_id]) !== String(sel.price)) {
      changes.push([next, { ...sel, price: String(prices[sel.selection_id]) }, sel.price]);
      sel.price = String(prices[sel.selection_id]);
    }
  }
  state.markets.set(next.market_id, next);
  renderMarkets(changes);
}

let reloadTimer = null;
function scheduleReload() {
  if (reloadTimer) return;
  reloadTimer = setTimeout(() => {
    reloadTimer = null;
    loadEvent().catch(() => {});
  }, 150);
}

function setEventStatus(status, score) {
  const labels = { in_play: "In play", scheduled: "Scheduled", suspended: "Suspended", closed: "Closed" };
  $("event-status").textContent = labels[status] || status || "";
  $("event-score").textContent = score === undefined || score === null ? ""
    : `Score ${typeof score === "object" ? Object.values(score).join(" – ") : score}`;
}

function renderMarkets(changes) {
  const root = $("markets");
  const eventOpen = !state.event || !["suspended", "closed"].includes(state.event.status);
  const nodes = [];
  for (const market of state.markets.values()) {
    const open = eventOpen && (!market.status || market.status === "open");
    const box = document.createElement("div");
    box.className = "market";
    box.dataset.marketId = market.market_id;
    const h = document.createElement("h3");
    h.id = `m-${market.market_id}`;
    h.append(text("span", market.name || market.market_id));
    const meta = [`v${market.version ?? "?"}`];
    if (!open) meta.unshift(market.status || "suspended");
    if (market.in_play_delay_s) meta.push(`${market.in_play_delay_s}s delay`);
    h.append(text("span", meta.join(" · "), "muted small"));
    const prices = document.createElement("div");
    prices.className = "prices";
    prices.setAttribute("role", "group");
    prices.setAttribute("aria-labelledby", h.id);
    for (const sel of market.selections || []) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "price";
      b.dataset.selectionId = sel.selection_id;
      b.dataset.price = sel.price;
      b.disabled = !open;
      b.setAttribute("aria-pressed", String(!!state.slip && state.slip.selection_id === sel.selection_id
        && state.slip.market_id === market.market_id));
      b.setAttribute("aria-label", `${sel.name} at ${sel.price}, ${market.name || ""}`);
      b.append(text("span", sel.name), text("strong", String(sel.price)));
      const change = changes.find(([m, s]) => m.market_id === market.market_id && s.selection_id === sel.selection_id);
      if (change) b.classList.add(Number(sel.price) > Number(change[2]) ? "up" : "down");
      b.addEventListener("click", () => pickSelection(market, sel));
      prices.append(b);
    }
    box.append(h, prices);
    nodes.push(box);
  }
  if (!nodes.length) nodes.push(text("p", "No markets.", "muted"));
  // Keep keyboard focus on the same price button across re-renders.
  const focused = document.activeElement && document.activeElement.dataset
    && document.activeElement.dataset.selectionId;
  root.replaceChildren(...nodes);
  if (focused) {
    const again = root.querySelector(`[data-selection-id="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
  if (changes.length) {
    announceOdds(changes);
    setTimeout(() => root.querySelectorAll(".price.up,.price.down")
      .forEach((b) => b.classList.remove("up", "down")), 1500);
  }
  syncSlipWithMarket();
}

function announceOdds(changes) {
  const words = changes.slice(0, 3).map(([, s, before]) => `${s.name} ${before} to ${s.price}`);
  if (changes.length > 3) words.push(`and ${changes.length - 3} more`);
  $("odds-announce").textContent = `Odds changed: ${words.join(", ")}.`;
}

function followOdds() {
  followSse().catch(() => pollOdds());
}

async function followSse() {
  // fetch, not EventSource: EventSource cannot send the bearer token or show the status.
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
    followSse().catch(() => pollOdds());
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

// ---------------------------------------------------------------------------------------------
// Bet slip

function pickSelection(market, sel) {
  state.slip = { market_id: market.market_id, selection_id: sel.selection_id, name: sel.name,
    market_name: market.name, price: String(sel.price), price_version: market.version };
  $("slip").hidden = false;
  $("slip-empty").hidden = true;
  renderSlip();
  renderMarkets([]);
  $("stake").focus();
}

function renderSlip() {
  const s = state.slip;
  if (!s) return;
  $("slip-selection").textContent = `${s.name} — ${s.market_name || s.market_id}`;
  $("slip-price").textContent = s.price;
  $("slip-version").textContent = s.price_version === undefined ? "" : `(version ${s.price_version})`;
}

function syncSlipWithMarket() {
  // The slip keeps the price the player chose; a changed price is shown, not silently taken.
  const s = state.slip;
  if (!s) return;
  const market = state.markets.get(s.market_id);
  const sel = market && (market.selections || []).find((x) => x.selection_id === s.selection_id);
  const note = sel && String(sel.price) !== s.price ? ` now ${sel.price}` : "";
  $("slip-version").textContent = (s.price_version === undefined ? "" : `(version ${s.price_version})`) + note;
}

function clearSlip() {
  state.slip = null;
  $("slip").hidden = true;
  $("slip-empty").hidden = false;
  renderMarkets([]);
}

function showResult(kind, parts, data = {}) {
  // data-* attributes carry the outcome for scripts and tests; the text is for people.
  const root = $("slip-result");
  for (const key of ["code", "betId", "status"]) {
    if (data[key] === undefined) delete root.dataset[key]; else root.dataset[key] = data[key];
  }
  const box = document.createElement("div");
  box.className = `result ${kind}`;
  box.append(...parts);
  $("slip-result").replaceChildren(box);
}

function code(value) {
  const c = document.createElement("code");
  c.textContent = value;
  return c;
}

async function placeBet(event) {
  event.preventDefault();
  const s = state.slip;
  if (!s) return;
  const stake = $("stake").value.trim();
  const policy = new FormData($("slip")).get("odds_change") || "none";
  const body = { event_id: state.eventId, market_id: s.market_id, selection_id: s.selection_id,
    stake, price: s.price, price_version: s.price_version, odds_change: policy };
  $("place").disabled = true;
  showResult("wait", [document.createTextNode("Placing your bet…")]);
  try {
    const response = await api("/v1/bets", { method: "POST", raw: true, body,
      headers: { "Idempotency-Key": crypto.randomUUID() } });
    if (response.status === 201 || response.status === 202) {
      const bet = await response.json();
      showBet(bet);
      refreshAccount();
      if (bet.status === "pending") followPending(bet.bet_id);
    } else {
      if (response.status === 401) logout("Your session ended: please log in.");
      showRejection(await problemOf(response), response.headers.get("Retry-After"));
    }
  } catch (err) {
    showResult("bad", [code("NETWORK"), document.createTextNode(` ${err.message}`)],
      { code: "NETWORK", status: "error" });
  } finally {
    $("place").disabled = false;
  }
}

function showBet(bet) {
  if (bet.status === "accepted" || bet.status === "won" || bet.status === "lost") {
    showResult("ok", [document.createTextNode("Bet "), code(bet.status.toUpperCase()),
      document.createTextNode(`: ${bet.stake ?? ""} at ${bet.price ?? ""}`
        + (bet.potential_payout ? `, pays ${bet.potential_payout}` : "") + ` (bet ${bet.bet_id})`)],
    { betId: bet.bet_id, status: bet.status });
  } else if (bet.status === "pending") {
    showResult("wait", [document.createTextNode("Bet "), code("PENDING"),
      document.createTextNode(` — in-play delay${bet.accept_after ? ` until ${bet.accept_after}` : ""} (bet ${bet.bet_id})`)],
    { betId: bet.bet_id, status: bet.status });
  } else if (bet.status === "rejected") {
    showResult("bad", [document.createTextNode("Bet "), code("REJECTED"),
      document.createTextNode(" "), code(bet.reason || bet.code || "UNKNOWN"),
      document.createTextNode(bet.detail ? `: ${bet.detail}` : "")],
    { betId: bet.bet_id, status: bet.status, code: bet.reason || bet.code || "UNKNOWN" });
  } else {
    showResult("ok", [document.createTextNode(`Bet ${bet.bet_id}: ${bet.status}`)],
      { betId: bet.bet_id, status: bet.status });
  }
  refreshBets();
}

async function followPending(betId) {
  for (let i = 0; i < 120 && !state.stopped; i++) {
    await sleep(500);
    try {
      const bet = await api(`/v1/bets/${encodeURIComponent(betId)}`);
      if (bet.status !== "pending") {
        showBet(bet);
        refreshAccount();
        return;
      }
    } catch { /* transient: keep asking */ }
  }
}

function showRejection(problem, retryAfter) {
  const b = problem.body;
  const parts = [code(problem.code), document.createTextNode(`: ${b.detail || b.title || problem.message}`)];
  if (b.price !== undefined) {
    parts.push(document.createTextNode(` — current price ${b.price}`
      + (b.price_version !== undefined ? ` (version ${b.price_version})` : "")));
    if (state.slip) { // offer the new price; the player decides whether to place again
      state.slip.price = String(b.price);
      if (b.price_version !== undefined) state.slip.price_version = b.price_version;
      renderSlip();
    }
  }
  if (b.max_stake !== undefined) parts.push(document.createTextNode(` — maximum stake ${b.max_stake}`));
  if (retryAfter) parts.push(document.createTextNode(` — retry after ${retryAfter} s`));
  if (Array.isArray(b.errors) && b.errors.length) {
    parts.push(document.createTextNode(` — ${b.errors.map((e) => e.msg || JSON.stringify(e)).join("; ")}`));
  }
  showResult("bad", parts, { code: problem.code, status: "rejected" });
}

// ---------------------------------------------------------------------------------------------
// Wallet and bets

async function refreshAccount() {
  try {
    const wallet = await api("/v1/wallet");
    const currency = wallet.currency ? ` ${wallet.currency}` : "";
    $("balance").textContent = `${wallet.balance}${currency}`;
    $("reserved").textContent = `${wallet.reserved}${currency}`;
  } catch (err) {
    $("balance").textContent = err instanceof Problem ? err.code : "unavailable";
  }
  refreshBets();
}

async function refreshBets() {
  let data;
  try { data = await api("/v1/bets?limit=20"); } catch { return; }
  const items = Array.isArray(data) ? data : (data && data.items) || [];
  const rows = items.map((bet) => {
    const tr = document.createElement("tr");
    tr.dataset.betId = bet.bet_id;
    tr.dataset.status = bet.status;
    tr.append(text("td", selectionName(bet)), text("td", bet.stake ?? ""),
      text("td", bet.price ?? ""), text("td", bet.status + (bet.reason ? ` (${bet.reason})` : "")));
    return tr;
  });
  $("bets").querySelector("tbody").replaceChildren(...rows);
  $("bets-empty").hidden = rows.length > 0;
}

function selectionName(bet) {
  const market = state.markets.get(bet.market_id);
  const sel = market && (market.selections || []).find((s) => s.selection_id === bet.selection_id);
  return sel ? `${sel.name} (${market.name || market.market_id})` : bet.selection_id || bet.bet_id;
}

async function accountLoop() {
  while (!state.stopped) {
    await sleep(ACCOUNT_REFRESH_MS);
    if (!state.stopped) refreshAccount();
  }
}

// ---------------------------------------------------------------------------------------------
// Video: WHEP first, then HLS tiers (native HLS, else our MSE player)

const HLS_TIERS = [["hls", "LL-HLS"], ["hls-standard", "HLS"], ["hls-delayed", "delayed HLS"]];

function startVideo(eventId) {
  const video = $("video");
  const ctl = { stopped: false, current: null };
  ctl.stop = () => { ctl.stopped = true; if (ctl.current) ctl.current.stop(); };
  (async () => {
    let attempt = 0;
    while (!ctl.stopped) {
      const failures = [];
      // ?video=hls skips WebRTC (e.g. behind a firewall that blocks UDP); ?video=webrtc: no HLS.
      const only = new URLSearchParams(location.search).get("video");
      const ways = [];
      if (only !== "hls") ways.push(() => startWhep(video, eventId));
      if (only !== "webrtc") {
        for (const [path, label] of HLS_TIERS) ways.push(() => startHls(video, eventId, path, label));
      }
      for (const tryOne of ways) {
        if (ctl.stopped) return;
        try {
          ctl.current = await tryOne();
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
      $("video-mode").textContent = "not available";
      $("video-note").textContent = `(${failures.join(", ")}; retrying)`;
      await sleep(Math.min(10000, 1000 * 2 ** Math.min(attempt++, 3)));
    }
  })();
  return ctl;
}

function watchProgress(video, ctl, stallMs) {
  // Resolves `ended` when the picture stops moving for stallMs (or never starts).
  let last = -1;
  let since = performance.now();
  const timer = setInterval(() => {
    if (ctl.stopped) return clearInterval(timer);
    if (video.currentTime !== last) { last = video.currentTime; since = performance.now(); return; }
    if (performance.now() - since > stallMs) { clearInterval(timer); ctl.finish(); }
  }, 500);
}

function controller() {
  const ctl = { stopped: false };
  ctl.ended = new Promise((resolve) => { ctl.finish = resolve; });
  return ctl;
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

async function startWhep(video, eventId) {
  if (!window.RTCPeerConnection) throw new Error("no WebRTC");
  $("video-mode").textContent = "WebRTC: connecting…";
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
    $("video-mode").textContent = "WebRTC";
    watchProgress(video, ctl, 4000);
    return ctl;
  } catch (err) {
    ctl.stop();
    video.srcObject = null;
    throw err;
  }
}

function firstFrame(video, timeoutMs) {
  const startTime = video.currentTime;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const timer = setInterval(() => {
      if (video.readyState >= 2 && video.currentTime > startTime) { clearInterval(timer); resolve(); }
      else if (performance.now() - t0 > timeoutMs) { clearInterval(timer); reject(new Error("no frames")); }
    }, 100);
  });
}

async function startHls(video, eventId, path, label) {
  const url = `/v1/media/${encodeURIComponent(eventId)}/${path}/index.m3u8`;
  // Native HLS cannot send the bearer token: use it only where the playlist is public (a CDN).
  if (video.canPlayType("application/vnd.apple.mpegurl")) {
    const open = await fetch(url, { cache: "no-store" }).catch(() => null);
    if (open && open.ok) return startNativeHls(video, url, `${label} (native)`);
  }
  if (!window.MediaSource) throw new Error("no HLS support");
  const player = new MsePlayer(video, url, label);
  await player.start();
  return player;
}

async function startNativeHls(video, url, label) {
  const ctl = controller();
  ctl.stop = () => { ctl.stopped = true; video.removeAttribute("src"); video.load(); };
  video.srcObject = null;
  video.src = url;
  video.play().catch(() => {});
  await firstFrame(video, 10000).catch((err) => { ctl.stop(); throw err; });
  $("video-mode").textContent = label;
  watchProgress(video, ctl, 8000);
  return ctl;
}

function parsePlaylist(text) {
  const lines = text.split(/\r?\n/);
  if (lines[0] !== "#EXTM3U") throw new Error("not a playlist");
  const out = { seq: 0, map: null, partTarget: null, target: 1, canBlock: false, segments: [] };
  let cur = { parts: [] };
  const attr = (s, name) => {
    const m = s.match(new RegExp(`(?:^|,)${name}=("([^"]*)"|[^,]*)`));
    return m ? (m[2] !== undefined ? m[2] : m[1]) : null;
  };
  for (const line of lines) {
    if (line.startsWith("#EXT-X-MEDIA-SEQUENCE:")) out.seq = Number(line.split(":")[1]);
    else if (line.startsWith("#EXT-X-TARGETDURATION:")) out.target = Number(line.split(":")[1]);
    else if (line.startsWith("#EXT-X-MAP:")) out.map = attr(line.slice(11), "URI");
    else if (line.startsWith("#EXT-X-PART-INF:")) out.partTarget = Number(attr(line.slice(16), "PART-TARGET"));
    else if (line.startsWith("#EXT-X-SERVER-CONTROL:")) out.canBlock = attr(line.slice(22), "CAN-BLOCK-RELOAD") === "YES";
    else if (line.startsWith("#EXT-X-PART:")) {
      const a = line.slice(12);
      cur.parts.push({ uri: attr(a, "URI"), duration: Number(attr(a, "DURATION")),
        independent: attr(a, "INDEPENDENT") === "YES" });
    } else if (line.startsWith("#EXTINF:")) cur.duration = parseFloat(line.slice(8));
    else if (line && !line.startsWith("#")) { cur.uri = line; out.segments.push(cur); cur = { parts: [] }; }
  }
  if (cur.parts.length) out.segments.push(cur); // the open segment: parts only
  out.segments.forEach((s, i) => { s.msn = out.seq + i; });
  return out;
}

function avcCodec(init) {
  // RFC 6381 codec string from the avcC box of the init segment.
  for (let i = 4; i + 8 < init.length; i++) {
    if (init[i] === 0x61 && init[i + 1] === 0x76 && init[i + 2] === 0x63 && init[i + 3] === 0x43) {
      const hex = (b) => b.toString(16).padStart(2, "0");
      return `avc1.${hex(init[i + 5])}${hex(init[i + 6])}${hex(init[i + 7])}`;
    }
  }
  return "avc1.42e01f";
}

class MsePlayer {
  // A small live fMP4 HLS player: parts (LL-HLS, blocking reload) or whole segments.
  constructor(video, url, label) {
    this.video = video;
    this.url = new URL(url, location.href);
    this.label = label;
    const ctl = controller();
    this.ended = ctl.ended;
    this.finish = ctl.finish;
    this.stopped = false;
  }

  async fetchBytes(uri) {
    const response = await api(new URL(uri, this.url).pathname, { raw: true });
    if (!response.ok) throw await problemOf(response);
    return new Uint8Array(await response.arrayBuffer());
  }

  async load(msn, part) {
    let path = this.url.pathname;
    if (msn !== undefined && this.playlist && this.playlist.canBlock) {
      path += `?_HLS_msn=${msn}` + (part !== undefined && part !== null ? `&_HLS_part=${part}` : "");
    }
    const response = await api(path, { raw: true });
    if (!response.ok) throw await problemOf(response);
    this.playlist = parsePlaylist(await response.text());
    return this.playlist;
  }

  async start() {
    $("video-mode").textContent = `${this.label}: connecting…`;
    const pl = await this.load();
    if (!pl.map || !pl.segments.length) throw new Error("playlist has no media yet");
    const init = await this.fetchBytes(pl.map);
    const mime = `video/mp4; codecs="${avcCodec(init)}"`;
    if (!MediaSource.isTypeSupported(mime)) throw new Error(`cannot play ${mime}`);
    this.mediaSource = new MediaSource();
    this.video.srcObject = null;
    this.objectUrl = URL.createObjectURL(this.mediaSource);
    this.video.src = this.objectUrl;
    await new Promise((resolve) => this.mediaSource.addEventListener("sourceopen", resolve, { once: true }));
    this.buffer = this.mediaSource.addSourceBuffer(mime);
    await this.append(init);
    this.useParts = pl.segments.some((s) => s.parts.length);
    this.position = this.startPosition(pl);
    this.loop().catch(() => this.finish());
    await this.firstFrame();
    $("video-mode").textContent = this.label + (this.useParts ? " (parts)" : "");
    watchProgress(this.video, this, this.useParts ? 6000 : 4000 + 3000 * pl.target);
    return this;
  }

  async firstFrame() {
    const t0 = performance.now();
    while (!this.stopped && performance.now() - t0 < 15000) {
      const b = this.buffer.buffered;
      if (b.length) {
        if (this.video.currentTime < b.start(0)) this.video.currentTime = b.start(0);
        this.video.play().catch(() => {});
        await sleep(300);
        if (this.video.currentTime > b.start(0)) return;
      }
      await sleep(100);
    }
    this.stop();
    throw new Error("no frames");
  }

  startPosition(pl) {
    if (this.useParts) {
      for (let i = pl.segments.length - 1; i >= 0; i--) {
        const parts = pl.segments[i].parts;
        for (let p = parts.length - 1; p >= 0; p--) {
          if (parts[p].independent) return { msn: pl.segments[i].msn, part: p };
        }
      }
    }
    const complete = pl.segments.filter((s) => s.uri);
    const pick = complete[Math.max(0, complete.length - 2)] || pl.segments[0];
    return { msn: pick.msn, part: 0 };
  }

  append(bytes) {
    return new Promise((resolve, reject) => {
      const ok = () => { cleanup(); resolve(); };
      const bad = () => { cleanup(); reject(new Error("append failed")); };
      const cleanup = () => { this.buffer.removeEventListener("updateend", ok);
        this.buffer.removeEventListener("error", bad); };
      this.buffer.addEventListener("updateend", ok);
      this.buffer.addEventListener("error", bad);
      this.buffer.appendBuffer(bytes);
    });
  }

  async loop() {
    while (!this.stopped) {
      const pl = this.playlist;
      const pos = this.position;
      const seg = pl.segments.find((s) => s.msn === pos.msn);
      if (!seg && pl.segments.length && pos.msn < pl.segments[0].msn) {
        this.position = this.startPosition(pl); // fell out of the window: jump to live
        continue;
      }
      if (seg && this.useParts && seg.parts.length > pos.part) {
        await this.appendMedia(seg.parts[pos.part].uri);
        pos.part += 1;
        continue;
      }
      if (seg && seg.uri && (!this.useParts || seg.parts.length === 0 || pos.part >= seg.parts.length)) {
        if (!this.useParts || (seg.parts.length === 0 && pos.part === 0)) await this.appendMedia(seg.uri);
        this.position = { msn: pos.msn + 1, part: 0 };
        continue;
      }
      if (pl.canBlock && this.useParts) await this.load(pos.msn, pos.part);
      else { await sleep(1000 * (pl.partTarget || pl.target / 2)); await this.load(); }
    }
  }

  async appendMedia(uri) {
    const data = await this.fetchBytes(uri);
    if (this.stopped) return;
    await this.append(data);
    this.keepLive();
  }

  keepLive() {
    const b = this.buffer.buffered;
    if (!b.length || this.buffer.updating) return;
    const end = b.end(b.length - 1);
    const lag = end - this.video.currentTime;
    const maxLag = this.useParts ? 1.5 : 3 * (this.playlist.target || 1) + 2;
    if (lag > maxLag) this.video.currentTime = end - (this.useParts ? 0.3 : this.playlist.target);
    if (this.video.currentTime - b.start(0) > 30) this.buffer.remove(b.start(0), this.video.currentTime - 10);
  }

  stop() {
    this.stopped = true;
    this.finish();
    if (this.objectUrl) {
      this.video.removeAttribute("src");
      this.video.load();
      URL.revokeObjectURL(this.objectUrl);
      this.objectUrl = null;
    }
  }
}

// ---------------------------------------------------------------------------------------------

function text(tag, value, className) {
  const node = document.createElement(tag);
  node.textContent = value === undefined || value === null ? "" : String(value);
  if (className) node.className = className;
  return node;
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", () => logout());
  $("slip").addEventListener("submit", placeBet);
  $("slip-clear").addEventListener("click", clearSlip);
  window.addEventListener("pagehide", () => stopAll());
  if (state.token) start().catch((err) => showLogin(err.message));
  else showLogin();
});
