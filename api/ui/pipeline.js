// The page of a pipeline: its DAG for a chosen version, what each task
// does (shown on click), its params, and its versions with a diff of any
// two.
"use strict";

// lineDiff returns the lines of a and b as [op, line] pairs, op being
// " " (both), "-" (only a) or "+" (only b), by longest common subsequence.
// Specs past a few thousand lines are compared by their first lines only.
function lineDiff(a, b) {
  const max = 3000;
  const A = a.split("\n").slice(0, max), B = b.split("\n").slice(0, max);
  const n = A.length, m = B.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint16Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = A[i] === B[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && A[i] === B[j]) { out.push([" ", A[i]]); i++; j++; }
    else if (j < m && (i === n || lcs[i][j + 1] >= lcs[i + 1][j])) { out.push(["+", B[j]]); j++; }
    else { out.push(["-", A[i]]); i++; }
  }
  return out;
}

// diffView shows a diff, unchanged stretches folded to three lines of
// context around each change.
function diffView(diff) {
  const keep = new Array(diff.length).fill(false);
  diff.forEach(([op], i) => {
    if (op !== " ") for (let k = Math.max(0, i - 3); k <= Math.min(diff.length - 1, i + 3); k++) keep[k] = true;
  });
  const lines = [];
  let folded = 0;
  diff.forEach(([op, line], i) => {
    if (!keep[i]) { folded++; return; }
    if (folded) { lines.push(el("div", { class: "fold" }, "⋯ " + folded + " unchanged lines")); folded = 0; }
    lines.push(el("div", { class: op === "+" ? "add" : op === "-" ? "del" : "" }, op + " " + line));
  });
  if (folded) lines.push(el("div", { class: "fold" }, "⋯ " + folded + " unchanged lines"));
  if (!diff.some(([op]) => op !== " ")) return el("p", { class: "muted" }, "The two versions are the same.");
  return el("pre", { class: "diff", "data-diff": "" }, lines);
}

// taskSpec shows what a task of the spec does.
function taskSpec(t) {
  const w = Object.assign({}, t.with || {});
  const parts = [el("h2", {}, t.name, " ", el("span", { class: "op" }, t.op))];
  if (t.description) parts.push(el("p", { "data-description": "" }, t.description));
  if (t.op === "exec") {
    const cmd = w.exec || w.command;
    if (cmd) parts.push(el("h3", {}, "Command"), el("pre", { class: "code", "data-command": "" }, Array.isArray(cmd) ? cmd.join(" ") : String(cmd)));
    if (w.script) parts.push(el("h3", {}, "Script" + (w.interpreter ? " (" + [].concat(w.interpreter).join(" ") + ")" : "")), el("pre", { class: "code", "data-command": "" }, w.script));
    for (const k of ["exec", "command", "script", "interpreter"]) delete w[k];
  }
  if (Object.keys(w).length) parts.push(el("h3", {}, "Parameters"), table(["Name", "Value"], Object.entries(w).map(([k, v]) =>
    el("tr", {}, el("td", {}, k), el("td", {}, typeof v === "string" ? v : el("code", {}, JSON.stringify(v)))))));
  parts.push(el("dl", { class: "facts" },
    el("dt", {}, "needs"), el("dd", {}, (t.needs || []).map(n => n.task + "." + n.output).join(", ") || "–"),
    el("dt", {}, "outputs"), el("dd", {}, (t.outputs || []).join(", ")),
    t.retries ? [el("dt", {}, "retries"), el("dd", {}, t.retries)] : null,
    t.timeout ? [el("dt", {}, "timeout"), el("dd", {}, t.timeout)] : null,
    t.replicas ? [el("dt", {}, "replicas"), el("dd", {}, t.replicas)] : null,
    t.constraints && Object.keys(t.constraints).length ? [el("dt", {}, "constraints"), el("dd", {}, JSON.stringify(t.constraints))] : null,
    t.register ? [el("dt", {}, "registers"), el("dd", {}, link("/ui/models/" + encodeURIComponent(t.register.model), t.register.model))] : null));
  return parts;
}

