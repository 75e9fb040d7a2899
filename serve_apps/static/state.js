// The page's shared state: one object, read and written by the modules (and, through
// window.state, by people and browser tests poking at the page).

export const TOKEN_KEY = "inplay.token";

export const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  eventId: null, // the event shown (?event=ID pins it; else the one in play, then the next)
  event: null, // the event without its markets: {event_id, name, sport, status, starts_at, score}
  markets: new Map(), // market_id -> market (with selections, status and bet-stop cause)
  version: null, // the event's public version last applied (the odds stream's id)
  slip: null, // {event_id, market_id, selection_id, name, market_name, price, price_version}
  placing: false, // a bet is being placed
  feed: null, // "live" | "reconnecting"
  stopped: false,
  video: null, // the running video controller (has stop())
  odds: null, // the running odds feed (has stop())
};
