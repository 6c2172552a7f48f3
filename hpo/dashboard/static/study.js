// The study page (/studies/{name}): header, plots, priors and the trial table, kept live.
//
// First load: the study, then every panel in parallel; once all have rendered (or shown their
// error), body[data-ready="1"] and body[data-version] tell tests and the benchmark the page is
// complete. Afterwards live.js polls /version and refreshes the panels in place.

import { ApiError, api, download, getToken, query, renderTokenStatus, studyPath } from "./api.js";
import { DASH, badge, el, fmtAgo, fmtNumber, fmtTime, replace } from "./dom.js";
import { setLiveStatus, watch } from "./live.js";
import { MAX_PARAMETERS, drawParams } from "./params.js";
import { chartsLoaded, drawError } from "./charts.js";
import { drawCurves, drawHistory, drawImportance, drawRungs } from "./plots.js";
import { drawPareto, metricLabel } from "./pareto.js";
import { renderPriors } from "./priors.js";
import { drawScaling, scalingFailed } from "./scaling.js";
import { TrialTable } from "./table.js";

// The figures' sizes (best-so-far steps, learning curves, trials in the parameter plots) are
// the API's defaults, which the dashboard prepares when it starts (hpo/dashboard/warmup.py).

// How old a figure the page accepts while the dashboard computes the study's current one (a
// big study's take a second after every report): the answer's `version` says what it shows,
// and the live loop asks again until every figure shows the version it polled.
const STALE_SECONDS = 60;

