// The models pages: the registry, and one model with its versions,
// aliases and their history, metrics, signature and a form to try a
// prediction.
"use strict";

async function modelsPage() {
  const { models } = await api("/models");
  show(el("h1", {}, "Models"), models.length ? table(["Model", "Versions", "Latest", "Format", "Kind", "Aliases", "Registered"], models.map(m => {
    const sig = m.latest.signature || {};
    return el("tr", { "data-model": m.name }, el("td", {}, link("/ui/models/" + encodeURIComponent(m.name), m.name)), el("td", {}, m.versions),
      el("td", {}, "v" + m.latest.version), el("td", {}, m.latest.format), el("td", {}, sig.kind || ""),
      el("td", {}, Object.entries(m.aliases || {}).map(([a, v]) => el("span", { class: "tag" }, a + " → v" + v))),
      el("td", {}, fmtTime(m.latest.created_at)));
  })) : el("p", { class: "muted" }, "No models yet: a task with register:, or forged models register, adds one."));
}

async function modelPage(name) {
  const m = await api("/models/" + encodeURIComponent(name));
  const versions = m.versions.slice().sort((a, b) => b.version - a.version);
  const aliasesOf = v => Object.entries(m.aliases || {}).filter(([, to]) => to === v).map(([a]) => a);
  const metricNames = [...new Set(versions.flatMap(v => Object.keys(v.metrics || {})))].sort();

  const versionRows = versions.map(v => el("tr", { "data-version": v.version },
    el("td", {}, "v" + v.version, " ", aliasesOf(v.version).map(a => el("span", { class: "tag" }, a))),
    el("td", {}, v.format), el("td", {}, fmtTime(v.created_at)),
    el("td", {}, v.source.uploaded ? "uploaded" : v.source.run ? [runLink(v.source.run), " " + v.source.task] : ""),
    metricNames.map(k => el("td", {}, fmtValue((v.metrics || {})[k]))),
    el("td", { class: "desc", title: v.description || "" }, v.description || "")));

  const history = (m.alias_history || []).slice().reverse();
  const target = el("select", { name: "version", "aria-label": "version to try" },
    Object.keys(m.aliases || {}).sort().map(a => el("option", { value: "@" + a }, a + " (v" + m.aliases[a] + ")")),
    versions.map(v => el("option", { value: String(v.version) }, "v" + v.version)));
  const sigBox = el("div", {});
  const form = el("form", { class: "predict", id: "predict-form" });
  const result = el("div", { id: "predict-result" });

  const versionOf = () => {
    const val = target.value;
    return val.startsWith("@") ? m.aliases[val.slice(1)] : +val;
  };
  const drawForm = () => {
    const v = m.versions.find(x => x.version === versionOf());
    const sig = v.signature || { features: [] };
    fill(sigBox, el("h3", {}, "Signature of v" + v.version + (sig.kind ? " · " + sig.kind : "")),
      table(["Feature", "Type"], sig.features.map(f => el("tr", {}, el("td", {}, f.name), el("td", {}, f.type || "")))),
      sig.classes ? el("p", {}, "classes: " + sig.classes.join(", ")) : null);
    fill(form, ...sig.features.map(f => el("label", {}, f.name,
      f.type === "bool" ? el("select", { name: f.name }, el("option", { value: "false" }, "false"), el("option", { value: "true" }, "true")) :
        el("input", { name: f.name, type: f.type === "string" ? "text" : "number", step: "any", required: true, value: "0" }))),
    sig.classes ? el("label", {}, "answer", el("select", { name: "__output" }, el("option", { value: "" }, "probabilities"), el("option", { value: "label" }, "label"))) : null,
    el("button", { type: "submit" }, "Predict"));
  };
  form.addEventListener("submit", async e => {
    e.preventDefault();
    const v = m.versions.find(x => x.version === versionOf());
    const record = {};
    for (const f of (v.signature || { features: [] }).features) {
      const raw = form.elements[f.name].value;
      record[f.name] = f.type === "bool" ? raw === "true" : f.type === "string" ? raw : Number(raw);
    }
    const out = form.elements.__output ? form.elements.__output.value : "";
    try {
      const ans = await apiSend("POST", "/models/" + encodeURIComponent(name) + "/versions/" + v.version + "/predict" + (out ? "?output=" + out : ""), { records: [record] });
      fill(result, el("p", { class: "prediction", "data-prediction": "" }, "v" + ans.version + " predicts ", el("strong", {}, fmtValue(ans.predictions[0]))));
    } catch (err) {
      fill(result, el("p", { class: "error" }, err.message));
    }
  });
  target.addEventListener("change", () => { drawForm(); fill(result); });

  // Charts of the numeric metrics that change between versions.
  const withMetrics = versions.filter(v => metricNames.some(k => typeof (v.metrics || {})[k] === "number")).reverse();
  const varying = metricNames.filter(k => new Set(withMetrics.map(v => v.metrics[k]).filter(x => typeof x === "number")).size > 1);
  show(el("h1", {}, "Model ", el("span", { class: "mono" }, name)),
    section("Versions", el("div", { class: "scroll" }, table(["Version", "Format", "Registered", "From", ...metricNames, "Description"], versionRows))),
    withMetrics.length > 1 ? el("div", { class: "charts" }, varying.slice(0, 6).map(k =>
      el("figure", {}, lineChart({ title: k + " by version", xLabel: "version", series: [{ name: k, points: withMetrics.filter(v => typeof v.metrics[k] === "number").map(v => [v.version, v.metrics[k]]) }] })))) : null,
    section("Aliases", Object.keys(m.aliases || {}).length ? table(["Alias", "Version"], Object.entries(m.aliases).map(([a, v]) => el("tr", { "data-alias": a }, el("td", {}, a), el("td", {}, "v" + v)))) : el("p", { class: "muted" }, "No aliases."),
      history.length ? [el("h3", {}, "History"), table(["When", "Alias", "Move"], history.map(h => el("tr", {}, el("td", {}, fmtTime(h.at)), el("td", {}, h.alias),
        el("td", {}, (h.from ? "v" + h.from : "none") + " → " + (h.to ? "v" + h.to : "removed")))))] : null),
    section("Try a prediction", el("div", { class: "toolbar" }, "Model version ", target), sigBox, form, result));
  drawForm();
}
