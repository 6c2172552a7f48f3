// The scaling-laws panel of a study whose spec names a `family` (docs/scaling.md): for each
// numeric parameter, how its optimum moves with the scale, on a log-log chart against one
// scale variable the viewer picks (#scaling-x). The dots are the family's scale points (the
// optimum estimated from each scale's results), the line the fitted law and the band its
// prediction interval, over the points' range extended to this study's scale, which a dashed
// vertical line marks, with the laws' proposal there as a diamond. The other scale variables
// are held at this study's scale (at the largest point's where the study has none). The
// laws are the coordinator's (FitScaling), computed by the API (/scaling).
//
// Contract with the tests: #scaling-laws holds one .scaling-law[data-parameter] per law, each
// with a chart #plot-scaling-<i> (class "plot", data-variable: the x axis) whose data-points
// counts the dots (the scale points) and whose chart has datasets by `group`: "points"
// ({x, y, studies, count, best_value}), "law" and "interval" ({x, y}; the interval is two
// datasets, lower then upper) and, when the study's scale gives every variable, "study" (the
// proposal, {x, y}). Under each chart, .law-exponents lists each exponent with its interval
// (li[data-variable][data-exponent]). #scaling-error says why the family has no laws yet.

import { el, fmtNumber, replace } from "./dom.js";
import { draw, groupLegend, linearAxis, logAxis, logTicks, tooltip } from "./charts.js";

const POINTS = "#1f4e9c";
const LAW = "#d95f02";
const BAND = "rgba(217, 95, 2, 0.16)";
const STUDY = "#2ca02c";
// The legend's order: what was measured, what was fitted, then this study.
const LEGEND_RANK = { points: 0, law: 1, interval: 2, study: 3 };

// The last answer drawn, drawn again when the viewer picks another variable.
let shown = null;

/** Draw the panel from the API's /scaling answer (or say why there are no laws). */
export function drawScaling(study, data) {
  shown = { study, data };
  const body = document.getElementById("scaling-body");
  const reason = document.getElementById("scaling-error");
  if (!data.fit) {
    replace(document.getElementById("scaling-note"), data.family ? `family ${data.family}` : "");
    replace(reason, data.error
      ? `The family's laws cannot be fitted yet: ${data.error}`
      : "This study belongs to no family.");
    reason.hidden = false;
    body.hidden = true;
    clearLaws(document.getElementById("scaling-laws"));
    return;
  }
  reason.hidden = true;
  body.hidden = false;
  const { fit } = data;
  const studies = new Set(fit.points.flatMap((point) => point.studies));
  replace(document.getElementById("scaling-note"),
    `family ${data.family}: ${fit.points.length} scale points from ${studies.size} studies; ` +
    `${percent(fit.level)} prediction intervals`);
  fillVariables(fit);
  drawLaws();
  renderNotes(data);
}

/** The panel when its request failed (not a family too small: that answer has `error`). */
export function scalingFailed(error) {
  const reason = document.getElementById("scaling-error");
  if (!reason) return;
  replace(reason, el("span", { class: "error" }, `Could not load the laws: ${error.message}`));
  reason.hidden = false;
  document.getElementById("scaling-body").hidden = true;
}

const percent = (level) => `${fmtNumber(100 * level, 3)}%`;

/** The variables' select: kept as the viewer left it while the family keeps its variables;
 * by default the first variable a law may use (a dropped one is constant or collinear). */
function fillVariables(fit) {
  const select = document.getElementById("scaling-x");
  const names = fit.variables;
  const current = [...select.options].map((option) => option.value);
  if (JSON.stringify(current) === JSON.stringify(names)) return;
  const kept = names.includes(select.value) ? select.value : null;
  const initial = kept ?? names.find((name) => !(name in (fit.dropped || {}))) ?? names[0];
  replace(select, names.map((name) => el("option", { value: name, selected: name === initial },
    name)));
  select.value = initial;
  if (!select.dataset.listening) {
    select.addEventListener("change", drawLaws);
    select.dataset.listening = "1";
  }
}

