// The Pareto panel of a study with several objectives, outcome constraints or a cost: every
// result at the front's rung on two metrics the viewer picks (#pareto-x, #pareto-y), the
// non-dominated ones joined, the infeasible ones hollow and red; and, per constraint, how many
// results break it. The front is the coordinator's (GetParetoFront), computed by the API.
//
// Contract with the tests: #plot-pareto's chart has one dataset per group ("front",
// "dominated", "infeasible"), whose points are {x, y, trial}; data-points counts them all.

import { el, fmtNumber, replace } from "./dom.js";
import { draw, groupLegend, linearAxis, tooltip } from "./charts.js";

// How each group is drawn; listed bottom to top.
const GROUPS = [
  { group: "infeasible", label: "infeasible", color: "#d62728", radius: 3.5, hollow: true },
  { group: "dominated", label: "dominated", color: "#9aa3b0", radius: 3 },
  { group: "front", label: "front (non-dominated)", color: "#1f4e9c", radius: 4.5, line: true },
];
// The front when no result is feasible: the least infeasible results, joined.
const LEAST_INFEASIBLE = { label: "least infeasible", color: "#d62728", hollow: true };

/** A metric as the selects and the axes name it: "loss (minimize)", "gpu_hours (cost)". */
export function metricLabel(choice) {
  if (choice.direction) return `${choice.name} (${choice.direction})`;
  return choice.role === "cost" ? `${choice.name} (cost)` : choice.name;
}

// The last answer drawn, drawn again when the viewer picks another axis.
let shown = null;

/** Draw the panel from the API's /pareto answer. The axes start at the answer's default and
 * keep the viewer's choice afterwards (live refreshes included). */
export function drawPareto(study, data) {
  shown = { study, data };
  fillAxes(study, data.axes || []);
  drawPlot();
  renderConstraints(data);
}

function fillAxes(study, initial) {
  ["pareto-x", "pareto-y"].forEach((id, index) => {
    const select = document.getElementById(id);
    if (select.options.length) return;
    replace(select, study.metrics.map((choice) => el("option", {
      value: choice.name, selected: choice.name === initial[index],
    }, metricLabel(choice))));
    select.addEventListener("change", drawPlot);
  });
}

/** Which group a result belongs to: on the front, else dominated or infeasible. */
const groupOf = (point) => (point.front ? "front" : point.feasible ? "dominated" : "infeasible");

function drawPlot() {
  const { study, data } = shown;
  const [x, y] = ["pareto-x", "pareto-y"].map((id) => document.getElementById(id).value);
  const choices = new Map(study.metrics.map((choice) => [choice.name, choice]));
  const points = new Map(GROUPS.map(({ group }) => [group, []]));
  for (const point of data.points || []) {
    const [px, py] = [point.metrics[x], point.metrics[y]];
    if (!Number.isFinite(px) || !Number.isFinite(py)) continue;
    points.get(groupOf(point)).push({ x: px, y: py, trial: point.number });
  }
  // The front is joined from left to right.
  points.get("front").sort((a, b) => a.x - b.x || a.y - b.y);
  const datasets = GROUPS.map((style, rank) => dataset(
    style.group === "front" && !data.feasible ? { ...style, ...LEAST_INFEASIBLE } : style,
    points.get(style.group), GROUPS.length - rank));
  const describe = (item) => [
    `trial #${item.raw.trial} \u00b7 ${item.dataset.label}`,
    `${x} ${fmtNumber(item.raw.x)}`,
    `${y} ${fmtNumber(item.raw.y)}`,
  ];
  const plot = document.getElementById("plot-pareto");
  plot.dataset.x = x;
  plot.dataset.y = y;
  draw("plot-pareto", {
    type: "scatter",
    data: { datasets },
    options: {
      parsing: false,
      scales: {
        x: linearAxis(metricLabel(choices.get(x))),
        y: linearAxis(metricLabel(choices.get(y))),
      },
      plugins: { legend: groupLegend(), tooltip: tooltip(describe) },
    },
  }, datasets.reduce((count, set) => count + set.data.length, 0));
}

function dataset(style, data, order) {
  return {
    label: style.label, group: style.group, order, data,
    pointRadius: style.radius, pointHoverRadius: style.radius + 2,
    borderColor: style.color, borderWidth: style.hollow ? 1.5 : 1,
    backgroundColor: style.hollow ? "rgba(0,0,0,0)" : style.color,
    showLine: Boolean(style.line), borderDash: style.hollow && style.line ? [4, 3] : [],
  };
}

/** Per constraint, how many results break it at the front's rung and at any rung. */
function renderConstraints(data) {
  const table = document.getElementById("constraints-table");
  const constraints = data.constraints || [];
  table.hidden = constraints.length === 0;
  replace(table.querySelector("tbody"), constraints.map((c) => el("tr", {},
    el("td", {}, `${c.metric} ${c.op} ${fmtNumber(c.bound)}`),
    el("td", { class: "num", "data-value": c.violated_at_rung },
      `${c.violated_at_rung} of ${data.n_at_rung}`),
    el("td", { class: "num", "data-value": c.violated }, `${c.violated} of ${data.n_results}`))));
}
