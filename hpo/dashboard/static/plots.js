// The study page's plots over rungs and time: best so far, learning curves, the rung funnel
// and parameter importance. The parameter plots (parallel coordinates, scatter) are in
// params.js; what all plots share (drawing, axes, colours) is in charts.js.

import { fmtNumber } from "./dom.js";
import {
  color, draw, groupLegend, linearAxis, logAxis, timeAxis, title, tooltip,
} from "./charts.js";

/** Hyperband resources grow geometrically (r_min * eta^k): a log axis spaces rungs evenly. */
function logResource(study) {
  const { r_min: low, r_max: high } = study.resource || {};
  return low > 0 && high / low >= 9;
}

const resourceName = (study) => (study.resource && study.resource.name) || "resource";
const metricName = (study) => `${study.metric || "value"} (${study.direction || "minimize"})`;

// ---------------------------------------------------------------- best so far

/** Best-so-far per rung, one step line per rung: vs wall-clock time and vs resource spent. */
export function drawHistory(study, data) {
  const series = data.series || [];
  const byTime = [];
  const byResource = [];
  let points = 0;
  let [first, last] = [Infinity, -Infinity];
  series.forEach((line, i) => {
    const group = `rung ${line.rung} (${resourceName(study)} ${fmtNumber(line.resource)})`;
    const style = {
      label: group, group, showLine: true, stepped: "after", borderWidth: 1.8, pointRadius: 2.5,
      borderColor: color(i), backgroundColor: color(i),
    };
    const at = (p, x) => ({ x, y: p.value, trial: p.trial });
    const times = line.points.map((p) => Date.parse(p.t));
    byTime.push({ ...style, data: line.points.map((p, k) => at(p, times[k])) });
    byResource.push({ ...style, data: line.points.map((p) => at(p, p.cumulative_resource)) });
    points += line.points.length;
    first = Math.min(first, ...times);
    last = Math.max(last, ...times);
    // The best is still the best until now: a dotted line carries it to the last activity.
    const end = line.points.at(-1);
    const now = Date.parse(study.last_activity);
    if (end && now > times.at(-1)) {
      last = Math.max(last, now);
      byTime.push({
        group, follower: true, showLine: true, pointRadius: 0, borderWidth: 1.2,
        borderDash: [2, 3], borderColor: color(i),
        data: [{ x: times.at(-1), y: end.value, trial: end.trial }, { x: now, y: end.value, trial: end.trial }],
      });
    }
  });
  const label = (item) => [
    item.dataset.group, `best ${fmtNumber(item.raw.y)}`, `trial #${item.raw.trial}`,
  ];
  const chart = (datasets, xaxis) => ({
    type: "scatter",
    data: { datasets },
    options: {
      parsing: false,
      scales: { x: xaxis, y: linearAxis(metricName(study)) },
      plugins: { legend: groupLegend(), tooltip: tooltip(label) },
    },
  });
  draw("plot-history-time", chart(byTime, timeAxis("time", first, last)), points);
  draw("plot-history-resource",
    chart(byResource, linearAxis(`cumulative ${resourceName(study)} (all trials)`)), points);
}

// ---------------------------------------------------------------- learning curves

// How each outcome is drawn. Promoted and completed curves are solid and strong; stopped ones
// dashed, thin and faint (they are most of the curves and only matter as background).
const OUTCOMES = {
  completed: { color: "#1f4e9c", dash: [], width: 2, alpha: 1 },
  promoted: { color: "#2ca02c", dash: [], width: 1.6, alpha: 0.9 },
  running: { color: "#ff7f0e", dash: [], width: 2, alpha: 1 },
  paused: { color: "#9467bd", dash: [2, 2], width: 1.4, alpha: 0.8 },
  pending: { color: "#7f7f7f", dash: [2, 2], width: 1.2, alpha: 0.8 },
  stopped: { color: "#d62728", dash: [5, 3], width: 1, alpha: 0.45 },
  failed: { color: "#111111", dash: [6, 2, 2, 2], width: 1, alpha: 0.7 },
};
// Listed first = drawn underneath: stopped curves must not hide the ones that went on.
const DRAW_ORDER = ["stopped", "failed", "pending", "paused", "promoted", "completed", "running"];

const withAlpha = (hex, alpha) => hex + Math.round(alpha * 255).toString(16).padStart(2, "0");

/** The curves' lines, stroked straight onto the chart under the datasets: as Chart.js points,
 * the 20,000 reports of a big study cost about 100 ms per draw; as one path per outcome, a
 * few ms. They come from chart.data.curves (data, not options: Chart.js wraps options in
 * proxies, slow to walk), and show or hide with their outcome's dataset. */
const curveLines = {
  id: "curveLines",
  beforeDatasetsDraw(chart) {
    const { ctx, chartArea: area, scales: { x, y } } = chart;
    ctx.save();
    ctx.beginPath();
    ctx.rect(area.left, area.top, area.width, area.height);
    ctx.clip();
    for (const group of chart.data.curves) {
      if (!chart.isDatasetVisible(group.dataset)) continue;
      ctx.strokeStyle = group.stroke;
      ctx.lineWidth = group.width;
      ctx.setLineDash(group.dash);
      ctx.beginPath();
      for (const points of group.lines) {
        points.forEach(([rx, ry], k) => {
          const [px, py] = [x.getPixelForValue(rx), y.getPixelForValue(ry)];
          if (k === 0) ctx.moveTo(px, py);
          else ctx.lineTo(px, py);
        });
      }
      ctx.stroke();
    }
    ctx.restore();
  },
};

