// Runs compared side by side: params and metrics with differences and the
// best value of each metric highlighted, a parallel-coordinates chart of
// params against a chosen metric, a bar chart per metric, metric series
// as lines, and the outputs compared (rows, schema, column statistics).
// The experiment page is the same view of a sweep's runs.
"use strict";

// comparisonView draws a comparison as GET /compare returns it.
function comparisonView(c) {
  const ids = c.runs.map(r => r.id);
  const head = ["", ...c.runs.map(r => el("span", {}, runLink(r.id), " ", badge(r.status)))];
  const rowsOf = (list, kind) => list.map(r => el("tr", { class: r.differs ? "differs" : "", ["data-" + kind]: r.name },
    el("th", { scope: "row" }, r.name, r.goal ? el("small", { class: "muted" }, r.goal === "max" ? " ↑ higher is better" : " ↓ lower is better") : null),
    r.values.map((v, i) => el("td", i === r.best ? { class: "best", title: "best" } : {}, fmtValue(v)))));
  const sideBySide = table(head, [
    el("tr", { class: "group" }, el("th", { colspan: ids.length + 1 }, "Params")), ...rowsOf(c.params, "param"),
    el("tr", { class: "group" }, el("th", { colspan: ids.length + 1 }, "Metrics")), ...rowsOf(c.metrics, "metric"),
    el("tr", {}, el("th", { scope: "row" }, "duration"), c.runs.map(r => el("td", {}, fmtDuration(r.seconds))))], { class: "compare", id: "compare-table" });

  const parts = [el("h2", {}, "Side by side"), el("div", { class: "scroll" }, sideBySide),
    el("p", { class: "muted" }, "Rows that differ between runs are shaded; the best value of a metric is green.")];

  const numeric = c.metrics.filter(m => m.values.some(v => typeof v === "number"));
  if (numeric.length && c.params.length) {
    const pick = el("select", { "aria-label": "metric for the chart" }, numeric.map(m => el("option", { value: m.name }, m.name)));
    const box = el("div", { id: "parcoords" });
    const draw = () => {
      const m = numeric.find(x => x.name === pick.value);
      const dims = [...c.params.filter(p => p.differs).map(p => ({ name: p.name, values: p.values })), { name: m.name, values: m.values }];
      fill(box, parallelCoords(dims.length > 1 ? dims : [...c.params.map(p => ({ name: p.name, values: p.values })), dims[dims.length - 1]], ids, m.best));
    };
    pick.addEventListener("change", draw);
    parts.push(section("Params against a metric", el("div", { class: "toolbar" }, "Metric ", pick), box));
    draw();
  }
  // A chart per metric that differs between the runs (all of them when
  // none does), those with a direction first.
  const charted = (numeric.some(m => m.differs) ? numeric.filter(m => m.differs) : numeric)
    .slice().sort((a, b) => (b.goal ? 1 : 0) - (a.goal ? 1 : 0));
  if (charted.length) {
    parts.push(section("Metrics", el("div", { class: "charts" }, charted.map(m => el("figure", { "data-metric-chart": m.name },
      barChart({ title: m.name, labels: ids, series: [{ name: m.name, values: m.values.map(v => typeof v === "number" ? v : 0) }], highlight: m.best, height: 200 }))))));
  }
  if ((c.series || []).length) {
    parts.push(section("Metric series", el("div", { class: "charts" }, c.series.map(s => el("figure", {},
      lineChart({ title: s.name, xLabel: "step", series: s.values.map((vals, i) => vals ? { name: ids[i], points: vals.map((y, k) => [k + 1, y]) } : null).filter(x => x) }))))));
  }
  if ((c.outputs || []).length) {
    parts.push(section("Outputs", el("div", { class: "scroll" }, table(["Output", ...ids.map(id => el("span", { class: "mono" }, id)), ""], c.outputs.map(o => el("tr", { "data-output": o.name, class: o.schema_changed ? "differs" : "" },
      el("th", { scope: "row" }, o.name), o.rows.map(n => el("td", {}, n < 0 ? "–" : n + " rows")),
      el("td", {}, o.schema_changed ? el("strong", { class: "warn" }, "schema changed") : ""))))),
    c.outputs.filter(o => (o.columns || []).length).map(o => columnStats(o, ids))));
  }
  return parts;
}

