// The event as the page knows it, and the odds stream's messages applied to it in order.
// Pure (no DOM, no network): odds.js renders what this decides, tests/unit/test_web_js.py
// checks the ordering in node.
//
// `book` is any object with {version, event, markets: Map(market_id -> market)} (the page uses
// its shared state). Every message carries the event's public version; one that is not above
// the last applied is ignored, so the page never goes back in time. A snapshot (the stream's
// first message, or GET /v1/events/{id}) replaces everything. A message without a version
// (an older server) cannot be ordered and is applied as it comes.

export const STATUS_LABELS = { in_play: "In play", scheduled: "Scheduled", suspended: "Suspended",
  closed: "Closed" };

const CAUSES = { feed_lost: "feed lost", event: "event suspended" };

export function emptyBook() {
  return { version: null, event: null, markets: new Map() };
}

export function resetBook(book) {
  book.version = null;
  book.event = null;
  book.markets = new Map();
}

export function versionOf(data) {
  if (!data || data.version === undefined || data.version === null || data.version === "") return null;
  const v = Number(data.version);
  return Number.isFinite(v) ? v : null;
}

/**
 * Applies one message ("snapshot" | "odds" | "status" | "score") to `book`.
 * Returns {applied, stale, reload, closed, changes}: `stale` when its version is not above
 * the last applied (ignored), `reload` when it names something the book does not know (read
 * the event again), `closed` when the event is now closed, `changes` the prices that moved:
 * [[market, selection, previous price]].
 */
export function applyMessage(book, type, data) {
  const result = { applied: false, stale: false, reload: false, closed: false, changes: [] };
  if (!data || typeof data !== "object") return { ...result, reload: true };
  const version = versionOf(data);
  if (version !== null && book.version !== null && version <= book.version) {
    return { ...result, stale: true };
  }
  if (type === "snapshot") applySnapshot(book, data, result);
  else if (type === "odds") applyOdds(book, data, result);
  else if (type === "status") applyStatus(book, data, result);
  else if (type === "score") applyScore(book, data, result);
  else return result; // a kind this page does not know: not applied, the version not taken
  if (!result.applied) return result;
  if (version !== null) book.version = version;
  result.closed = !!book.event && book.event.status === "closed";
  return result;
}

function applySnapshot(book, data, result) {
  if (!Array.isArray(data.markets)) { result.reload = true; return; }
  const { markets, ...event } = data;
  const before = book.markets;
  book.event = event;
  book.markets = new Map();
  for (const market of markets) {
    const copy = { ...market, cause: market.cause || "",
      selections: (market.selections || []).map((s) => ({ ...s, price: String(s.price) })) };
    const old = before.get(copy.market_id);
    for (const sel of copy.selections) {
      const was = old && (old.selections || []).find((s) => s.selection_id === sel.selection_id);
      if (was && String(was.price) !== sel.price) result.changes.push([copy, sel, String(was.price)]);
    }
    book.markets.set(copy.market_id, copy);
  }
  result.applied = true;
}

function applyOdds(book, data, result) {
  const market = book.event && book.markets.get(data.market_id);
  if (!market || !data.prices || typeof data.prices !== "object") { result.reload = true; return; }
  const next = { ...market, selections: (market.selections || []).map((s) => ({ ...s })) };
  if (data.market_version !== undefined && data.market_version !== null) {
    next.version = data.market_version;
  }
  for (const [selectionId, price] of Object.entries(data.prices)) {
    const sel = next.selections.find((s) => s.selection_id === selectionId);
    if (!sel) { result.reload = true; continue; }
    if (String(sel.price) !== String(price)) {
      result.changes.push([next, { ...sel, price: String(price) }, String(sel.price)]);
      sel.price = String(price);
    }
  }
  book.markets.set(next.market_id, next);
  result.applied = true;
}

function applyStatus(book, data, result) {
  if (!book.event) { result.reload = true; return; }
  const event = { ...book.event };
  if (typeof data.status === "string" && data.status) event.status = data.status;
  book.event = event;
  const cause = typeof data.cause === "string" ? data.cause : "";
  const named = data.market_id === undefined || data.market_id === null ? null : data.market_id;
  if (named !== null && !book.markets.has(named)) result.reload = true;
  for (const [marketId, status] of Object.entries(data.markets || {})) {
    const market = book.markets.get(marketId);
    if (!market) { result.reload = true; continue; }
    const next = { ...market, status };
    if (status !== "suspended") next.cause = "";
    else if (named === marketId) next.cause = cause; // this market's own bet stop
    else if (market.status !== "suspended") {
      // suspended with the event (an operator's suspension, a lost feed)
      next.cause = named === null ? cause || (event.status === "suspended" ? "event" : "") : "";
    } // else: still suspended for its own earlier reason
    book.markets.set(marketId, next);
  }
  result.applied = true;
}

function applyScore(book, data, result) {
  if (!book.event) { result.reload = true; return; }
  book.event = { ...book.event, score: data.score ?? "" };
  result.applied = true;
}

/** Whether bets can be taken on `market` of `event` right now. */
export function marketOpen(event, market) {
  if (!market || (market.status && market.status !== "open")) return false;
  return !event || !["suspended", "closed"].includes(event.status);
}

/** What a person should read on a market that takes no bets ("" when it is open). */
export function stopLabel(event, market) {
  if (!market) return "";
  const status = market.status || "open";
  if (status === "open") {
    if (event && event.status === "suspended") return `Bet stop — ${causeText("event")}`;
    if (event && event.status === "closed") return "Closed";
    return "";
  }
  if (status === "suspended") return market.cause ? `Bet stop — ${causeText(market.cause)}` : "Bet stop";
  if (status === "settled") return "Settled";
  if (status === "voided") return "Void";
  if (status === "closed") return "Closed";
  return status;
}

export function causeText(cause) {
  return CAUSES[cause] || String(cause).replace(/_/g, " ");
}

/** The refusal code the server would give for a bet on `market` now (null: none). */
export function stopCode(event, market) {
  if (marketOpen(event, market)) return null;
  const status = market ? market.status : "closed";
  if (status === "suspended" || (status === "open" && event && event.status === "suspended")) {
    return "MARKET_SUSPENDED";
  }
  return "MARKET_CLOSED";
}
