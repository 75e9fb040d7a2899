// HTTP to our own API: the bearer token on every call, problem+json errors as Problem.

import { state } from "./state.js";

export class Problem extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.title)) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.code = this.body.code || `HTTP_${status}`;
  }
}

let unauthorized = () => {};

/** Who to tell when the server says the session is over (a 401). */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

export function sessionEnded() {
  unauthorized();
}

/** The Authorization header value for the current session, or null when logged out. */
export function authorization() {
  return state.token ? `Bearer ${state.token}` : null;
}

export async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (authorization()) headers.Authorization = authorization();
  let body = options.body;
  if (body !== undefined && typeof body !== "string") {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(body);
  }
  const response = await fetch(path, {
    method: options.method || "GET", headers, body, signal: options.signal,
    keepalive: options.keepalive || false, cache: "no-store",
  });
  if (options.raw) return response;
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json().catch(() => null) : null;
  if (response.status === 401 && !options.noLogout) sessionEnded();
  if (!response.ok) throw new Problem(response.status, data);
  return data;
}

export async function problemOf(response) {
  const data = await response.json().catch(() => null);
  return new Problem(response.status, data);
}
