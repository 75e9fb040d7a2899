// The player's wallet (in the header) and their recent bets (the "My bets" table).
// Each bet is labelled with its own event's names: the shown event's from the page, any other
// event's read once (GET /v1/events/{id}) and kept; its ids when that cannot be read.

import { Problem, api } from "./api.js";
import { $, sleep, text } from "./dom.js";
import { state } from "./state.js";

const ACCOUNT_REFRESH_MS = 5000;
const NAMES_RETRY_MS = 60000; // a failed read (not a 404) may be tried again after this

// event_id -> {name, markets: Map(market_id -> {name, selections: Map(id -> name)})}
//           | {pending: Promise} | {failed: true, at, final}
const names = new Map();
let lastBets = [];

export async function refreshAccount() {
  await refreshWallet();
  refreshBets();
}

export async function refreshWallet() {
  try {
    const wallet = await api("/v1/wallet");
    const currency = wallet.currency ? ` ${wallet.currency}` : "";
    $("balance").textContent = `${wallet.balance}${currency}`;
    $("reserved").textContent = `${wallet.reserved}${currency}`;
  } catch (err) {
    $("balance").textContent = err instanceof Problem ? err.code : "unavailable";
  }
}

export async function refreshBets() {
  let data;
  try { data = await api("/v1/bets?limit=20"); } catch { return; }
  lastBets = Array.isArray(data) ? data : (data && data.items) || [];
  renderBets();
  const missing = [...new Set(lastBets.map((b) => b.event_id))].filter((id) => id && needsNames(id));
  if (missing.length) {
    await Promise.all(missing.map(fetchNames));
    renderBets();
  }
}

/** The names of an event the page has read (a snapshot): kept for its bets. */
export function rememberEventNames(event, markets) {
  if (!event || !event.event_id) return;
  const known = new Map();
  for (const m of markets.values()) {
    known.set(m.market_id, { name: m.name || m.market_id,
      selections: new Map((m.selections || []).map((s) => [s.selection_id, s.name || s.selection_id])) });
  }
  names.set(event.event_id, { name: event.name || event.event_id, markets: known });
  if (lastBets.some((b) => b.event_id === event.event_id)) renderBets();
}

function needsNames(eventId) {
  if (eventId === state.eventId) return false; // the shown event: its snapshot brings them
  const entry = names.get(eventId);
  if (!entry) return true;
  return !!entry.failed && !entry.final && Date.now() - entry.at > NAMES_RETRY_MS;
}

function fetchNames(eventId) {
  const entry = names.get(eventId);
  if (entry && entry.pending) return entry.pending;
  const pending = api(`/v1/events/${encodeURIComponent(eventId)}`).then((event) => {
    const markets = new Map((event.markets || []).map((m) => [m.market_id, m]));
    rememberEventNames({ ...event, event_id: event.event_id || eventId }, markets);
  }).catch((err) => {
    const final = err instanceof Problem && err.status === 404;
    names.set(eventId, { failed: true, at: Date.now(), final });
  });
  names.set(eventId, { pending });
  return pending;
}

/** {event, market, selection} names of a bet (its ids where a name is unknown). */
export function betNames(bet) {
  const entry = names.get(bet.event_id);
  const market = entry && entry.markets && entry.markets.get(bet.market_id);
  const selection = market && market.selections.get(bet.selection_id);
  return {
    event: (entry && entry.name) || bet.event_id || "",
    market: (market && market.name) || bet.market_id || "",
    selection: selection || bet.selection_id || bet.bet_id,
  };
}

function renderBets() {
  const rows = lastBets.map((bet) => {
    const tr = document.createElement("tr");
    tr.dataset.betId = bet.bet_id;
    tr.dataset.status = bet.status;
    tr.dataset.eventId = bet.event_id || "";
    const label = betNames(bet);
    const what = document.createElement("td");
    const detail = document.createElement("span");
    detail.className = "muted small bet-detail";
    detail.append(text("span", label.market, "bet-market"), text("span", " · "),
      text("span", label.event, "bet-event"));
    what.append(text("span", label.selection, "bet-selection"), detail);
    tr.append(what, text("td", bet.stake ?? ""), text("td", bet.price ?? ""),
      text("td", bet.status + (bet.reason ? ` (${bet.reason})` : "")));
    return tr;
  });
  $("bets").querySelector("tbody").replaceChildren(...rows);
  $("bets-empty").hidden = rows.length > 0;
}

export function forgetBets() {
  lastBets = [];
}

export async function accountLoop(run) {
  while (!run.stopped) {
    await sleep(ACCOUNT_REFRESH_MS);
    if (!run.stopped) refreshAccount();
  }
}