// /studies/{name}: the name is percent-encoded in the path.
const name = decodeURIComponent(location.pathname.replace(/^\/studies\//, "").replace(/\/$/, ""));
document.title = `${name} \u00b7 hpo`;

let study = null;
let table = null;

// ---------------------------------------------------------------- header

function renderHeader() {
  const s = study;
  const r = s.resource || {};
  replace(document.getElementById("study-name"), s.name);
  replace(document.getElementById("crumb-study"), s.name);
  replace(document.getElementById("study-state"), badge(s.state));
  const spec = s.spec || {};
  const facts = [
    ["algorithm", s.algorithm],
    ["mode", `${spec.asha_mode || "promotion"}, brackets ${spec.bracket_split || "hyperband"}`],
    ["budget", spec.max_trials ? `${s.n_trials} / ${spec.max_trials} trials` : "no limit"],
    ...objectiveFacts(s),
    ["resource", `${r.name} ${fmtNumber(r.r_min)} \u2192 ${fmtNumber(r.r_max)}, \u03b7 = ${fmtNumber(r.eta)}`],
    ["rungs", (s.levels || []).map((l) => fmtNumber(l)).join(" \u00b7 ") || DASH],
    ["created", fmtTime(s.created_at)],
  ];
  replace(document.getElementById("study-facts"), facts.map(([label, value]) =>
    el("span", { class: "fact" }, el("span", { class: "label" }, label), " ", value)));

  // Counts per state: clicking one filters the table to that state.
  const counts = s.counts || {};
  replace(document.getElementById("study-counts"),
    el("span", { class: "fact" }, el("span", { class: "label" }, "trials"), " ",
      el("strong", { id: "study-trials" }, String(s.n_trials))),
    ["running", "paused", "pending", "completed", "stopped", "failed"].map((state) =>
      el("button", {
        type: "button", class: `count count-${state}${counts[state] ? "" : " zero"}`,
        "data-state": state, title: `show the ${state} trials`,
        onclick: () => {
          table.setFilter("state", table.query.state === state ? "" : state);
          document.getElementById("panel-trials").scrollIntoView({ behavior: "smooth" });
        },
      }, `${state} ${counts[state] ?? 0}`)),
    el("span", { class: "fact" }, el("span", { class: "label" }, "workers"), " ",
      el("strong", { id: "study-workers" }, String(s.running_workers ?? 0))),
    el("span", { class: "fact", id: "study-activity" }),
    el("span", { class: "fact" }, el("span", { class: "label" }, "version"), " ", String(s.version)));
  renderActivity(s.last_activity);

  const best = s.best;
  replace(document.getElementById("study-best"), best
    ? [el("span", { class: "label" }, `best ${s.metric}`), " ",
      el("strong", { class: "num", "data-value": best.value }, fmtNumber(best.value)),
      ` at ${r.name} ${fmtNumber(best.resource)}, trial #${best.trial}`]
    : el("span", { class: "muted" }, "no result yet"));

  const description = document.getElementById("study-description");
  replace(description, s.description || "");
  description.hidden = !s.description;
  replace(document.getElementById("study-spec"), JSON.stringify(s.spec, null, 2));
}

/** What the study optimises, for the header: its objective; or, for a study with several
 * objectives, outcome constraints or a cost, each of them. */
function objectiveFacts(s) {
  const spec = s.spec || {};
  const objectives = spec.objectives || [{ direction: s.direction, metric: s.metric }];
  const facts = [[objectives.length > 1 ? "objectives" : "objective",
    objectives.map((o) => `${o.direction} ${o.metric}`).join(" \u00b7 ")]];
  if (spec.constraints) {
    facts.push(["constraints",
      spec.constraints.map((c) => `${c.metric} ${c.op} ${fmtNumber(c.bound)}`).join(" \u00b7 ")]);
  }
  if (spec.cost) facts.push(["cost", spec.cost.metric || `${spec.cost.source} (measured)`]);
  return facts;
}

function renderActivity(lastActivity) {
  const slot = document.getElementById("study-activity");
  replace(slot, el("span", { class: "label" }, "last activity"), " ",
    el("time", { datetime: lastActivity, title: fmtTime(lastActivity) }, fmtAgo(lastActivity)));
}

function renderExports() {
  const links = [];
  for (const table of ["trials", "reports"]) {
    for (const format of ["csv", "json"]) {
      const url = studyPath(name, "/export") + query({ format, table });
      const filename = `${name}-${table}.${format}`;
      links.push(el("a", {
        href: url, download: filename, class: "export",
        // A plain link cannot carry the bearer token: with one, fetch the file instead.
        onclick: (event) => {
          if (!getToken()) return;
          event.preventDefault();
          download(url, filename).catch((error) => alert(`Export failed: ${error.message}`));
        },
      }, `${table}.${format}`));
    }
  }
  replace(document.getElementById("exports"), el("span", { class: "label" }, "export"), " ", links);
}

// ---------------------------------------------------------------- panels

function renderRungTable(data) {
  const rows = (data.rungs || []).map((r) => el("tr", {},
    el("td", {}, String(r.bracket)),
    el("td", {}, String(r.rung)),
    el("td", {}, fmtNumber(r.resource)),
    el("td", {}, String(r.reached)),
    el("td", {}, String(r.promoted)),
    el("td", {}, String(r.running_towards)),
    el("td", { class: "num" }, fmtNumber(r.threshold))));
  replace(document.querySelector("#rungs-table tbody"), rows.length
    ? rows : el("tr", {}, el("td", { colspan: 7, class: "muted" }, "no rung reached yet")));
}

function note(id, text) {
  replace(document.getElementById(id), text);
}

// The family's scaling laws change only with results of its studies and take the server a
// tenth of a second or more to fit: a live refresh asks for them at most once a minute.
const SCALING_REFRESH_MS = 60000;
let scalingAsked = null;

function scalingLaws() {
  const now = performance.now();
  if (!scalingAsked || now - scalingAsked.at > SCALING_REFRESH_MS) {
    const answer = api(studyPath(name, "/scaling"));
    scalingAsked = { at: now, answer };
    answer.catch(() => { if (scalingAsked?.answer === answer) scalingAsked = null; });
  }
  return scalingAsked.answer;
}

// Live refreshes come with every report, but most panels change far less often: a panel
// whose answer (and study shape) is the same as last time is not redrawn, so a tooltip the
// user is reading stays and an expanded LLM exchange does not jump while it is read.
const drawn = new Map();

// The panels, in drawing order. Every endpoint is fetched at once (see drawPanels).
const PANELS = [
  {
    name: "history",
    plots: ["plot-history-time", "plot-history-resource"],
    fetch: () => figure("/history"),
    render: (data) => drawHistory(study, data),
  },
  {
    name: "pareto",
    plots: ["plot-pareto"],
    shown: () => study.has_front,
    // Asked once the study says it has a front: a study of one value never asks.
    fetch: (known) => known.then((s) => (s.has_front ? figure("/pareto") : null)),
    note: (data) => note("pareto-note", paretoNote(data)),
    render: (data) => drawPareto(study, data),
  },
  {
    name: "curves",
    plots: ["plot-curves"],
    fetch: () => figure("/curves", { metric: curvesMetric() }),
    variant: () => curvesMetric(),
    note: (data) => note("curves-note", `${data.curves.length} trials: the leading ones and the latest`),
    render: (data) => drawCurves(study, data, curvesLabel()),
  },
  {
    name: "rungs",
    plots: ["plot-rungs"],
    fetch: () => figure("/rungs"),
    note: (data) => renderRungTable(data),
    render: (data) => drawRungs(study, data),
  },
  {
    name: "importance",
    plots: ["plot-importance"],
    fetch: () => figure("/importance"),
    note: (data) => {
      const allZero = data.importance.length > 0 && data.importance.every((i) => i.importance === 0);
      note("importance-note", data.reason
        ? data.reason
        : `at rung ${data.rung}, from ${data.n_trials} trials` +
          (allZero ? ": every importance is 0 (no parameter explains the results yet)" : ""));
      document.getElementById("panel-importance").classList.toggle("has-reason", Boolean(data.reason));
    },
    render: (data) => drawImportance(data),
  },
  {
    name: "priors",
    plots: [],
    fetch: () => api(studyPath(name, "/priors")),
    render: (data) => renderPriors(data),
    fail: (error) => replace(document.getElementById("priors"),
      el("p", { class: "error" }, `Could not load: ${error.message}`)),
  },
  {
    name: "params",
    plots: ["plot-parcoords", "plot-scatter"],
    fetch: () => figure("/params"),
    note: (data) => {
      const shown = data.parameters.length > MAX_PARAMETERS
        ? `; the first ${MAX_PARAMETERS} of ${data.parameters.length} parameters` : "";
      const rung = data.rung === null || data.rung === undefined
        ? "no result at a rung yet"
        : `results at rung ${data.rung} (${study.resource.name} ${fmtNumber(study.levels[data.rung])})`;
      note("params-note", `${rung}; ${data.trials.length} trials${shown}`);
    },
    render: (data) => drawParams(study, data),
  },
  {
    name: "scaling",
    plots: [],
    shown: () => Boolean(study.family),
    // Asked once the study says it has a family: any other study never asks.
    fetch: (known) => known.then((s) => (s.family ? scalingLaws() : null)),
    render: async (data) => {
      await chartsLoaded;
      drawScaling(study, data);
    },
    fail: (error) => scalingFailed(error),
  },
];

/** A figure of the study (its answer carries the study `version` it shows). */
function figure(suffix, params = {}) {
  return api(studyPath(name, suffix), { stale: STALE_SECONDS, ...params });
}

/** The metric the learning curves show: "" for the primary objective's value (the default,
 * and the only one of a study of one value). */
function curvesMetric() {
  const chosen = document.getElementById("curves-metric").value;
  return chosen && chosen !== study.metric ? chosen : "";
}

/** The learning curves' axis title for the metric they show ("" for the objective's). */
function curvesLabel() {
  const chosen = study.metrics.find((choice) => choice.name === curvesMetric());
  return chosen ? metricLabel(chosen) : "";
}

function paretoNote(data) {
  if (data.rung === null || data.rung === undefined) return "no result at a rung yet";
  const rung = `results at rung ${data.rung} (${study.resource.name} ${fmtNumber(data.resource)})`;
  const front = data.feasible
    ? `${data.front.length} on the front`
    : `no feasible result yet: the ${data.front.length} least infeasible joined`;
  return `${rung}: ${data.n_at_rung} results, ${front}`;
}

/** The parts of the page only a study with several metrics has: the Pareto panel (from its
 * template, after the best-so-far panel) and the learning curves' choice of metric. */
function mountOutcomes() {
  if (study.has_front) {
    const template = document.getElementById("pareto-template");
    document.getElementById("panel-history").after(template.content.cloneNode(true));
    document.querySelector('nav.sections button[data-target="panel-pareto"]').hidden = false;
  }
  if (study.metrics.length) {
    // The objectives come first: the primary one, what the curves show by default.
    const select = document.getElementById("curves-metric");
    replace(select, study.metrics.map((choice) =>
      el("option", { value: choice.name }, metricLabel(choice))));
    select.addEventListener("change", () => {
      const panel = PANELS.find((p) => p.name === "curves");
      drawPanel(panel, answerOf(panel.fetch()));
    });
    document.getElementById("curves-metric-choice").hidden = false;
  }
}

/** The scaling-laws panel of a study of a family (from its template, after the parameters). */
function mountScaling() {
  if (!study.family) return;
  const template = document.getElementById("scaling-template");
  document.getElementById("panel-params").after(template.content.cloneNode(true));
  document.querySelector('nav.sections button[data-target="panel-scaling"]').hidden = false;
}

/** The study version the page shows: the study's, or the oldest figure's if one lags. */
async function shownVersion(answers) {
  let shown = study.version;
  for (const { data } of await Promise.all(answers)) {
    if (data && data.version !== undefined) shown = Math.min(shown, data.version);
  }
  return shown;
}

/** A panel's answer as {data} or {error}. */
function answerOf(request) {
  return request.then((data) => ({ data }), (error) => ({ error }));
}

/** Ask every panel's endpoint at once (`known`: the study, once it is known). */
function fetchPanels(known) {
  return PANELS.map((panel) => answerOf(panel.fetch(known)));
}

/** Draw the panels once every answer (and the trial table) is in: all in one task, so the
 * browser lays out and paints the page once (each paint of the page costs 0.1-0.2 s on a
 * machine without a GPU), not once per answer. */
async function drawPanels(answers, tableLoaded) {
  await Promise.all([chartsLoaded.catch(() => null), ...answers, tableLoaded]);
  for (const [index, panel] of PANELS.entries()) {
    if (panel.shown && !panel.shown()) continue;
    await drawPanel(panel, answers[index]);
  }
}

/** Draw one panel from its answer, unless it shows that already; or show its error. */
async function drawPanel(panel, answer) {
  try {
    const { data, error } = await answer;
    if (error) throw error;
    if (panel.plots.length) await chartsLoaded;
    if (panel.note) panel.note(data);
    const { levels, direction, metric, resource } = study;
    // Not the figure's version: a figure that did not change is not drawn again.
    const { version, ...content } = data;
    const variant = panel.variant ? panel.variant() : null;
    const key = JSON.stringify([content, levels, direction, metric, resource, variant]);
    if (drawn.get(panel.name) !== key) {
      const started = performance.now();
      await panel.render(data);
      drawn.set(panel.name, key); // only once drawn: a failed draw is retried next time
      // Each panel's drawing time, for DevTools' performance panel and the benchmark.
      performance.measure(`draw:${panel.name}`, { start: started, end: performance.now() });
    }
  } catch (error) {
    console.error(error);
    for (const id of panel.plots) drawError(id, error);
    drawn.delete(panel.name); // the error replaced the plot: redraw once it works
    if (panel.fail) panel.fail(error);
  }
}

/** Fetch the study (header, levels, best) and every panel, and redraw what changed; returns
 * the version shown. */
async function refresh() {
  const studyAnswer = api(studyPath(name)).then((answer) => answer.study);
  const answers = fetchPanels(studyAnswer);
  study = await studyAnswer;
  table.study = study;
  renderHeader();
  await drawPanels(answers, table.load());
  return shownVersion(answers);
}

async function main() {
  renderTokenStatus();
  // The panels' requests go out right behind the study's (first: the header and every panel
  // need it): they need only the name, and the server answers them while the header is drawn.
  const studyAnswer = api(studyPath(name)).then((answer) => answer.study);
  const answers = fetchPanels(studyAnswer);
  // The table's first page too: it needs the study only to render (the best trial's row).
  table = new TrialTable(name, studyAnswer);
  const tableLoaded = table.load();
  try {
    study = await studyAnswer;
  } catch (error) {
    const text = error instanceof ApiError && error.status === 404
      ? `No study named \u201c${name}\u201d.` : `Could not load the study: ${error.message}`;
    replace(document.getElementById("study-name"), name);
    replace(document.getElementById("main-error"), el("p", { class: "error" }, text,
      " ", el("a", { href: "/" }, "All studies")));
    document.getElementById("main-error").hidden = false;
    document.body.classList.add("no-study"); // hides the empty panels
    document.body.dataset.ready = "1";
    return;
  }
  renderHeader();
  renderExports();
  mountOutcomes();
  mountScaling();
  await drawPanels(answers, tableLoaded);
  const shown = await shownVersion(answers);
  document.body.dataset.version = String(shown);
  document.body.dataset.ready = "1";
  // The first frame that shows every panel: the page's load time, for DevTools and the
  // benchmark (a task queued from the frame's callback runs once the frame is painted).
  requestAnimationFrame(() => setTimeout(() => performance.mark("painted")));
  setLiveStatus("ok", "live");

  watch({
    poll: () => api(studyPath(name, "/version")),
    key: (answer) => answer.version,
    initial: shown,
    onAnswer: (answer) => renderActivity(answer.last_activity),
    onChange: async () => {
      const version = await refresh();
      document.body.dataset.version = String(version);
      return version;
    },
  });
}

// Section shortcuts: scrolled to by script, because the URL fragment holds the table's query.
for (const link of document.querySelectorAll("nav.sections button[data-target]")) {
  link.addEventListener("click", () =>
    document.getElementById(link.dataset.target).scrollIntoView({ behavior: "smooth" }));
}

main();
