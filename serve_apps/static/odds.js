// The event and its markets on the page: messages in (model.js orders them), price buttons,
// bet-stop labels and the score out.

import { rememberEventNames } from "./account.js";
import { api } from "./api.js";
import { $, text } from "./dom.js";
import { STATUS_LABELS, applyMessage, marketOpen, resetBook, stopLabel } from "./model.js";
import { isPicked, pickSelection, syncSlipWithMarket } from "./slip.js";
import { state } from "./state.js";

/** Reads the event over HTTP (the first load, and the polling while the stream is down). */
export async function loadEvent(eventId = state.eventId) {
  const data = await api(`/v1/events/${encodeURIComponent(eventId)}`);
  if (eventId !== state.eventId) return null; // the page moved on meanwhile
  return applyFeedMessage("snapshot", data);
}

/** Forgets the shown event (the page is moving to another one). */
export function clearEvent() {
  resetBook(state);
  $("markets").replaceChildren(text("p", "Loading…", "muted"));
  $("event-name").textContent = "…";
  $("event-status").textContent = "";
  $("event-score").textContent = "";
}

/** One message of the odds stream (or a polled snapshot): applied in version order. */
export function applyFeedMessage(type, data) {
  const labels = stopLabels();
  const result = applyMessage(state, type, data);
  if (result.applied) {
    if (type === "snapshot") rememberEventNames(state.event, state.markets);
    render(result.changes);
    announceStops(labels);
  }
  if (result.reload) scheduleReload();
  return result;
}

let reloadTimer = null;
export function scheduleReload() {
  if (reloadTimer) return;
  reloadTimer = setTimeout(() => {
    reloadTimer = null;
    if (state.eventId && !state.stopped) loadEvent().catch(() => {});
  }, 150);
}

function render(changes) {
  const event = state.event || {};
  $("event-name").textContent = event.name || event.event_id || state.eventId || "";
  document.title = `${event.name || event.event_id || "inplay"} — inplay`;
  $("event-status").textContent = STATUS_LABELS[event.status] || event.status || "";
  $("event-status").dataset.status = event.status || "";
  const score = event.score;
  $("event-score").textContent = score === undefined || score === null || score === "" ? ""
    : `Score ${typeof score === "object" ? Object.values(score).join("–") : score}`;
  renderMarkets(changes);
}

function renderMarkets(changes) {
  const root = $("markets");
  const nodes = [...state.markets.values()].map((market) => marketBox(market, changes));
  if (!nodes.length) nodes.push(text("p", "No markets.", "muted"));
  // Keep keyboard focus on the same price button across re-renders.
  const active = document.activeElement;
  const focused = active && active.dataset && active.dataset.selectionId
    ? [active.dataset.marketId, active.dataset.selectionId] : null;
  root.replaceChildren(...nodes);
  if (focused && root.querySelector) {
    const again = root.querySelector(`[data-market-id="${CSS.escape(focused[0])}"]`
      + `[data-selection-id="${CSS.escape(focused[1])}"]`);
    if (again && !again.disabled) again.focus();
  }
  if (changes.length) {
    announceOdds(changes);
    setTimeout(() => root.querySelectorAll(".price.up,.price.down")
      .forEach((b) => b.classList.remove("up", "down")), 1500);
  }
  syncSlipWithMarket();
}

function marketBox(market, changes) {
  const open = marketOpen(state.event, market);
  const label = stopLabel(state.event, market);
  const box = document.createElement("div");
  box.className = open ? "market" : "market stopped";
  box.dataset.marketId = market.market_id;
  box.dataset.status = market.status || "open";
  const h = document.createElement("h3");
  h.id = `m-${market.market_id}`;
  h.append(text("span", market.name || market.market_id));
  const meta = [`v${market.version ?? "?"}`];
  if (market.in_play_delay_s) meta.push(`${market.in_play_delay_s}s delay`);
  h.append(text("span", meta.join(" · "), "muted small"));
  box.append(h);
  if (label) {
    const stop = text("p", label, "stop");
    stop.dataset.testid = "bet-stop";
    box.append(stop);
  }
  const prices = document.createElement("div");
  prices.className = "prices";
  prices.setAttribute("role", "group");
  prices.setAttribute("aria-labelledby", h.id);
  for (const sel of market.selections || []) {
    const change = changes.find(([m, s]) => m.market_id === market.market_id
      && s.selection_id === sel.selection_id);
    prices.append(priceButton(market, sel, open, label, change));
  }
  box.append(prices);
  return box;
}

function priceButton(market, sel, open, label, change) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "price";
  b.dataset.marketId = market.market_id;
  b.dataset.selectionId = sel.selection_id;
  b.dataset.price = sel.price;
  b.disabled = !open;
  b.setAttribute("aria-pressed", String(isPicked(market.market_id, sel.selection_id)));
  b.setAttribute("aria-label", `${sel.name} at ${sel.price}, ${market.name || ""}`
    + (open ? "" : ` (${label})`));
  b.append(text("span", sel.name), text("strong", String(sel.price)));
  if (change) b.classList.add(Number(sel.price) > Number(change[2]) ? "up" : "down");
  b.addEventListener("click", () => pickSelection(market, sel));
  return b;
}

function stopLabels() {
  return new Map([...state.markets.values()].map((m) => [m.market_id, stopLabel(state.event, m)]));
}

function announceStops(before) {
  // Screen readers hear a bet stop (and its end) once, not on every re-render.
  const said = [];
  for (const [marketId, label] of stopLabels()) {
    if (!before.has(marketId) || before.get(marketId) === label) continue;
    const name = state.markets.get(marketId).name || marketId;
    said.push(label ? `${name}: ${label}` : `${name}: open again`);
  }
  if (said.length) $("odds-announce").textContent = `${said.slice(0, 4).join(". ")}.`;
}

function announceOdds(changes) {
  const said = changes.slice(0, 3).map(([, s, before]) => `${s.name} ${before} to ${s.price}`);
  if (changes.length > 3) said.push(`and ${changes.length - 3} more`);
  $("odds-announce").textContent = `Odds changed: ${said.join(", ")}.`;
}
