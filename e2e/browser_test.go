package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Browser tests: a headless Chromium (see browser_harness_test.go) opens
// the web UI of real agent processes. Every test fails on a console
// error, an uncaught exception or a failed request of the page.

// pageWait bounds how long a page may take to draw.
const pageWait = 30 * time.Second

// taskStatusJS is a JavaScript expression: the data-status of the task's
// shape in the page's drawing, or null.
func taskStatusJS(task string) string {
	return fmt.Sprintf(`((g) => g && g.getAttribute("data-status"))(document.querySelector(%s))`,
		jsString(`.dag svg g[data-task="`+task+`"]`))
}

// taskFillJS is a JavaScript expression: the computed fill colour of the
// task's shape (its box's outline path, or polygon).
func taskFillJS(task string) string {
	sel := `.dag svg g[data-task="` + task + `"]`
	return fmt.Sprintf(`getComputedStyle(document.querySelector(%s)).fill`, jsString(sel+" path, "+sel+" polygon"))
}

// shapeStatuses is the data-status of every task shape of the page's
// drawing, by task.
func shapeStatuses(b *browser) map[string]string {
	b.t.Helper()
	return evalJS[map[string]string](b, `Object.fromEntries([...document.querySelectorAll(".dag svg g[data-task]")].map(g => [g.getAttribute("data-task"), g.getAttribute("data-status") || ""]))`)
}

// uiSubmitExample submits a bundled example to the agent, waits for the run
// to end, and returns it as the API has it.
func uiSubmitExample(t *testing.T, a *agent, file string) uiRun {
	t.Helper()
	stdout, stderr, code := forged(t, "submit", file, "--addr", a.URL)
	if code != 0 {
		t.Fatalf("submit %s: exit %d: %s", file, code, stderr)
	}
	return uiWaitRunEnded(t, a, strings.TrimSpace(stdout), 2*time.Minute)
}

// uiChurnSweep runs the bundled churn example as a sweep (--sweep VALUES),
// waits for every run to succeed and returns their IDs in sweep order.
func uiChurnSweep(t *testing.T, a *agent, values string) []string {
	t.Helper()
	stdout, stderr, code := forged(t, "submit", "examples/churn.yaml", "--sweep", values, "--json", "--addr", a.URL)
	if code != 0 {
		t.Fatalf("submit sweep: exit %d: %s", code, stderr)
	}
	var exp struct {
		RunIDs []string `json:"run_ids"`
	}
	if err := json.Unmarshal([]byte(stdout), &exp); err != nil || len(exp.RunIDs) < 2 {
		t.Fatalf("sweep answer %q: %v", stdout, err)
	}
	for _, id := range exp.RunIDs {
		if r := uiWaitRunEnded(t, a, id, 2*time.Minute); r.Status != "succeeded" {
			t.Fatalf("sweep run %s %s", id, r.Status)
		}
	}
	return exp.RunIDs
}

// The drawing of a pipeline, and of a run, has one shape per task: as
// many as the API lists, each named after a task, and on the run's page
// each marked with the task's state.
func TestBrowserDAGHasOneShapePerTask(t *testing.T) {
	chromiumPath(t) // skip (or fail under CI) before starting agents
	a := exampleAgent(t)
	b := newBrowser(t, a)
	for _, example := range []struct{ file, name string }{{"examples/etl.yaml", "etl"}, {"examples/churn.yaml", "churn"}} {
		run := uiSubmitExample(t, a, example.file)
		if run.Status != "succeeded" {
			t.Fatalf("%s: run %s", example.name, run.Status)
		}
		want := uiPipelineTasks(t, a, example.name)

		b.open(a, "/ui/pipelines/"+example.name, pageWait)
		shapes := shapeStatuses(b)
		if len(shapes) != want || b.count(".dag svg g[data-task]") != want {
			t.Fatalf("pipeline page of %s: %d shapes %v, the API lists %d tasks", example.name, len(shapes), shapes, want)
		}
		for _, task := range run.Tasks {
			if _, ok := shapes[task.Name]; !ok {
				t.Errorf("pipeline page of %s: no shape for task %s", example.name, task.Name)
			}
		}

		b.open(a, "/ui/runs/"+run.ID, pageWait)
		shapes = shapeStatuses(b)
		if len(shapes) != want || len(run.Tasks) != want {
			t.Fatalf("run page of %s: %d shapes, the run has %d tasks, the pipeline %d", example.name, len(shapes), len(run.Tasks), want)
		}
		for _, task := range run.Tasks {
			if shapes[task.Name] != task.Status {
				t.Errorf("run page of %s: task %s drawn %q, the API says %q", example.name, task.Name, shapes[task.Name], task.Status)
			}
		}
		t.Logf("%s: %d shapes on the pipeline and the run page", example.name, want)
	}
}