// columnStats compares an output's column statistics across runs.
function columnStats(o, ids) {
  const stat = (s, k) => s && s[k] != null ? fmtValue(s[k]) : "–";
  const rows = [];
  for (const col of o.columns) {
    const kinds = ["count", "nulls", "min", "max", "mean", "std", "distinct"].filter(k => col.stats.some(s => s && s[k] != null && (k !== "distinct" || s[k])));
    kinds.forEach((k, i) => rows.push(el("tr", { class: col.differs ? "differs" : "" },
      i === 0 ? el("th", { rowspan: kinds.length, scope: "rowgroup" }, col.name) : null, el("td", { class: "muted" }, k),
      col.stats.map(s => el("td", k === "distinct" && s && s.distinct_sampled ? { title: "counted over the first values only" } : {},
        (k === "distinct" && s && s.distinct_sampled ? "≥ " : "") + stat(s, k) + (k === "distinct" && s && s.distinct_capped ? "+" : ""))))));
  }
  const differs = o.columns.filter(c => c.differs).length;
  return el("details", { class: "stats", open: differs > 0, "data-stats": o.name },
    el("summary", {}, "Column statistics of " + o.name + (differs ? " (" + differs + (differs === 1 ? " column differs)" : " columns differ)") : "")),
    el("div", { class: "scroll" }, table(["Column", "", ...ids], rows)));
}

// compareChooser lets the user pick runs of a pipeline to compare.
async function compareChooser() {
  const { pipelines } = await api("/pipelines");
  const list = el("div", {});
  const pick = el("select", { "aria-label": "pipeline" }, el("option", { value: "" }, "choose a pipeline"), pipelines.map(p => el("option", { value: p.name }, p.name)));
  pick.addEventListener("change", async () => {
    if (!pick.value) return fill(list);
    const { runs } = await api("/runs?limit=200&summary=true&pipeline=" + encodeURIComponent(pick.value));
    const chosen = new Set();
    const go = el("button", { disabled: true, onclick: () => { location.href = "/ui/compare?runs=" + [...chosen].join(","); } }, "Compare");
    fill(list, table(["", "Run", "Status", "Submitted", "Params"], runs.map(r => el("tr", { "data-run": r.id },
      el("td", {}, el("input", { type: "checkbox", "aria-label": "pick " + r.id, onchange: e => { e.target.checked ? chosen.add(r.id) : chosen.delete(r.id); go.disabled = chosen.size < 2; } })),
      el("td", {}, runLink(r.id)), el("td", {}, badge(r.status)), el("td", {}, fmtTime(r.submitted_at)),
      el("td", { class: "params" }, Object.entries(r.params || {}).map(([k, v]) => k + "=" + fmtValue(v)).join(" "))))), el("div", { class: "toolbar" }, go));
  });
  show(el("h1", {}, "Compare runs"), el("p", {}, "Pick runs of a pipeline, or open an experiment from one of its runs."), pick, list);
}

async function comparePage() {
  const ids = query().get("runs") || "";
  if (!ids) return compareChooser();
  const c = await api("/compare?runs=" + encodeURIComponent(ids));
  show(el("h1", {}, "Compare " + c.runs.length + " runs"), comparisonView(c));
}

async function experimentPage(id) {
  const { experiment: e, comparison } = await api("/experiments/" + encodeURIComponent(id));
  const done = comparison.runs.filter(r => isTerminal(r.status)).length;
  show(el("h1", {}, "Experiment ", el("span", { class: "mono" }, id)),
    el("p", {}, "A sweep of ", link("/ui/pipelines/" + encodeURIComponent(e.pipeline) + "?version=" + e.version, e.pipeline + " v" + e.version),
      ", started " + fmtTime(e.created_at) + ": " + e.runs.length + " runs, " + done + " finished."),
    e.sweep ? table(["Swept param", "Values"], Object.entries(e.sweep).map(([k, vs]) => el("tr", {}, el("td", {}, k), el("td", {}, vs.map(fmtValue).join(", "))))) : null,
    comparisonView(comparison));
  if (done < e.runs.length) setTimeout(() => { if (location.pathname.startsWith("/ui/experiments/")) experimentPage(id).catch(fail); }, 3000);
}
