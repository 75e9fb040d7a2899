// The bet slip: the price the player chose, kept (and shown) until they place or clear it.

import { $ } from "./dom.js";
import { state } from "./state.js";

export function isPicked(marketId, selectionId) {
  const s = state.slip;
  return !!s && String(s.market_id) === String(marketId) && String(s.selection_id) === String(selectionId);
}

export function pickSelection(market, sel) {
  state.slip = { market_id: market.market_id, selection_id: sel.selection_id, name: sel.name,
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
}

export function syncSlipWithMarket() {
  // The slip keeps the price the player chose; a changed price is shown, not silently taken.
  const s = state.slip;
  if (!s) return;
  const market = state.markets.get(s.market_id);
  const sel = market && (market.selections || []).find((x) => x.selection_id === s.selection_id);
  const note = sel && String(sel.price) !== s.price ? ` now ${sel.price}` : "";
  $("slip-version").textContent = versionText(s) + note;
}

export function clearSlip() {
  state.slip = null;
  $("slip").hidden = true;
  $("slip-empty").hidden = false;
  markPicked();
}

function versionText(s) {
  return s.price_version === undefined ? "" : `(version ${s.price_version})`;
}

function markPicked() {
  for (const button of $("markets").querySelectorAll(".market .price")) {
    const marketId = button.closest(".market").dataset.marketId;
    button.setAttribute("aria-pressed", String(isPicked(marketId, button.dataset.selectionId)));
  }
}
