package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The browser tests drive a real headless Chromium against real agent
// processes: they open the UI's pages as a user would and read the DOM the
// page drew. These helpers start the browser, collect what goes wrong in
// the page (console errors, uncaught exceptions, failed requests) and wait,
// always with a bound, for the page to reach a state.

// viewportWidth and viewportHeight are a laptop's screen, in CSS pixels.
const (
	viewportWidth  = 1366
	viewportHeight = 768
)

// chromiumPath finds Chromium (FORGED_CHROMIUM, else chromium on the
// PATH). Without it the test is skipped, except under CI=true, where a
// missing browser is a failure: CI installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("FORGED_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "chromium is not installed (apt-get install chromium, or set FORGED_CHROMIUM); the browser tests need it"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browser is one headless Chromium with one tab, and the problems its
// pages reported since they were last checked.
type browser struct {
	t   *testing.T
	ctx context.Context // the tab's context

	mu       sync.Mutex
	origins  map[string]bool              // the agents' origins: the only places a page may reach
	requests map[network.RequestID]string // URL of each request, for its failure
	problems []string
	page     string // the path open, to say where a problem came from
}

// newBrowser starts Chromium with a fresh profile and a laptop viewport,
// for pages served by the given agents. At the test's end it reports every
// problem not yet reported, then closes the browser.
func newBrowser(t *testing.T, agents ...*agent) *browser {
	t.Helper()
	exe := chromiumPath(t)
	b := &browser{t: t, origins: map[string]bool{}, requests: map[network.RequestID]string{}}
	for _, a := range agents {
		b.allow(a)
	}
	// Chromium sometimes fails to start on a loaded machine (its crash
	// handler gives up, say): a failed start is tried again, twice, with
	// a fresh profile.
	var err error
	for try := 1; try <= 3; try++ {
		var stop func()
		if b.ctx, stop, err = startChromium(t, exe, b.listen); err == nil {
			t.Cleanup(stop)
			break
		}
		t.Logf("start chromium (%s), try %d: %v", exe, try, err)
	}
	if err != nil {
		t.Fatalf("start chromium (%s): %v", exe, err)
	}
	t.Cleanup(b.checkClean) // runs first: before the browser goes away
	return b
}

// startChromium starts a headless Chromium with a fresh profile and a
// laptop viewport and returns its tab's context and how to stop it.
func startChromium(t *testing.T, exe string, listen func(any)) (context.Context, func(), error) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(viewportWidth, viewportHeight),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithListener(listen))
	stop := func() {
		cancel()
		cancelAlloc() // also waits for the browser to exit
	}
	// The first action starts the browser; it is bound by a timer rather
	// than a context, since that context's end would also end the browser.
	started := make(chan error, 1)
	go func() {
		started <- chromedp.Do(ctx, chromedp.EmulateViewport(viewportWidth, viewportHeight))
	}()
	select {
	case err := <-started:
		if err != nil {
			stop()
			return nil, nil, err
		}
	case <-time.After(time.Minute):
		stop()
		return nil, nil, errors.New("it did not start within a minute")
	}
	return ctx, stop, nil
}

// allow adds an agent's origin to those the pages may reach.
func (b *browser) allow(a *agent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.origins[strings.TrimSuffix(a.URL, "/")] = true
}

// ownURL says whether a URL is on one of the agents' origins.
func (b *browser) ownURL(u string) bool {
	for o := range b.origins {
		if u == o || strings.HasPrefix(u, o+"/") {
			return true
		}
	}
	return false
}