/** Empty the laws' charts (Chart.js lets go of their canvases) and their container. */
function clearLaws(container) {
  for (const plot of container.querySelectorAll(".plot")) draw(plot.id, null, 0);
  replace(container);
  delete container.dataset.laws;
}

function drawLaws() {
  const { study, data } = shown;
  const { fit } = data;
  const variable = document.getElementById("scaling-x").value;
  const names = Object.keys(fit.laws);
  const container = document.getElementById("scaling-laws");
  // One chart per law; the cells stay (and redraw in place) while the laws are the same.
  if (container.dataset.laws !== JSON.stringify(names)) {
    clearLaws(container);
    container.append(...names.map((name, index) => el("div",
      { class: "scaling-law", "data-parameter": name },
      el("div", { class: "plot", id: `plot-scaling-${index}`, "data-points": "0" }),
      el("div", { class: "law-text" }))));
    container.dataset.laws = JSON.stringify(names);
    if (!names.length) {
      container.append(el("p", { class: "muted" }, "No numeric parameter: nothing to draw."));
    }
  }
  names.forEach((name, index) => {
    const id = `plot-scaling-${index}`;
    const { config, points } = lawChart(study, data, name, variable);
    document.getElementById(id).dataset.variable = variable;
    draw(id, config, points);
    const text = container.children[index].querySelector(".law-text");
    replace(text, lawText(data, name));
  });
  renderHeld(data, variable);
}

/** A law's chart along `variable`, and how many scale points it shows. */
function lawChart(study, data, name, variable) {
  const law = data.fit.laws[name];
  // A log law's values are positive (a log axis); a law fitted as it is can reach zero or
  // below, so it gets a linear one.
  const valid = (y) => Number.isFinite(y) && (!law.log || y > 0);
  const samples = data.lines?.[name]?.[variable] || [];
  const line = samples.filter((s) => valid(s.estimate)).map((s) => ({ x: s.x, y: s.estimate }));
  const band = samples.filter((s) => valid(s.lower) && valid(s.upper));
  const dots = data.fit.points
    .filter((point) => valid(point.estimates[name]) && point.scale[variable] > 0)
    .map((point) => ({
      x: point.scale[variable], y: point.estimates[name], scale: point.scale,
      method: point.methods?.[name], studies: point.studies, count: point.count,
      best_value: point.best_value,
    }));
  const here = data.scale?.[variable];
  const proposal = data.proposal;
  const marker = proposal && here > 0 && valid(proposal.estimates?.[name])
    ? [{ x: here, y: proposal.estimates[name], config: proposal.config[name],
      interval: proposal.intervals[name], clipped: (proposal.clipped || []).includes(name) }]
    : [];
  const interval = `${percent(law.level)} prediction interval`;
  const datasets = [
    {
      label: interval, group: "interval", follower: true, order: 4,
      data: band.map((s) => ({ x: s.x, y: s.lower })),
      showLine: true, pointRadius: 0, pointHitRadius: 0, borderWidth: 0,
      borderColor: "rgba(0,0,0,0)", backgroundColor: BAND, fill: false,
    },
    {
      label: interval, group: "interval", order: 4,
      data: band.map((s) => ({ x: s.x, y: s.upper })),
      showLine: true, pointRadius: 0, pointHitRadius: 0, borderWidth: 0,
      borderColor: "rgba(0,0,0,0)", backgroundColor: BAND, fill: "-1",
    },
    {
      label: "fitted law", group: "law", order: 3, data: line,
      showLine: true, pointRadius: 0, pointHitRadius: 0, borderWidth: 2,
      borderColor: LAW, backgroundColor: LAW,
    },
    {
      label: "scale points (estimated optimum)", group: "points", order: 2, data: dots,
      pointRadius: 4.5, pointHoverRadius: 6.5, borderColor: POINTS, backgroundColor: POINTS,
    },
  ];
  if (marker.length) {
    datasets.push({
      // Hollow: a scale point of this study's own shows through.
      label: "this study (proposal)", group: "study", order: 1, data: marker,
      pointStyle: "rectRot", pointRadius: 7, pointHoverRadius: 9, borderColor: STUDY,
      borderWidth: 2.5, backgroundColor: "rgba(0,0,0,0)",
    });
  }
  const xs = [...line, ...band, ...dots, ...marker].map((p) => p.x);
  if (here > 0) xs.push(here);
  const ys = [...line.map((p) => p.y), ...band.flatMap((s) => [s.lower, s.upper]),
    ...dots.map((p) => p.y), ...marker.map((p) => p.y)];
  const yTitle = `${name} (optimum)`;
  const [ylow, yhigh] = law.log ? padded(ys) : [undefined, undefined];
  const legend = groupLegend();
  legend.labels.sort = (a, b, chartData) => LEGEND_RANK[chartData.datasets[a.datasetIndex].group] -
    LEGEND_RANK[chartData.datasets[b.datasetIndex].group];
  const describe = (item) => (item.dataset.group === "study"
    ? describeStudy(name, variable, item.raw)
    : describePoint(study, name, variable, item.raw));
  return {
    points: dots.length,
    config: {
      type: "scatter",
      data: { datasets },
      options: {
        parsing: false,
        scales: {
          x: scaleAxis(variable, ...padded(xs)),
          y: law.log ? scaleAxis(yTitle, ylow, yhigh) : linearAxis(yTitle),
        },
        plugins: {
          legend,
          // Only the dots and the proposal answer the pointer; the line and band do not.
          tooltip: {
            ...tooltip(describe),
            filter: (item) => ["points", "study"].includes(item.dataset.group),
          },
          levelLines: { values: here > 0 ? [here] : [], color: STUDY },
        },
      },
    },
  };
}

