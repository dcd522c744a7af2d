// Small SVG charts drawn by hand: bars, lines, parallel coordinates and a
// Gantt timeline. Each returns an <svg> sized by its viewBox, so it
// scales with the page.
"use strict";

const palette = ["#1e88e5", "#e53935", "#43a047", "#fb8c00", "#8e24aa", "#00897b", "#6d4c41", "#3949ab", "#c0ca33", "#d81b60"];

function seriesColor(i) { return palette[i % palette.length]; }

// niceTicks returns about n round values spanning [lo, hi].
function niceTicks(lo, hi, n) {
  if (!isFinite(lo) || !isFinite(hi)) return [0];
  if (lo === hi) { lo -= 1; hi += 1; }
  const raw = (hi - lo) / Math.max(1, n);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= raw) || raw;
  const out = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step / 2; v += step) out.push(+v.toPrecision(12));
  return out;
}

function tickLabel(v) {
  const a = Math.abs(v);
  if (a >= 1e6) return +(v / 1e6).toPrecision(3) + "M";
  if (a >= 1e4) return +(v / 1e3).toPrecision(3) + "k";
  return String(+v.toPrecision(4));
}

// barChart draws bars per label: one series, or several stacked.
// opts: {labels, series: [{name, color, colors, values}], height, title,
// highlight} where colors, when given, colour each bar of a series, and
// highlight is the index of a bar to outline (the best run, say).
function barChart(opts) {
  const W = 560, H = opts.height || 220, L = 48, R = 12, T = opts.title ? 26 : 10, B = 46;
  const n = opts.labels.length;
  const totals = opts.labels.map((_, i) => opts.series.reduce((s, se) => s + (+se.values[i] || 0), 0));
  const mins = opts.labels.map((_, i) => Math.min(0, ...opts.series.map(se => +se.values[i] || 0)));
  const ticks = niceTicks(Math.min(0, ...mins), Math.max(0, ...totals), 4);
  const y0 = ticks[0], y1 = ticks[ticks.length - 1];
  const y = v => T + (H - T - B) * (1 - (v - y0) / (y1 - y0 || 1));
  const slot = (W - L - R) / Math.max(1, n);
  const bw = Math.max(2, Math.min(48, slot * 0.7));
  const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": opts.title || "bar chart" });
  if (opts.title) g.append(svg("text", { x: L, y: 16, class: "chart-title" }, opts.title));
  for (const t of ticks) {
    g.append(svg("line", { x1: L, x2: W - R, y1: y(t), y2: y(t), class: "grid" }),
      svg("text", { x: L - 6, y: y(t) + 4, class: "tick", "text-anchor": "end" }, tickLabel(t)));
  }
  opts.labels.forEach((label, i) => {
    const x = L + slot * i + (slot - bw) / 2;
    let base = 0;
    opts.series.forEach((se, si) => {
      const v = +se.values[i] || 0;
      if (!v) return;
      const top = v >= 0 ? base + v : base, bottom = v >= 0 ? base : base + v;
      const r = svg("rect", {
        x, width: bw, y: y(top), height: Math.max(1, y(bottom) - y(top)), fill: (se.colors && se.colors[i]) || se.color || seriesColor(si),
        class: opts.highlight === i ? "bar best-bar" : "bar", "data-bar": label,
      }, svg("title", {}, `${label} · ${se.name}: ${fmtValue(se.values[i])}`));
      g.append(r);
      if (v >= 0) base += v;
    });
    if (n <= 40 && (n <= 14 || i % Math.ceil(n / 14) === 0)) {
      const text = String(label).length > 12 ? String(label).slice(0, 11) + "…" : String(label);
      g.append(svg("text", { x: x + bw / 2, y: H - B + 14, class: "tick", "text-anchor": "middle" }, text));
    }
  });
  if (opts.series.length > 1) legend(g, opts.series, L, H - 14);
  return g;
}

function legend(g, series, x, y) {
  let at = x;
  series.forEach((se, i) => {
    g.append(svg("rect", { x: at, y: y - 9, width: 10, height: 10, fill: se.color || seriesColor(i) }),
      svg("text", { x: at + 14, y, class: "tick" }, se.name));
    at += 24 + 7 * se.name.length;
  });
}

