package isochrone

import (
	"fmt"
	"math"

	"github.com/paulmach/orb"
)

// RoadEdge is one stretch of road between two nodes (indexes).
type RoadEdge struct {
	From, To          int32
	Metres            float64
	KmH               float64 // driving speed
	Forward, Backward bool    // driving allowed along / against From→To
	Walk, Bike        bool
	BikeBackward      bool
	Shape             orb.LineString // From … To, for the surface
}

// RoadInput is what a road network is built from.
type RoadInput struct {
	Nodes  []orb.Point
	Edges  []RoadEdge
	Params Params
}

// RoadNetwork is a routable road graph, one CSR adjacency per mode.
type RoadNetwork struct {
	Params Params
	Grid   *Grid
	nodes  []orb.Point
	edges  []RoadEdge
	adj    map[Mode]*csr
	// buckets index nodes by grid cell, for snapping origins.
	buckets map[int][]int32
	poolState
}

type csr struct {
	first []int32
	to    []int32
	cost  []float32 // seconds
	edge  []int32   // the RoadEdge an arc comes from
}

// MaxSnapMetres is how far an origin may be from the nearest road node.
const MaxSnapMetres = 500

// BuildRoads makes a road network.
func BuildRoads(in RoadInput) (*RoadNetwork, error) {
	if len(in.Nodes) == 0 || len(in.Edges) == 0 {
		return nil, fmt.Errorf("empty road network")
	}
	var b orb.Bound = orb.MultiPoint(in.Nodes).Bound()
	pad := 0.01
	b = orb.Bound{Min: orb.Point{b.Min[0] - pad, b.Min[1] - pad}, Max: orb.Point{b.Max[0] + pad, b.Max[1] + pad}}
	cell := in.Params.CellMetres / 2 // roads draw finer than the off-network surface
	r := &RoadNetwork{Params: in.Params, Grid: NewGrid(b, cell), nodes: in.Nodes, edges: in.Edges, adj: map[Mode]*csr{}, buckets: map[int][]int32{}}
	for i, p := range in.Nodes {
		c := r.Grid.Cell(p)
		r.buckets[c] = append(r.buckets[c], int32(i))
	}
	for _, m := range []Mode{Walk, Bike, Drive} {
		r.adj[m] = r.build(m)
	}
	return r, nil
}

// ArcCost is the seconds to traverse e in mode m forwards (or backwards),
// and whether it is allowed: the same costs a cross-check in pgRouting uses.
func (r *RoadNetwork) ArcCost(e RoadEdge, m Mode, backward bool) (float64, bool) {
	switch m {
	case Walk:
		return e.Metres / (r.Params.WalkKmh / 3.6), e.Walk
	case Bike:
		if backward {
			return e.Metres / (r.Params.BikeKmh / 3.6), e.Bike && e.BikeBackward
		}
		return e.Metres / (r.Params.BikeKmh / 3.6), e.Bike
	}
	if backward {
		return e.Metres / (e.KmH / 3.6), e.Backward
	}
	return e.Metres / (e.KmH / 3.6), e.Forward
}

func (r *RoadNetwork) build(m Mode) *csr {
	n := len(r.nodes)
	c := &csr{first: make([]int32, n+1)}
	type arc struct {
		from, to, edge int32
		cost           float32
	}
	var arcs []arc
	for i, e := range r.edges {
		if s, ok := r.ArcCost(e, m, false); ok {
			arcs = append(arcs, arc{e.From, e.To, int32(i), float32(s)})
		}
		if s, ok := r.ArcCost(e, m, true); ok {
			arcs = append(arcs, arc{e.To, e.From, int32(i), float32(s)})
		}
	}
	for _, a := range arcs {
		c.first[a.from+1]++
	}
	for i := 1; i <= n; i++ {
		c.first[i] += c.first[i-1]
	}
	c.to, c.cost, c.edge = make([]int32, len(arcs)), make([]float32, len(arcs)), make([]int32, len(arcs))
	next := append([]int32(nil), c.first[:n]...)
	for _, a := range arcs {
		k := next[a.from]
		next[a.from]++
		c.to[k], c.cost[k], c.edge[k] = a.to, a.cost, a.edge
	}
	return c
}

