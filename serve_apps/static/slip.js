// The bet slip: the price the player chose, kept (and shown) until they place or clear it.
// A selection whose market is stopped (suspended, closed) cannot be placed: the slip says why.

import { $ } from "./dom.js";
import { stopCode, stopLabel } from "./model.js";
import { state } from "./state.js";

export function isPicked(marketId, selectionId) {
  const s = state.slip;
  return !!s && String(s.market_id) === String(marketId) && String(s.selection_id) === String(selectionId);
}

export function pickSelection(market, sel) {
  state.slip = { event_id: state.eventId, market_id: market.market_id, selection_id: sel.selection_id, name: sel.name,
    market_name: market.name, price: String(sel.price), price_version: market.version };
  $("slip").hidden = false;
  $("slip-empty").hidden = true;
  renderSlip();
  markPicked();
  $("stake").focus();
}

export function renderSlip() {
  const s = state.slip;
  if (!s) return;
  $("slip-selection").textContent = `${s.name} — ${s.market_name || s.market_id}`;
  $("slip-price").textContent = s.price;
  $("slip-version").textContent = versionText(s);
  syncSlipWithMarket();
}

/** Why the slip's selection cannot be bet on now: {code, label}, or null when it can. */
export function slipStop() {
  const s = state.slip;
  if (!s) return null;
  const market = state.markets.get(s.market_id);
  const code = stopCode(state.event, market);
  if (!code) return null;
  return { code, label: market ? stopLabel(state.event, market) || "Closed" : "Closed" };
}

export function syncSlipWithMarket() {
  // The slip keeps the price the player chose; a changed price is shown, not silently taken.
  const s = state.slip;
  if (!s) return;
  const market = state.markets.get(s.market_id);
  const sel = market && (market.selections || []).find((x) => x.selection_id === s.selection_id);
  const note = sel && String(sel.price) !== s.price ? ` now ${sel.price}` : "";
  $("slip-version").textContent = versionText(s) + note;
  const stop = slipStop();
  $("slip-stop").textContent = stop ? `${stop.label}: bets on this market are stopped.` : "";
  $("slip-stop").hidden = !stop;
  $("place").disabled = !!stop || state.placing === true;
}

export function clearSlip() {
  state.slip = null;
  $("slip").hidden = true;
  $("slip-empty").hidden = false;
  $("slip-stop").textContent = "";
  $("slip-stop").hidden = true;
  markPicked();
}

function versionText(s) {
  return s.price_version === undefined ? "" : `(version ${s.price_version})`;
}

function markPicked() {
  for (const button of $("markets").querySelectorAll(".market .price")) {
    button.setAttribute("aria-pressed", String(isPicked(button.dataset.marketId, button.dataset.selectionId)));
  }
}
