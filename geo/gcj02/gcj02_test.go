package gcj02

import (
	"math"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
)

// Control points: WGS84 → GCJ-02 pairs published with the reference
// implementations (eviltransform's test table), and the shift near Suzhou
// measured in shared/data/raw/SOURCES.md (+0.00417° lon, −0.00217° lat).
func TestFromWGS84ControlPoints(t *testing.T) {
	cases := map[string]struct {
		wgs, gcj orb.Point
		tolDeg   float64
	}{
		"Shanghai, eviltransform table":            {orb.Point{121.5272106, 31.1774276}, orb.Point{121.531541859215, 31.17530398364597}, 1e-8},
		"Beijing, eviltransform table":             {orb.Point{116.377817, 39.911954}, orb.Point{116.38404722455657, 39.91334545536069}, 1e-8},
		"Suzhou railway station, SOURCES.md shift": {orb.Point{120.6105, 31.3285}, orb.Point{120.6105 + 0.00417, 31.3285 - 0.00217}, 1e-4},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := FromWGS84(c.wgs)
			if math.Abs(got[0]-c.gcj[0]) > c.tolDeg || math.Abs(got[1]-c.gcj[1]) > c.tolDeg {
				t.Fatalf("FromWGS84(%v) = %.9f,%.9f, want %.9f,%.9f", c.wgs, got[0], got[1], c.gcj[0], c.gcj[1])
			}
			back := ToWGS84(c.gcj)
			if d := geo.Distance(back, c.wgs); d > c.tolDeg*111000+0.01 {
				t.Fatalf("ToWGS84(%v) = %v, %.3f m from %v", c.gcj, back, d, c.wgs)
			}
		})
	}
}

// The inverse must undo the forward transform to millimetres everywhere in
// the Suzhou region, not only at control points.
func TestRoundTripOverSuzhou(t *testing.T) {
	worst := 0.0
	for lon := 119.9; lon <= 121.4; lon += 0.05 {
		for lat := 30.7; lat <= 32.1; lat += 0.05 {
			p := orb.Point{lon, lat}
			back := ToWGS84(FromWGS84(p))
			if d := geo.Distance(back, p); d > worst {
				worst = d
			}
		}
	}
	if worst > 0.001 {
		t.Fatalf("worst round-trip error %.6f m, want < 1 mm", worst)
	}
}

func TestOutsideChinaUnchanged(t *testing.T) {
	p := orb.Point{9.52, 47.14} // Liechtenstein
	if got := FromWGS84(p); got != p {
		t.Fatalf("FromWGS84 outside China moved %v to %v", p, got)
	}
	if got := ToWGS84(p); got != p {
		t.Fatalf("ToWGS84 outside China moved %v to %v", p, got)
	}
}

func TestGeometryToWGS84ConvertsEveryVertex(t *testing.T) {
	gcj := orb.Polygon{orb.Ring{{120.6, 31.3}, {120.7, 31.3}, {120.7, 31.4}, {120.6, 31.3}}}
	want := orb.Polygon{orb.Ring{ToWGS84(gcj[0][0]), ToWGS84(gcj[0][1]), ToWGS84(gcj[0][2]), ToWGS84(gcj[0][3])}}
	got := GeometryToWGS84(gcj.Clone()).(orb.Polygon)
	if !got.Equal(want) {
		t.Fatalf("GeometryToWGS84 = %v, want %v", got, want)
	}
}

func BenchmarkToWGS84(b *testing.B) {
	p := orb.Point{120.6147, 31.3263}
	for i := 0; i < b.N; i++ {
		ToWGS84(p)
	}
}
