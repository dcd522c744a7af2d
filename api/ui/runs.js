// The runs page: the newest runs, filtered and searched in the page, with
// runs per day and status counts as charts, and runs picked to compare.
"use strict";

const runStatuses = ["pending", "running", "succeeded", "failed", "cancelled"];

// runMatches says whether a run passes the page's filters.
function runMatches(r, f) {
  if (f.pipeline && r.pipeline !== f.pipeline) return false;
  if (f.status && r.status !== f.status) return false;
  const day = r.submitted_at.slice(0, 10);
  if (f.from && day < f.from) return false;
  if (f.to && day > f.to) return false;
  if (f.q) {
    const hay = (r.id + " " + r.pipeline + " " + Object.entries(r.tags || {}).map(([k, v]) => k + "=" + v).join(" ")).toLowerCase();
    if (!hay.includes(f.q.toLowerCase())) return false;
  }
  if (f.param) {
    // name=value, or name alone for runs that have it.
    const [k, v] = f.param.split("=", 2);
    if (!(k in (r.params || {}))) return false;
    if (v !== undefined && fmtValue(r.params[k]) !== v) return false;
  }
  return true;
}

// runsPerDay counts runs by submission day and status, oldest day first.
function runsPerDay(runs) {
  const days = new Map();
  for (const r of runs) {
    const d = r.submitted_at.slice(0, 10);
    if (!days.has(d)) days.set(d, Object.fromEntries(runStatuses.map(s => [s, 0])));
    days.get(d)[r.status]++;
  }
  const labels = [...days.keys()].sort();
  return { labels, series: runStatuses.map(s => ({ name: s, color: statusColors[s], values: labels.map(d => days.get(d)[s]) })) };
}

async function runsPage() {
  const q = query();
  const server = new URLSearchParams({ limit: "1000", summary: "true" });
  if (q.get("tag")) server.set("tag", q.get("tag"));
  const [{ runs }, { pipelines }] = await Promise.all([api("/runs?" + server), api("/pipelines")]);
  const f = { q: q.get("q") || "", pipeline: q.get("pipeline") || "", status: q.get("status") || "",
    from: q.get("from") || "", to: q.get("to") || "", param: q.get("param") || "" };

  const charts = el("div", { class: "charts" });
  const body = el("tbody", {});
  const count = el("span", { class: "muted" });
  const picked = new Set();
  const compareBtn = el("button", { disabled: true, onclick: () => { location.href = "/ui/compare?runs=" + [...picked].join(","); } }, "Compare selected");

  const draw = () => {
    const shown = runs.filter(r => runMatches(r, f));
    count.textContent = shown.length + " of " + runs.length + " runs" + (runs.length === 1000 ? " (the newest 1000)" : "");
    const perDay = runsPerDay(shown);
    const counts = runStatuses.map(s => shown.filter(r => r.status === s).length);
    fill(charts,
      el("figure", {}, perDay.labels.length ? barChart({ title: "Runs per day", labels: perDay.labels, series: perDay.series }) : el("p", { class: "muted" }, "No runs.")),
      el("figure", {}, barChart({ title: "Runs by status", labels: runStatuses, series: [{ name: "runs", values: counts, colors: runStatuses.map(s => statusColors[s]) }] })));
    fill(body, ...shown.map(r => {
      const box = el("input", { type: "checkbox", "aria-label": "pick " + r.id, onchange: e => {
        if (e.target.checked) picked.add(r.id); else picked.delete(r.id);
        compareBtn.disabled = picked.size < 2;
      } });
      box.checked = picked.has(r.id);
      const dur = seconds(r.started_at, r.finished_at);
      return el("tr", { "data-run": r.id },
        el("td", {}, box),
        el("td", {}, runLink(r.id)),
        el("td", {}, link("/ui/pipelines/" + encodeURIComponent(r.pipeline), r.pipeline + " v" + r.version)),
        el("td", {}, badge(r.status)),
        el("td", {}, fmtTime(r.submitted_at)),
        el("td", {}, r.started_at ? fmtDuration(dur) : ""),
        el("td", {}, (r.task_counts.succeeded || 0) + "/" + r.task_count),
        el("td", { class: "params" }, Object.entries(r.params || {}).map(([k, v]) => k + "=" + fmtValue(v)).join(" ")),
        el("td", {}, Object.entries(r.tags || {}).map(([k, v]) => el("span", { class: "tag" }, v ? k + "=" + v : k)),
          r.experiment ? el("a", { class: "tag", href: "/ui/experiments/" + encodeURIComponent(r.experiment) }, "experiment") : null));
    }));
    const keep = new URLSearchParams(Object.entries(f).filter(([, v]) => v));
    if (q.get("tag")) keep.set("tag", q.get("tag"));
    history.replaceState(null, "", "/ui/runs" + (keep.toString() ? "?" + keep : ""));
  };

  const input = (name, attrs) => el("input", Object.assign({ name, value: f[name], oninput: e => { f[name] = e.target.value.trim(); draw(); } }, attrs));
  const select = (name, options) => {
    const s = el("select", { name, onchange: e => { f[name] = e.target.value; draw(); } },
      el("option", { value: "" }, "any " + name), options.map(o => el("option", { value: o }, o)));
    s.value = f[name];
    return s;
  };
  const filters = el("form", { class: "filters", onsubmit: e => e.preventDefault() },
    input("q", { type: "search", placeholder: "search id, pipeline, tag", "aria-label": "search" }),
    select("pipeline", pipelines.map(p => p.name)),
    select("status", runStatuses),
    el("label", {}, "from ", input("from", { type: "date" })),
    el("label", {}, "to ", input("to", { type: "date" })),
    input("param", { placeholder: "param=value", "aria-label": "param filter" }));
  // The newest runs are fetched again every few seconds while the page
  // is in view, so new runs appear and running ones move on.
  const timer = setInterval(async () => {
    if (!document.body.contains(body)) { clearInterval(timer); return; }
    if (document.visibilityState !== "visible") return;
    try {
      const fresh = new URLSearchParams(server);
      fresh.set("limit", "100");
      const { runs: newest } = await api("/runs?" + fresh);
      const at = new Map(runs.map((r, i) => [r.id, i]));
      const added = [];
      for (const r of newest) {
        if (at.has(r.id)) runs[at.get(r.id)] = r; else added.push(r);
      }
      if (added.length || newest.length) { runs.unshift(...added); draw(); }
    } catch (err) { count.textContent = "refresh failed: " + err.message; }
  }, 5000);
  show(el("h1", {}, "Runs"), filters, charts,
    el("div", { class: "toolbar" }, count, compareBtn),
    table(["", "Run", "Pipeline", "Status", "Submitted", "Duration", "Tasks", "Params", "Tags"], body, { class: "runs" }));
  draw();
}

// pipelinesPage lists the stored pipelines.
async function pipelinesPage() {
  const { pipelines } = await api("/pipelines");
  show(el("h1", {}, "Pipelines"), pipelines.length ? table(["Pipeline", "Description", "Latest", "Runs", "Updated"], pipelines.map(p =>
    el("tr", { "data-pipeline": p.name }, el("td", {}, link("/ui/pipelines/" + encodeURIComponent(p.name), p.name)),
      el("td", {}, p.description || ""), el("td", {}, "v" + p.latest_version),
      el("td", {}, link("/ui/runs?pipeline=" + encodeURIComponent(p.name), String(p.runs))), el("td", {}, fmtTime(p.updated_at))))) :
    el("p", { class: "muted" }, "No pipelines yet: submit one with forged submit."));
}
