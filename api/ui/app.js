// forged's web UI, the router: it draws the page the address names, with
// the functions of the other scripts. Links are plain links, so each page
// is a fresh load.
"use strict";

// routes map paths to pages; a page returns once it has drawn.
const routes = [
  [/^\/ui\/runs\/([^/]+)$/, runPage],
  [/^\/ui\/pipelines\/([^/]+)$/, pipelinePage],
  [/^\/ui\/pipelines$/, pipelinesPage],
  [/^\/ui\/models\/([^/]+)$/, modelPage],
  [/^\/ui\/models$/, modelsPage],
  [/^\/ui\/experiments\/([^/]+)$/, experimentPage],
  [/^\/ui\/compare$/, comparePage],
  [/^\/ui\/cluster$/, clusterPage],
  [/^\/ui(\/runs)?$/, runsPage],
];

// route draws the page the address names. When the page has drawn,
// main carries data-ready (and data-page), for tests and tooling to wait on.
async function route() {
  main.removeAttribute("data-ready");
  const path = location.pathname.replace(/\/+$/, "");
  const hit = routes.find(([re]) => re.test(path));
  const page = hit ? hit[1] : null;
  main.setAttribute("data-page", page ? page.name.replace(/Page$/, "") : "missing");
  for (const a of document.querySelectorAll("header nav a")) {
    a.classList.toggle("here", path.startsWith(a.getAttribute("href")));
  }
  try {
    if (!page) show(el("h1", {}, "Not found"), el("p", {}, "No page at " + path + ". ", link("/ui/runs", "See the runs.")));
    else await page(...path.match(hit[0]).slice(1).filter(x => x && !x.startsWith("/")).map(decodeURIComponent));
  } catch (err) {
    fail(err);
  }
  main.setAttribute("data-ready", "1");
}

document.getElementById("token").addEventListener("click", () => {
  const t = prompt("API token (empty to forget it)", token());
  if (t === null) return;
  if (t) localStorage.setItem("forged-token", t); else localStorage.removeItem("forged-token");
  route();
});

route();
