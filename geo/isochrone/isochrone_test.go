package isochrone

import (
	"math"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// A square region 20 km across with a lake in the middle and one straight
// rail line past it.
func testNetwork(t *testing.T, planned bool) *Network {
	t.Helper()
	sq := func(x0, y0, x1, y1 float64) orb.Polygon {
		return orb.Polygon{{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}, {x0, y0}}}
	}
	p := DefaultParams()
	in := Input{
		Bound: orb.Bound{Min: orb.Point{120.0, 31.0}, Max: orb.Point{120.2, 31.2}},
		Land:  orb.MultiPolygon{sq(120.0, 31.0, 120.2, 31.2)},
		Water: orb.MultiPolygon{sq(120.08, 31.08, 120.12, 31.12)},
		Stations: []Station{
			{ID: "a", Name: "A", At: orb.Point{120.02, 31.02}},
			{ID: "b", Name: "B", At: orb.Point{120.18, 31.02}},
		},
		Lines:  []Line{{ID: "l1", Name: "Line 1", Kind: "metro", Planned: planned, Stations: []int{0, 1}, Metres: []float64{Metres(orb.Point{120.02, 31.02}, orb.Point{120.18, 31.02})}}},
		Params: p,
	}
	n, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWalkTimesFollowSpeedAndDetour(t *testing.T) {
	n := testNetwork(t, false)
	origin := orb.Point{120.05, 31.05}
	times, err := n.Run([]orb.Point{origin}, Walk, 60, false)
	if err != nil {
		t.Fatal(err)
	}
	defer times.Release()
	// 1 km east: about 1000 m × 1.3 / (4.8 km/h) = 16.25 min, within a cell's worth.
	east := orb.Point{origin[0] + 1000/(metresPerDegreeLat*math.Cos(31.05*math.Pi/180)), origin[1]}
	got := times.At(east) / 60
	if math.Abs(got-16.25) > 1.5 {
		t.Fatalf("1 km walk takes %.2f min, want about 16.25", got)
	}
	if !math.IsInf(times.At(orb.Point{120.10, 31.10}), 1) {
		t.Fatal("the lake was reached")
	}
}

func TestTransitUsesTheLineAndPlannedOnlyWhenAsked(t *testing.T) {
	for _, planned := range []bool{false, true} {
		n := testNetwork(t, planned)
		from := orb.Point{120.02, 31.02}
		to := orb.Point{120.18, 31.02}
		walk, _ := n.Run([]orb.Point{from}, Walk, 120, false)
		transit, _ := n.Run([]orb.Point{from}, Transit, 120, false)
		withPlanned, _ := n.Run([]orb.Point{from}, Transit, 120, true)
		// 15 km of metro at 35 km/h ≈ 26 min, + 2 min access + 3 min half headway.
		if planned {
			if transit.At(to) < walk.At(to)-1 {
				t.Errorf("a planned line was used without ?scenario=planned")
			}
			if got := withPlanned.At(to) / 60; got > 35 {
				t.Errorf("with the planned line: %.1f min, want about 31", got)
			}
		} else if got := transit.At(to) / 60; got < 28 || got > 35 {
			t.Errorf("by metro: %.1f min, want about 31 (walking: %.0f)", got, walk.At(to)/60)
		}
		walk.Release()
		transit.Release()
		withPlanned.Release()
	}
}

func TestBandsAreNestedValidAndKeepLakesOut(t *testing.T) {
	n := testNetwork(t, false)
	res, err := n.Isochrones(Request{Origins: []orb.Point{{120.07, 31.10}}, Mode: Bike, Minutes: []float64{15, 30, 45}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Times.Release()
	if len(res.Bands) != 3 || res.Bands[0].Minutes != 45 {
		t.Fatalf("bands %v", res.Bands)
	}
	lake := orb.Point{120.10, 31.10}
	for i, b := range res.Bands {
		if planar.MultiPolygonContains(b.Geometry, lake) {
			t.Errorf("the %v-minute band covers the lake", b.Minutes)
		}
		if i > 0 && b.AreaKm2 > res.Bands[i-1].AreaKm2 {
			t.Errorf("band %v (%.1f km²) is larger than band %v (%.1f km²)", b.Minutes, b.AreaKm2, res.Bands[i-1].Minutes, res.Bands[i-1].AreaKm2)
		}
		checkRings(t, b.Geometry)
	}
	// Every cell reached within 15 min is inside the 15- and 30-minute bands.
	for c := 0; c < n.cells; c++ {
		if res.Times.Cell(c) <= 15*60 {
			centre := n.Grid.Centre(c)
			if !planar.MultiPolygonContains(res.Bands[2].Geometry, centre) || !planar.MultiPolygonContains(res.Bands[1].Geometry, centre) {
				t.Fatalf("cell %d reached in %.1f min is outside the bands", c, res.Times.Cell(c)/60)
			}
		}
	}
}

// checkRings: closed, no repeated vertex (no self-touching), shells CCW, holes CW.
func checkRings(t *testing.T, mp orb.MultiPolygon) {
	t.Helper()
	for _, p := range mp {
		for j, r := range p {
			if !r.Closed() || len(r) < 4 {
				t.Fatalf("ring not closed or too short: %v", r)
			}
			seen := map[orb.Point]bool{}
			for _, v := range r[:len(r)-1] {
				if seen[v] {
					t.Fatalf("ring touches itself at %v", v)
				}
				seen[v] = true
			}
			want := orb.CCW
			if j > 0 {
				want = orb.CW
			}
			if r.Orientation() != want {
				t.Fatalf("ring %d orientation %v", j, r.Orientation())
			}
		}
	}
}

// Contour on hand-made rasters: the traced area must equal the cell count.
func TestContourShapes(t *testing.T) {
	g := NewGrid(orb.Bound{Min: orb.Point{0, 0}, Max: orb.Point{0.01, 0.01}}, 100)
	cases := map[string][]string{
		"single cell":           {"..........", "....#.....", ".........."},
		"diagonal pair":         {"..........", "...#......", "....#.....", ".........."},
		"ring with a hole":      {".....", ".###.", ".#.#.", ".###.", "....."},
		"hole pinched diagonal": {"......", ".####.", ".#.##.", ".##.#.", ".####.", "......"},
		"C pinched shut":        {"......", ".###..", ".#....", ".#.#..", ".##...", "......"},
	}
	for name, rows := range cases {
		t.Run(name, func(t *testing.T) {
			inside := map[int]bool{}
			count := 0
			for y, row := range rows {
				for x, c := range row {
					if c == '#' {
						inside[y*g.W+x] = true
						count++
					}
				}
			}
			mp := g.Contour(func(c int) bool { return inside[c] })
			checkRings(t, mp)
			area := 0.0
			for _, p := range mp {
				area += planar.Area(p)
			}
			want := float64(count) * g.DLon * g.DLat
			if math.Abs(area-want) > want*1e-9 {
				t.Fatalf("traced area %g, cells cover %g (%d cells)", area, want, count)
			}
		})
	}
}

func BenchmarkTransit45(b *testing.B) {
	t := &testing.T{}
	n := testNetwork(t, false)
	for i := 0; i < b.N; i++ {
		res, err := n.Isochrones(Request{Origins: []orb.Point{{120.02, 31.02}}, Mode: Transit, Minutes: []float64{15, 30, 45}})
		if err != nil {
			b.Fatal(err)
		}
		res.Times.Release()
	}
}
