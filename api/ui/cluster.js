// The cluster page: who leads, the Raft log's indices, every member with
// its role, slots and running tasks, and recent membership events. It
// refreshes itself every few seconds.
"use strict";

function clusterView(c) {
  const facts = el("div", { class: "cards" },
    card("Leader", c.leader || "none"), card("Term", c.term), card("Commit index", c.commit_index),
    card("Applied index", c.applied_index), card("Queued tasks", c.queue_depth),
    card("Members", c.members.filter(m => m.status === "alive").length + " alive of " + c.members.length));
  const members = table(["Node", "Status", "Role", "Slots in use", "HTTP", "Raft", "Flight", "Labels", "Version"], c.members.map(m =>
    el("tr", { "data-node": m.name, class: m.name === c.leader ? "leader" : "" },
      el("td", {}, el("strong", {}, m.name)), el("td", { class: m.status === "alive" ? "" : "error" }, m.status),
      el("td", {}, m.role), el("td", {}, meter(m.running, m.slots)),
      el("td", {}, m.url ? el("a", { href: m.url + "/ui/cluster" }, m.http_addr || m.url) : m.http_addr || ""),
      el("td", { class: "mono" }, m.raft_addr || ""), el("td", { class: "mono" }, m.flight_addr || ""),
      el("td", {}, Object.entries(m.labels || {}).map(([k, v]) => el("span", { class: "tag" }, k + "=" + v))),
      el("td", {}, m.version || ""))));
  const events = (c.events || []).slice().reverse();
  return [facts, section("Members", members),
    section("Recent membership events", events.length ? table(["When", "Node", "Change"], events.map(e =>
      el("tr", {}, el("td", {}, fmtTime(e.at)), el("td", {}, e.node), el("td", {}, e.change)))) : el("p", { class: "muted" }, "None since this node started."))];
}

function card(label, value) { return el("div", { class: "card" }, el("span", { class: "muted" }, label), el("strong", {}, String(value))); }

// meter shows used of total as a bar and numbers.
function meter(used, total) {
  const pct = total ? Math.min(100, Math.round(100 * used / total)) : 0;
  return el("span", { class: "meter", title: used + " of " + total + " slots" }, el("span", { class: "meter-bar" }, el("i", { style: "width:" + pct + "%" })), " " + used + "/" + total);
}

async function clusterPage() {
  const c = await api("/cluster");
  const body = el("div", {}, clusterView(c));
  const stamp = el("span", { class: "muted" }, "updated " + new Date().toLocaleTimeString());
  show(el("div", { class: "page-head" }, el("h1", {}, "Cluster"), stamp), body);
  const timer = setInterval(async () => {
    if (!document.body.contains(body)) { clearInterval(timer); return; }
    try {
      fill(body, ...clusterView(await api("/cluster")));
      stamp.textContent = "updated " + new Date().toLocaleTimeString();
    } catch (err) { stamp.textContent = "refresh failed: " + err.message; }
  }, 3000);
}
