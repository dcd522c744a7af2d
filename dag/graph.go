package dag

import (
	"container/heap"
	"slices"
)

// graph is the need relation between a pipeline's tasks, by index. Needs
// naming unknown tasks and a task's need of itself are left out, so a
// graph can be built from a spec that is still being validated.
type graph struct {
	needs [][]int // needs[i]: distinct upstream tasks of i, as first written
	feeds [][]int // feeds[i]: distinct downstream tasks of i, ascending
}

func newGraph(p *Pipeline) graph {
	idx := make(map[string]int, len(p.Tasks))
	for i := range p.Tasks {
		if _, dup := idx[p.Tasks[i].Name]; !dup {
			idx[p.Tasks[i].Name] = i
		}
	}
	g := graph{needs: make([][]int, len(p.Tasks)), feeds: make([][]int, len(p.Tasks))}
	for i := range p.Tasks {
		for _, n := range p.Tasks[i].Needs {
			j, ok := idx[n.Task]
			if !ok || j == i || containsInt(g.needs[i], j) {
				continue
			}
			g.needs[i] = append(g.needs[i], j)
			g.feeds[j] = append(g.feeds[j], i)
		}
	}
	return g
}

func containsInt(l []int, x int) bool {
	for _, y := range l {
		if y == x {
			return true
		}
	}
	return false
}

// TopoOrder returns the task names so that every task comes after the
// tasks it needs; among tasks that could go next, the one written first
// in the spec does, so a spec already in order keeps its order. Tasks on
// a cycle, which a parsed pipeline cannot have, come last in spec order.
func (p *Pipeline) TopoOrder() []string {
	order := newGraph(p).topo()
	names := make([]string, len(order))
	for i, t := range order {
		names[i] = p.Tasks[t].Name
	}
	return names
}

func (g graph) topo() []int {
	n := len(g.needs)
	indeg := make([]int, n)
	ready := &intHeap{}
	for i := range g.needs {
		indeg[i] = len(g.needs[i])
		if indeg[i] == 0 {
			heap.Push(ready, i)
		}
	}
	order := make([]int, 0, n)
	done := make([]bool, n)
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		order = append(order, i)
		done[i] = true
		for _, d := range g.feeds[i] {
			if indeg[d]--; indeg[d] == 0 {
				heap.Push(ready, d)
			}
		}
	}
	for i := range done {
		if !done[i] {
			order = append(order, i)
		}
	}
	return order
}

// Downstream returns the names of the tasks that need the named task,
// directly or transitively, in spec order: what must re-run or is lost
// when that task's output is. It is empty for an unknown task.
func (p *Pipeline) Downstream(task string) []string {
	start := -1
	for i := range p.Tasks {
		if p.Tasks[i].Name == task {
			start = i
			break
		}
	}
	if start < 0 {
		return nil
	}
	g := newGraph(p)
	seen := make([]bool, len(p.Tasks))
	queue := []int{start}
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		for _, d := range g.feeds[i] {
			if !seen[d] {
				seen[d] = true
				queue = append(queue, d)
			}
		}
	}
	var out []string
	for i, s := range seen {
		if s && i != start {
			out = append(out, p.Tasks[i].Name)
		}
	}
	return out
}

// cycles returns the graph's strongly connected components that hold a
// cycle, each as one shortest cycle through its first task in spec order:
// [a, b, c] means a needs b, b needs c and c needs a. Components come in
// the order of their first task.
func (g graph) cycles() [][]int {
	comps := g.components()
	var out [][]int
	for _, comp := range comps {
		if len(comp) < 2 {
			continue
		}
		out = append(out, g.cycleThrough(comp))
	}
	return out
}

// cycleThrough finds a shortest cycle through the lowest task of comp.
func (g graph) cycleThrough(comp []int) []int {
	in := make(map[int]bool, len(comp))
	start := comp[0]
	for _, c := range comp {
		in[c] = true
		start = min(start, c)
	}
	parent := map[int]int{start: -1}
	queue := []int{start}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for _, v := range g.needs[u] {
			if v == start {
				var path []int
				for x := u; x != -1; x = parent[x] {
					path = append(path, x)
				}
				for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
					path[i], path[j] = path[j], path[i]
				}
				return path
			}
			if _, seen := parent[v]; !seen && in[v] {
				parent[v] = u
				queue = append(queue, v)
			}
		}
	}
	return comp // not reached: every task of a component lies on a cycle
}

// components returns the strongly connected components (Tarjan), each
// ascending, ordered by their lowest task.
func (g graph) components() [][]int {
	n := len(g.needs)
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	var comps [][]int
	next := 0
	// An explicit stack of (task, next edge) frames keeps deep chains from
	// growing the goroutine stack.
	type frame struct{ v, e int }
	for root := 0; root < n; root++ {
		if index[root] >= 0 {
			continue
		}
		frames := []frame{{root, 0}}
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(frames) > 0 {
			f := &frames[len(frames)-1]
			if f.e < len(g.needs[f.v]) {
				w := g.needs[f.v][f.e]
				f.e++
				switch {
				case index[w] < 0:
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					frames = append(frames, frame{w, 0})
				case onStack[w]:
					low[f.v] = min(low[f.v], index[w])
				}
				continue
			}
			v := f.v
			frames = frames[:len(frames)-1]
			if len(frames) > 0 {
				u := frames[len(frames)-1].v
				low[u] = min(low[u], low[v])
			}
			if low[v] == index[v] {
				var comp []int
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					comp = append(comp, w)
					if w == v {
						break
					}
				}
				comps = append(comps, comp)
			}
		}
	}
	for _, c := range comps {
		slices.Sort(c)
	}
	slices.SortFunc(comps, func(a, b []int) int { return a[0] - b[0] })
	return comps
}

type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
