package osmroads

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
)

// orb/geo measures on a sphere of the equatorial radius, gusu (like PostGIS's
// spherical lengths) on one of the mean radius.
const meanOverEquatorial = 6371008.8 / 6378137.0

func readLines(t *testing.T, fc string, opts Options) ([]Edge, Stats) {
	t.Helper()
	var edges []Edge
	st, err := ReadLines(context.Background(), strings.NewReader(fc), opts, func(e Edge) error {
		edges = append(edges, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return edges, st
}

// A cross of two streets sharing their middle vertex, a footway whose end
// stops 5 m short of the cross's west arm, and things that are not roads.
const cross = `{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"highway":"primary","name":"东西路","maxspeed":50},"geometry":{"type":"LineString","coordinates":[[120.6200,31.3100],[120.6210,31.3100],[120.6220,31.3100]]}},
{"type":"Feature","properties":{"highway":"residential","oneway":"yes"},"geometry":{"type":"LineString","coordinates":[[120.6210,31.3090],[120.6210,31.3100],[120.6210,31.3110]]}},
{"type":"Feature","properties":{"highway":"footway"},"geometry":{"type":"LineString","coordinates":[[120.6205,31.30805],[120.62050,31.30995]]}},
{"type":"Feature","properties":{"highway":"proposed"},"geometry":{"type":"LineString","coordinates":[[120.60,31.30],[120.61,31.30]]}},
{"type":"Feature","properties":{"name":"no highway tag"},"geometry":{"type":"LineString","coordinates":[[120.60,31.30],[120.61,31.30]]}},
{"type":"Feature","properties":{"highway":"primary"},"geometry":{"type":"Point","coordinates":[120.60,31.30]}}
]}`

func TestReadLinesSplitsAtSharedVertices(t *testing.T) {
	edges, st := readLines(t, cross, Options{})
	if st.Ways != 3 || st.Edges != 5 || st.Connectors != 0 {
		t.Fatalf("stats %+v, want 3 ways, 5 edges (2+2 at the crossing, 1 footway), no connectors", st)
	}
	at := map[int64]int{}
	for _, e := range edges {
		at[e.Source]++
		at[e.Target]++
		if want := geo.LengthHaversign(e.Geometry) * meanOverEquatorial; math.Abs(e.Metres-want) > 1e-6*want {
			t.Errorf("edge %d→%d: %.3f m, orb/geo says %.3f m", e.Source, e.Target, e.Metres, want)
		}
		switch e.Class {
		case "residential":
			if e.KmH != Classes["residential"].KmH {
				t.Errorf("residential without maxspeed: %v km/h", e.KmH)
			}
			if !e.Forward || e.Backward || !e.Walk {
				t.Errorf("oneway residential: forward %v backward %v walk %v", e.Forward, e.Backward, e.Walk)
			}
		case "primary":
			if e.Name != "东西路" || !e.Forward || !e.Backward || e.KmH != 50 {
				t.Errorf("primary: %+v", e)
			}
		}
	}
	crossings := 0
	for _, n := range at {
		if n == 4 {
			crossings++
		}
	}
	if crossings != 1 {
		t.Errorf("%d nodes shared by 4 edge ends, want the one crossing: %v", crossings, at)
	}
}

func TestReadLinesSnapsLooseEnds(t *testing.T) {
	// The footway's north end is 5.6 m south of the east-west street, but
	// that street has no vertex there: the nearest vertices (its west end and
	// the crossing) are 48 m away; its south end is 116 m from anything.
	for _, c := range []struct {
		snap       float64
		connectors int64
	}{{0, 0}, {20, 0}, {60, 1}} {
		edges, st := readLines(t, cross, Options{SnapMetres: c.snap})
		if st.Connectors != c.connectors {
			t.Fatalf("snap %v m: %d connectors, want %d", c.snap, st.Connectors, c.connectors)
		}
		for _, e := range edges {
			if e.Class != ConnectorClass {
				continue
			}
			want := geo.DistanceHaversine(e.Geometry[0], e.Geometry[1]) * meanOverEquatorial
			if math.Abs(e.Metres-want) > 1e-6*want || e.Metres > c.snap || e.Forward || e.Backward || !e.Walk {
				t.Errorf("connector %+v (haversine %.2f m)", e, want)
			}
		}
	}
}

func TestReadLinesCutsAtTheBound(t *testing.T) {
	b := orb.Bound{Min: orb.Point{120.6195, 31.3095}, Max: orb.Point{120.6215, 31.3105}}
	edges, st := readLines(t, cross, Options{Bound: b})
	for _, e := range edges {
		for _, p := range e.Geometry {
			if !b.Contains(p) {
				t.Fatalf("edge %+v leaves the bound", e)
			}
		}
	}
	// The primary keeps its west half, the residential only its middle vertex
	// (no edge), the footway nothing.
	if st.Edges != 1 {
		t.Fatalf("%d edges inside the bound, want 1: %+v", st.Edges, edges)
	}
}

func TestReadLinesRejectsWhatIsNotGeoJSON(t *testing.T) {
	for _, in := range []string{"", "not json", `{"type":"Feature"}`, `[1,2]`} {
		if _, err := ReadLines(context.Background(), strings.NewReader(in), Options{}, func(Edge) error { return nil }); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
