// The parameter plots: parallel coordinates (Plotly parcoords) and one scatter per parameter,
// both over the results at one rung (the API picks it: the highest rung with enough results,
// so that values are comparable across trials).

import { fmtNumber, plotlyText } from "./dom.js";
import { axis, draw, drawError, layout, logAxis, logTicks } from "./plots.js";

/** A parameter's values on a parcoords axis: categorical as integer positions with the choices
 * as tick labels, log parameters as log10 with the real values as tick labels. */
function dimension(parameter, trials) {
  const raw = trials.map((t) => t.config[parameter.name]);
  const label = plotlyText(parameter.name);
  if (parameter.type === "categorical") {
    const keys = parameter.choices.map((c) => JSON.stringify(c));
    return {
      label,
      values: raw.map((v) => keys.indexOf(JSON.stringify(v))),
      range: [0, Math.max(1, keys.length - 1)],
      tickvals: keys.map((_, i) => i),
      ticktext: parameter.choices.map((c) => plotlyText(typeof c === "string" ? c : JSON.stringify(c))),
    };
  }
  if (parameter.log) {
    let ticks = logTicks(parameter.low, parameter.high);
    if (ticks.length < 2) ticks = [parameter.low, parameter.high];
    return {
      label: `${label} (log)`,
      values: raw.map((v) => Math.log10(v)),
      range: [Math.log10(parameter.low), Math.log10(parameter.high)],
      tickvals: ticks.map((t) => Math.log10(t)),
      ticktext: ticks.map((t) => fmtNumber(t, 3)),
    };
  }
  return { label, values: raw, range: [parameter.low, parameter.high] };
}

/** Plotly draws parcoords with WebGL only; without it the plot would stay blank while
 * data-points claimed lines, so the panel says why instead. */
let webglAnswer = null;
function webgl() {
  if (webglAnswer === null) {
    const canvas = document.createElement("canvas");
    webglAnswer = Boolean(canvas.getContext("webgl") || canvas.getContext("experimental-webgl"));
  }
  return webglAnswer;
}

// Beyond this many parameters the axes are unreadable; the note under the panel says so.
export const MAX_PARAMETERS = 24;

export async function drawParams(study, data) {
  const parameters = (data.parameters || []).slice(0, MAX_PARAMETERS);
  const trials = (data.trials || []).filter(
    (t) => Number.isFinite(t.value) && parameters.every((p) => t.config && p.name in t.config),
  );
  const values = trials.map((t) => t.value);
  const minimize = study.direction !== "maximize";
  // Bright = better, whatever the direction.
  const colorscale = "Viridis";
  const parcoords = trials.length === 0 ? [] : [{
    type: "parcoords",
    line: {
      color: values, colorscale, reversescale: minimize, showscale: true,
      colorbar: { title: { text: plotlyText(study.metric || "value") }, thickness: 10, x: 1.06 },
    },
    dimensions: [
      ...parameters.map((p) => dimension(p, trials)),
      { label: plotlyText(study.metric || "value"), values },
    ],
    labelfont: { size: 11 }, tickfont: { size: 10 },
  }];
  // The scatter plots first, painted before the parallel coordinates, which cost seconds
  // with software WebGL (a machine without a GPU) however few lines they draw.
  await drawScatter(study, parameters, data.trials || []);
  await new Promise((resolve) => setTimeout(resolve));
  if (parcoords.length && !webgl()) {
    drawError("plot-parcoords", new Error("parallel coordinates need WebGL, which this browser does not offer"));
  } else {
    await draw("plot-parcoords", parcoords,
      layout({ margin: { l: 60, r: 110, t: 40, b: 24 } }), parcoords.length ? trials.length : 0);
  }
}

/** One small scatter per parameter (value vs parameter), in a grid sharing one figure. Colour:
 * trial number, so the drift of the sampler towards good regions is visible. */
async function drawScatter(study, parameters, allTrials) {
  const columns = Math.min(4, Math.max(1, parameters.length));
  const rows = Math.max(1, Math.ceil(parameters.length / columns));
  const traces = [];
  const figure = layout({
    grid: { rows, columns, pattern: "independent", xgap: 0.12, ygap: 0.35 },
    height: 60 + rows * 220,
    margin: { l: 58, r: 14, t: 30, b: 46 },
    showlegend: false,
  });
  let points = 0;
  parameters.forEach((parameter, i) => {
    const suffix = i === 0 ? "" : String(i + 1);
    const trials = allTrials.filter(
      (t) => Number.isFinite(t.value) && t.config && parameter.name in t.config,
    );
    points += trials.length;
    const categorical = parameter.type === "categorical";
    const show = (v) => (categorical ? (typeof v === "string" ? v : JSON.stringify(v)) : v);
    traces.push({
      type: "scatter", mode: "markers", xaxis: `x${suffix}`, yaxis: `y${suffix}`,
      x: trials.map((t) => show(t.config[parameter.name])),
      y: trials.map((t) => t.value),
      customdata: trials.map((t) => t.number),
      marker: {
        size: 6, color: trials.map((t) => t.number), colorscale: "Blues", cmin: 0,
        line: { color: "#555", width: 0.5 }, opacity: 0.85,
      },
      hovertemplate: `${plotlyText(parameter.name)} %{x}<br>%{y}<br>trial #%{customdata}<extra></extra>`,
    });
    figure[`xaxis${suffix}`] = axis(parameter.name + (parameter.log ? " (log)" : ""), {
      ...(parameter.log ? logAxis(parameter.low, parameter.high) : {}),
      type: categorical ? "category" : parameter.log ? "log" : "linear",
      ...(categorical ? {
        categoryorder: "array",
        categoryarray: parameter.choices.map((c) => plotlyText(show(c))),
      } : {}),
    });
    figure[`yaxis${suffix}`] = axis(i % columns === 0 ? study.metric || "value" : "");
  });
  if (points === 0) figure.height = 160; // just the "no data yet" line
  const node = document.getElementById("plot-scatter");
  node.style.height = `${figure.height}px`;
  await draw("plot-scatter", traces, figure, points);
}
