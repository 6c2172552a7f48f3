// What every plot of the study page shares: Chart.js set-up, drawing into a panel, axes and
// colour scales.
//
// Chart.js draws on a <canvas>: 200 KB of JavaScript and no WebGL, so the page draws in a
// fraction of a second where Plotly (4.8 MB, WebGL parallel coordinates) took seconds without
// a GPU. The parallel coordinates are drawn by parcoords.js. Canvas text is never parsed as
// markup: untrusted names are safe in labels and tooltips.
//
// Contract with the tests and the benchmark: each plot container has class "plot", a stable id
// and data-points = the number of data points drawn (0 when empty), set once drawn.

import { el, fmtNumber, replace } from "./dom.js";

const CHART_JS = "/static/vendor/chart.umd.min.js";
let Chart = null;

/** Resolves once Chart.js has run and is set up. study.html preloads the file, so it downloads
 * with the page's modules; it runs here, after them, so that the page's API requests leave
 * without waiting for the browser to compile it. */
export const chartsLoaded = new Promise((resolve, reject) => {
  const script = el("script", { src: CHART_JS });
  script.addEventListener("load", () => {
    Chart = window.Chart;
    configure();
    resolve();
  });
  script.addEventListener("error", () => reject(new Error(`could not load ${CHART_JS}`)));
  document.head.append(script);
});

function configure() {
  Chart.defaults.font.family = "system-ui, -apple-system, 'Segoe UI', sans-serif";
  Chart.defaults.font.size = 11;
  Chart.defaults.color = "#222";
  Chart.defaults.animation = false; // live refreshes must not replay an animation each time
  Chart.defaults.maintainAspectRatio = false; // the panel's CSS height decides
  Chart.defaults.plugins.legend.align = "start";
  Chart.defaults.plugins.legend.labels.boxWidth = 14;
  Chart.defaults.plugins.legend.labels.boxHeight = 8;
  Chart.defaults.plugins.legend.labels.font = { size: 10 };
  Chart.defaults.plugins.tooltip.displayColors = false;
  Chart.register(levelLines);
}

/** Faint vertical lines at options.plugins.levelLines.values: the rung levels of a study. */
const levelLines = {
  id: "levelLines",
  defaults: { values: [], color: "#bbb" },
  beforeDatasetsDraw(chart, _args, options) {
    const { ctx, chartArea, scales } = chart;
    ctx.save();
    ctx.strokeStyle = options.color;
    ctx.setLineDash([2, 3]);
    for (const value of options.values) {
      const x = scales.x.getPixelForValue(value);
      if (!(x >= chartArea.left && x <= chartArea.right)) continue;
      ctx.beginPath();
      ctx.moveTo(x, chartArea.top);
      ctx.lineTo(x, chartArea.bottom);
      ctx.stroke();
    }
    ctx.restore();
  },
};

// ---------------------------------------------------------------- drawing into a panel

/** Datasets the user hid by clicking the legend, by group: kept hidden when live data come. */
function hiddenGroups(chart) {
  const hidden = new Set();
  chart.data.datasets.forEach((dataset, index) => {
    if (!chart.isDatasetVisible(index)) hidden.add(dataset.group ?? dataset.label);
  });
  return hidden;
}

// Cells drawn by a paint function (not by Chart.js, which watches its own canvases' size)
// are painted again when their width or height changes.
const resized = new ResizeObserver((entries) => {
  for (const { target } of entries) {
    const size = `${target.clientWidth}x${target.clientHeight}`;
    if (target.paint && target.dataset.painted !== size) paintCell(target, target.paint);
  }
});

function paintCell(cell, paint) {
  cell.paint = paint;
  paint(cell);
  cell.dataset.painted = `${cell.clientWidth}x${cell.clientHeight}`;
}

/** Draw a config into a chart cell: a Chart.js config, updated in place when the cell
 * already shows a chart of that type, or {paint(cell)} for a plot drawn by hand. Chart.js
 * configs need chartsLoaded first. */
function render(cell, config) {
  const canvas = cell.firstChild;
  const previous = Chart?.getChart(canvas);
  if (config.paint) {
    previous?.destroy();
    paintCell(cell, config.paint);
    resized.observe(cell);
    return;
  }
  if (previous) {
    const hidden = hiddenGroups(previous);
    for (const dataset of config.data.datasets) {
      if (hidden.has(dataset.group ?? dataset.label)) dataset.hidden = true;
    }
    if (previous.config.type === config.type) {
      previous.data = config.data;
      previous.options = config.options;
      previous.update("none");
      return;
    }
    previous.destroy();
  }
  new Chart(canvas, config);
}

function clear(node) {
  for (const canvas of node.querySelectorAll("canvas")) Chart?.getChart(canvas)?.destroy();
  for (const cell of node.querySelectorAll(".chart-cell")) resized.unobserve(cell);
  node.classList.remove("plot-error", "plot-empty");
  node.replaceChildren();
}

/** Draw charts into the panel #id, one cell each (most panels have one; the scatter plots
 * one per parameter), and record how many points they show. Cells are reused when their
 * number is unchanged, so a live update redraws in place. */