// lineChart draws series of [x, y] points.
// opts: {series: [{name, color, points}], title, xLabel}
function lineChart(opts) {
  const W = 560, H = 240, L = 52, R = 12, T = opts.title ? 26 : 10, B = 48;
  const all = opts.series.flatMap(s => s.points);
  let xt = niceTicks(Math.min(...all.map(p => p[0])), Math.max(...all.map(p => p[0])), 6);
  // Steps and versions are whole numbers: so are their ticks.
  if (all.every(p => Number.isInteger(p[0]))) {
    const whole = xt.filter(Number.isInteger);
    xt = whole.length >= 2 ? whole : [...new Set(all.map(p => p[0]))].sort((a, b) => a - b);
  }
  const yt = niceTicks(Math.min(...all.map(p => p[1])), Math.max(...all.map(p => p[1])), 4);
  const x = v => L + (W - L - R) * (v - xt[0]) / ((xt[xt.length - 1] - xt[0]) || 1);
  const y = v => T + (H - T - B) * (1 - (v - yt[0]) / ((yt[yt.length - 1] - yt[0]) || 1));
  const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": opts.title || "line chart" });
  if (opts.title) g.append(svg("text", { x: L, y: 16, class: "chart-title" }, opts.title));
  for (const t of yt) g.append(svg("line", { x1: L, x2: W - R, y1: y(t), y2: y(t), class: "grid" }),
    svg("text", { x: L - 6, y: y(t) + 4, class: "tick", "text-anchor": "end" }, tickLabel(t)));
  for (const t of xt) g.append(svg("text", { x: x(t), y: H - B + 14, class: "tick", "text-anchor": "middle" }, tickLabel(t)));
  if (opts.xLabel) g.append(svg("text", { x: W - R, y: H - B + 28, class: "tick", "text-anchor": "end" }, opts.xLabel));
  opts.series.forEach((s, i) => {
    const color = s.color || seriesColor(i);
    g.append(svg("polyline", { points: s.points.map(p => x(p[0]) + "," + y(p[1])).join(" "), fill: "none", stroke: color, "stroke-width": 2, "data-series": s.name },
      svg("title", {}, s.name)));
    if (s.points.length <= 60) for (const p of s.points) g.append(svg("circle", { cx: x(p[0]), cy: y(p[1]), r: 2.5, fill: color }, svg("title", {}, `${s.name}: ${fmtValue(p[1])} at ${p[0]}`)));
  });
  if (opts.series.length > 1) legend(g, opts.series, L, H - 10);
  return g;
}

// parallelCoords draws one vertical axis per dimension and one line per
// run across them, coloured by the last dimension (the chosen metric).
// dims: [{name, values: [per run]}]; numbers get a linear axis, anything
// else a categorical one. runs: [names]; best: index of a run to stress.
function parallelCoords(dims, runs, best) {
  const W = Math.max(900, 180 * dims.length), H = 260, T = 34, B = 24, L = 110, R = 110;
  const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart parcoords", role: "img", "aria-label": "parallel coordinates" });
  const ax = i => L + (W - L - R) * (dims.length === 1 ? 0.5 : i / (dims.length - 1));
  const scales = dims.map(d => {
    const nums = d.values.filter(v => typeof v === "number");
    if (nums.length && nums.length === d.values.filter(v => v != null).length) {
      const t = niceTicks(Math.min(...nums), Math.max(...nums), 4);
      const lo = t[0], hi = t[t.length - 1];
      return { pos: v => v == null ? null : T + (H - T - B) * (1 - (v - lo) / ((hi - lo) || 1)), ticks: t.map(v => [v, tickLabel(v)]) };
    }
    const cats = [...new Set(d.values.filter(v => v != null).map(fmtValue))].sort();
    const p = c => T + (H - T - B) * (cats.length === 1 ? 0.5 : cats.indexOf(c) / (cats.length - 1));
    return { pos: v => v == null ? null : p(fmtValue(v)), ticks: cats.map(c => [c, c]) };
  });
  const metric = dims[dims.length - 1].values;
  const mnums = metric.filter(v => typeof v === "number");
  const mlo = Math.min(...mnums), mhi = Math.max(...mnums);
  const colour = v => {
    if (typeof v !== "number" || mhi === mlo) return "#607d8b";
    const f = (v - mlo) / (mhi - mlo);
    return `hsl(${Math.round(220 - 200 * f)}, 70%, 45%)`;
  };
  runs.forEach((run, r) => {
    const pts = dims.map((d, i) => [ax(i), scales[i].pos(d.values[r])]).filter(p => p[1] != null);
    g.append(svg("polyline", { points: pts.map(p => p.join(",")).join(" "), fill: "none", stroke: colour(metric[r]),
      "stroke-width": r === best ? 4 : 2, opacity: r === best ? 1 : 0.75, "data-run": run }, svg("title", {}, run + ": " + fmtValue(metric[r]))));
  });
  dims.forEach((d, i) => {
    g.append(svg("line", { x1: ax(i), x2: ax(i), y1: T, y2: H - B, class: "axis" }),
      svg("text", { x: ax(i), y: 16, "text-anchor": "middle", class: "chart-title" }, d.name));
    for (const [v, label] of scales[i].ticks) {
      const yy = scales[i].pos(v);
      g.append(svg("text", { x: ax(i) + 5, y: yy + 4, class: "tick" }, label));
    }
  });
  return g;
}

