// Package viz draws pipelines: each task a box, each need an arrow, laid
// out in layers by Graphviz's dot (github.com/goccy/go-graphviz, Graphviz
// compiled to WebAssembly, so no system library is needed). The SVG marks
// each task's shape with data-task="NAME", and data-status="STATUS" when a
// run's states are given, so that tests and tools can find them.
package viz

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"regexp"

	"github.com/goccy/go-graphviz"

	"github.com/forged-dev/forged/dag"
)

// statusStyle colours tasks by their data-status, so that a layout made
// once can show any run's states.
const statusStyle = `<style>
g[data-status="succeeded"] path, g[data-status="succeeded"] polygon { fill: #c8e6c9; }
g[data-status="failed"] path, g[data-status="failed"] polygon { fill: #ffcdd2; }
g[data-status="running"] path, g[data-status="running"] polygon { fill: #bbdefb; }
g[data-status="queued"] path, g[data-status="queued"] polygon { fill: #fff9c4; }
g[data-status="skipped"] path, g[data-status="skipped"] polygon, g[data-status="cancelled"] path, g[data-status="cancelled"] polygon { fill: #eeeeee; }
</style>`

// SVG draws the pipeline. status, when not nil, colours each task by its
// state in a run and marks it with data-status.
func SVG(ctx context.Context, p *dag.Pipeline, status map[string]dag.TaskStatus) ([]byte, error) {
	svg, err := Layout(ctx, p)
	if err != nil {
		return nil, err
	}
	return Mark(svg, status), nil
}

// Layout lays the pipeline out and draws it, each task's group marked
// data-task. Laying out is the slow part (seconds for thousands of
// tasks): callers keep the result per pipeline version and Mark it with
// each run's states.
func Layout(ctx context.Context, p *dag.Pipeline) ([]byte, error) {
	g, err := graphviz.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("start graphviz: %w", err)
	}
	defer g.Close()
	graph, err := g.Graph()
	if err != nil {
		return nil, err
	}
	defer graph.Close()
	graph.SetRankDir("LR")
	nodes := make(map[string]*graphviz.Node, len(p.Tasks))
	for _, t := range p.Tasks {
		n, err := graph.CreateNodeByName(t.Name)
		if err != nil {
			return nil, err
		}
		n.SetShape("box").SetStyle("rounded,filled").SetFillColor("#f5f5f5").SetLabel(t.Name + "\n" + t.Op).SetID("task_" + t.Name)
		if t.Description != "" {
			n.SetTooltip(t.Description)
		}
		nodes[t.Name] = n
	}
	for _, t := range p.Tasks {
		for _, need := range t.Needs {
			e, err := graph.CreateEdgeByName(need.String()+">"+t.Name, nodes[need.Task], nodes[t.Name])
			if err != nil {
				return nil, err
			}
			label := ""
			if need.Output != dag.DefaultOutput {
				label = need.Output
			}
			e.SetLabel(label)
		}
	}
	var buf bytes.Buffer
	if err := g.Render(ctx, graph, graphviz.SVG, &buf); err != nil {
		return nil, fmt.Errorf("lay out the pipeline: %w", err)
	}
	return Mark(buf.Bytes(), nil), nil
}

// taskGroup finds the group Graphviz writes for a task's node.
var taskGroup = regexp.MustCompile(`<g id="task_([^"]*)" class="node"[^>]*>`)

// svgOpen finds the opening tag of the drawing.
var svgOpen = regexp.MustCompile(`<svg[^>]*>`)

// Mark adds data-task to each task's group of a drawing (idempotent) and,
// for the tasks status names, data-status and the colours that go with it.
func Mark(svg []byte, status map[string]dag.TaskStatus) []byte {
	out := taskGroup.ReplaceAllFunc(svg, func(m []byte) []byte {
		name := html.UnescapeString(string(taskGroup.FindSubmatch(m)[1]))
		attrs := fmt.Sprintf(` data-task="%s"`, html.EscapeString(name))
		if s, ok := status[name]; ok {
			attrs += fmt.Sprintf(` data-status="%s"`, s)
		}
		return []byte(fmt.Sprintf(`<g id="task_%s" class="node"%s>`, taskGroup.FindSubmatch(m)[1], attrs))
	})
	if len(status) > 0 && !bytes.Contains(out, []byte(statusStyle)) {
		if loc := svgOpen.FindIndex(out); loc != nil {
			out = append(out[:loc[1]:loc[1]], append([]byte(statusStyle), out[loc[1]:]...)...)
		}
	}
	return out
}
