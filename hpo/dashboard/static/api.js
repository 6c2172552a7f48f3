// The JSON API, with the reader token when one is needed.
//
// Only /api needs auth. The token is kept in sessionStorage: it survives reloads and page
// changes in this tab, but is gone when the tab closes and is never sent to another origin.
// When the server answers 401, the page shows a small form (in #auth) to paste a token, and
// every request that got the 401 is retried once the form is submitted.

import { el, replace } from "./dom.js";

const TOKEN_KEY = "hpo.dashboard.token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status; // 0: no answer (server down, network)
  }
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
  renderTokenStatus();
}

/** A query string from an object, skipping empty values. */
export function query(params = {}) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "") continue;
    search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** The path of one study's endpoint; the name is encoded (it is data, not part of the URL). */
export function studyPath(name, suffix = "") {
  return `/api/studies/${encodeURIComponent(name)}${suffix}`;
}

async function request(path) {
  const token = getToken();
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    return await fetch(path, { headers, cache: "no-store" });
  } catch (error) {
    throw new ApiError(0, `no answer from the dashboard server (${error.message})`);
  }
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    if (body && typeof body.error === "string") return body.error;
  } catch {
    // not JSON: fall back to the status line
  }
  return `${response.status} ${response.statusText}`;
}

/** GET a JSON endpoint. On 401, waits for a token from the form and tries again. */
export async function api(path, params) {
  const url = path + query(params);
  for (;;) {
    const sent = getToken();
    const response = await request(url);
    if (response.status === 401) {
      // Refused with a token that has been replaced since (the form was answered while this
      // request was in flight): just retry with the new one.
      if (getToken() && getToken() !== sent) continue;
      await askForToken(await errorMessage(response));
      continue;
    }
    if (!response.ok) throw new ApiError(response.status, await errorMessage(response));
    return response.json();
  }
}

/** Download an export. A plain link cannot send the Authorization header, so with a token the
 * file is fetched here and handed to the browser as a blob; without one the link just works. */
export async function download(url, filename) {
  const response = await request(url);
  if (response.status === 401) {
    await askForToken(await errorMessage(response));
    return download(url, filename);
  }
  if (!response.ok) throw new ApiError(response.status, await errorMessage(response));
  const blob = URL.createObjectURL(await response.blob());
  const link = el("a", { href: blob, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(blob), 10000);
}

// One form for all the requests that are waiting: the first 401 shows it, later ones join.
let waiting = null;

function askForToken(message) {
  if (waiting) return waiting.promise;
  let resolve;
  const promise = new Promise((done) => (resolve = done));
  waiting = { promise };
  const box = document.getElementById("auth");
  const input = el("input", {
    type: "password", id: "token-input", autocomplete: "off", spellcheck: "false",
    placeholder: "hpo reader token", size: 48,
  });
  const form = el("form", {
    class: "auth-form",
    onsubmit: (event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (!token) return;
      setToken(token);
      replace(box);
      box.hidden = true;
      waiting = null;
      resolve();
    },
  },
  el("div", {}, el("strong", {}, "This dashboard needs a reader token. "),
    el("span", { class: "muted", id: "auth-message" }, message)),
  el("label", { for: "token-input" }, "Paste a reader token: "),
  input,
  el("button", { type: "submit" }, "Use token"),
  el("span", { class: "muted small" }, " kept in this browser tab only (sessionStorage)"));
  replace(box, form);
  box.hidden = false;
  if (getToken()) setToken(""); // the stored one was refused: forget it
  input.focus();
  return promise;
}

/** The "forget token" control in the top bar, shown while a token is stored. */
export function renderTokenStatus() {
  const slot = document.getElementById("token-status");
  if (!slot) return;
  if (!getToken()) {
    replace(slot);
    return;
  }
  replace(slot, el("button", {
    type: "button", class: "link", title: "Remove the reader token from this tab",
    onclick: () => { setToken(""); location.reload(); },
  }, "forget token"));
}
