// The player's wallet (in the header) and their recent bets (the "My bets" table).

import { Problem, api } from "./api.js";
import { $, sleep, text } from "./dom.js";
import { state } from "./state.js";

const ACCOUNT_REFRESH_MS = 5000;

export async function refreshAccount() {
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

export async function refreshBets() {
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

export async function accountLoop() {
  while (!state.stopped) {
    await sleep(ACCOUNT_REFRESH_MS);
    if (!state.stopped) refreshAccount();
  }
}
