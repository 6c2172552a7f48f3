// Parallel coordinates on a canvas: one vertical axis per parameter and a last one for the
// value, one line per trial across them. Hovering a line highlights it and names its trial.
//
// Drawn here with the canvas API rather than by chartjs-chart-pcp, which makes a Chart.js
// element of every line segment and resolves each one's colour and width separately: 800
// trials over 6 axes took about 270 ms of the page's budget there, and take a few ms here.

import { el, fmtNumber, replace } from "./dom.js";

const MARGIN = { top: 12, bottom: 28, left: 64, right: 64 };
const HOVER_PIXELS = 5; // how close to a line the pointer must be to pick it
const FONT = "11px system-ui, -apple-system, 'Segoe UI', sans-serif";

/** About `count` round tick values between low and high. */
export function niceTicks(low, high, count = 5) {
  const span = high - low;
  if (!(span > 0)) return [low];
  const magnitude = 10 ** Math.floor(Math.log10(span / count));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => span / s <= count);
  const ticks = [];
  for (let value = Math.ceil(low / step) * step; value <= high + step * 1e-9; value += step) {
    ticks.push(Number(value.toPrecision(12)));
  }
  return ticks;
}

/**
 * The panel's config for charts.draw: `paint` draws into a chart cell and is called again
 * when the cell is resized.
 *
 * axes: [{label, values: one number per line, min, max, log?, ticks: [{value, label}]}]
 * colours: one CSS colour per line; order: line indexes, drawn first to last (last on top);
 * describe(index): the tooltip's lines of text for a line.
 */
export function parallelCoordinates({ axes, colours, order, describe }) {
  return { paint: (cell) => paint(cell, { axes, colours, order, describe }) };
}

function paint(cell, { axes, colours, order, describe }) {
  const [base, overlay] = canvases(cell);
  const width = cell.clientWidth;
  const height = cell.clientHeight;
  const top = MARGIN.top;
  const bottom = height - MARGIN.bottom;
  const gap = (width - MARGIN.left - MARGIN.right) / Math.max(1, axes.length - 1);
  const xs = axes.map((_, i) => MARGIN.left + i * gap);
  const position = (axis, value) => {
    const [low, high, v] = axis.log
      ? [Math.log10(axis.min), Math.log10(axis.max), Math.log10(value)]
      : [axis.min, axis.max, value];
    const t = high > low ? (v - low) / (high - low) : 0.5;
    return bottom - Math.min(1, Math.max(0, t)) * (bottom - top);
  };
  // ys[a][i]: the pixel height of line i on axis a.
  const ys = axes.map((axis) => Float32Array.from(axis.values, (v) => position(axis, v)));

  const ctx = sized(base, width, height);
  ctx.lineWidth = 1;
  ctx.globalAlpha = 0.6;
  for (const i of order) {
    ctx.strokeStyle = colours[i];
    ctx.beginPath();
    ctx.moveTo(xs[0], ys[0][i]);
    for (let a = 1; a < axes.length; a += 1) ctx.lineTo(xs[a], ys[a][i]);
    ctx.stroke();
  }
  ctx.globalAlpha = 1;
  axes.forEach((axis, a) => drawAxis(ctx, axis, xs[a], top, bottom, (v) => position(axis, v)));

  sized(overlay, width, height);
  const tip = cell.querySelector(".plot-tooltip");
  overlay.onmouseleave = () => {
    overlay.getContext("2d").clearRect(0, 0, width, height);
    tip.hidden = true;
  };
  overlay.onmousemove = (event) => {
    const [mx, my] = [event.offsetX, event.offsetY];
    const line = nearestLine(xs, ys, order, mx, my);
    const hover = overlay.getContext("2d");
    hover.clearRect(0, 0, width, height);
    tip.hidden = line === null;
    if (line === null) return;
    hover.lineWidth = 2.5;
    hover.strokeStyle = "#d62728";
    hover.beginPath();
    xs.forEach((x, a) => (a === 0 ? hover.moveTo(x, ys[a][line]) : hover.lineTo(x, ys[a][line])));
    hover.stroke();
    replace(tip, describe(line).map((text) => el("div", {}, text)));
    tip.style.left = `${Math.min(mx + 12, width - tip.offsetWidth - 4)}px`;
    tip.style.top = `${Math.max(0, my - tip.offsetHeight - 8)}px`;
  };
}

/** The cell's two canvases (lines and axes; the hovered line) and its tooltip, made once. */
function canvases(cell) {
  if (!cell.querySelector(".plot-tooltip")) {
    cell.append(el("canvas", { class: "overlay" }), el("div", { class: "plot-tooltip", hidden: true }));
  }
  return cell.querySelectorAll("canvas");
}

/** Size a canvas to CSS pixels times the screen's pixel ratio; its context draws in CSS pixels. */
function sized(canvas, width, height) {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return ctx;
}

function drawAxis(ctx, axis, x, top, bottom, position) {
  ctx.strokeStyle = "#555";
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(x + 0.5, top);
  ctx.lineTo(x + 0.5, bottom);
  ctx.stroke();
  ctx.font = FONT;
  ctx.textBaseline = "middle";
  ctx.textAlign = "left";
  for (const tick of axis.ticks) {
    const y = position(tick.value);
    const { width } = ctx.measureText(tick.label);
    ctx.fillStyle = "rgba(255,255,255,0.85)"; // readable over the lines
    ctx.fillRect(x + 5, y - 7, width + 4, 14);
    ctx.fillStyle = "#333";
    ctx.fillText(tick.label, x + 7, y);
    ctx.beginPath();
    ctx.moveTo(x - 3, y + 0.5);
    ctx.lineTo(x + 4, y + 0.5);
    ctx.stroke();
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  ctx.fillStyle = "#222";
  ctx.fillText(axis.label, x, bottom + 8);
}

/** The line passing closest to (mx, my) between the two axes around mx, or null if none is
 * within HOVER_PIXELS. Among lines equally close, the one drawn last (on top) wins. */
function nearestLine(xs, ys, order, mx, my) {
  const a = xs.findIndex((x, k) => k > 0 && mx <= x);
  if (mx < xs[0] - HOVER_PIXELS || a < 0) return null;
  const t = (mx - xs[a - 1]) / (xs[a] - xs[a - 1]);
  let best = null;
  let distance = HOVER_PIXELS;
  for (const i of order) {
    const y = ys[a - 1][i] + t * (ys[a][i] - ys[a - 1][i]);
    if (Math.abs(y - my) <= distance) {
      distance = Math.abs(y - my);
      best = i;
    }
  }
  return best;
}

/** Tick objects for values, labelled by a formatter (numbers: 3 significant digits). */
export function ticksAt(values, label = (v) => fmtNumber(v, 3)) {
  return values.map((value) => ({ value, label: label(value) }));
}