// Snap returns the road node nearest to p within MaxSnapMetres usable by m, or -1.
func (r *RoadNetwork) Snap(p orb.Point, m Mode) int {
	g := r.Grid
	x := int(math.Floor((p[0] - g.MinLon) / g.DLon))
	y := int(math.Floor((p[1] - g.MinLat) / g.DLat))
	reach := int(math.Ceil(MaxSnapMetres / g.CellMetres))
	adj := r.adj[m]
	best, bestD := -1, math.Inf(1)
	for dy := -reach; dy <= reach; dy++ {
		for dx := -reach; dx <= reach; dx++ {
			cx, cy := x+dx, y+dy
			if cx < 0 || cy < 0 || cx >= g.W || cy >= g.H {
				continue
			}
			for _, i := range r.buckets[cy*g.W+cx] {
				if adj.first[i] == adj.first[i+1] {
					continue // no arc of this mode leaves it
				}
				if d := Metres(p, r.nodes[i]); d < bestD && d <= MaxSnapMetres {
					best, bestD = int(i), d
				}
			}
		}
	}
	return best
}

// NodeTimes runs a bounded Dijkstra from the origins' nearest nodes and
// returns seconds per node (+Inf beyond maxMinutes).
func (r *RoadNetwork) NodeTimes(origins []orb.Point, m Mode, maxMinutes float64) ([]float32, error) {
	return r.nodeTimes(seedsAt(origins), m, maxMinutes, nil, false)
}

// OffRoadSecs is the walk between p and road node n, off the road (the
// straight line × the detour factor), in seconds.
func (r *RoadNetwork) OffRoadSecs(p orb.Point, n int) float32 {
	return float32(Metres(p, r.nodes[n]) * r.Params.Detour / (r.Params.WalkKmh / 3.6))
}

func seedsAt(origins []orb.Point) []Seed {
	seeds := make([]Seed, len(origins))
	for i, o := range origins {
		seeds[i] = Seed{At: o}
	}
	return seeds
}

// nodeTimes is NodeTimes from seeds that, given own (one entry per node,
// all -1), also records which seed reaches each node first. A seed off
// the roads is an error, unless skipOff.
func (r *RoadNetwork) nodeTimes(seeds []Seed, m Mode, maxMinutes float64, own []int32, skipOff bool) ([]float32, error) {
	adj, ok := r.adj[m]
	if !ok {
		return nil, fmt.Errorf("the road network has no mode %q (walk, bike or drive)", m)
	}
	t := make([]float32, len(r.nodes))
	inf := float32(math.Inf(1))
	for i := range t {
		t[i] = inf
	}
	max := float32(maxMinutes * 60)
	h := &heap{}
	for k, sd := range seeds {
		o := sd.At
		n := r.Snap(o, m)
		if n < 0 {
			if skipOff {
				continue
			}
			return nil, &OriginError{fmt.Sprintf("origin %.5f,%.5f is more than %d m from any road usable by %s", o[0], o[1], MaxSnapMetres, m)}
		}
		// The walk from the origin to the road counts.
		start := sd.Secs + r.OffRoadSecs(o, n)
		if start > max {
			continue
		}
		if start < t[n] {
			t[n] = start
			if own != nil {
				own[n] = int32(k)
			}
			h.push(start, int32(n))
		}
	}
	for len(h.t) > 0 {
		tt, n := h.pop()
		if tt > max {
			break
		}
		if tt > t[n] {
			continue
		}
		for k := adj.first[n]; k < adj.first[n+1]; k++ {
			if v := tt + adj.cost[k]; v < t[adj.to[k]] && v <= max {
				t[adj.to[k]] = v
				if own != nil {
					own[adj.to[k]] = own[n]
				}
				h.push(v, adj.to[k])
			}
		}
	}
	return t, nil
}

// Isochrones computes road-network bands: the Surface up to the largest
// band, contoured like the off-network one.
func (r *RoadNetwork) Isochrones(req Request) (*RoadResult, error) {
	mins, err := bandMinutes(req.Minutes)
	if err != nil {
		return nil, err
	}
	res, err := r.Surface(req.Origins, req.Mode, mins[0]*smoothMargin)
	if err != nil {
		return nil, err
	}
	res.Bands = r.Grid.bands(mins, res.surface, true)
	return res, nil
}

// Surface computes travel times up to maxMin minutes, without bands (for
// callers that only read times with At): times reach nodes along the roads;
// every point of a reached road gets the earlier of its two ends' times
// plus the distance along it, and the last stretch off the road is on foot
// (at most a few hundred metres).
func (r *RoadNetwork) Surface(origins []orb.Point, m Mode, maxMin float64) (*RoadResult, error) {
	return r.surface(seedsAt(origins), m, maxMin, false, false)
}

