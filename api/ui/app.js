// forged's web UI: a small page per view, drawn from the HTTP API. No
// framework and nothing fetched from elsewhere.
"use strict";

const main = document.getElementById("main");

// api fetches a path of the API, sending the token the user gave, if any.
async function api(path, asText) {
  const headers = {};
  const token = localStorage.getItem("forged-token");
  if (token) headers["Authorization"] = "Bearer " + token;
  const resp = await fetch("/api/v1" + path, { headers });
  if (!resp.ok) {
    let msg = resp.status + " " + resp.statusText;
    try { msg = (await resp.json()).error.message; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return asText ? resp.text() : resp.json();
}

// el builds an element with attributes and children.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "onclick") e.addEventListener("click", v); else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return e;
}

function table(head, rows) {
  return el("table", {}, el("thead", {}, el("tr", {}, ...head.map(h => el("th", {}, h)))),
    el("tbody", {}, ...rows));
}

function show(...nodes) { main.replaceChildren(...nodes); }

function fail(err) { show(el("p", { class: "error" }, String(err.message || err))); }

async function runsPage() {
  const q = new URLSearchParams(location.search);
  const params = new URLSearchParams({ limit: "200" });
  for (const k of ["pipeline", "status", "tag"]) if (q.get(k)) params.set(k, q.get(k));
  const { runs } = await api("/runs?" + params);
  show(el("h1", {}, "Runs"),
    table(["Run", "Pipeline", "Status", "Submitted", "Tasks"], runs.map(r =>
      el("tr", { "data-run": r.id },
        el("td", {}, el("a", { href: "/ui/runs/" + r.id }, r.id)),
        el("td", {}, el("a", { href: "/ui/pipelines/" + r.pipeline }, r.pipeline + " v" + r.version)),
        el("td", { class: "status-" + r.status }, r.status),
        el("td", {}, new Date(r.submitted_at).toLocaleString()),
        el("td", {}, r.tasks.length)))));
}

// runPage shows one run: its DAG coloured live (SSE), its tasks, and a
// panel with the task clicked.
async function runPage(id) {
  const [run, svg] = await Promise.all([api("/runs/" + id), api("/runs/" + id + "/dag.svg", true)]);
  const dag = el("div", { class: "dag" });
  dag.innerHTML = svg;
  const panel = el("div", { class: "panel", id: "task-panel" }, "Click a task.");
  const rows = el("tbody", {});
  const head = el("h1", {}, "Run " + id);
  const status = el("p", {}, "");
  const render = r => {
    status.textContent = r.pipeline + " v" + r.version + ": " + r.status;
    status.className = "status-" + r.status;
    rows.replaceChildren(...r.tasks.map(t => el("tr", { "data-task-row": t.name, onclick: () => showTask(r, t.name, panel) },
      el("td", {}, t.name), el("td", { class: "status-" + t.status }, t.status), el("td", {}, t.node || ""),
      el("td", {}, t.attempt + "/" + t.max_attempts), el("td", {}, (t.outputs || []).map(o => o.name + ": " + o.rows + " rows").join(", ")))));
    for (const t of r.tasks) {
      const g = dag.querySelector('g[data-task="' + CSS.escape(t.name) + '"]');
      if (g) g.setAttribute("data-status", t.status);
    }
  };
  dag.addEventListener("click", e => {
    const g = e.target.closest("g[data-task]");
    if (g) showTask(current, g.getAttribute("data-task"), panel);
  });
  let current = run;
  render(run);
  const tasks = el("table", {}, el("thead", {}, el("tr", {}, ...["Task", "Status", "Node", "Attempt", "Outputs"].map(h => el("th", {}, h)))), rows);
  show(head, status, dag, tasks, panel);
  const done = r => ["succeeded", "failed", "cancelled"].includes(r.status);
  if (done(run)) return;
  if (!localStorage.getItem("forged-token")) {
    // Live: the node sends the run at every change.
    const es = new EventSource("/api/v1/runs/" + id + "/events");
    es.addEventListener("run", e => { current = JSON.parse(e.data); render(current); });
    es.addEventListener("end", () => es.close());
    return;
  }
  // EventSource cannot send a token: poll instead.
  const poll = async () => {
    current = await api("/runs/" + id);
    render(current);
    if (!done(current)) setTimeout(poll, 1000);
  };
  setTimeout(poll, 1000);
}

function showTask(run, name, panel) {
  const t = run.tasks.find(x => x.name === name);
  if (!t) return;
  const parts = [el("h2", {}, t.name + " (" + t.status + ")")];
  if (t.error) parts.push(el("p", { class: "error", "data-error": "" }, t.error));
  if (t.metrics) parts.push(table(["Metric", "Value"], Object.entries(t.metrics).map(([k, v]) =>
    el("tr", {}, el("td", {}, k), el("td", {}, JSON.stringify(v))))));
  for (const o of t.outputs || []) {
    parts.push(el("h3", {}, o.name + ": " + o.rows + " rows, " + o.bytes + " bytes"),
      el("a", { href: "/api/v1/runs/" + run.id + "/tasks/" + t.name + "/outputs/" + o.name + "?format=csv" }, "download CSV"));
    if (o.preview) parts.push(table(o.schema.map(f => f.name + " (" + f.type + ")"),
      o.preview.rows.map(row => el("tr", {}, ...row.map(v => el("td", {}, v === null ? "null" : v))))));
  }
  if (t.log_tail) parts.push(el("pre", {}, t.log_tail));
  panel.replaceChildren(...parts);
}

async function pipelinePage(name) {
  const [p, svg] = await Promise.all([api("/pipelines/" + name), api("/pipelines/" + name + "/dag.svg", true)]);
  const dag = el("div", { class: "dag" });
  dag.innerHTML = svg;
  show(el("h1", {}, "Pipeline " + name), el("p", {}, p.description || ""), dag,
    el("a", { href: "/ui/runs?pipeline=" + encodeURIComponent(name) }, "runs of " + name));
}

async function clusterPage() {
  const c = await api("/cluster");
  show(el("h1", {}, "Cluster"), el("p", {}, "Leader: " + c.leader + ", term " + c.term + ", commit index " + c.commit_index),
    table(["Node", "Status", "Role", "Slots", "Running", "Address"], c.members.map(m =>
      el("tr", { "data-node": m.name }, el("td", {}, m.name), el("td", {}, m.status), el("td", {}, m.role),
        el("td", {}, m.slots), el("td", {}, m.running), el("td", {}, m.address)))));
}

async function modelsPage() {
  const { models } = await api("/models");
  show(el("h1", {}, "Models"), table(["Model", "Versions", "Latest", "Format", "Aliases"], models.map(m =>
    el("tr", { "data-model": m.name }, el("td", {}, m.name), el("td", {}, m.versions), el("td", {}, m.latest.version),
      el("td", {}, m.latest.format), el("td", {}, Object.entries(m.aliases).map(([a, v]) => a + "=" + v).join(" "))))));
}

// comparePage shows runs side by side, the best value of each metric
// highlighted.
async function comparePage() {
  const ids = new URLSearchParams(location.search).get("runs") || "";
  const c = await api("/compare?runs=" + encodeURIComponent(ids));
  const rowsOf = list => list.map(r => el("tr", { class: r.differs ? "differs" : "" }, el("td", {}, r.name),
    ...r.values.map((v, i) => el("td", i === r.best ? { class: "best" } : {}, v == null ? "-" : JSON.stringify(v)))));
  show(el("h1", {}, "Compare"),
    table(["", ...c.runs.map(r => r.id)], [...rowsOf(c.params), ...rowsOf(c.metrics)]));
}

// route draws the page the address names. When the page has drawn,
// main carries data-ready, for tests and tooling to wait on.
async function route() {
  main.removeAttribute("data-ready");
  const path = location.pathname.replace(/\/+$/, "");
  const m = path.match(/^\/ui\/(runs|pipelines)\/([^/]+)$/);
  try {
    if (m && m[1] === "runs") await runPage(decodeURIComponent(m[2]));
    else if (m) await pipelinePage(decodeURIComponent(m[2]));
    else if (path === "/ui/cluster") await clusterPage();
    else if (path === "/ui/models") await modelsPage();
    else if (path === "/ui/compare") await comparePage();
    else await runsPage();
  } catch (err) {
    fail(err);
  }
  main.setAttribute("data-ready", "1");
}

document.getElementById("token").addEventListener("click", () => {
  const t = prompt("API token (empty to forget it)", localStorage.getItem("forged-token") || "");
  if (t === null) return;
  if (t) localStorage.setItem("forged-token", t); else localStorage.removeItem("forged-token");
  route();
});

route();
