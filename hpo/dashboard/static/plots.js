// The study page's plots, drawn with Plotly (served by the dashboard at
// /static/vendor/plotly.min.js; no CDN, no build step).
//
// The parameter plots (parallel coordinates, scatter) are in params.js.
//
// Contract with the tests and the benchmark: each plot container has class "plot", a stable id
// and data-points = the number of data points drawn (0 when empty), set after Plotly has drawn.
// Redraws use Plotly.react, which diffs against the previous figure: live updates keep the
// user's zoom (uirevision) and do not flash.

import { el, fmtNumber, plotlyText, plotlyTime, replace } from "./dom.js";

// Plotly is 4.8 MB of JavaScript: compiling it takes seconds on a slow machine. It is loaded
// here, on first use, instead of by a blocking <script> in the page, so the header, the trial
// table and the priors are on screen while the browser is still compiling it. (study.html
// preloads the file, so the download starts at once.)
let loading = null;
function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  loading ??= new Promise((resolve, reject) => {
    const script = el("script", { src: "/static/vendor/plotly.min.js" });
    script.addEventListener("load", () => resolve(window.Plotly));
    script.addEventListener("error", () => {
      loading = null;
      reject(new Error("could not load /static/vendor/plotly.min.js"));
    });
    document.head.append(script);
  });
  return loading;
}

const CONFIG = {
  displaylogo: false,
  displayModeBar: "hover",
  responsive: true,
  modeBarButtonsToRemove: ["lasso2d", "select2d", "autoScale2d"],
};

const FONT = { family: "system-ui, -apple-system, 'Segoe UI', sans-serif", size: 11, color: "#222" };

export function layout(extra = {}) {
  return {
    font: FONT,
    margin: { l: 58, r: 14, t: 30, b: 42 },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "#fff",
    hovermode: "closest",
    // A constant uirevision: Plotly.react keeps the zoom and hidden legend entries the user
    // chose when the data change underneath.
    uirevision: "keep",
    // Legends sit in a row above the plot, left; the mode bar (zoom, reset, PNG) stays at the
    // top right. Plotly shows the bar only on hover, except on devices without hover
    // (touch screens, headless browsers) where it is always there: it must not cover data.
    legend: { font: { size: 10 }, orientation: "h", x: 0, xanchor: "left", y: 1.01, yanchor: "bottom" },
    modebar: { bgcolor: "rgba(255,255,255,0)", color: "#aab", activecolor: "#333" },
    ...extra,
  };
}

export function axis(title, extra = {}) {
  return {
    title: { text: plotlyText(title), standoff: 6 },
    gridcolor: "#eee",
    zeroline: false,
    automargin: true,
    ...extra,
  };
}

/** Draw one figure into #id and record how many points it shows. */
export async function draw(id, traces, figureLayout, points) {
  const Plotly = await loadPlotly();
  const node = document.getElementById(id);
  if (node.classList.contains("plot-error")) {
    node.classList.remove("plot-error");
    node.replaceChildren();
  }
  const empty = points === 0;
  const shown = empty ? emptyLayout(figureLayout) : figureLayout;
  await Plotly.react(node, empty ? [] : traces, shown, CONFIG);
  node.dataset.points = String(points);
}

function emptyLayout(base) {
  const hidden = { visible: false };
  return {
    ...base,
    xaxis: hidden, yaxis: hidden, shapes: [], grid: undefined,
    annotations: [{
      text: "no data yet", showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5,
      font: { size: 13, color: "#888" },
    }],
  };
}

/** A panel whose endpoint failed: the message instead of the plot, and 0 points. */
export function drawError(id, error) {
  const node = document.getElementById(id);
  if (window.Plotly) window.Plotly.purge(node);
  node.classList.add("plot-error");
  node.dataset.points = "0";
  replace(node, el("div", { class: "error" }, `Could not show this plot: ${error.message}`));
}

const PALETTE = [
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
];
const color = (i) => PALETTE[i % PALETTE.length];

/** Hyperband resources grow geometrically (r_min * eta^k): a log axis spaces rungs evenly. */
function resourceAxisType(study) {
  const { r_min: low, r_max: high } = study.resource || {};
  return low > 0 && high / low >= 9 ? "log" : "linear";
}

/** Tick values for a log axis: powers of ten, with 3 x or 2 x and 5 x between them on shorter
 * ranges (Plotly's own log ticks label every digit on short ranges, which crowds small plots). */
export function logTicks(low, high) {
  const decades = Math.log10(high / low);
  const steps = decades > 3 ? [1] : decades > 1.5 ? [1, 3] : [1, 2, 5];
  const ticks = [];
  for (let k = Math.floor(Math.log10(low)); k <= Math.ceil(Math.log10(high)); k += 1) {
    for (const m of steps) {
      const tick = m * 10 ** k;
      if (tick >= low * (1 - 1e-9) && tick <= high * (1 + 1e-9)) ticks.push(Number(tick.toPrecision(3)));
    }
  }
  return ticks;
}

