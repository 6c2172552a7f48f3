// The parameter plots: parallel coordinates (parcoords.js) and one scatter per parameter,
// both over the results at one rung (the API picks it: the highest rung with enough results,
// so that values are comparable across trials).

import { fmtNumber } from "./dom.js";
import {
  blues, choiceAxis, draw, linearAxis, logAxis, logTicks, normalise, tooltip, viridis,
} from "./charts.js";
import { niceTicks, parallelCoordinates, ticksAt } from "./parcoords.js";

const choiceLabel = (choice) => (typeof choice === "string" ? choice : JSON.stringify(choice));
/** A configuration value in a tooltip: numbers to 4 significant digits. */
const shown = (value) => (typeof value === "number" ? fmtNumber(value, 4) : choiceLabel(value));

/** A parameter's values as numbers on an axis: categorical as the choice's position. */
function positions(parameter, trials) {
  const raw = trials.map((t) => t.config[parameter.name]);
  if (parameter.type !== "categorical") return raw;
  const keys = parameter.choices.map((c) => JSON.stringify(c));
  return raw.map((v) => keys.indexOf(JSON.stringify(v)));
}

/** A parameter's parallel-coordinates axis: its range and labelled ticks (the choices of a
 * categorical parameter, round values otherwise). */
function parameterAxis(parameter, trials) {
  const axis = { label: parameter.name + (parameter.log ? " (log)" : ""), values: positions(parameter, trials) };
  if (parameter.type === "categorical") {
    const labels = parameter.choices.map(choiceLabel);
    const ticks = labels.map((label, value) => ({ value, label }));
    return { ...axis, min: 0, max: Math.max(1, labels.length - 1), ticks };
  }
  const { low: min, high: max } = parameter;
  const round = parameter.log ? logTicks(min, max) : niceTicks(min, max);
  const ticks = ticksAt(round.length >= 2 ? round : [min, max]);
  return { ...axis, min, max, log: parameter.log, ticks };
}

// Beyond this many parameters the axes are unreadable; the note under the panel says so.
export const MAX_PARAMETERS = 24;

export function drawParams(study, data) {
  const parameters = (data.parameters || []).slice(0, MAX_PARAMETERS);
  const trials = (data.trials || []).filter(
    (t) => Number.isFinite(t.value) && parameters.every((p) => t.config && p.name in t.config),
  );
  const metric = study.metric || "value";
  const values = trials.map((t) => t.value);
  const range = values.length ? [Math.min(...values), Math.max(...values)] : [0, 1];
  // Bright = better, whatever the direction; the best lines are drawn last, on top.
  const better = study.direction === "maximize" ? 1 : -1;
  const shade = normalise(values).map((s) => (better > 0 ? s : 1 - s));
  const order = trials.map((_, i) => i).sort((i, j) => shade[i] - shade[j]);
  const axes = parameters.map((p) => parameterAxis(p, trials));
  axes.push({
    label: metric, values, min: range[0], max: range[1], ticks: ticksAt(niceTicks(...range)),
  });
  const describe = (i) => [
    `trial #${trials[i].number}`,
    ...parameters.map((p) => `${p.name} = ${shown(trials[i].config[p.name])}`),
    `${metric} = ${fmtNumber(trials[i].value)}`,
  ];
  draw("plot-parcoords",
    parallelCoordinates({ axes, colours: shade.map(viridis), order, describe }), trials.length);
  drawScatter(study, parameters, data.trials || []);
}

// The scatter plots' colour steps from the first trial (light) to the last (dark).
const SHADES = 8;

/** A stable offset in [-0.15, 0.15] for a trial: points of one categorical choice spread out
 * instead of sitting on top of each other, and stay put across live updates. */
const jitter = (number) => (((number * 2654435761) % 1000) / 1000 - 0.5) * 0.3;

function scatterAxis(parameter) {
  if (parameter.type === "categorical") return choiceAxis(parameter.name, parameter.choices.map(choiceLabel));
  if (parameter.log) return logAxis(`${parameter.name} (log)`, parameter.low, parameter.high);
  return linearAxis(parameter.name, { min: parameter.low, max: parameter.high });
}

/** One small scatter per parameter (value vs parameter), in a grid. Colour: trial number,
 * so the drift of the sampler towards good regions is visible (darker = later). */
function drawScatter(study, parameters, allTrials) {
  const columns = Math.min(4, Math.max(1, parameters.length));
  const metric = study.metric || "value";
  let points = 0;
  const charts = parameters.map((parameter, index) => {
    const trials = allTrials.filter(
      (t) => Number.isFinite(t.value) && t.config && parameter.name in t.config,
    );
    points += trials.length;
    const xs = positions(parameter, trials);
    const categorical = parameter.type === "categorical";
    const last = Math.max(1, ...trials.map((t) => t.number));
    // One dataset per shade, newest first (drawn on top): a dataset of one colour shares its
    // options among its points, which Chart.js would otherwise resolve point by point.
    const shades = Array.from({ length: SHADES }, () => []);
    trials.forEach((t, k) => {
      const shade = Math.min(SHADES - 1, Math.floor((t.number / last) * SHADES));
      shades[SHADES - 1 - shade].push({
        x: categorical ? xs[k] + jitter(t.number) : xs[k], y: t.value, trial: t, choice: t.config[parameter.name],
      });
    });
    return {
      type: "scatter",
      data: {
        datasets: shades.map((data, i) => ({
          data, pointRadius: 2.5, backgroundColor: blues(1 - i / (SHADES - 1)),
          borderColor: "rgba(60,60,60,0.5)", borderWidth: 0.5,
        })),
      },
      options: {
        parsing: false,
        scales: { x: scatterAxis(parameter), y: linearAxis(index % columns === 0 ? metric : "") },
        plugins: {
          legend: { display: false },
          tooltip: tooltip((item) => [
            `trial #${item.raw.trial.number}`,
            `${parameter.name} ${shown(item.raw.choice)}`,
            `${metric} ${fmtNumber(item.raw.y)}`,
          ]),
        },
      },
    };
  });
  const node = document.getElementById("plot-scatter");
  node.style.gridTemplateColumns = `repeat(${columns}, 1fr)`;
  draw("plot-scatter", charts, points);
}
