// The page's shared state: one object, read and written by the modules (and, through
// window.state, by people and browser tests poking at the page).

export const TOKEN_KEY = "inplay.token";

export const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  eventId: null,
  event: null,
  markets: new Map(), // market_id -> market (with selections)
  slip: null, // {market_id, selection_id, name, market_name, price, price_version}
  lastEventId: null,
  feed: null, // "sse" | "poll"
  stopped: false,
  video: null, // the running video controller (has stop())
};
