// forged's web UI, shared parts: calling the API with the user's token,
// building elements, formatting. Plain scripts, no framework, nothing
// fetched from elsewhere; each page is drawn by a function of its own file
// and app.js picks it from the address.
"use strict";

const main = document.getElementById("main");

// token is the API token the user gave (kept in this browser), or "".
function token() { return localStorage.getItem("forged-token") || ""; }

function authHeaders(extra) {
  const h = Object.assign({}, extra || {});
  if (token()) h["Authorization"] = "Bearer " + token();
  return h;
}

// apiError turns a failed response into an Error carrying the API's
// message.
async function apiError(resp) {
  let msg = resp.status + " " + resp.statusText;
  try { msg = (await resp.json()).error.message; } catch (e) { /* not JSON */ }
  if (resp.status === 401) msg += " (set a token with the Token button)";
  const err = new Error(msg);
  err.status = resp.status;
  return err;
}

// api fetches a path of the API: parsed JSON, or text when asText.
async function api(path, asText) {
  const resp = await fetch("/api/v1" + path, { headers: authHeaders() });
  if (!resp.ok) throw await apiError(resp);
  return asText ? resp.text() : resp.json();
}

// apiSend sends a JSON body with method and returns the parsed answer.
async function apiSend(method, path, body) {
  const resp = await fetch("/api/v1" + path, {
    method, headers: authHeaders({ "Content-Type": "application/json" }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!resp.ok) throw await apiError(resp);
  return resp.json();
}

// followText streams a growing text (a log followed while its task runs)
// and hands each piece to onText until the stream ends or signal aborts.
async function followText(path, onText, signal) {
  const resp = await fetch("/api/v1" + path, { headers: authHeaders(), signal });
  if (!resp.ok) throw await apiError(resp);
  const reader = resp.body.getReader();
  const dec = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    onText(dec.decode(value, { stream: true }));
  }
}

// download saves an API file. A plain link cannot send a token, so with
// one the file is fetched and handed to the browser as a blob.
async function download(path, filename) {
  if (!token()) { location.href = "/api/v1" + path; return; }
  const resp = await fetch("/api/v1" + path, { headers: authHeaders() });
  if (!resp.ok) throw await apiError(resp);
  const url = URL.createObjectURL(await resp.blob());
  const a = el("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// el builds an element with attributes (on* keys add listeners) and
// children (nodes or text).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  setAttrs(e, attrs);
  for (const c of children.flat(Infinity)) {
    if (c === false || c == null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function setAttrs(e, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
}

const svgNS = "http://www.w3.org/2000/svg";

// svg builds an SVG element, as el does.
function svg(tag, attrs, ...children) {
  const e = document.createElementNS(svgNS, tag);
  setAttrs(e, attrs);
  for (const c of children.flat(Infinity)) {
    if (c === false || c == null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// table builds a table of head cells and rows (or a ready <tbody>, for a
// page that redraws its rows).
function table(head, rows, attrs) {
  const body = rows instanceof HTMLTableSectionElement ? rows : el("tbody", {}, rows);
  return el("table", attrs || {}, el("thead", {}, el("tr", {}, head.map(h => el("th", {}, h)))), body);
}

// fill replaces node's children with kids, skipping empty ones (null,
// undefined, false) and flattening lists.
function fill(node, ...kids) {
  node.replaceChildren(...kids.flat(Infinity).filter(k => k !== null && k !== undefined && k !== false));
}

function show(...nodes) { fill(main, ...nodes); }

function fail(err) { show(el("p", { class: "error" }, String(err.message || err))); }

// flash shows a short message at the top of the page.
function flash(msg, isError) {
  const f = el("div", { class: "flash" + (isError ? " error" : ""), role: "status" }, msg);
  document.body.append(f);
  setTimeout(() => f.remove(), 4000);
}

// Formatting.
function fmtTime(s) { return s ? new Date(s).toLocaleString() : ""; }

function fmtDuration(sec) {
  if (sec == null || isNaN(sec)) return "";
  if (sec < 1) return Math.round(sec * 1000) + " ms";
  if (sec < 60) return sec.toFixed(sec < 10 ? 2 : 1) + " s";
  const m = Math.floor(sec / 60), s = Math.round(sec % 60);
  if (m < 60) return m + " min " + s + " s";
  return Math.floor(m / 60) + " h " + (m % 60) + " min";
}

function seconds(from, to) {
  if (!from) return null;
  return ((to ? new Date(to) : new Date()) - new Date(from)) / 1000;
}

function fmtValue(v) {
  if (v == null) return "–";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(+v.toPrecision(6));
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

function fmtBytes(n) {
  if (n == null) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}

// Colours of task and run states, shared by the DAG, charts and badges.
const statusColors = {
  pending: "#b0bec5", queued: "#90caf9", running: "#1e88e5", retrying: "#ffb300",
  succeeded: "#43a047", failed: "#e53935", skipped: "#cfd8dc", cancelled: "#8d6e63",
};

function badge(status) { return el("span", { class: "badge status-" + status }, status); }

function isTerminal(s) { return ["succeeded", "failed", "cancelled", "skipped"].includes(s); }

function link(href, text) { return el("a", { href }, text); }

function runLink(id) { return link("/ui/runs/" + encodeURIComponent(id), id); }

// section is a titled block of a page.
function section(title, ...body) { return el("section", { class: "block" }, el("h2", {}, title), ...body); }

// query returns the page's query parameters.
function query() { return new URLSearchParams(location.search); }
