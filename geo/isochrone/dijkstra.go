package isochrone

import (
	"fmt"
	"math"
	"sync"

	"github.com/paulmach/orb"
)

// Times are a query's travel times, in seconds, per node; +Inf where the
// bound was reached first.
type Times struct {
	n       *Network
	t       []float32
	max     float32
	touched []int32
}

// Cell returns the travel time to cell c in seconds (+Inf: not reached).
func (t *Times) Cell(c int) float64 {
	if c < 0 || c >= t.n.cells {
		return math.Inf(1)
	}
	return float64(t.t[c])
}

// At returns the travel time to the cell containing p.
func (t *Times) At(p orb.Point) float64 { return t.Cell(t.n.Grid.Cell(p)) }

// Release returns the buffers for reuse; t is unusable afterwards.
func (t *Times) Release() {
	if t.t != nil {
		t.n.reset(t.t, t.touched)
		buf := t.t
		t.n.pool.Put(&buf)
		t.t = nil
	}
}

// OriginError is an origin that is not on the network.
type OriginError struct{ Msg string }

func (e *OriginError) Error() string { return e.Msg }

// heap is a binary min-heap of (time, node), with stale entries skipped
// on pop instead of decrease-key.
type heap struct {
	t []float32
	n []int32
}

func (h *heap) push(t float32, n int32) {
	h.t, h.n = append(h.t, t), append(h.n, n)
	i := len(h.t) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h.t[p] <= h.t[i] {
			break
		}
		h.t[p], h.t[i] = h.t[i], h.t[p]
		h.n[p], h.n[i] = h.n[i], h.n[p]
		i = p
	}
}

func (h *heap) pop() (float32, int32) {
	t, n := h.t[0], h.n[0]
	last := len(h.t) - 1
	h.t[0], h.n[0] = h.t[last], h.n[last]
	h.t, h.n = h.t[:last], h.n[:last]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h.t) && h.t[l] < h.t[m] {
			m = l
		}
		if r < len(h.t) && h.t[r] < h.t[m] {
			m = r
		}
		if m == i {
			return t, n
		}
		h.t[m], h.t[i] = h.t[i], h.t[m]
		h.n[m], h.n[i] = h.n[i], h.n[m]
		i = m
	}
}

// Run computes travel times from the origins (all starting at time 0) up
// to maxMinutes. Planned rail lines are used only when planned is true.
func (n *Network) Run(origins []orb.Point, mode Mode, maxMinutes float64, planned bool) (*Times, error) {
	return n.run(origins, mode, maxMinutes, planned, nil)
}

// run is Run that, given own (one entry per node, all -1), also records
// which origin reaches each node first.
func (n *Network) run(origins []orb.Point, mode Mode, maxMinutes float64, planned bool, own []int32) (*Times, error) {
	speed := n.Params.speed(mode) / 3.6 / n.Params.Detour // m/s along the crow line
	if speed <= 0 {
		return nil, fmt.Errorf("unknown mode %q", mode)
	}
	g := n.Grid
	buf := n.pool.Get().(*[]float32)
	t := *buf
	max := float32(maxMinutes * 60)
	res := &Times{n: n, t: t, max: max}
	var touched []int32
	h := &heap{}
	set := func(node int32, v float32, from int32) {
		if math.IsInf(float64(t[node]), 1) {
			touched = append(touched, node)
		}
		t[node] = v
		if own != nil {
			own[node] = from
		}
		h.push(v, node)
	}
	for k, o := range origins {
		c := n.nearestPassable(o, 2*g.CellMetres+500)
		if c < 0 {
			n.reset(t, touched)
			n.pool.Put(buf)
			return nil, &OriginError{fmt.Sprintf("origin %.5f,%.5f is not on land in the region (outside it, or in a lake or the Yangtze)", o[0], o[1])}
		}
		if t[c] > 0 { // two origins in one cell: the first keeps it
			set(int32(c), 0, int32(k))
		}
	}
	costs := [8]float32{}
	steps := [8][2]int{{1, 0}, {-1, 0}, {0, 1}, {0, -1}, {1, 1}, {1, -1}, {-1, 1}, {-1, -1}}
	for i, s := range steps {
		d := g.dx
		if s[0] != 0 && s[1] != 0 {
			d = g.diag
		}
		costs[i] = float32(d / speed)
	}
	for len(h.t) > 0 {
		tt, node := h.pop()
		if tt > t[node] || tt > max {
			if tt > max {
				break
			}
			continue
		}
		from := int32(-1)
		if own != nil {
			from = own[node]
		}
		if int(node) < n.cells {
			x, y := int(node)%g.W, int(node)/g.W
			for i, s := range steps {
				nx, ny := x+s[0], y+s[1]
				if nx < 0 || ny < 0 || nx >= g.W || ny >= g.H {
					continue
				}
				nc := ny*g.W + nx
				if !n.passable[nc] {
					continue
				}
				// No cutting corners across water.
				if i >= 4 && (!n.passable[y*g.W+nx] || !n.passable[ny*g.W+x]) {
					continue
				}
				if v := tt + costs[i]; v < t[nc] && v <= max {
					set(int32(nc), v, from)
				}
			}
			if mode == Transit {
				for _, st := range n.cellStation[node] {
					if tt < t[st] {
						set(st, tt, from)
					}
				}
			}
			continue
		}
		k := int(node) - n.stationBase
		for e := n.first[k]; e < n.first[k+1]; e++ {
			if n.planned[e] && !planned {
				continue
			}
			if v := tt + n.cost[e]; v < t[n.to[e]] && v <= max {
				set(n.to[e], v, from)
			}
		}
	}
	res.touched = touched
	return res, nil
}

func (n *Network) reset(t []float32, touched []int32) {
	inf := float32(math.Inf(1))
	for _, i := range touched {
		t[i] = inf
	}
}

// poolState is embedded in Network for per-query buffers.
type poolState struct {
	pool sync.Pool
}

// initPool sets up the per-query buffers; called once, by Build, before
// the network is shared.
func (n *Network) initPool() {
	n.pool.New = func() any {
		t := make([]float32, n.nodes)
		for i := range t {
			t[i] = float32(math.Inf(1))
		}
		return &t
	}
}
