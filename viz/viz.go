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

// statusColors fills a task's box by its state in a run.
var statusColors = map[dag.TaskStatus]string{
	dag.TaskSucceeded: "#c8e6c9",
	dag.TaskFailed:    "#ffcdd2",
	dag.TaskRunning:   "#bbdefb",
	dag.TaskQueued:    "#fff9c4",
}

// SVG draws the pipeline. status, when not nil, colours each task by its
// state in a run and marks it with data-status.
func SVG(ctx context.Context, p *dag.Pipeline, status map[string]dag.TaskStatus) ([]byte, error) {
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
		label := t.Name + "\n" + t.Op
		n.SetShape("box").SetStyle("rounded,filled").SetFillColor("#f5f5f5").SetLabel(label).SetID("task_" + t.Name)
		if t.Description != "" {
			n.SetTooltip(t.Description)
		}
		if s, ok := status[t.Name]; ok {
			if c, ok := statusColors[s]; ok {
				n.SetFillColor(c)
			}
		}
		nodes[t.Name] = n
	}
	for _, t := range p.Tasks {
		for _, need := range t.Needs {
			e, err := graph.CreateEdgeByName(need.String()+">"+t.Name, nodes[need.Task], nodes[t.Name])
			if err != nil {
				return nil, err
			}
			if need.Output != dag.DefaultOutput {
				e.SetLabel(need.Output)
			}
		}
	}
	var buf bytes.Buffer
	if err := g.Render(ctx, graph, graphviz.SVG, &buf); err != nil {
		return nil, fmt.Errorf("lay out the pipeline: %w", err)
	}
	return markTasks(buf.Bytes(), status), nil
}

// taskGroup finds the group Graphviz writes for a task's node.
var taskGroup = regexp.MustCompile(`<g id="task_([^"]*)" class="node">`)

// markTasks adds data-task (and data-status) to each task's group.
func markTasks(svg []byte, status map[string]dag.TaskStatus) []byte {
	return taskGroup.ReplaceAllFunc(svg, func(m []byte) []byte {
		name := html.UnescapeString(string(taskGroup.FindSubmatch(m)[1]))
		attrs := fmt.Sprintf(` data-task="%s"`, html.EscapeString(name))
		if s, ok := status[name]; ok {
			attrs += fmt.Sprintf(` data-status="%s"`, s)
		}
		return append(m[:len(m)-1:len(m)-1], []byte(attrs+">")...)
	})
}