// SeedCatchment is the surface from seeds reached at their own times (a
// timetable's origin and stops), as a Catchment without owners; seeds off
// the roads are left out.
func (r *RoadNetwork) SeedCatchment(seeds []Seed, m Mode, maxSecs float32) (*Catchment, error) {
	res, err := r.surface(seeds, m, float64(maxSecs)/60, false, true)
	if err != nil {
		return nil, err
	}
	return &Catchment{Grid: r.Grid, Secs: res.surface}, nil
}

// surface is Surface that, with owners, also records per cell which origin
// reaches it first (RoadResult.owner).
func (r *RoadNetwork) surface(seeds []Seed, m Mode, maxMin float64, owners, skipOff bool) (*RoadResult, error) {
	var own, cellOwn []int32
	if owners {
		own = make([]int32, len(r.nodes))
		for i := range own {
			own[i] = -1
		}
	}
	times, err := r.nodeTimes(seeds, m, maxMin, own, skipOff)
	if err != nil {
		return nil, err
	}
	g := r.Grid
	surface := make([]float32, g.W*g.H)
	for i := range surface {
		surface[i] = float32(math.Inf(1))
	}
	if owners {
		cellOwn = make([]int32, g.W*g.H)
		for i := range cellOwn {
			cellOwn[i] = -1
		}
	}
	max := float32(maxMin * 60)
	walk := r.Params.WalkKmh / 3.6 / r.Params.Detour
	// The last stretch off the road, on foot.
	const offRoad = 150.0
	offsets := g.walkOffsets(offRoad, walk)
	splat := func(p orb.Point, t float32, from int32) {
		if t > max {
			return
		}
		x := int(math.Floor((p[0] - g.MinLon) / g.DLon))
		y := int(math.Floor((p[1] - g.MinLat) / g.DLat))
		for _, o := range offsets {
			v := t + o.secs
			if v > max {
				return // offsets are sorted: the rest are further
			}
			cx, cy := x+o.dx, y+o.dy
			if cx < 0 || cy < 0 || cx >= g.W || cy >= g.H {
				continue
			}
			if c := cy*g.W + cx; v < surface[c] {
				surface[c] = v
				if cellOwn != nil {
					cellOwn[c] = from
				}
			}
		}
	}
	adj := r.adj[m]
	for n := range r.nodes {
		if times[n] > max {
			continue
		}
		from := int32(-1)
		if own != nil {
			from = own[n]
		}
		splat(r.nodes[n], times[n], from)
		for k := adj.first[n]; k < adj.first[n+1]; k++ {
			e := r.edges[adj.edge[k]]
			// Points along the edge, a cell apart, reached from this end.
			shape := e.Shape
			if int32(n) != e.From {
				shape = append(orb.LineString(nil), shape...)
				shape.Reverse()
			}
			speed := float64(e.Metres) / float64(adj.cost[k]) // m/s along this arc
			run := 0.0
			for i := 0; i+1 < len(shape); i++ {
				a, b := shape[i], shape[i+1]
				seg := Metres(a, b)
				steps := int(seg / g.CellMetres)
				for s := 1; s <= steps; s++ {
					f := float64(s) / float64(steps+1)
					p := orb.Point{a[0] + f*(b[0]-a[0]), a[1] + f*(b[1]-a[1])}
					splat(p, times[n]+float32((run+f*seg)/speed), from)
				}
				run += seg
			}
		}
	}
	if skipOff {
		// A seed's own surroundings are reached directly too (it joins the
		// roads at a node, which may be a few hundred metres away).
		for _, sd := range seeds {
			splat(sd.At, sd.Secs, -1)
		}
	}
	return &RoadResult{NodeTimes: times, surface: surface, owner: cellOwn, grid: g}, nil
}

// RoadResult holds road bands and the times they came from.
type RoadResult struct {
	Bands     []Band
	NodeTimes []float32
	surface   []float32
	owner     []int32 // per cell, with owners: the origin that reaches it first
	grid      *Grid
}

// At is the travel time to p on the surface, in seconds (+Inf: not reached).
func (r *RoadResult) At(p orb.Point) float64 {
	c := r.grid.Cell(p)
	if c < 0 {
		return math.Inf(1)
	}
	return float64(r.surface[c])
}

// Node returns the i-th node's position.
func (r *RoadNetwork) Node(i int) orb.Point { return r.nodes[i] }

// Nodes counts the nodes.
func (r *RoadNetwork) Nodes() int { return len(r.nodes) }

// Covers reports whether p is within snapping distance of the network.
func (r *RoadNetwork) Covers(p orb.Point) bool { return r.Snap(p, Walk) >= 0 }