/** [low, high] around positive values, widened a little (or 3x each way for one value). */
function padded(values) {
  const finite = values.filter((v) => Number.isFinite(v) && v > 0);
  if (!finite.length) return [1, 10];
  let [low, high] = [Math.min(...finite), Math.max(...finite)];
  if (high / low < 1.0001) return [low / 3, high * 3];
  const margin = (high / low) ** 0.04;
  [low, high] = [low / margin, high * margin];
  return [low, high];
}

/** A log axis whose ticks are labelled compactly ("3e6"), with at least two ticks. */
function scaleAxis(text, low, high) {
  let ticks = logTicks(low, high);
  if (ticks.length < 2) {
    ticks = [...new Set([low * 1.05, Math.sqrt(low * high), high / 1.05]
      .map((v) => Number(v.toPrecision(2))))].filter((v) => v >= low && v <= high);
  }
  const axis = logAxis(text, low, high, ticks);
  axis.ticks.callback = (value) => fmtScale(value);
  return axis;
}

/** A scale variable's value: 1e9 and 3e6 rather than 1000000000 and 3000000. */
function fmtScale(value) {
  if (!Number.isFinite(value) || value === 0) return fmtNumber(value);
  const magnitude = Math.abs(value);
  if (magnitude >= 1e5 || magnitude < 1e-3) {
    return value.toExponential(2).replace(/\.?0+e/, "e").replace("e+", "e");
  }
  return fmtNumber(value, 3);
}

function describePoint(study, name, variable, point) {
  const others = Object.entries(point.scale || {}).filter(([key]) => key !== variable)
    .map(([key, value]) => `${key} ${fmtScale(value)}`);
  // The fit ranks values as lower-is-better (a maximised objective's negated): shown back in
  // this study's direction, the family's usual one.
  const best = study.direction === "maximize" ? -point.best_value : point.best_value;
  return [
    [`${variable} ${fmtScale(point.x)}`, ...others].join(" \u00b7 "),
    `${name} optimum ${fmtNumber(point.y, 4)}${point.method ? ` (${point.method})` : ""}`,
    `${point.count} results \u00b7 best value ${fmtNumber(best, 5)}`,
    `studies: ${(point.studies || []).join(", ")}`,
  ];
}

function describeStudy(name, variable, marker) {
  const [lower, upper] = marker.interval || [];
  return [
    `this study: ${variable} ${fmtScale(marker.x)}`,
    `proposed ${name} ${fmtNumber(marker.config, 4)}${marker.clipped ? " (clipped to the space)" : ""}`,
    `law ${fmtNumber(marker.y, 4)}, interval ${fmtNumber(lower, 3)} \u2013 ${fmtNumber(upper, 3)}`,
  ];
}

