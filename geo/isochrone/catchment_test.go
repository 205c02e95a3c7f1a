package isochrone

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/paulmach/orb"
)

// The oracle for a multi-source search is the per-origin searches: every
// cell's time is the minimum of the single-origin times, and its owner is
// an origin that achieves it.
func checkAgainstSingleRuns(t *testing.T, c *Catchment, single [][]float32, placed []int) {
	t.Helper()
	reached, ownerErrs := 0, 0
	for cell := range c.Secs {
		best := float32(math.Inf(1))
		for _, s := range single {
			best = min(best, s[cell])
		}
		got := c.Secs[cell]
		if math.IsInf(float64(best), 1) != math.IsInf(float64(got), 1) || (!math.IsInf(float64(best), 1) && math.Abs(float64(got-best)) > 1e-3) {
			t.Fatalf("cell %d: multi-source %v s, best single-origin %v s", cell, got, best)
		}
		if math.IsInf(float64(got), 1) {
			if c.Owner[cell] != -1 {
				t.Fatalf("unreached cell %d has owner %d", cell, c.Owner[cell])
			}
			continue
		}
		reached++
		o := int(c.Owner[cell])
		k := -1
		for i, p := range placed {
			if p == o {
				k = i
			}
		}
		if k < 0 {
			t.Fatalf("cell %d owned by %d, not a placed origin", cell, o)
		}
		if math.Abs(float64(single[k][cell]-got)) > 1e-3 {
			ownerErrs++
		}
	}
	if reached == 0 {
		t.Fatal("nothing reached")
	}
	if ownerErrs > 0 {
		t.Fatalf("%d of %d cells owned by an origin that does not reach them first", ownerErrs, reached)
	}
}

func TestCatchmentEqualsMinimumOfSingleOriginSearches(t *testing.T) {
	for _, mode := range []Mode{Walk, Bike, Transit} {
		for _, planned := range []bool{false, true} {
			n := testNetwork(t, true)
			rng := rand.New(rand.NewPCG(1, uint64(len(mode))))
			origins := []orb.Point{{120.10, 31.10}} // in the lake: unplaced
			for len(origins) < 7 {
				origins = append(origins, orb.Point{120.0 + 0.2*rng.Float64(), 31.0 + 0.2*rng.Float64()})
			}
			c, err := n.Catchment(origins, mode, 40, planned)
			if err != nil {
				t.Fatal(err)
			}
			var single [][]float32
			var placed []int
			for i, o := range origins {
				times, err := n.Run([]orb.Point{o}, mode, 40, planned)
				if err != nil {
					continue
				}
				single = append(single, append([]float32(nil), times.t[:n.cells]...))
				placed = append(placed, i)
				times.Release()
			}
			if len(c.Unplaced) != 1 || c.Unplaced[0] != 0 || len(placed) != len(origins)-1 {
				t.Fatalf("unplaced %v, placed %v", c.Unplaced, placed)
			}
			checkAgainstSingleRuns(t, c, single, placed)
		}
	}
}

func TestRoadCatchmentEqualsMinimumOfSingleOriginSearches(t *testing.T) {
	r := testRoads(t)
	for _, mode := range []Mode{Walk, Bike, Drive} {
		origins := []orb.Point{{121.5, 32.5}} // far from any road: unplaced
		for i := 0; i < r.Nodes(); i += 7 {
			origins = append(origins, r.Node(i))
		}
		c, err := r.Catchment(origins, mode, 20)
		if err != nil {
			t.Fatal(err)
		}
		var single [][]float32
		var placed []int
		for i, o := range origins {
			res, err := r.Surface([]orb.Point{o}, mode, 20)
			if err != nil {
				continue
			}
			single = append(single, res.surface)
			placed = append(placed, i)
		}
		if len(c.Unplaced) != 1 || c.Unplaced[0] != 0 {
			t.Fatalf("%s: unplaced %v", mode, c.Unplaced)
		}
		checkAgainstSingleRuns(t, c, single, placed)
	}
}