// A run's page follows the run as it goes: the shape of a task that is
// running when the page opens turns to succeeded, and changes colour,
// without the page being reloaded. The task waits for a file the test
// writes once the page shows it running, so no timing is assumed.
func TestBrowserRunPageColoursATaskLive(t *testing.T) {
	chromiumPath(t) // skip (or fail under CI) before starting agents
	a := startAgent(t, t.TempDir(), "--enable-exec")
	b := newBrowser(t, a)
	gate := filepath.Join(t.TempDir(), "open")
	half := filepath.Join(t.TempDir(), "half")
	uiPutPipeline(t, a, "gated", fmt.Sprintf(`name: gated
tasks:
  - name: hold
    description: Runs until the test opens the gates
    script: |
      echo "waiting for the first gate"
      while [ ! -e '%s' ]; do sleep 0.05; done
      echo "halfway there"
      while [ ! -e '%s' ]; do sleep 0.05; done
      printf 'x\n1\n' > "$FORGE_OUTPUT_OUT"
    format: csv
    timeout: 2m
  - name: after
    op: noop
    needs: [hold]
`, half, gate))
	// The pipeline's page first: it also lays the drawing out, so the
	// run's page does not wait for that.
	b.open(a, "/ui/pipelines/gated", pageWait)
	if n := b.count(".dag svg g[data-task]"); n != 2 {
		t.Fatalf("pipeline page: %d shapes, want 2", n)
	}
	// A click on a task shows what it does: its description and script.
	b.click(`.dag svg g[data-task="hold"]`)
	b.waitFor("the task's script", `document.querySelector("#task-panel [data-command]") !== null`, 10*time.Second)
	if d, c := evalJS[string](b, `document.querySelector("#task-panel [data-description]").textContent`),
		evalJS[string](b, `document.querySelector("#task-panel [data-command]").textContent`); d != "Runs until the test opens the gates" || !strings.Contains(c, `echo "halfway there"`) {
		t.Fatalf("the task panel shows description %q and script %q", d, c)
	}

	id := uiStartRun(t, a, "gated")
	b.open(a, "/ui/runs/"+id, pageWait)
	first := evalJS[string](b, taskStatusJS("hold"))
	b.waitFor("hold drawn running", taskStatusJS("hold")+` === "running"`, time.Minute)
	if s := uiGetRun(t, a, id).Status; s != "running" {
		t.Fatalf("run is %s while the page shows hold running", s)
	}
	if s := evalJS[string](b, taskStatusJS("after")); s == "succeeded" {
		t.Fatalf("after is drawn %s before hold ended", s)
	}
	runningFill := evalJS[string](b, taskFillJS("hold"))
	// A reload would lose this mark; a log of the shape's changes shows
	// how the page followed the run.
	evalJS[bool](b, `(() => {
		window.forgedNotReloaded = true;
		window.forgedChanges = [];
		new MutationObserver(ms => { for (const m of ms) window.forgedChanges.push(m.target.getAttribute("data-task") + "=" + m.target.getAttribute("data-status")); })
			.observe(document.querySelector(".dag"), {subtree: true, attributes: true, attributeFilter: ["data-status"]});
		return true;
	})()`)

	// The running task's panel follows its log: a line the task prints
	// while it goes on running (so the panel is not redrawn) shows up.
	b.click(`.dag svg g[data-task="hold"]`)
	b.waitFor("the log to follow", `document.querySelector("#task-panel .live") !== null && document.querySelector("#task-panel [data-log]").textContent.includes("waiting for the first gate")`, 30*time.Second)
	evalJS[bool](b, `(document.querySelector("#task-panel [data-log]").dataset.mark = "same", true)`)
	if err := os.WriteFile(half, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	b.waitFor("the followed log's next line", `document.querySelector("#task-panel [data-log]").textContent.includes("halfway there")`, 30*time.Second)
	if !evalJS[bool](b, `document.querySelector("#task-panel [data-log]").dataset.mark === "same"`) {
		t.Fatal("the log was redrawn, not followed")
	}
	if s := uiGetRun(t, a, id).Status; s != "running" {
		t.Fatalf("run is %s while its log is followed", s)
	}

	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	b.waitFor("hold and after drawn succeeded", taskStatusJS("hold")+` === "succeeded" && `+taskStatusJS("after")+` === "succeeded"`, time.Minute)
	if !evalJS[bool](b, `window.forgedNotReloaded === true`) {
		t.Fatal("the page was reloaded")
	}
	doneFill := evalJS[string](b, taskFillJS("hold"))
	if doneFill == "" || doneFill == runningFill {
		t.Fatalf("hold's fill stayed %q from running to succeeded", doneFill)
	}
	if r := uiWaitRunEnded(t, a, id, time.Minute); r.Status != "succeeded" {
		t.Fatalf("run %s", r.Status)
	}
	t.Logf("hold: %s when the page opened; fill %s running, %s succeeded; changes seen: %v",
		first, runningFill, doneFill, evalJS[[]string](b, `window.forgedChanges`))
}

// Clicking a failed task's shape shows its error in the task panel, the
// same text the API has; clicking another task replaces it.
func TestBrowserClickOnAFailedTaskShowsItsError(t *testing.T) {
	chromiumPath(t) // skip (or fail under CI) before starting agents
	a := exampleAgent(t)
	b := newBrowser(t, a)
	run := uiSubmitExample(t, a, "examples/flaky.yaml")
	if run.Status != "failed" {
		t.Fatalf("flaky run %s", run.Status)
	}
	var wantErr string
	for _, task := range run.Tasks {
		if task.Name == "call_api" {
			wantErr = task.Error
		}
	}
	if !strings.Contains(wantErr, "503 Service Unavailable") {
		t.Fatalf("call_api's error in the API: %q", wantErr)
	}

	b.open(a, "/ui/runs/"+run.ID, pageWait)
	if s := shapeStatuses(b); s["call_api"] != "failed" || s["publish"] != "skipped" || s["slow_branch"] != "succeeded" {
		t.Fatalf("shapes: %v", s)
	}
	if n := b.count("#task-panel [data-error]"); n != 0 {
		t.Fatalf("the panel shows %d errors before any click", n)
	}
	b.click(`.dag svg g[data-task="call_api"]`)
	b.waitFor("the panel's error", `document.querySelector("#task-panel [data-error]") !== null`, 10*time.Second)
	if got := strings.TrimSpace(evalJS[string](b, `document.querySelector("#task-panel [data-error]").textContent`)); got != strings.TrimSpace(wantErr) {
		t.Fatalf("panel error %q, the API's %q", got, wantErr)
	}

	b.click(`.dag svg g[data-task="slow_branch"]`)
	b.waitFor("the panel to show slow_branch", `document.querySelector("#task-panel [data-error]") === null && document.querySelector("#task-panel").textContent.includes("slow_branch")`, 10*time.Second)

	// The timeline has a bar per attempt: start, slow_branch and call_api's
	// two (publish never ran).
	if n := b.count(`svg.gantt rect[data-gantt-task]`); n != 4 {
		t.Fatalf("the timeline has %d bars, want 4", n)
	}
	if n := b.count(`svg.gantt rect[data-gantt-task="call_api"][data-status="failed"]`); n != 1 {
		t.Fatalf("the timeline has %d failed call_api bars, want 1", n)
	}

	// Retry failed runs call_api (and publish after it) again: its
	// attempts go on from 3, and the page follows the reopened run until
	// it fails again.
	b.click(`#retry`)
	var again struct {
		Status  string `json:"status"`
		Retries int    `json:"retries"`
		Tasks   []struct {
			Name    string `json:"name"`
			Attempt int    `json:"attempt"`
		} `json:"tasks"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		uiAPI(t, a, "GET", "/runs/"+run.ID, "", nil, 200, &again)
		if again.Retries == 1 && again.Status == "failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Retry failed: run %s, retries %d", again.Status, again.Retries)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, task := range again.Tasks {
		if want := map[string]int{"start": 1, "slow_branch": 1, "call_api": 4, "publish": 0}[task.Name]; task.Attempt != want {
			t.Errorf("after the retry %s is at attempt %d, want %d", task.Name, task.Attempt, want)
		}
	}
	b.waitFor("the page to show the retried run", `document.querySelector(".run-info").textContent.includes("retried 1×") && document.querySelector("#retry") !== null`, 20*time.Second)
	if n := b.count(`svg.gantt rect[data-gantt-task="call_api"]`); n != 4 {
		t.Fatalf("after the retry the timeline has %d call_api bars, want 4", n)
	}
}

// The compare page highlights, in each metric's row, the cell the API
// names best, and that cell holds the row's highest value (or lowest, for
// a loss); rows without a direction, and params, have none.
func TestBrowserComparePageHighlightsTheBestValue(t *testing.T) {
	chromiumPath(t) // skip (or fail under CI) before starting agents
	a := exampleAgent(t)
	b := newBrowser(t, a)
	// The least regularised model, in the middle, fits best: the best
	// cells are not all in the first column.
	ids := strings.Join(uiChurnSweep(t, a, "l2=3,0.001,1"), ",")
	var cmp struct {
		Params  []struct{ Name string } `json:"params"`
		Metrics []struct {
			Name    string `json:"name"`
			Values  []any  `json:"values"`
			Differs bool   `json:"differs"`
			Goal    string `json:"goal"`
			Best    int    `json:"best"`
		} `json:"metrics"`
	}
	uiAPI(t, a, "GET", "/compare?runs="+ids, "", nil, 200, &cmp)

	b.open(a, "/ui/compare?runs="+ids, pageWait)
	// Each param and metric row: its name, its value cells' text, and which
	// of them (0 for the first run) are marked best.
	type row struct {
		Name  string   `json:"name"`
		Cells []string `json:"cells"`
		Best  []int    `json:"best"`
	}
	rowsOf := func(attr string) map[string]row {
		rows := evalJS[[]row](b, `[...document.querySelectorAll("tr[`+attr+`]")].map(tr => {
			const tds = [...tr.querySelectorAll("td")];
			return {name: tr.getAttribute("`+attr+`"), cells: tds.map(td => td.textContent.trim()),
				best: tds.flatMap((td, i) => td.classList.contains("best") ? [i] : [])};
		})`)
		byName := map[string]row{}
		for _, r := range rows {
			byName[r.Name] = r
		}
		return byName
	}
	params, metrics := rowsOf("data-param"), rowsOf("data-metric")
	for _, p := range cmp.Params {
		if r, ok := params[p.Name]; !ok || len(r.Best) != 0 {
			t.Errorf("param %s: row %+v (present: %v), want one with no best cell", p.Name, r, ok)
		}
	}
	marked := 0
	for _, m := range cmp.Metrics {
		if m.Best >= 0 {
			marked++
		}
	}
	if n := b.count("td.best"); n != marked {
		t.Errorf("%d cells marked best, the API names a best run for %d metrics", n, marked)
	}
	decided := 0
	for _, m := range cmp.Metrics {
		r, ok := metrics[m.Name]
		if !ok || len(r.Cells) != len(m.Values) {
			t.Errorf("metric %s: row %+v (present: %v), want %d values", m.Name, r, ok, len(m.Values))
			continue
		}
		if m.Best < 0 {
			if len(r.Best) != 0 {
				t.Errorf("metric %s (no direction): cells %v marked best", m.Name, r.Best)
			}
			continue
		}
		if len(r.Best) != 1 || r.Best[0] != m.Best {
			t.Errorf("metric %s: cells %v marked best, the API says %d", m.Name, r.Best, m.Best)
			continue
		}
		// The marked cell holds the extreme value of its row.
		best, err := strconv.ParseFloat(r.Cells[m.Best], 64)
		if err != nil {
			t.Errorf("metric %s: best cell %q is no number", m.Name, r.Cells[m.Best])
			continue
		}
		for i, c := range r.Cells {
			v, err := strconv.ParseFloat(c, 64)
			if err != nil || math.IsNaN(v) {
				continue
			}
			if m.Goal == "max" && v > best || m.Goal == "min" && v < best {
				t.Errorf("metric %s (%s): cell %d holds %v, better than the marked %v", m.Name, m.Goal, i, v, best)
			}
		}
		if m.Differs && m.Best != 0 {
			decided++
			t.Logf("%s (%s is better): %v, marked run %d", m.Name, m.Goal, r.Cells, m.Best)
		}
	}
	if decided == 0 {
		t.Fatalf("no metric with a direction differs between the runs with its best past the first run; rows: %+v", metrics)
	}

	// The charts: a line per run across the params and the chosen
	// metric, and a bar chart per metric that differs, its best bar
	// outlined when the metric has a direction.
	if n := b.count(`#parcoords polyline[data-run]`); n != 3 {
		t.Fatalf("the parallel-coordinates chart has %d lines, want one per run (3)", n)
	}
	differ, withBest := 0, 0
	for _, m := range cmp.Metrics {
		if m.Differs && numeric(m.Values) {
			differ++
			if m.Best >= 0 {
				withBest++
			}
		}
	}
	if n := b.count(`figure[data-metric-chart]`); n != differ {
		t.Fatalf("%d metric charts, want one per differing numeric metric (%d)", n, differ)
	}
	if n := b.count(`figure[data-metric-chart] rect.best-bar`); n != withBest {
		t.Fatalf("%d best bars, want %d", n, withBest)
	}
}

// numeric says whether any of the values is a number.
func numeric(vals []any) bool {
	for _, v := range vals {
		if _, ok := v.(float64); ok {
			return true
		}
	}
	return false
}

// The cluster page of every node of a 3-node cluster lists the three
// nodes, alive, and the leader the API names.
func TestBrowserClusterPageListsEveryNode(t *testing.T) {
	chromiumPath(t) // skip (or fail under CI) before starting agents
	c := startCluster(t)
	b := newBrowser(t, c.agents...)
	// Gossip and Raft settle first: every node sees three alive members
	// and a leader.
	var info clusterJSON
	for _, a := range c.agents {
		deadline := time.Now().Add(30 * time.Second)
		for {
			uiAPI(t, a, "GET", "/cluster", "", nil, 200, &info)
			alive := 0
			for _, m := range info.Members {
				if m.Status == "alive" {
					alive++
				}
			}
			if alive == 3 && info.Leader != "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: cluster not settled in 30s: %+v", a.name, info)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, a := range c.agents {
		b.open(a, "/ui/cluster", pageWait)
		type node struct {
			Name string   `json:"name"`
			TDs  []string `json:"tds"`
		}
		nodes := evalJS[[]node](b, `[...document.querySelectorAll("tr[data-node]")].map(tr => ({name: tr.getAttribute("data-node"), tds: [...tr.querySelectorAll("td")].map(td => td.textContent)}))`)
		seen := map[string]bool{}
		for _, n := range nodes {
			seen[n.Name] = true
			if !uiHasWord(n.TDs, "alive") {
				t.Errorf("%s's page: %s's row %v does not say alive", a.name, n.Name, n.TDs)
			}
			if uiHasWord(n.TDs, "leader") != (n.Name == info.Leader) {
				t.Errorf("%s's page: %s's row %v, the leader is %s", a.name, n.Name, n.TDs, info.Leader)
			}
		}
		if len(nodes) != 3 || !seen["n1"] || !seen["n2"] || !seen["n3"] {
			t.Errorf("%s's page lists %v, want n1, n2, n3", a.name, nodes)
		}
	}
}

// uiHasWord says whether one of the texts holds the word.
func uiHasWord(texts []string, word string) bool {
	for _, x := range texts {
		for _, w := range strings.Fields(x) {
			if w == word {
				return true
			}
		}
	}
	return false
}

// Every page of the UI draws its view with no console error, uncaught
// exception or failed request: the runs (all, and filtered), each run,
// each pipeline, the cluster, the models and a comparison.
func TestBrowserEveryPageLoadsCleanly(t *testing.T) {
	chromiumPath(t) // skip (or fail under CI) before starting agents
	a := exampleAgent(t)
	b := newBrowser(t, a)
	runs := map[string]uiRun{}
	for _, name := range []string{"etl", "churn", "flaky"} {
		runs[name] = uiSubmitExample(t, a, "examples/"+name+".yaml")
	}

	pages := []string{"/", "/ui/", "/ui/runs", "/ui/runs?pipeline=etl", "/ui/cluster", "/ui/models", "/ui/models/churn",
		"/ui/pipelines", "/ui/compare", "/ui/compare?runs=" + runs["etl"].ID + "," + runs["churn"].ID}
	for name, r := range runs {
		pages = append(pages, "/ui/runs/"+r.ID, "/ui/pipelines/"+name)
	}
	for _, p := range pages {
		took := b.open(a, p, pageWait)
		if n := evalJS[int](b, `document.querySelector("main#main").children.length`); n == 0 {
			t.Errorf("%s: main is empty", p)
		}
		// A laptop's width is enough: the page itself does not scroll
		// sideways (wide tables and drawings scroll in their own box).
		if w, view := evalJS[int](b, `document.documentElement.scrollWidth`), evalJS[int](b, `window.innerWidth`); w > view {
			t.Errorf("%s is %dpx wide in a %dpx window", p, w, view)
		}
		t.Logf("%s drawn in %s", p, took.Round(time.Millisecond))
	}

	// What the pages show, against the API.
	b.open(a, "/ui/runs", pageWait)
	for name, r := range runs {
		if n := b.count(`tr[data-run="` + r.ID + `"]`); n != 1 {
			t.Errorf("runs page: %d rows for %s's run %s", n, name, r.ID)
		}
	}
	if n := b.count("tr[data-run]"); n != len(runs) {
		t.Errorf("runs page: %d rows, %d runs", n, len(runs))
	}
	b.open(a, "/ui/runs?pipeline=etl", pageWait)
	if n := b.count("tr[data-run]"); n != 1 || b.count(`tr[data-run="`+runs["etl"].ID+`"]`) != 1 {
		t.Errorf("runs of etl: %d rows", n)
	}
	b.open(a, "/ui/models", pageWait)
	if b.count(`tr[data-model="churn"]`) != 1 {
		t.Error("models page: no row for churn")
	}
	b.open(a, "/ui/cluster", pageWait)
	if b.count(`tr[data-node="e2e"]`) != 1 {
		t.Error("cluster page: no row for the agent")
	}
}

// uiBigSpec is a pipeline of layers×width noop tasks: each task of a layer
// needs the task in the same place in the layer before and another one.
func uiBigSpec(name string, layers, width int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "name: %s\ntasks:\n", name)
	for l := 0; l < layers; l++ {
		for i := 0; i < width; i++ {
			needs := ""
			if l > 0 {
				j := (i*7 + 3) % width
				if j == i {
					j = (i + 1) % width
				}
				needs = fmt.Sprintf(", needs: [l%02d_%02d, l%02d_%02d]", l-1, i, l-1, j)
			}
			fmt.Fprintf(&sb, "  - {name: l%02d_%02d, op: noop%s}\n", l, i, needs)
		}
	}
	return sb.String()
}

// A 2000-task pipeline's page and run page draw every shape. The time
// from navigation to the last shape is logged, not asserted: the first
// drawing lays the pipeline out on the node (seconds), later ones use the
// kept layout.
func TestBrowser2000TaskDAG(t *testing.T) {
	chromiumPath(t) // skip (or fail under CI) before starting agents
	a := startAgent(t, t.TempDir(), "--slots", "16")
	b := newBrowser(t, a)
	const layers, width = 50, 40
	uiPutPipeline(t, a, "big", uiBigSpec("big", layers, width))
	if n := uiPipelineTasks(t, a, "big"); n != layers*width {
		t.Fatalf("the API lists %d tasks", n)
	}
	// measure opens a page and logs when its 2000 shapes were there: in
	// the page (from the start of navigation) and on the test's clock,
	// and how long the drawing's request took (the node's share).
	measure := func(label, path string) {
		t.Helper()
		wall := b.open(a, path, 3*time.Minute)
		inPage := waitNumber(b, "2000 shapes", fmt.Sprintf(
			`document.querySelectorAll(".dag svg g[data-task]").length === %d && performance.now()`, layers*width), time.Minute)
		svg := evalJS[float64](b, `(performance.getEntriesByType("resource").find(e => e.name.includes("/dag.svg")) || {duration: -1}).duration`)
		t.Logf("%s: 2000 shapes %.0f ms after navigation (in the page; %s on the test's clock), dag.svg request %.0f ms",
			label, inPage, wall.Round(time.Millisecond), svg)
	}
	measure("pipeline page, first (the node lays the pipeline out)", "/ui/pipelines/big")
	measure("pipeline page, again (kept layout)", "/ui/pipelines/big")

	id := uiStartRun(t, a, "big")
	measure("run page while the run runs", "/ui/runs/"+id)
	r := uiWaitRunEnded(t, a, id, 5*time.Minute)
	if r.Status != "succeeded" {
		t.Fatalf("run %s", r.Status)
	}
	ended := time.Now()
	b.waitFor("every shape drawn succeeded", `[...document.querySelectorAll(".dag svg g[data-task]")].every(g => g.getAttribute("data-status") === "succeeded")`, 2*time.Minute)
	t.Logf("run page followed the run live: every shape succeeded %s after the API said the run ended", time.Since(ended).Round(time.Millisecond))
	measure("run page of the ended run", "/ui/runs/"+id)
}

// With FORGED_SCREENSHOTS=DIR (make screenshots), saves a full-page PNG
// of each page of the UI into DIR, on a 3-node cluster with the examples
// run: the runs, a run mid-way and ended, a failed task's panel, a
// pipeline, the cluster, the models and a comparison.
func TestBrowserScreenshots(t *testing.T) {
	dir := os.Getenv("FORGED_SCREENSHOTS")
	if dir == "" {
		t.Skip("set FORGED_SCREENSHOTS=DIR to save screenshots of the UI")
	}
	chromiumPath(t)
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(repoRoot, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Every node's data root: a copy of the examples' data, where the
	// run caught mid-way waits for exports/ready.
	root := t.TempDir()
	for _, name := range []string{"orders.csv", "churn.csv"} {
		b, err := os.ReadFile(filepath.Join(repoRoot, "examples", "data", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(root, "data"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "data", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := startClusterWith(t, func(int) []string { return []string{"--data-root", root, "--enable-exec"} })
	a := c.agents[0]
	b := newBrowser(t, c.agents...)

	etl := uiSubmitExample(t, a, "examples/etl.yaml")
	flaky := uiSubmitExample(t, a, "examples/flaky.yaml")
	sweep := uiChurnSweep(t, a, "l2=3,0.001,1")

	// A run caught mid-way: wait_export waits for a file the test writes
	// after the screenshot.
	gate := filepath.Join(root, "exports", "ready")
	uiPutPipeline(t, a, "nightly", `name: nightly
description: Load the orders, clean them, build the report once the upstream export lands
tasks:
  - {name: load, op: read_csv, with: {path: data/orders.csv}, description: Read the orders}
  - {name: clean, op: filter, needs: [load], with: {expr: "amount > 0"}, description: Drop refunds}
  - {name: by_region, op: aggregate, needs: [clean], with: {by: [region], aggs: [{fn: sum, column: amount, as: revenue}]}}
  - name: wait_export
    description: Waits for the upstream export
    script: |
      while [ ! -e exports/ready ]; do sleep 0.05; done
      printf 'x\n1\n' > "$FORGE_OUTPUT_OUT"
    format: csv
    needs: [clean]
    timeout: 5m
  - {name: report, op: noop, needs: [by_region, wait_export]}
  - {name: publish, op: noop, needs: [report]}
`)
	b.open(a, "/ui/pipelines/nightly", pageWait)
	b.screenshot(dir, "pipeline")
	id := uiStartRun(t, a, "nightly")
	b.open(a, "/ui/runs/"+id, pageWait)
	b.waitFor("wait_export drawn running and by_region succeeded",
		taskStatusJS("wait_export")+` === "running" && `+taskStatusJS("by_region")+` === "succeeded"`, time.Minute)
	b.screenshot(dir, "run-live")
	if err := os.MkdirAll(filepath.Dir(gate), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	b.waitFor("publish drawn succeeded", taskStatusJS("publish")+` === "succeeded"`, time.Minute)
	b.click(`.dag svg g[data-task="by_region"]`)
	b.waitFor("by_region's panel", `document.querySelector("#task-panel").textContent.includes("by_region")`, 10*time.Second)
	b.screenshot(dir, "run")

	b.open(a, "/ui/runs/"+flaky.ID, pageWait)
	b.click(`.dag svg g[data-task="call_api"]`)
	b.waitFor("the panel's error", `document.querySelector("#task-panel [data-error]") !== null`, 10*time.Second)
	b.screenshot(dir, "run-failed-task")

	b.open(a, "/ui/runs", pageWait)
	b.screenshot(dir, "runs")
	b.open(a, "/ui/cluster", pageWait)
	b.screenshot(dir, "cluster")
	b.open(a, "/ui/models", pageWait)
	b.screenshot(dir, "models")
	b.open(a, "/ui/models/churn", pageWait)
	b.screenshot(dir, "model")
	b.open(a, "/ui/compare?runs="+strings.Join(sweep, ","), pageWait)
	b.screenshot(dir, "compare")
	var first struct {
		Experiment string `json:"experiment"`
	}
	uiAPI(t, a, "GET", "/runs/"+sweep[0], "", nil, 200, &first)
	b.open(a, "/ui/experiments/"+first.Experiment, pageWait)
	b.screenshot(dir, "experiment")
	b.open(a, "/ui/pipelines/churn", pageWait)
	b.screenshot(dir, "pipeline-churn")
	b.open(a, "/ui/runs/"+etl.ID, pageWait)
	b.screenshot(dir, "run-etl")
}

// A pipeline's page lists its versions and shows what changed between
// two of them as a line diff.
func TestBrowserPipelineVersionsDiff(t *testing.T) {
	chromiumPath(t) // skip (or fail under CI) before starting agents
	a := startAgent(t, t.TempDir())
	b := newBrowser(t, a)
	uiPutPipeline(t, a, "twice", "name: twice\ntasks:\n  - {name: a, op: noop}\n  - {name: b, op: noop, needs: [a]}\n")
	uiPutPipeline(t, a, "twice", "name: twice\ntasks:\n  - {name: a, op: noop}\n  - {name: c, op: noop, needs: [a]}\n")

	b.open(a, "/ui/pipelines/twice", pageWait)
	if n := b.count(`tr[data-version]`); n != 2 {
		t.Fatalf("%d versions listed, want 2", n)
	}
	if n := b.count(`.dag svg g[data-task="c"]`); n != 1 {
		t.Fatal("the page does not draw the latest version")
	}
	b.click(`#show-diff`)
	b.waitFor("the diff", `document.querySelector("[data-diff]") !== null`, 10*time.Second)
	added := evalJS[[]string](b, `[...document.querySelectorAll("[data-diff] .add")].map(e => e.textContent)`)
	removed := evalJS[[]string](b, `[...document.querySelectorAll("[data-diff] .del")].map(e => e.textContent)`)
	if len(added) != 1 || !strings.Contains(added[0], "name: c") || len(removed) != 1 || !strings.Contains(removed[0], "name: b") {
		t.Fatalf("diff v1 → v2: added %q, removed %q", added, removed)
	}
}

// A model's page shows its versions and signature, and its form scores a
// record as the predict API does.
func TestBrowserModelPageTriesAPrediction(t *testing.T) {
	chromiumPath(t) // skip (or fail under CI) before starting agents
	a := exampleAgent(t)
	b := newBrowser(t, a)
	if r := uiSubmitExample(t, a, "examples/churn.yaml"); r.Status != "succeeded" {
		t.Fatalf("churn run %s", r.Status)
	}
	record := `{"tenure_months": 3, "monthly_charges": 95, "support_calls": 4, "month_to_month": true}`
	var want struct {
		Predictions []float64 `json:"predictions"`
	}
	uiAPI(t, a, "POST", "/models/churn/predict", "application/json", []byte(`{"records": [`+record+`]}`), 200, &want)

	b.open(a, "/ui/models/churn", pageWait)
	if n := b.count(`tr[data-version]`); n != 1 {
		t.Fatalf("%d versions listed, want 1", n)
	}
	evalJS[bool](b, `(() => {
		const f = document.querySelector("#predict-form");
		f.elements.tenure_months.value = "3";
		f.elements.monthly_charges.value = "95";
		f.elements.support_calls.value = "4";
		f.elements.month_to_month.value = "true";
		return true;
	})()`)
	b.click(`#predict-form button[type=submit]`)
	b.waitFor("the prediction", `document.querySelector("[data-prediction]") !== null`, 10*time.Second)
	got := evalJS[string](b, `document.querySelector("[data-prediction] strong").textContent`)
	if len(want.Predictions) != 1 || got != strconv.FormatFloat(want.Predictions[0], 'g', 6, 64) {
		t.Fatalf("the form shows %q, the API %v", got, want.Predictions)
	}
}

// A run started from a pipeline's page takes the params typed in its
// form and opens the run's page; the runs page, left open, shows the new
// run without a reload.
func TestBrowserStartARunFromThePipelinePage(t *testing.T) {
	chromiumPath(t) // skip (or fail under CI) before starting agents
	a := startAgent(t, t.TempDir())
	b := newBrowser(t, a)
	uiPutPipeline(t, a, "knobs", `name: knobs
params:
  n: {type: int, default: 1}
  label: {type: string, default: plain}
tasks:
  - {name: a, op: noop}
`)
	b.open(a, "/ui/runs", pageWait)
	evalJS[bool](b, `(window.forgedNotReloaded = true)`)
	id := uiStartRun(t, a, "knobs")
	b.waitFor("the new run on the runs page", `document.querySelector('tr[data-run="`+id+`"]') !== null && window.forgedNotReloaded === true`, 20*time.Second)

	b.open(a, "/ui/pipelines/knobs", pageWait)
	evalJS[bool](b, `(document.querySelector("#start-form").elements.n.value = "5", true)`)
	b.click(`#start-form button[type=submit]`)
	// The page navigates: wait with a query that follows it to the new
	// document.
	if err := b.run(20*time.Second, chromedp.WaitVisible(`main[data-page="run"][data-ready] .dag`)); err != nil {
		t.Fatalf("the new run's page: %v", err)
	}
	runID := strings.TrimPrefix(evalJS[string](b, `location.pathname`), "/ui/runs/")
	var run struct {
		Params map[string]any `json:"params"`
	}
	uiAPI(t, a, "GET", "/runs/"+runID, "", nil, 200, &run)
	if run.Params["n"] != float64(5) || run.Params["label"] != "plain" {
		t.Fatalf("the run started from the form has params %v, want n=5 and the default label", run.Params)
	}
}

// With tokens configured, the page works with the token the user gives
// it: the run's page follows a running task by polling (EventSource
// cannot send a token), and a download goes through the page with the
// token.
func TestBrowserWithATokenPollsAndDownloads(t *testing.T) {
	chromiumPath(t) // skip (or fail under CI) before starting agents
	const admin, submit = "ui-admin-0123456789", "ui-submit-0123456789"
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte(admin+" admin\n"+submit+" submit\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, t.TempDir(), "--data-root", filepath.Join(repoRoot, "examples"), "--tokens-file", tokens, "--enable-exec")
	b := newBrowser(t, a)
	gate := filepath.Join(t.TempDir(), "open")
	spec := filepath.Join(t.TempDir(), "gated.yaml")
	if err := os.WriteFile(spec, []byte(fmt.Sprintf(`name: gated
tasks:
  - name: hold
    script: |
      while [ ! -e '%s' ]; do sleep 0.05; done
      printf 'x\n1\n2\n' > "$FORGE_OUTPUT_OUT"
    format: csv
    timeout: 2m
`, gate)), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := forged(t, "submit", spec, "--addr", a.URL, "--token", submit)
	if code != 0 {
		t.Fatalf("submit: exit %d: %s", code, stderr)
	}
	id := strings.TrimSpace(stdout)

	// The token goes in before the page calls the API: a static file's
	// page is of the same origin and calls nothing.
	if err := b.run(time.Minute, chromedp.Navigate(a.URL+"/ui/static/style.css")); err != nil {
		t.Fatal(err)
	}
	evalJS[bool](b, `(localStorage.setItem("forged-token", "`+submit+`"), true)`)
	b.open(a, "/ui/runs/"+id, pageWait)
	b.waitFor("hold drawn running", taskStatusJS("hold")+` === "running"`, time.Minute)
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	b.waitFor("hold drawn succeeded by polling", taskStatusJS("hold")+` === "succeeded"`, time.Minute)

	// The CSV download: the page fetches it with the token and hands the
	// browser a blob URL; the test reads that blob back.
	b.click(`.dag svg g[data-task="hold"]`)
	b.waitFor("the output's download button", `[...document.querySelectorAll("#task-panel button")].some(x => x.textContent === "Download CSV")`, 10*time.Second)
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	csv, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(async () => {
		let blobURL = null;
		const orig = HTMLAnchorElement.prototype.click;
		HTMLAnchorElement.prototype.click = function () { blobURL = this.href; };
		[...document.querySelectorAll("#task-panel button")].find(x => x.textContent === "Download CSV").click();
		for (let i = 0; i < 100 && !blobURL; i++) await new Promise(r => setTimeout(r, 50));
		HTMLAnchorElement.prototype.click = orig;
		return blobURL ? await (await fetch(blobURL)).text() : "no download";
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if csv != "x\n1\n2\n" {
		t.Fatalf("downloaded %q, want the output's CSV", csv)
	}
}

// The Cancel button of a running run's page cancels it, once confirmed;
// the page then offers to retry it.
func TestBrowserCancelButtonStopsARun(t *testing.T) {
	chromiumPath(t) // skip (or fail under CI) before starting agents
	a := startAgent(t, t.TempDir(), "--enable-exec")
	b := newBrowser(t, a)
	uiPutPipeline(t, a, "forever", `name: forever
tasks:
  - name: wait
    script: |
      while true; do sleep 0.05; done
    timeout: 5m
  - {name: after, op: noop, needs: [wait]}
`)
	id := uiStartRun(t, a, "forever")
	b.open(a, "/ui/runs/"+id, pageWait)
	b.waitFor("wait drawn running", taskStatusJS("wait")+` === "running"`, time.Minute)
	// The page asks before it cancels; the test says yes.
	evalJS[bool](b, `(window.confirm = () => true, true)`)
	b.click(`#cancel`)
	if r := uiWaitRunEnded(t, a, id, time.Minute); r.Status != "cancelled" {
		t.Fatalf("after Cancel the run is %s", r.Status)
	}
	b.waitFor("the page to show the run cancelled with a Retry button",
		`document.querySelector(".run-info .badge").textContent === "cancelled" && document.querySelector("#retry") !== null && document.querySelector("#cancel") === null`, 30*time.Second)
}