export function draw(id, configs, points) {
  const node = document.getElementById(id);
  if (points === 0) {
    clear(node);
    node.classList.add("plot-empty");
    replace(node, el("div", { class: "muted" }, "no data yet"));
  } else {
    const list = Array.isArray(configs) ? configs : [configs];
    let cells = [...node.querySelectorAll(":scope > .chart-cell")];
    if (cells.length !== list.length) {
      clear(node);
      cells = list.map(() => el("div", { class: "chart-cell" }, el("canvas", {})));
      node.append(...cells);
    }
    list.forEach((config, index) => render(cells[index], config));
  }
  node.dataset.points = String(points);
}

/** A panel whose endpoint failed: the message instead of the plot, and 0 points. */
export function drawError(id, error) {
  const node = document.getElementById(id);
  clear(node);
  node.classList.add("plot-error");
  node.dataset.points = "0";
  replace(node, el("div", { class: "error" }, `Could not show this plot: ${error.message}`));
}

// ---------------------------------------------------------------- legends and tooltips

/** A legend that lists each group once (datasets marked `follower` are not listed) and hides
 * or shows a whole group on click: a learning-curve outcome is a line and its end markers. */
export function groupLegend(extra = {}) {
  return {
    labels: { filter: (item, data) => !data.datasets[item.datasetIndex].follower },
    onClick(_event, item, legend) {
      const { chart } = legend;
      const group = chart.data.datasets[item.datasetIndex].group;
      const show = !chart.isDatasetVisible(item.datasetIndex);
      chart.data.datasets.forEach((dataset, index) => {
        if (dataset.group === group) chart.setDatasetVisibility(index, show);
      });
      chart.update("none");
    },
    ...extra,
  };
}

/** Tooltip callbacks from one function of the hovered item: its lines of text. */
export function tooltip(lines) {
  return { callbacks: { title: () => "", label: (item) => lines(item) } };
}

// ---------------------------------------------------------------- axes

const GRID = { color: "#eee" };

export function title(text) {
  return { display: Boolean(text), text, padding: 2 };
}

export function linearAxis(text, extra = {}) {
  // Our own tick labels: Chart.js's use Intl.NumberFormat, whose first use costs ~20 ms.
  return { type: "linear", title: title(text), grid: GRID, ticks: { callback: (v) => fmtNumber(v, 4) }, ...extra };
}

/** Tick values for a log axis: powers of ten, with 3 x or 2 x and 5 x between them on shorter
 * ranges (every digit labelled crowds small plots). */
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

/** A log axis over [low, high] whose ticks are exactly `ticks` (the rung levels, say). */
export function logAxis(text, low, high, ticks = logTicks(low, high)) {
  return {
    type: "logarithmic", title: title(text), grid: GRID, min: low, max: high,
    afterBuildTicks: (scale) => { scale.ticks = ticks.map((value) => ({ value })); },
    ticks: { callback: (value) => fmtNumber(value, 3), autoSkip: false, maxRotation: 0 },
  };
}

/** A category axis drawn as integer positions 0..n-1 labelled with the choices. */
export function choiceAxis(text, labels, extra = {}) {
  return linearAxis(text, {
    min: -0.5, max: labels.length - 0.5,
    afterBuildTicks: (scale) => { scale.ticks = labels.map((_, value) => ({ value })); },
    ticks: { callback: (value) => labels[value] ?? "", autoSkip: false },
    ...extra,
  });
}

// Round steps for a time axis, in seconds: ticks land on whole minutes, hours, days.
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
  21600, 43200, 86400, 172800, 604800, 2592000];
const pad = (n) => String(n).padStart(2, "0");

/** A linear axis over epoch milliseconds with about six ticks on round times, labelled in the
 * viewer's local time: clock time within a day, the date as well beyond one. */
export function timeAxis(text, low, high) {
  const span = Math.max(high - low, 1000);
  const step = 1000 * (TIME_STEPS.find((s) => span / (1000 * s) <= 7) ?? TIME_STEPS.at(-1));
  const label = (ms) => {
    const d = new Date(ms);
    const clock = step < 60000
      ? `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
      : `${pad(d.getHours())}:${pad(d.getMinutes())}`;
    if (span < 86400000) return clock;
    const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
    return step >= 86400000 ? date : [date, clock];
  };
  return linearAxis(text, { ticks: { stepSize: step, callback: label, maxRotation: 0 } });
}

// ---------------------------------------------------------------- colours

const PALETTE = [
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
];
export const color = (i) => PALETTE[i % PALETTE.length];

/** A continuous colour scale through the given stops: t in [0, 1] to an rgb() string. */
function ramp(stops) {
  const rgb = stops.map((hex) => [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)));
  return (t) => {
    const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (rgb.length - 1);
    const i = Math.min(rgb.length - 2, Math.floor(x));
    const f = x - i;
    const [r, g, b] = rgb[i].map((c, k) => Math.round(c + f * (rgb[i + 1][k] - c)));
    return `rgb(${r},${g},${b})`;
  };
}

export const viridis = ramp(["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"]);
export const blues = ramp(["#c6dbef", "#6baed6", "#2171b5", "#08306b"]);

/** Where each value lies between the smallest and the largest, in [0, 1]. */
export function normalise(values) {
  const finite = values.filter(Number.isFinite);
  const low = Math.min(...finite);
  const span = Math.max(...finite) - low;
  return values.map((v) => (span > 0 ? (v - low) / span : 0.5));
}