/** Under a chart: the law, each exponent with its interval, and the proposal here. */
function lawText(data, name) {
  const { fit, proposal } = data;
  const law = fit.laws[name];
  const level = percent(law.level);
  const used = law.variables || [];
  const formula = !used.length
    ? `${name}* = ${fmtNumber(law.log ? Math.exp(law.intercept) : law.intercept, 4)} at every scale (no scale variable improved the fit)`
    : law.log
      ? `${name}* \u221d ${used.map((v) => `${v}^${fmtNumber(law.exponents[v], 3)}`).join(" \u00b7 ")}`
      : `${name}* = ${fmtNumber(law.intercept, 4)} ${used.map((v) =>
        `${law.exponents[v] < 0 ? "\u2212" : "+"} ${fmtNumber(Math.abs(law.exponents[v]), 3)} \u00b7 ln ${v}`).join(" ")}`;
  const exponents = fit.variables.map((v) => {
    if (!(v in law.exponents)) {
      const why = fit.dropped?.[v] ? "dropped (see the notes)" : "not in the law: it did not improve the fit";
      return el("li", { "data-variable": v }, `${v}: `, el("span", { class: "muted" }, why));
    }
    const [low, high] = law.intervals[v];
    const what = law.log ? "exponent" : "slope per ln";
    return el("li", { "data-variable": v, "data-exponent": law.exponents[v] },
      `${what} of ${v}: `, el("strong", {}, fmtNumber(law.exponents[v], 3)),
      ` (${level} interval ${fmtNumber(low, 3)} to ${fmtNumber(high, 3)})`);
  });
  const fitted = `${law.points} scale points, ${law.dof} residual degrees of freedom, ` +
    `residual sd ${fmtNumber(law.residual_sd, 3)}${law.log ? " (ln units)" : ""}`;
  let here = null;
  if (proposal && proposal.estimates?.[name] !== undefined) {
    const [low, high] = proposal.intervals[name];
    here = el("div", { class: "law-proposal" },
      el("span", { class: "label" }, "at this study's scale: "),
      el("strong", {}, fmtNumber(proposal.config[name], 4)),
      ` (${level} interval ${fmtNumber(low, 3)} to ${fmtNumber(high, 3)})`,
      proposal.clipped.includes(name)
        ? ` \u00b7 the law's ${fmtNumber(proposal.estimates[name], 4)} lies outside the space: clipped`
        : "");
  }
  return [
    el("div", { class: "law-formula" }, formula),
    el("ul", { class: "law-exponents" }, exponents),
    el("div", { class: "muted" }, fitted),
    here,
  ];
}

/** What the lines hold fixed, beside the select. */
function renderHeld(data, variable) {
  const others = Object.entries(data.held || {}).filter(([name]) => name !== variable);
  replace(document.getElementById("scaling-held"), others.length
    ? `other variables held at ${others.map(([name, value]) => `${name} ${fmtScale(value)} (${
      data.scale && name in data.scale ? "this study's" : "the largest scale point's"})`).join(", ")}`
    : "");
}

/** The fit's notes, the categorical parameters' choices, and how far this study's scale
 * lies beyond the points. */
function renderNotes(data) {
  const { fit, proposal } = data;
  const notes = [...(fit.notes || [])];
  for (const [name, choice] of Object.entries(fit.choices || {})) {
    notes.push(`${name}: ${JSON.stringify(choice)} at every scale (a categorical parameter is ` +
      "not extrapolated: the choice at the largest scale point)");
  }
  for (const [name, decades] of Object.entries(proposal?.extrapolation || {})) {
    if (decades > 0) {
      notes.push(`this study's ${name} lies ${fmtNumber(decades, 2)} decades beyond the scale ` +
        "points: its proposal rests on the law holding that far");
    }
  }
  const list = document.getElementById("scaling-notes");
  replace(list, notes.map((text) => el("li", {}, text)));
  list.hidden = notes.length === 0;
}