// Each origin's own areas partition the union: their areas add up to the
// band's, and every one is valid.
func TestOriginBandsPartitionTheUnion(t *testing.T) {
	n := testNetwork(t, false)
	origins := []orb.Point{{120.03, 31.03}, {120.15, 31.05}, {120.05, 31.16}, {120.0301, 31.0301}}
	for _, mins := range [][]float64{{20}, {10, 30}, {5, 15, 30}} {
		c, err := n.Catchment(origins, Walk, mins[len(mins)-1], false)
		if err != nil {
			t.Fatal(err)
		}
		bands, err := c.Bands(mins)
		if err != nil {
			t.Fatal(err)
		}
		own, err := c.OriginBands(mins)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bands {
			sum := 0.0
			for _, o := range own {
				if o.Minutes == b.Minutes {
					sum += o.AreaKm2
					checkRings(t, o.Geometry)
				}
			}
			if math.Abs(sum-b.AreaKm2) > 1e-6*b.AreaKm2 {
				t.Fatalf("%v min: origins' areas add up to %.4f km², the union is %.4f", b.Minutes, sum, b.AreaKm2)
			}
		}
		// The fourth origin shares the first's cell: it owns nothing.
		for _, o := range own {
			if o.Origin == 3 {
				t.Fatal("an origin in an already taken cell got an area")
			}
		}
	}
}

// A polygon's footprint carries its whole weight, spread by area; one
// smaller than a cell sits at its centroid.
func TestFootprintApportionsByArea(t *testing.T) {
	g := NewGrid(orb.Bound{Min: orb.Point{120, 31}, Max: orb.Point{120.2, 31.2}}, 200)
	big := orb.Polygon{{{120.01, 31.01}, {120.05, 31.01}, {120.05, 31.05}, {120.01, 31.05}, {120.01, 31.01}}}
	f := g.FootprintOf(big)
	sum := 0.0
	for _, s := range f.Shares {
		sum += float64(s)
	}
	if len(f.Cells) < 100 || math.Abs(sum-1) > 1e-4 {
		t.Fatalf("%d cells, shares sum to %v", len(f.Cells), sum)
	}
	tiny := orb.Polygon{{{120.1001, 31.1001}, {120.1002, 31.1001}, {120.1002, 31.1002}, {120.1001, 31.1001}}}
	if f := g.FootprintOf(tiny); len(f.Cells) != 1 || f.Shares[0] != 1 {
		t.Fatalf("tiny polygon: %+v", f)
	}
	if f := g.FootprintOf(orb.Point{130, 31}); len(f.Cells) != 0 {
		t.Fatalf("point outside the grid placed: %+v", f)
	}
}

// testRoads is a 12×12 lattice of streets 250 m apart: east-west streets
// one-way for cars on odd rows, every third north-south street a footpath.
func testRoads(t *testing.T) *RoadNetwork {
	t.Helper()
	const n = 12
	dLat := 250 / metresPerDegreeLat
	dLon := 250 / (metresPerDegreeLat * math.Cos(31.05*math.Pi/180))
	var in RoadInput
	in.Params = DefaultParams()
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			in.Nodes = append(in.Nodes, orb.Point{120.0 + float64(x)*dLon, 31.0 + float64(y)*dLat})
		}
	}
	edge := func(a, b int, oneWay, footpath bool) {
		e := RoadEdge{From: int32(a), To: int32(b), Metres: Metres(in.Nodes[a], in.Nodes[b]), KmH: 30,
			Forward: !footpath, Backward: !footpath && !oneWay, Walk: true, Bike: true, BikeBackward: true,
			Shape: orb.LineString{in.Nodes[a], in.Nodes[b]}}
		in.Edges = append(in.Edges, e)
	}
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			i := y*n + x
			if x+1 < n {
				edge(i, i+1, y%2 == 1, false)
			}
			if y+1 < n {
				edge(i, i+n, false, x%3 == 0)
			}
		}
	}
	r, err := BuildRoads(in)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
