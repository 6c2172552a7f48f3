// The study list (/): one row per study, refreshed every few seconds.
//
// The list is small (one row per study), so it is fetched whole and sorted and filtered here,
// in the browser; the sort and filter survive each refresh.

import { api, renderTokenStatus } from "./api.js";
import { DASH, badge, el, fmtNumber, replace, timeNode } from "./dom.js";
import { setLiveStatus } from "./live.js";

const REFRESH_MS = 3000;

const tbody = document.querySelector("#studies tbody");
const filter = document.getElementById("studies-filter");
let studies = [];
let sort = { field: "last_activity", order: "desc" }; // the busiest study first

const STATES = ["running", "paused", "pending", "completed", "stopped", "failed"];

function sortKey(study, field) {
  switch (field) {
    case "best": return study.best ? study.best.value : null;
    case "last_activity": case "created_at": return Date.parse(study[field]) || 0;
    default: return study[field];
  }
}

function compare(a, b) {
  const x = sortKey(a, sort.field);
  const y = sortKey(b, sort.field);
  // Missing values last, whatever the order.
  if (x === null || x === undefined) return y === null || y === undefined ? 0 : 1;
  if (y === null || y === undefined) return -1;
  const result = typeof x === "string" ? x.localeCompare(y) : x - y;
  return sort.order === "asc" ? result : -result;
}

function matches(study, text) {
  if (!text) return true;
  const haystack = [study.name, study.state, study.algorithm, study.metric, study.description]
    .join(" ").toLowerCase();
  return text.toLowerCase().split(/\s+/).every((word) => haystack.includes(word));
}

function row(study) {
  const counts = study.counts || {};
  const byState = STATES.filter((state) => counts[state]).map((state) =>
    el("span", { class: `count count-${state}`, title: state }, `${counts[state]} ${state}`));
  const best = study.best;
  const href = `/studies/${encodeURIComponent(study.name)}`;
  const resource = study.resource || {};
  return el("tr", { "data-study": study.name },
    el("td", { class: "name" }, el("a", { href }, study.name)),
    el("td", { class: "state", "data-value": study.state }, badge(study.state)),
    el("td", { class: "algorithm" }, study.algorithm),
    el("td", { class: "objective" }, `${study.direction === "maximize" ? "max" : "min"} ${study.metric}`),
    el("td", { class: "trials num", "data-value": study.n_trials }, String(study.n_trials)),
    el("td", { class: "by-state" }, byState.length ? byState : DASH),
    el("td", {
      class: "best num", "data-value": best ? best.value : "",
      title: best ? `trial #${best.trial} at ${resource.name || "resource"} ${fmtNumber(best.resource)}` : null,
    }, best ? fmtNumber(best.value) : DASH,
    best ? el("small", { class: "muted" }, ` #${best.trial} @ ${fmtNumber(best.resource)}`) : null),
    el("td", { class: "workers num", "data-value": study.running_workers }, String(study.running_workers ?? 0)),
    el("td", { class: "activity" }, timeNode(study.last_activity)),
    el("td", { class: "created" }, timeNode(study.created_at, false)));
}

function render() {
  const shown = studies.filter((s) => matches(s, filter.value.trim())).sort(compare);
  for (const th of document.querySelectorAll("#studies th[data-sort]")) {
    if (th.dataset.sort === sort.field) {
      th.setAttribute("aria-sort", sort.order === "asc" ? "ascending" : "descending");
    } else th.removeAttribute("aria-sort");
  }
  replace(tbody, shown.length ? shown.map(row) : el("tr", { class: "empty" },
    el("td", { colspan: 10 }, studies.length
      ? "No study matches the filter."
      : "No studies yet. Create one with: hpo study create --spec study.json")));
  const running = studies.filter((s) => s.state === "running").length;
  replace(document.getElementById("studies-note"), `${studies.length} studies, ${running} running`);
}

async function refresh() {
  try {
    studies = (await api("/api/studies")).studies;
    replace(document.getElementById("studies-error"));
    setLiveStatus("ok", "live");
    render();
  } catch (error) {
    setLiveStatus("error", "disconnected", error.message);
    replace(document.getElementById("studies-error"),
      el("p", { class: "error" }, `Could not load the studies: ${error.message}`));
  }
}

for (const th of document.querySelectorAll("#studies th[data-sort]")) {
  th.tabIndex = 0;
  th.addEventListener("click", () => {
    const field = th.dataset.sort;
    sort = sort.field === field
      ? { field, order: sort.order === "asc" ? "desc" : "asc" }
      : { field, order: ["name", "state", "algorithm", "metric"].includes(field) ? "asc" : "desc" };
    render();
  });
}
filter.addEventListener("input", render);

async function loop() {
  await refresh();
  setTimeout(loop, REFRESH_MS); // chained, so a slow answer never overlaps the next request
}

renderTokenStatus();
refresh().then(() => {
  document.body.dataset.ready = "1";
  setTimeout(loop, REFRESH_MS);
});