export function logAxis(low, high, ticks = logTicks(low, high)) {
  return { type: "log", tickvals: ticks, ticktext: ticks.map((t) => fmtNumber(t, 3)) };
}

const resourceName = (study) => (study.resource && study.resource.name) || "resource";
const metricName = (study) => `${study.metric || "value"} (${study.direction || "minimize"})`;

// ---------------------------------------------------------------- best so far

/** Best-so-far per rung, one line per rung: vs wall-clock time and vs resource spent. */
export async function drawHistory(study, data) {
  const series = data.series || [];
  const byTime = [];
  const byResource = [];
  let points = 0;
  series.forEach((line, i) => {
    const name = plotlyText(`rung ${line.rung} (${resourceName(study)} ${fmtNumber(line.resource)})`);
    const common = {
      type: "scatter",
      mode: "lines+markers",
      name,
      line: { shape: "hv", color: color(i), width: 1.8 },
      marker: { size: 5 },
      y: line.points.map((p) => p.value),
      customdata: line.points.map((p) => p.trial),
      hovertemplate: "%{fullData.name}<br>best %{y}<br>trial #%{customdata}<extra></extra>",
    };
    byTime.push({ ...common, x: line.points.map((p) => plotlyTime(p.t)) });
    byResource.push({ ...common, x: line.points.map((p) => p.cumulative_resource) });
    points += line.points.length;
    // The best is still the best until now: a dotted line carries it to the last activity.
    const last = line.points[line.points.length - 1];
    if (last && study.last_activity && Date.parse(study.last_activity) > Date.parse(last.t)) {
      byTime.push({
        type: "scatter", mode: "lines", showlegend: false, hoverinfo: "skip",
        x: [plotlyTime(last.t), plotlyTime(study.last_activity)], y: [last.value, last.value],
        line: { color: color(i), width: 1.2, dash: "dot" },
      });
    }
  });
  const yaxis = axis(metricName(study));
  await Promise.all([
    draw("plot-history-time", byTime,
      layout({ xaxis: axis("time", { type: "date" }), yaxis }), points),
    draw("plot-history-resource", byResource,
      layout({ xaxis: axis(`cumulative ${resourceName(study)} (all trials)`), yaxis }), points),
  ]);
}

// ---------------------------------------------------------------- learning curves

// How each outcome is drawn. Promoted and completed curves are solid and strong; stopped ones
// dashed, thin and faint (they are most of the curves and only matter as background).
const OUTCOMES = {
  completed: { color: "#1f4e9c", dash: "solid", width: 2, opacity: 1 },
  promoted: { color: "#2ca02c", dash: "solid", width: 1.6, opacity: 0.9 },
  running: { color: "#ff7f0e", dash: "solid", width: 2, opacity: 1 },
  paused: { color: "#9467bd", dash: "dot", width: 1.4, opacity: 0.8 },
  pending: { color: "#7f7f7f", dash: "dot", width: 1.2, opacity: 0.8 },
  stopped: { color: "#d62728", dash: "dash", width: 1, opacity: 0.45 },
  failed: { color: "#111111", dash: "dashdot", width: 1, opacity: 0.7 },
};
// Drawn first = underneath: stopped curves must not hide the ones that went on.
const DRAW_ORDER = ["stopped", "failed", "pending", "paused", "promoted", "completed", "running"];

/** Two traces per outcome, not one per trial: the curves of an outcome are joined into one
 * line with null gaps between them, and their last points are one marker trace (so a curve
 * of a single report shows too). Hundreds of traces, or a marker element per report, make
 * Plotly slow (seconds for a big study); a dozen traces draw at once. Hovering any point
 * names its trial. */