// listen runs in the tab's event loop, in the order Chromium sends the
// events: it records console errors, uncaught exceptions, browser log
// errors, requests that leave the agents and own requests that fail.
func (b *browser) listen(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range ev.Args {
				args = append(args, remoteText(a))
			}
			b.problems = append(b.problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil {
			text += " " + remoteText(d.Exception)
		}
		b.problems = append(b.problems, fmt.Sprintf("uncaught exception at %s:%d: %s", d.URL, d.LineNumber+1, text))
	case *log.EventEntryAdded:
		// Network errors are reported below, with their URL and status.
		if ev.Entry.Level == log.EntryLevelError && ev.Entry.Source != log.EntrySourceNetwork {
			b.problems = append(b.problems, fmt.Sprintf("browser log (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
		}
	case *network.EventRequestWillBeSent:
		u := ev.Request.URL
		b.requests[ev.RequestID] = u
		if (strings.HasPrefix(u, "http:") || strings.HasPrefix(u, "https:")) && !b.ownURL(u) {
			b.problems = append(b.problems, "the page reached outside the node: "+u)
		}
	case *network.EventResponseReceived:
		if ev.Response.Status >= 400 && b.ownURL(ev.Response.URL) {
			b.problems = append(b.problems, fmt.Sprintf("%s answered %d %s", ev.Response.URL, ev.Response.Status, ev.Response.StatusText))
		}
	case *network.EventLoadingFailed:
		// A request cancelled by leaving the page (an event stream, say)
		// is no failure.
		if u := b.requests[ev.RequestID]; !ev.Canceled && b.ownURL(u) {
			b.problems = append(b.problems, fmt.Sprintf("request %s failed: %s", u, ev.ErrorText))
		}
	}
}

// remoteText is how the console would show a value.
func remoteText(o *runtime.RemoteObject) string {
	if o == nil {
		return ""
	}
	if o.Description != "" {
		return o.Description
	}
	if len(o.Value) > 0 {
		return string(o.Value)
	}
	return string(o.Type)
}

// checkClean fails the test with every problem the pages reported since
// the last check.
func (b *browser) checkClean() {
	b.t.Helper()
	b.mu.Lock()
	problems := b.problems
	b.problems = nil
	b.mu.Unlock()
	for _, p := range problems {
		b.t.Errorf("problem on %s: %s", b.page, p)
	}
}

// run runs browser actions, bounded by d.
func (b *browser) run(d time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// open navigates to the agent's path and waits (up to wait) until the page
// has drawn: main carries data-ready. It fails the test when the page
// drew an error instead of its view, and returns how long it took.
func (b *browser) open(a *agent, path string, wait time.Duration) time.Duration {
	b.t.Helper()
	b.checkClean()
	b.page = path
	start := time.Now()
	if err := b.run(time.Minute, chromedp.Navigate(a.URL+path)); err != nil {
		b.t.Fatalf("navigate to %s: %v", path, err)
	}
	b.waitFor(path+": main[data-ready]", `document.querySelector("main#main[data-ready]") !== null`, wait)
	took := time.Since(start)
	if msg := evalJS[string](b, `(document.querySelector("main#main > p.error") || {}).textContent || ""`); msg != "" {
		b.t.Fatalf("%s shows an error instead of its view: %s", path, msg)
	}
	return took
}

// waitFor polls a JavaScript expression until it is true, at most d; on
// timeout it fails the test, naming what it waited for.
func (b *browser) waitFor(what, expr string, d time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, d+10*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(d)))
	if err != nil {
		if errors.Is(err, chromedp.ErrPollingTimeout) {
			b.t.Fatalf("waited %s for %s", d, what)
		}
		b.t.Fatalf("wait for %s: %v", what, err)
	}
}

// waitNumber polls a JavaScript expression until it is a number other
// than 0 (a false value counts as 0), at most d, and returns the number.
func waitNumber(b *browser, what, expr string, d time.Duration) float64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, d+10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Poll[float64](expr,
		chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(d)))
	if err != nil {
		b.t.Fatalf("wait %s for %s: %v", d, what, err)
	}
	return v
}

