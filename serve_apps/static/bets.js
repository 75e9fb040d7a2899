// Placing the slip's bet and showing what became of it. The outcome is also written to
// #slip-result's data-* attributes (code, betId, status) for scripts and tests.

import { refreshAccount, refreshBets } from "./account.js";
import { api, problemOf, sessionEnded } from "./api.js";
import { $, code, sleep, words } from "./dom.js";
import { renderSlip, slipStop, syncSlipWithMarket } from "./slip.js";
import { state } from "./state.js";

export async function placeBet(event) {
  event.preventDefault();
  const s = state.slip;
  if (!s) return;
  const stop = slipStop();
  if (stop) { // a bet stop: the server would refuse it, so it is not sent
    showResult("bad", [code(stop.code), words(`: ${stop.label} — bets on this market are stopped`)],
      { code: stop.code, status: "rejected" });
    return;
  }
  const stake = $("stake").value.trim();
  const policy = new FormData($("slip")).get("odds_change") || "none";
  const body = { event_id: s.event_id || state.eventId, market_id: s.market_id,
    selection_id: s.selection_id, stake, price: s.price, price_version: s.price_version, odds_change: policy };
  state.placing = true;
  $("place").disabled = true;
  showResult("wait", [words("Placing your bet…")]);
  try {
    const response = await api("/v1/bets", { method: "POST", raw: true, body,
      headers: { "Idempotency-Key": crypto.randomUUID() } });
    if (response.status === 201 || response.status === 202) {
      const bet = await response.json();
      showBet(bet);
      refreshAccount();
      if (bet.status === "pending") followPending(bet.bet_id);
    } else {
      if (response.status === 401) sessionEnded();
      showRejection(await problemOf(response), response.headers.get("Retry-After"));
    }
  } catch (err) {
    showResult("bad", [code("NETWORK"), words(` ${err.message}`)], { code: "NETWORK", status: "error" });
  } finally {
    state.placing = false;
    $("place").disabled = false;
    syncSlipWithMarket(); // still stopped? then it stays disabled
  }
}

function showResult(kind, parts, data = {}) {
  const root = $("slip-result");
  for (const key of ["code", "betId", "status"]) {
    if (data[key] === undefined) delete root.dataset[key]; else root.dataset[key] = data[key];
  }
  const box = document.createElement("div");
  box.className = `result ${kind}`;
  box.append(...parts);
  root.replaceChildren(box);
}

function showBet(bet) {
  const about = { betId: bet.bet_id, status: bet.status };
  if (bet.status === "accepted" || bet.status === "won" || bet.status === "lost") {
    showResult("ok", [words("Bet "), code(bet.status.toUpperCase()),
      words(`: ${bet.stake ?? ""} at ${bet.price ?? ""}`
        + (bet.potential_payout ? `, pays ${bet.potential_payout}` : "") + ` (bet ${bet.bet_id})`)], about);
  } else if (bet.status === "pending") {
    showResult("wait", [words("Bet "), code("PENDING"),
      words(` — in-play delay${bet.accept_after ? ` until ${bet.accept_after}` : ""} (bet ${bet.bet_id})`)], about);
  } else if (bet.status === "rejected") {
    const why = bet.reason || bet.code || "UNKNOWN";
    showResult("bad", [words("Bet "), code("REJECTED"), words(" "), code(why),
      words(bet.detail ? `: ${bet.detail}` : "")], { ...about, code: why });
  } else {
    showResult("ok", [words(`Bet ${bet.bet_id}: ${bet.status}`)], about);
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
  const parts = [code(problem.code), words(`: ${b.detail || b.title || problem.message}`)];
  if (b.price !== undefined) {
    parts.push(words(` — current price ${b.price}`
      + (b.price_version !== undefined ? ` (version ${b.price_version})` : "")));
    if (state.slip) { // offer the new price; the player decides whether to place again
      state.slip.price = String(b.price);
      if (b.price_version !== undefined) state.slip.price_version = b.price_version;
      renderSlip();
    }
  }
  if (b.max_stake !== undefined) parts.push(words(` — maximum stake ${b.max_stake}`));
  if (retryAfter) parts.push(words(` — retry after ${retryAfter} s`));
  if (Array.isArray(b.errors) && b.errors.length) {
    parts.push(words(` — ${b.errors.map((e) => e.msg || JSON.stringify(e)).join("; ")}`));
  }
  showResult("bad", parts, { code: problem.code, status: "rejected" });
}
