// The event and its markets: snapshots and deltas in, price buttons out.

import { api } from "./api.js";
import { $, text } from "./dom.js";
import { isPicked, pickSelection, syncSlipWithMarket } from "./slip.js";
import { state } from "./state.js";

const STATUS_LABELS = { in_play: "In play", scheduled: "Scheduled", suspended: "Suspended", closed: "Closed" };

const older = (a, b) => a !== undefined && b !== undefined && Number(a) < Number(b);

export async function loadEvent() {
  applySnapshot(await api(`/v1/events/${encodeURIComponent(state.eventId)}`));
}

export function applySnapshot(event) {
  state.event = event;
  $("event-name").textContent = event.name || event.event_id;
  document.title = `${event.name || event.event_id} — inplay`;
  setEventStatus(event.status, event.score);
  const changes = [];
  for (const market of event.markets || []) {
    const old = state.markets.get(market.market_id);
    if (old && older(market.version, old.version)) continue; // never go back in time
    for (const sel of market.selections || []) {
      const before = old && (old.selections || []).find((s) => s.selection_id === sel.selection_id);
      if (before && before.price !== sel.price) changes.push([market, sel, before.price]);
    }
    state.markets.set(market.market_id, market);
  }
  renderMarkets(changes);
}

export function applyDelta(type, data) {
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
  if (data.market_id) return applyMarketDelta(type, data);
  if (data.status) {
    if (state.event) state.event.status = data.status;
    setEventStatus(data.status, state.event && state.event.score);
  }
  return scheduleReload(); // markets may have been suspended with the event
}

function applyMarketDelta(type, data) {
  const market = state.markets.get(data.market_id);
  if (!market) return scheduleReload();
  if (older(data.version, market.version)) return;
  if (!data.prices && !data.selections && !data.status && type === "odds") return scheduleReload();
  const next = Object.assign({}, market, { selections: (market.selections || []).map((s) => ({ ...s })) });
  if (data.version !== undefined) next.version = data.version;
  if (data.status) next.status = data.status;
  if (data.in_play_delay_s !== undefined) next.in_play_delay_s = data.in_play_delay_s;
  const prices = data.prices || Object.fromEntries((data.selections || [])
    .filter((s) => s.price !== undefined).map((s) => [s.selection_id, s.price]));
  const changes = [];
  for (const sel of next.selections) {
    const price = prices[sel.selection_id];
    if (price !== undefined && String(price) !== String(sel.price)) {
      changes.push([next, { ...sel, price: String(price) }, sel.price]);
      sel.price = String(price);
    }
  }
  state.markets.set(next.market_id, next);
  renderMarkets(changes);
}

let reloadTimer = null;
export function scheduleReload() {
  if (reloadTimer) return;
  reloadTimer = setTimeout(() => {
    reloadTimer = null;
    loadEvent().catch(() => {});
  }, 150);
}

function setEventStatus(status, score) {
  $("event-status").textContent = STATUS_LABELS[status] || status || "";
  $("event-score").textContent = score === undefined || score === null ? ""
    : `Score ${typeof score === "object" ? Object.values(score).join(" – ") : score}`;
}

function renderMarkets(changes) {
  const root = $("markets");
  const eventOpen = !state.event || !["suspended", "closed"].includes(state.event.status);
  const nodes = [...state.markets.values()].map((market) => marketBox(market, eventOpen, changes));
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

function marketBox(market, eventOpen, changes) {
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
    const change = changes.find(([m, s]) => m.market_id === market.market_id && s.selection_id === sel.selection_id);
    prices.append(priceButton(market, sel, open, change));
  }
  box.append(h, prices);
  return box;
}

function priceButton(market, sel, open, change) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "price";
  b.dataset.selectionId = sel.selection_id;
  b.dataset.price = sel.price;
  b.disabled = !open;
  b.setAttribute("aria-pressed", String(isPicked(market.market_id, sel.selection_id)));
  b.setAttribute("aria-label", `${sel.name} at ${sel.price}, ${market.name || ""}`);
  b.append(text("span", sel.name), text("strong", String(sel.price)));
  if (change) b.classList.add(Number(sel.price) > Number(change[2]) ? "up" : "down");
  b.addEventListener("click", () => pickSelection(market, sel));
  return b;
}

function announceOdds(changes) {
  const said = changes.slice(0, 3).map(([, s, before]) => `${s.name} ${before} to ${s.price}`);
  if (changes.length > 3) said.push(`and ${changes.length - 3} more`);
  $("odds-announce").textContent = `Odds changed: ${said.join(", ")}.`;
}
