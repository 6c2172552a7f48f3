// Live updates without reloading the page.
//
// The study page asks /version every 2 s: a tiny query, where fetching every panel would be
// heavy for a big study. Only when the version moves (every scheduling decision bumps it:
// a report, a promotion, a new trial) are the panels fetched and redrawn in place.
// Polls are chained with setTimeout, not setInterval, so a slow server never gets a pile of
// overlapping requests, and a refresh that is still drawing is never started twice.

import { el, fmtTime, replace } from "./dom.js";

/** Show the connection state in the top bar's #live slot. */
export function setLiveStatus(kind, text, title = "") {
  const slot = document.getElementById("live");
  if (!slot) return;
  replace(slot, el("span", { class: `live live-${kind}`, title: title || null }, text));
}

/**
 * Call `poll()` every `interval` ms and hand each answer to `onAnswer`; when its `key` differs
 * from the last one seen, await `onChange(key, answer)` before polling again. `initial` is the
 * key already rendered. `onChange` may return the key it rendered instead: when that is not
 * the polled one (the server answered with older data), the next poll calls it again.
 * Returns a function that stops the loop.
 */
export function watch({ poll, key, onChange, onAnswer = () => {}, initial, interval = 2000 }) {
  let seen = initial;
  let stopped = false;
  let timer = null;

  async function tick() {
    // A hidden tab does not need fresh plots; it catches up as soon as it is shown again.
    if (document.visibilityState !== "hidden") {
      try {
        const answer = await poll();
        const current = key(answer);
        onAnswer(answer);
        setLiveStatus("ok", "live", `checked ${fmtTime(new Date().toISOString())}`);
        if (current !== seen) {
          // onChange may return the key it actually rendered (an older one: asked again).
          const rendered = await onChange(current, answer);
          seen = rendered === undefined ? current : rendered;
        }
      } catch (error) {
        setLiveStatus("error", "disconnected", error.message);
      }
    }
    if (!stopped) timer = setTimeout(tick, interval);
  }

  timer = setTimeout(tick, interval);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
