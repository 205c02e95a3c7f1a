package osmroads

import (
	"context"
	"testing"

	"github.com/paulmach/orb"
)

const liechtenstein = "../../../shared/data/raw/osm-liechtenstein/liechtenstein-2013-08-03.osm.pbf"

// The real extract (ODbL, used as a fixture, not as Suzhou data).
func TestReadsLiechtenstein(t *testing.T) {
	var edges []Edge
	st, err := Read(context.Background(), liechtenstein, Options{}, func(e Edge) error {
		edges = append(edges, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d road ways, %d nodes, %d edges", st.Ways, st.Nodes, st.Edges)
	if st.Ways < 1000 || st.Edges < st.Ways {
		t.Fatalf("stats %+v", st)
	}
	classes := map[string]int{}
	oneway, noCar, named := 0, 0, 0
	bound := orb.Bound{Min: orb.Point{9.4, 47.0}, Max: orb.Point{9.7, 47.3}}
	for _, e := range edges {
		classes[e.Class]++
		if e.Forward != e.Backward {
			oneway++
		}
		if !e.Forward && !e.Backward {
			noCar++
		}
		if e.Name != "" {
			named++
		}
		if e.Metres <= 0 || len(e.Geometry) < 2 || e.Source == e.Target && len(e.Geometry) < 3 {
			t.Fatalf("degenerate edge %+v", e)
		}
		for _, p := range e.Geometry {
			if !bound.Contains(p) {
				t.Fatalf("edge %d leaves Liechtenstein: %v", e.WayID, p)
			}
		}
	}
	if classes["residential"] == 0 || classes["primary"] == 0 || classes["footway"]+classes["path"]+classes["track"] == 0 {
		t.Errorf("classes %v", classes)
	}
	if oneway == 0 || noCar == 0 || named == 0 {
		t.Errorf("one-way %d, car-free %d, named %d", oneway, noCar, named)
	}
}

func TestBoundCutsWays(t *testing.T) {
	vaduz := orb.Bound{Min: orb.Point{9.50, 47.12}, Max: orb.Point{9.54, 47.16}}
	n := 0
	_, err := Read(context.Background(), liechtenstein, Options{Bound: vaduz}, func(e Edge) error {
		n++
		for _, p := range e.Geometry {
			if !vaduz.Contains(p) {
				t.Fatalf("edge outside the bound: %v", p)
			}
		}
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("%d edges, %v", n, err)
	}
}

func TestSpeedAndOneway(t *testing.T) {
	for in, want := range map[string]float64{"50": 50, "30 mph": 48.28032, "80 km/h": 80, "RU:urban": 0, "signals": 0, "": 0} {
		if got := speedOf(in); got != want {
			t.Errorf("speedOf(%q) = %v, want %v", in, got, want)
		}
	}
}