// gantt draws task attempts as bars on a time axis, one lane per node.
// bars: [{lane, task, attempt, start, end, status}] with times in ms.
function gantt(bars, onClick) {
  const lanes = [...new Set(bars.map(b => b.lane))].sort();
  const W = 1000, LH = 26, T = 24, L = 120, R = 16;
  const H = T + lanes.length * LH + 8;
  const t0 = Math.min(...bars.map(b => b.start)), t1 = Math.max(...bars.map(b => b.end));
  const span = Math.max(1, t1 - t0);
  const x = t => L + (W - L - R) * (t - t0) / span;
  const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart gantt", role: "img", "aria-label": "timeline of task attempts" });
  for (const s of niceTicks(0, span / 1000, 8)) {
    if (s * 1000 > span) continue;
    const xx = x(t0 + s * 1000);
    g.append(svg("line", { x1: xx, x2: xx, y1: T - 4, y2: H - 4, class: "grid" }),
      svg("text", { x: xx, y: 14, class: "tick", "text-anchor": "middle" }, fmtDuration(s)));
  }
  lanes.forEach((lane, i) => g.append(svg("text", { x: L - 8, y: T + i * LH + 17, class: "tick", "text-anchor": "end" }, lane || "(unplaced)")));
  // Attempts of one lane that overlap share it: each gets a thin row.
  const rows = new Map();
  for (const b of bars.sort((a, b2) => a.start - b2.start)) {
    const li = lanes.indexOf(b.lane);
    const lane = rows.get(li) || [];
    let row = lane.findIndex(end => end <= b.start);
    if (row < 0) { row = lane.length; lane.push(0); }
    lane[row] = b.end;
    rows.set(li, lane);
    b.row = row;
  }
  for (const b of bars) {
    const depth = rows.get(lanes.indexOf(b.lane)).length;
    const h = (LH - 6) / depth;
    const yy = T + lanes.indexOf(b.lane) * LH + 3 + b.row * h;
    const r = svg("rect", { x: x(b.start), y: yy, width: Math.max(2, x(b.end) - x(b.start)), height: Math.max(2, h - 1),
      fill: statusColors[b.status] || "#90a4ae", class: "bar", "data-gantt-task": b.task, "data-status": b.status },
    svg("title", {}, `${b.task} #${b.attempt} on ${b.lane}: ${b.status}, ${fmtDuration((b.end - b.start) / 1000)}`));
    if (onClick) r.addEventListener("click", () => onClick(b.task));
    g.append(r);
    // The task's name inside its bar, where it fits.
    const w = x(b.end) - x(b.start);
    if (depth === 1 && w > 7 * b.task.length + 10) {
      g.append(svg("text", { x: x(b.start) + 5, y: yy + h / 2 + 4, class: "bar-label", "pointer-events": "none" }, b.task));
    }
  }
  return g;
}
