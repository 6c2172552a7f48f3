// DOM and formatting helpers shared by both pages.
//
// Every string the API returns is untrusted: study names, parameter names, categorical
// choices, worker ids, failure reasons and, above all, LLM answers. So the pages never use
// innerHTML: `el` builds nodes and puts strings in text nodes, which the browser never parses.

/** Create an element. `attrs`: attributes ("class", "data-*", "title"...), `on<event>` handlers,
 * or `text`. Children: nodes, strings (as text), arrays of them; null/false are skipped. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "text") {
      node.textContent = String(value);
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace all children of `node` (a cheap re-render for small sections). */
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

export const DASH = "\u2014";

/** A number for a table cell: integers as they are, others with 6 significant digits
 * (enough to tell two losses apart, short enough for a dense table). */
export function fmtNumber(value, digits = 6) {
  if (value === null || value === undefined || value === "") return DASH;
  if (typeof value !== "number") return String(value);
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return String(value);
  return String(Number.parseFloat(value.toPrecision(digits)));
}

/** One configuration value: floats shortened, everything else as JSON would show it. */
function fmtValue(value) {
  if (typeof value === "number") return fmtNumber(value, 4);
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

/** A configuration on one line: "lr=0.0012, units=64, act=relu". */
export function fmtConfig(config) {
  if (!config) return DASH;
  return Object.entries(config)
    .map(([key, value]) => `${key}=${fmtValue(value)}`)
    .join(", ");
}

const pad = (n, width = 2) => String(n).padStart(width, "0");

/** An ISO timestamp in the viewer's local time: "2025-01-31 14:05:09". */
export function fmtTime(iso) {
  if (!iso) return DASH;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/** "4 s ago", "3 min ago", "2 h ago", "5 d ago": how fresh a study is, at a glance. */
export function fmtAgo(iso, now = Date.now()) {
  if (!iso) return DASH;
  const seconds = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (Number.isNaN(seconds)) return String(iso);
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

/** A time cell: relative time shown, exact local time on hover. */
export function timeNode(iso, relative = true) {
  return el("time", { datetime: iso || null, title: iso ? fmtTime(iso) : null },
    relative ? fmtAgo(iso) : fmtTime(iso));
}

/** A coloured state/outcome/source label. The class is derived from a known list only, so an
 * unexpected value from the API cannot inject a class name. */
const BADGES = new Set([
  "running", "paused", "pending", "completed", "stopped", "failed", "finished",
  "promoted", "random", "model", "prior", "llm", "transfer", "user", "incumbent",
]);
export function badge(value) {
  const known = BADGES.has(value) ? ` badge-${value}` : "";
  return el("span", { class: `badge${known}` }, value ?? DASH);
}

/** Call `fn` once the calls stop for `ms` (filter inputs: one request per pause in typing). */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