/** One dataset per outcome: the curves' last points, as markers that name their trial when
 * hovered (so a curve of a single report shows too); the lines are drawn by curveLines.
 * `label`: the y axis's title when the curves show another metric than the objective. */
export function drawCurves(study, data, label = "") {
  const groups = new Map();
  let points = 0;
  let [low, high] = [Infinity, -Infinity];
  for (const curve of data.curves || []) {
    if (curve.points.length === 0) continue;
    const outcome = OUTCOMES[curve.outcome] ? curve.outcome : "pending";
    if (!groups.has(outcome)) groups.set(outcome, { lines: [], ends: [] });
    const group = groups.get(outcome);
    group.lines.push(curve.points);
    const [x, y] = curve.points.at(-1);
    const trial = `trial #${curve.number} \u00b7 ${curve.source} \u00b7 ${curve.outcome} \u00b7 ${curve.state}`;
    group.ends.push({ x, y, trial });
    for (const [, value] of curve.points) {
      low = Math.min(low, value);
      high = Math.max(high, value);
    }
    points += curve.points.length;
  }
  const datasets = [];
  const curves = [];
  DRAW_ORDER.filter((name) => groups.has(name)).forEach((outcome, rank) => {
    const style = OUTCOMES[outcome];
    const stroke = withAlpha(style.color, style.alpha);
    const { lines, ends } = groups.get(outcome);
    curves.push({ dataset: datasets.length, lines, stroke, width: style.width, dash: style.dash });
    datasets.push({
      label: outcome, group: outcome, order: DRAW_ORDER.length - rank, data: ends,
      pointRadius: 2.5, borderColor: stroke, backgroundColor: stroke,
    });
  });
  const x = resourceName(study);
  const { r_min: first, r_max: last } = study.resource || {};
  draw("plot-curves", {
    type: "scatter",
    plugins: [curveLines],
    data: { datasets, curves },
    options: {
      parsing: false,
      scales: {
        // The rung levels are the resources that matter: they are the ticks.
        x: logResource(study) && study.levels
          ? logAxis(x, first, last, study.levels)
          : linearAxis(x, { suggestedMin: first, suggestedMax: last }),
        // The markers are only the ends: the axis must also span the lines.
        y: linearAxis(label || metricName(study), { suggestedMin: low, suggestedMax: high }),
      },
      plugins: {
        legend: groupLegend(),
        tooltip: tooltip((item) => [item.raw.trial, `${x} ${fmtNumber(item.raw.x)}: ${fmtNumber(item.raw.y)}`]),
        levelLines: { values: study.levels || [] },
      },
    },
  }, points);
}

// ---------------------------------------------------------------- rungs

/** Trials reaching each rung, per bracket: a funnel drawn as bars. The reached bar is pale
 * and the promoted part is drawn over it in the bracket's colour (one stack per bracket on a
 * stacked x axis, an unstacked y axis: the bars overlap instead of adding up). */
export function drawRungs(study, data) {
  const rungs = data.rungs || [];
  const brackets = [...new Set(rungs.map((r) => r.bracket))].sort((a, b) => a - b);
  const label = (r) => `r${r.rung} \u00b7 ${fmtNumber(r.resource)}`;
  const categories = [...new Map(
    [...rungs].sort((a, b) => a.resource - b.resource).map((r) => [label(r), r.resource]),
  ).keys()];
  const datasets = [];
  brackets.forEach((bracket, i) => {
    const rows = rungs.filter((r) => r.bracket === bracket);
    const common = { group: `bracket ${bracket}`, stack: String(bracket), borderColor: color(i), borderWidth: 1 };
    datasets.push({
      ...common, label: `bracket ${bracket}`, order: 2, backgroundColor: withAlpha(color(i), 0.3),
      data: rows.map((r) => ({ x: label(r), y: r.reached, row: r })),
    });
    datasets.push({
      ...common, follower: true, order: 1, backgroundColor: color(i),
      data: rows.map((r) => ({ x: label(r), y: r.promoted, row: r })),
    });
  });
  const explain = (item) => {
    const r = item.raw.row;
    return [
      `bracket ${r.bracket}, rung ${r.rung} (${fmtNumber(r.resource)})`,
      `reached ${r.reached}, promoted ${r.promoted}, running towards ${r.running_towards}`,
      `threshold ${fmtNumber(r.threshold)}`,
    ];
  };
  draw("plot-rungs", {
    type: "bar",
    data: { labels: categories, datasets },
    options: {
      scales: {
        x: { stacked: true, title: title(`rung \u00b7 ${resourceName(study)}`), grid: { display: false } },
        y: linearAxis("trials", { stacked: false, beginAtZero: true }),
      },
      plugins: { legend: groupLegend(), tooltip: tooltip(explain) },
    },
  }, rungs.filter((r) => r.reached > 0).length); // a bar of height 0 is no data
}

// ---------------------------------------------------------------- importance

/** Parameter importance as horizontal bars, the largest on top; or the reason there is none. */
export function drawImportance(data) {
  const items = [...(data.importance || [])].sort((a, b) => b.importance - a.importance);
  document.getElementById("plot-importance").style.height = `${Math.max(220, 60 + items.length * 24)}px`;
  draw("plot-importance", {
    type: "bar",
    data: {
      labels: items.map((i) => i.name),
      datasets: [{ data: items.map((i) => i.importance), backgroundColor: "#1f77b4" }],
    },
    options: {
      indexAxis: "y",
      scales: {
        x: linearAxis("importance", { beginAtZero: true }),
        y: { grid: { display: false }, ticks: { autoSkip: false } },
      },
      plugins: {
        legend: { display: false },
        tooltip: tooltip((item) => `${item.label}: ${item.raw.toFixed(3)}`),
      },
    },
  }, items.length);
}
