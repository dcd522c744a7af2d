// The page of one run, live: its DAG coloured by task state, a timeline
// of attempts by node, the tasks, and a panel with the task clicked (its
// error, attempts, metrics, outputs and log, followed while it runs).
"use strict";

// attemptBars lists a run's attempts for the timeline: the finished ones
// from each task's history and the current one while it is queued or
// running (ending now).
function attemptBars(run) {
  const now = Date.now(), bars = [];
  for (const t of run.tasks) {
    for (const a of t.attempts || []) {
      if (!a.started_at) continue;
      bars.push({ lane: a.node || "", task: t.name, attempt: a.attempt, status: a.status,
        start: Date.parse(a.started_at), end: a.finished_at ? Date.parse(a.finished_at) : now });
    }
    if ((t.status === "running" || t.status === "queued") && (t.started_at || t.queued_at)) {
      bars.push({ lane: t.node || "", task: t.name, attempt: t.attempt, status: t.status,
        start: Date.parse(t.started_at || t.queued_at), end: now });
    }
  }
  return bars;
}

async function runPage(id) {
  const [first, svgText] = await Promise.all([api("/runs/" + encodeURIComponent(id)), api("/runs/" + encodeURIComponent(id) + "/dag.svg", true)]);
  let run = first;
  let selected = query().get("task") || "";
  let panelKey = "";
  // actionsFor is the run status the buttons were drawn for: they are
  // drawn again only when it changes, so a click never lands on a button
  // that an update just replaced.
  let actionsFor = "";

  const title = el("h1", {}, "Run ", el("span", { class: "mono" }, id));
  const info = el("div", { class: "run-info" });
  const actions = el("div", { class: "actions" });
  const dag = el("div", { class: "dag", id: "dag" });
  dag.innerHTML = svgText;
  const timeline = el("div", { class: "timeline", id: "timeline" });
  const rows = el("tbody", {});
  const panel = el("div", { class: "panel", id: "task-panel" }, el("p", { class: "muted" }, "Click a task in the drawing or the table."));
  let logAbort = null;

  const pick = name => {
    selected = name;
    const u = new URL(location.href);
    u.searchParams.set("task", name);
    history.replaceState(null, "", u);
    panelKey = "";
    render();
    panel.scrollIntoView({ block: "nearest" });
  };
  // The shapes by task name, found once: a big run changes often.
  const shapes = new Map([...dag.querySelectorAll("g[data-task]")].map(g => [g.getAttribute("data-task"), g]));
  const rowOf = new Map();
  dag.addEventListener("click", e => {
    const g = e.target.closest("g[data-task]");
    if (g) pick(g.getAttribute("data-task"));
  });

  const act = async (label, fn) => {
    try {
      run = await fn();
      flash(label);
      render();
      follow();
    } catch (err) {
      flash(err.message, true);
    }
  };

  function render() {
    const dur = seconds(run.started_at, run.finished_at);
    fill(info,
      badge(run.status),
      el("span", {}, "pipeline ", link("/ui/pipelines/" + encodeURIComponent(run.pipeline) + "?version=" + run.version, run.pipeline + " v" + run.version)),
      el("span", {}, "submitted " + fmtTime(run.submitted_at)),
      run.started_at ? el("span", {}, (run.finished_at ? "took " : "running for ") + fmtDuration(dur)) : null,
      run.retries ? el("span", {}, "retried " + run.retries + "×") : null,
      run.experiment ? el("span", {}, "experiment ", link("/ui/experiments/" + encodeURIComponent(run.experiment), run.experiment)) : null,
      Object.keys(run.params || {}).length ? el("span", { class: "params" }, "params " + Object.entries(run.params).map(([k, v]) => k + "=" + fmtValue(v)).join(" ")) : null,
      Object.entries(run.tags || {}).map(([k, v]) => el("span", { class: "tag" }, v ? k + "=" + v : k)),
      run.error ? el("p", { class: "error", "data-run-error": "" }, run.error) : null);
    if (actionsFor !== run.status) fill(actions,
      !isTerminal(run.status) ? el("button", { id: "cancel", onclick: () => {
        if (confirm("Cancel run " + run.id + "?")) act("Cancelled.", () => apiSend("POST", "/runs/" + encodeURIComponent(run.id) + "/cancel", { reason: "cancelled from the web UI" }));
      } }, "Cancel") : null,
      (run.status === "failed" || run.status === "cancelled") ? el("button", { id: "retry", title: "Run the failed, skipped and cancelled tasks again, and what follows them",
        onclick: () => act("Retrying the failed tasks.", () => apiSend("POST", "/runs/" + encodeURIComponent(run.id) + "/retry")) }, "Retry failed") : null,
      link("/ui/runs?pipeline=" + encodeURIComponent(run.pipeline), "other runs of " + run.pipeline));
    actionsFor = run.status;

    for (const t of run.tasks) {
      const g = shapes.get(t.name);
      if (g) {
        if (g.getAttribute("data-status") !== t.status) g.setAttribute("data-status", t.status);
        g.classList.toggle("selected", t.name === selected);
      }
    }
    const bars = attemptBars(run);
    fill(timeline, bars.length ? gantt(bars, pick) : el("p", { class: "muted" }, "No attempt has started yet."));
    // Rows are rebuilt only for tasks that changed (or run, for their
    // duration), so that a big run's page keeps up.
    const kept = run.tasks.map(t => {
      const key = [t.status, t.node, t.attempt, t.max_attempts, t.finished_at, (t.outputs || []).length, t.error, t.name === selected].join("|");
      const had = rowOf.get(t.name);
      if (had && had.key === key && t.status !== "running") return had.tr;
      const tr = el("tr", { "data-task-row": t.name, class: t.name === selected ? "selected" : "", onclick: () => pick(t.name) },
        el("td", {}, t.name), el("td", {}, badge(t.status)), el("td", {}, t.node || ""),
        el("td", {}, t.attempt + "/" + t.max_attempts),
        el("td", {}, t.started_at ? fmtDuration(seconds(t.started_at, t.finished_at)) : ""),
        el("td", {}, (t.outputs || []).map(o => o.name + ": " + o.rows + " rows").join(", ")),
        el("td", { class: "error-cell" }, t.error ? t.error.split("\n")[0] : ""));
      if (had) had.tr.replaceWith(tr);
      rowOf.set(t.name, { key, tr });
      return tr;
    });
    if (rows.childElementCount !== kept.length) fill(rows, kept);
    renderPanel();
  }

  // schedule draws the latest state once per animation frame, however
  // many events arrived since the last.
  let pending = null;
  const schedule = raw => {
    const first = pending === null;
    pending = raw;
    if (!first) return;
    requestAnimationFrame(() => {
      run = typeof pending === "string" ? JSON.parse(pending) : pending;
      pending = null;
      render();
    });
  };

  // renderPanel redraws the task panel when its task changed state; an
  // unchanged task keeps its panel, and its log stream, as they are.
  function renderPanel() {
    const t = run.tasks.find(x => x.name === selected);
    if (!t) return;
    const key = [t.name, t.status, t.attempt, (t.attempts || []).length].join("|");
    if (key === panelKey) return;
    panelKey = key;
    if (logAbort) logAbort.abort();
    logAbort = new AbortController();
    fill(panel, ...taskPanel(run, t, logAbort.signal));
  }

  const done = r => ["succeeded", "failed", "cancelled"].includes(r.status);
  let live = null;
  function follow() {
    if (done(run) || live) return;
    if (!token()) {
      // The node sends the run at every change.
      const es = new EventSource("/api/v1/runs/" + encodeURIComponent(id) + "/events");
      live = es;
      es.addEventListener("run", e => schedule(e.data));
      es.addEventListener("end", () => { es.close(); live = null; });
      return;
    }
    // EventSource cannot send a token: poll instead.
    live = true;
    const poll = async () => {
      try { run = await api("/runs/" + encodeURIComponent(id)); render(); } catch (err) { flash(err.message, true); }
      if (done(run)) live = null; else setTimeout(poll, 1000);
    };
    setTimeout(poll, 1000);
  }

  const legend = el("div", { class: "legend" }, Object.entries(statusColors).map(([s, c]) =>
    el("span", {}, el("i", { style: "background:" + c }), s)));
  show(el("div", { class: "page-head" }, title, actions), info, legend, dag,
    el("h2", {}, "Timeline"), timeline,
    el("h2", {}, "Tasks"), table(["Task", "Status", "Node", "Attempt", "Duration", "Outputs", "Error"], rows, { class: "tasks" }),
    panel);
  render();
  follow();
}