export async function drawCurves(study, data) {
  const groups = new Map();
  let points = 0;
  for (const curve of data.curves || []) {
    if (curve.points.length === 0) continue;
    const outcome = OUTCOMES[curve.outcome] ? curve.outcome : "pending";
    if (!groups.has(outcome)) groups.set(outcome, { x: [], y: [], text: [], ends: [] });
    const group = groups.get(outcome);
    const label = plotlyText(`trial #${curve.number} · ${curve.source} · ${curve.outcome} · ${curve.state}`);
    for (const [resource, value] of curve.points) {
      group.x.push(resource);
      group.y.push(value);
      group.text.push(label);
    }
    // The gap that ends this curve: Plotly does not join lines across a null.
    group.x.push(null);
    group.y.push(null);
    group.text.push("");
    group.ends.push([...curve.points[curve.points.length - 1], label]);
    points += curve.points.length;
  }
  const hovertemplate = "%{text}<br>%{x}: %{y}<extra></extra>";
  const traces = [];
  for (const outcome of DRAW_ORDER.filter((name) => groups.has(name))) {
    const style = OUTCOMES[outcome];
    const group = groups.get(outcome);
    traces.push({
      type: "scatter", mode: "lines", connectgaps: false, name: outcome, legendgroup: outcome,
      x: group.x, y: group.y, text: group.text, hovertemplate, opacity: style.opacity,
      line: { color: style.color, dash: style.dash, width: style.width },
    });
    traces.push({
      type: "scatter", mode: "markers", name: outcome, legendgroup: outcome, showlegend: false,
      x: group.ends.map((end) => end[0]), y: group.ends.map((end) => end[1]),
      text: group.ends.map((end) => end[2]), hovertemplate, opacity: style.opacity,
      marker: { color: style.color, size: 5 },
    });
  }
  // The rung levels, as faint vertical lines: where promotions are decided.
  const shapes = (study.levels || []).map((level) => ({
    type: "line", xref: "x", yref: "paper", x0: level, x1: level, y0: 0, y1: 1,
    line: { color: "#bbb", width: 1, dash: "dot" },
  }));
  await draw("plot-curves", traces, layout({
    // The rung levels are the resources that matter: they are the ticks.
    xaxis: axis(resourceName(study), resourceAxisType(study) === "log" && study.levels
      ? logAxis(study.resource.r_min, study.resource.r_max, study.levels)
      : { type: "linear" }),
    yaxis: axis(metricName(study)),
    shapes,
  }), points);
}

// ---------------------------------------------------------------- rungs

/** Trials reaching each rung, per bracket: a funnel drawn as grouped bars. The reached bar is
 * pale and the promoted part is drawn over it (same offsetgroup) in the bracket's colour; the
 * legend names the brackets, the panel title says pale = reached, solid = promoted. */
export async function drawRungs(study, data) {
  const rungs = data.rungs || [];
  const brackets = [...new Set(rungs.map((r) => r.bracket))].sort((a, b) => a - b);
  const label = (r) => `r${r.rung} · ${fmtNumber(r.resource)}`;
  const categories = [...new Map(
    [...rungs].sort((a, b) => a.resource - b.resource).map((r) => [label(r), r.resource]),
  ).keys()];
  const traces = [];
  brackets.forEach((bracket, i) => {
    const rows = rungs.filter((r) => r.bracket === bracket);
    const hover = rows.map((r) =>
      `bracket ${r.bracket}, rung ${r.rung} (${fmtNumber(r.resource)})<br>` +
      `reached ${r.reached}, promoted ${r.promoted}, running towards ${r.running_towards}<br>` +
      `threshold ${fmtNumber(r.threshold)}`);
    const common = {
      type: "bar", x: rows.map(label), offsetgroup: String(bracket), legendgroup: String(bracket),
      hovertext: hover, hoverinfo: "text",
    };
    traces.push({
      ...common, name: `bracket ${bracket}`, y: rows.map((r) => r.reached),
      marker: { color: color(i), opacity: 0.3, line: { color: color(i), width: 1 } },
      text: rows.map((r) => String(r.reached)), textposition: "outside",
    });
    traces.push({
      ...common, name: `bracket ${bracket} promoted`, y: rows.map((r) => r.promoted),
      marker: { color: color(i) }, showlegend: false,
    });
  });
  await draw("plot-rungs", traces, layout({
    barmode: "group",
    bargap: 0.25,
    xaxis: axis(`rung · ${resourceName(study)}`, { type: "category", categoryorder: "array", categoryarray: categories }),
    yaxis: axis("trials", { rangemode: "tozero" }),
  }), rungs.filter((r) => r.reached > 0).length); // a bar of height 0 is no data
}

// ---------------------------------------------------------------- importance

/** Parameter importance as horizontal bars, the largest on top; or the reason there is none. */
export async function drawImportance(data) {
  const items = [...(data.importance || [])].sort((a, b) => a.importance - b.importance);
  const traces = [{
    type: "bar", orientation: "h",
    x: items.map((i) => i.importance),
    y: items.map((i) => plotlyText(i.name)),
    marker: { color: "#1f77b4" },
    hovertemplate: "%{y}: %{x:.3f}<extra></extra>",
  }];
  const height = Math.max(220, 40 + items.length * 22);
  document.getElementById("plot-importance").style.height = `${height}px`;
  await draw("plot-importance", traces, layout({
    height,
    xaxis: axis("importance", { rangemode: "tozero" }),
    yaxis: { automargin: true, type: "category" },
    margin: { l: 10, r: 14, t: 30, b: 42 },
  }), items.length);
}
