// Logging in and out: the session token lives in sessionStorage (this tab only).

import { Problem, api } from "./api.js";
import { $ } from "./dom.js";
import { TOKEN_KEY, state } from "./state.js";

export function showLogin(message) {
  $("login-panel").hidden = false;
  $("app").hidden = true;
  $("account").hidden = true;
  $("skip").hidden = true;
  $("login-error").textContent = message || "";
  $("username").focus();
}

export function forgetSession() {
  state.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
}

/** The login form's submit handler: opens a session, then awaits `onSignedIn()`. */
export function loginHandler(onSignedIn) {
  return async (event) => {
    event.preventDefault();
    const button = event.submitter || $("login-form").querySelector("button");
    button.disabled = true;
    $("login-error").textContent = "";
    try {
      const session = await api("/v1/sessions", {
        method: "POST", noLogout: true,
        body: { username: $("username").value.trim(), password: $("password").value },
      });
      state.token = session.token;
      sessionStorage.setItem(TOKEN_KEY, session.token);
      $("password").value = "";
      await onSignedIn();
    } catch (err) {
      $("login-error").textContent = err instanceof Problem
        ? `${err.code}: ${err.message}` : `Could not log in: ${err.message}`;
    } finally {
      button.disabled = false;
    }
  };
}