// taskPanel builds the details of one task of a run.
function taskPanel(run, t, signal) {
  const base = "/runs/" + encodeURIComponent(run.id) + "/tasks/" + encodeURIComponent(t.name);
  const parts = [el("h2", {}, t.name, " ", badge(t.status))];
  parts.push(el("dl", { class: "facts" },
    el("dt", {}, "node"), el("dd", {}, t.node || "–"),
    el("dt", {}, "attempt"), el("dd", {}, t.attempt + " of " + t.max_attempts),
    el("dt", {}, "queued"), el("dd", {}, fmtTime(t.queued_at) || "–"),
    el("dt", {}, "started"), el("dd", {}, fmtTime(t.started_at) || "–"),
    el("dt", {}, "duration"), el("dd", {}, t.started_at ? fmtDuration(seconds(t.started_at, t.finished_at)) : "–"),
    t.next_attempt_at ? [el("dt", {}, "next attempt"), el("dd", {}, fmtTime(t.next_attempt_at))] : null,
    (t.upstream || []).length ? [el("dt", {}, "needs"), el("dd", {}, t.upstream.join(", "))] : null));
  if (t.error) parts.push(el("h3", {}, "Error"), el("pre", { class: "error", "data-error": "" }, t.error));

  if ((t.attempts || []).length) {
    parts.push(el("h3", {}, "Attempts"), table(["#", "Node", "Status", "Started", "Duration", "Error"], t.attempts.map(a =>
      el("tr", {}, el("td", {}, a.attempt), el("td", {}, a.node || ""), el("td", {}, badge(a.status)), el("td", {}, fmtTime(a.started_at)),
        el("td", {}, a.started_at ? fmtDuration(seconds(a.started_at, a.finished_at)) : ""), el("td", { class: "error-cell" }, a.error || "")))));
  }

  const metrics = Object.entries(t.metrics || {});
  const scalars = metrics.filter(([, v]) => !Array.isArray(v));
  const series = metrics.filter(([, v]) => Array.isArray(v) && v.every(x => typeof x === "number"));
  if (scalars.length) parts.push(el("h3", {}, "Metrics"), table(["Metric", "Value"], scalars.map(([k, v]) =>
    el("tr", { "data-metric": k }, el("td", {}, k), el("td", {}, fmtValue(v))))));
  for (const [k, v] of series) {
    parts.push(el("figure", {}, lineChart({ title: k, xLabel: "step", series: [{ name: k, points: v.map((y, i) => [i + 1, y]) }] })));
  }

  for (const o of t.outputs || []) {
    const path = base + "/outputs/" + encodeURIComponent(o.name);
    parts.push(el("h3", {}, "Output ", el("span", { class: "mono" }, o.name), ": " + o.rows + " rows, " + fmtBytes(o.bytes)),
      el("div", { class: "toolbar" },
        el("button", { onclick: () => download(path + "?format=csv", `${run.id}-${t.name}-${o.name}.csv`).catch(e => flash(e.message, true)) }, "Download CSV"),
        el("button", { onclick: () => download(path + "?format=arrow", `${run.id}-${t.name}-${o.name}.arrow`).catch(e => flash(e.message, true)) }, "Download Arrow"),
        el("span", { class: "muted" }, "held on " + [o.node, ...(o.replicas || [])].filter(x => x).join(", "))));
    const schema = o.schema || [];
    if (o.preview && o.preview.rows.length) {
      parts.push(el("div", { class: "scroll" }, table(schema.map(f => el("span", {}, f.name, el("small", {}, " " + f.type + (f.nullable ? "?" : "")))),
        o.preview.rows.map(row => el("tr", {}, row.map(v => el("td", {}, v === null ? el("i", { class: "muted" }, "null") : fmtValue(v))))), { class: "preview" })),
      o.preview.truncated || o.rows > o.preview.rows.length ? el("p", { class: "muted" }, "First " + o.preview.rows.length + " of " + o.rows + " rows.") : null);
    } else {
      parts.push(el("p", { class: "muted" }, "Schema: " + schema.map(f => f.name + " " + f.type).join(", ")));
    }
  }

  const log = el("pre", { class: "log", "data-log": "" });
  const head = el("h3", {}, "Log");
  parts.push(head, log);
  if (t.attempt > 0) {
    const running = t.status === "running" || t.status === "queued";
    if (running) head.append(el("span", { class: "live" }, " following"));
    const path = base + "/logs?attempt=" + t.attempt + (running ? "&follow=1" : "");
    const atEnd = () => log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    followText(path, text => {
      const stick = atEnd();
      log.append(text);
      if (stick) log.scrollTop = log.scrollHeight;
    }, signal).then(() => { if (!log.textContent) log.textContent = t.log_tail || "(empty)"; })
      .catch(err => { if (err.name !== "AbortError") log.textContent = t.log_tail || "log: " + err.message; });
  } else {
    log.textContent = "(not started)";
  }
  return parts;
}