// evalJS evaluates a JavaScript expression in the page and decodes its
// value as T.
func evalJS[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// click clicks the centre of the first element the CSS selector finds,
// with the mouse, as a user would.
func (b *browser) click(sel string) {
	b.t.Helper()
	if err := b.run(30*time.Second, chromedp.Click(chromedp.CSS(sel))); err != nil {
		b.t.Fatalf("click %s: %v", sel, err)
	}
}

// count is the number of elements the CSS selector finds.
func (b *browser) count(sel string) int {
	b.t.Helper()
	return evalJS[int](b, fmt.Sprintf(`document.querySelectorAll(%s).length`, jsString(sel)))
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// screenshot saves a full-page PNG as DIR/name.png when dir is set.
func (b *browser) screenshot(dir, name string) {
	b.t.Helper()
	if dir == "" {
		return
	}
	// From the top: a page scrolled down (to a task's panel, say) would
	// show its sticky header in the middle of the picture.
	evalJS[bool](b, `window.scrollTo(0, 0), true`)
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	png, err := chromedp.Run(ctx, fullPagePNG)
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("wrote %s (%d KiB)", path, len(png)/1024)
}

// fullPagePNG captures the whole page, as tall as its content, as PNG.
// It clips to the content's size, measured first: capturing beyond the
// viewport alone sometimes stopped at the viewport's height.
func fullPagePNG(ctx context.Context, t *chromedp.Target) ([]byte, error) {
	m, err := cdp.Call(ctx, t, page.GetLayoutMetrics, cdp.Empty{})
	if err != nil {
		return nil, err
	}
	w, h := float64(viewportWidth), float64(viewportHeight)
	if m.CSSContentSize != nil {
		w, h = max(w, math.Ceil(m.CSSContentSize.Width)), max(h, math.Ceil(m.CSSContentSize.Height))
	}
	yes := true
	r, err := cdp.Call(ctx, t, page.CaptureScreenshot, page.CaptureScreenshotParams{
		Format:                page.CaptureScreenshotFormatPng,
		Clip:                  &page.Viewport{Width: w, Height: h, Scale: 1},
		CaptureBeyondViewport: &yes,
		FromSurface:           &yes,
	})
	if err != nil {
		return nil, err
	}
	return r.Data, nil
}

// uiTask is a task of a run as the API gives it, with what the browser
// tests compare against.
type uiTask struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Error  string `json:"error"`
}

// uiRun is a run as the API gives it.
type uiRun struct {
	ID     string   `json:"id"`
	Status string   `json:"status"`
	Tasks  []uiTask `json:"tasks"`
}

// uiAPI sends one request to an agent's API (path under /api/v1) and
// decodes the JSON answer into out, failing the test unless the status
// is the one wanted.
func uiAPI(t *testing.T, a *agent, method, path, contentType string, body []byte, want int, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.URL+"/api/v1"+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %v: %s", method, path, err, b)
		}
	}
}

// uiPutPipeline stores a YAML spec under its name.
func uiPutPipeline(t *testing.T, a *agent, name, spec string) {
	t.Helper()
	uiAPI(t, a, "PUT", "/pipelines/"+name, "application/yaml", []byte(spec), http.StatusOK, nil)
}

// uiStartRun starts a run of a stored pipeline and returns its ID.
func uiStartRun(t *testing.T, a *agent, pipeline string) string {
	t.Helper()
	var out struct {
		RunID string `json:"run_id"`
	}
	uiAPI(t, a, "POST", "/pipelines/"+pipeline+"/runs", "application/json", []byte(`{}`), http.StatusAccepted, &out)
	return out.RunID
}

// uiGetRun reads a run through the API.
func uiGetRun(t *testing.T, a *agent, id string) uiRun {
	t.Helper()
	var r uiRun
	uiAPI(t, a, "GET", "/runs/"+id, "", nil, http.StatusOK, &r)
	return r
}

// uiWaitRunEnded polls a run until it has ended, at most d.
func uiWaitRunEnded(t *testing.T, a *agent, id string, d time.Duration) uiRun {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		r := uiGetRun(t, a, id)
		switch r.Status {
		case "succeeded", "failed", "cancelled":
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s still %s after %s", id, r.Status, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// uiPipelineTasks is the number of tasks of a stored pipeline, from the API.
func uiPipelineTasks(t *testing.T, a *agent, name string) int {
	t.Helper()
	var p struct {
		Tasks []json.RawMessage `json:"tasks"`
	}
	uiAPI(t, a, "GET", "/pipelines/"+name, "", nil, http.StatusOK, &p)
	if len(p.Tasks) == 0 {
		t.Fatalf("pipeline %s: the API lists no tasks", name)
	}
	return len(p.Tasks)
}