async function pipelinePage(name) {
  const version = +(query().get("version") || 0);
  const path = "/pipelines/" + encodeURIComponent(name);
  const [p, svgText] = await Promise.all([api(path + (version ? "?version=" + version : "")),
    api(path + "/dag.svg" + (version ? "?version=" + version : ""), true)]);
  const pv = p.pipeline;
  const dag = el("div", { class: "dag", id: "dag" });
  dag.innerHTML = svgText;
  const panel = el("div", { class: "panel", id: "task-panel" }, el("p", { class: "muted" }, "Click a task to see what it does."));
  const tasks = p.tasks || [];
  dag.addEventListener("click", e => {
    const g = e.target.closest("g[data-task]");
    if (!g) return;
    const t = tasks.find(x => x.name === g.getAttribute("data-task"));
    dag.querySelectorAll("g.selected").forEach(x => x.classList.remove("selected"));
    g.classList.add("selected");
    if (t) fill(panel, ...taskSpec(t));
  });

  const versions = (p.versions || []).slice().sort((a, b) => b.version - a.version);
  const pickA = el("select", { name: "a", "aria-label": "older version" }, versions.map(v => el("option", { value: v.version }, "v" + v.version)));
  const pickB = el("select", { name: "b", "aria-label": "newer version" }, versions.map(v => el("option", { value: v.version }, "v" + v.version)));
  pickB.value = String(pv.version);
  pickA.value = String(versions.find(v => v.version < pv.version)?.version || pv.version);
  const diffOut = el("div", { id: "diff" });
  const showDiff = async () => {
    try {
      const [a, b] = await Promise.all([api(path + "?version=" + pickA.value), api(path + "?version=" + pickB.value)]);
      fill(diffOut, el("p", { class: "muted" }, "v" + pickA.value + " → v" + pickB.value), diffView(lineDiff(a.pipeline.source, b.pipeline.source)));
    } catch (err) { fill(diffOut, el("p", { class: "error" }, err.message)); }
  };

  const params = p.params || [];
  // Start a run of this version; an empty field takes the param's
  // default, and the node checks the values against their types.
  const startOut = el("div", { id: "start-result" });
  const startForm = el("form", { class: "predict", id: "start-form" },
    params.map(x => el("label", {}, x.name + " (" + x.type + ")",
      x.type === "bool" ? el("select", { name: x.name }, el("option", { value: "" }, x.has_default ? "default: " + fmtValue(x.default) : "choose"),
        el("option", { value: "true" }, "true"), el("option", { value: "false" }, "false")) :
        el("input", { name: x.name, placeholder: x.has_default ? fmtValue(x.default) : "required", required: !x.has_default }))),
    el("button", { type: "submit" }, "Start a run of v" + pv.version));
  startForm.addEventListener("submit", async e => {
    e.preventDefault();
    const values = {};
    for (const x of params) {
      const v = startForm.elements[x.name].value.trim();
      if (v !== "") values[x.name] = v;
    }
    try {
      const { run_id } = await apiSend("POST", path + "/runs", { version: pv.version, params: values });
      location.href = "/ui/runs/" + encodeURIComponent(run_id);
    } catch (err) {
      fill(startOut, el("p", { class: "error" }, err.message));
    }
  });
  show(el("div", { class: "page-head" }, el("h1", {}, "Pipeline ", el("span", { class: "mono" }, name), " v" + pv.version),
    el("div", { class: "actions" }, link("/ui/runs?pipeline=" + encodeURIComponent(name), "runs of " + name),
      link("/api/v1" + path + "/dag.svg?version=" + pv.version, "SVG"))),
  pv.description ? el("p", {}, pv.description) : null,
  p.parse_error ? el("p", { class: "error" }, "This version no longer parses: " + p.parse_error) : null,
  el("p", { class: "muted" }, tasks.length + " tasks · stored " + fmtTime(pv.created_at) + " · digest " + pv.digest.slice(0, 12)),
  dag, panel,
  params.length ? section("Params", table(["Name", "Type", "Default", "Description"], params.map(x =>
    el("tr", {}, el("td", {}, x.name), el("td", {}, x.type), el("td", {}, x.has_default ? fmtValue(x.default) : el("i", {}, "required")), el("td", {}, x.description || ""))))) : null,
  p.parse_error ? null : section("Start a run", startForm, startOut),
  section("Versions", table(["Version", "Stored", "Digest"], versions.map(v => el("tr", { "data-version": v.version },
    el("td", {}, link("/ui/pipelines/" + encodeURIComponent(name) + "?version=" + v.version, "v" + v.version)),
    el("td", {}, fmtTime(v.created_at)), el("td", { class: "mono" }, v.digest.slice(0, 12))))),
  versions.length > 1 ? el("div", { class: "toolbar" }, "Compare ", pickA, " with ", pickB, el("button", { id: "show-diff", onclick: showDiff }, "Show diff")) : null,
  diffOut),
  section("Source", el("pre", { class: "code" }, pv.source)));
}
