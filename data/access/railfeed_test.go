package access_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gusu-gis/gusu/geo/raptor"
)

// TestRailModelOnTheTimetable: with no feed imported, Suzhou's rail model
// runs through the timetable engine as frequency-based service. RAPTOR on
// the generated feed equals the connection scan; and station-to-station
// travel times over an hour of departures (median) agree with the headway
// model (Dijkstra on the rail graph with half-headway waits), a second,
// independent model of the same lines.
func TestRailModelOnTheTimetable(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	feed, err := f.svc.RailModelFeed(false)
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tt, err := raptor.Build(feed, day, raptor.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	withPlanned, err := f.svc.RailModelFeed(true)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rail model: %d platforms, %d routes, %d trips a day (%d routes with planned lines)", len(tt.StopIDs), len(feed.Routes), tt.Trips, len(withPlanned.Routes))
	rng := rand.New(rand.NewPCG(45, 2035))
	for i := 0; i < 20; i++ {
		src := []raptor.Footpath{{Stop: rng.IntN(len(tt.StopIDs)), Secs: int32(6*3600 + rng.IntN(14*3600))}}
		got, want := tt.EarliestArrival(src, 8, src[0].Secs+3*3600), raptor.ScanConnections(tt, src, src[0].Secs+3*3600)
		if !slices.Equal(got, want) {
			t.Fatalf("from %s at %d: RAPTOR and the connection scan differ", tt.StopIDs[src[0].Stop], src[0].Secs)
		}
	}

	// Metro stations spread over the network, as points.
	rows, err := f.pool.Query(ctx, `SELECT ST_X(geom), ST_Y(geom) FROM rail_stations WHERE kind = 'metro' ORDER BY hashtext(name) LIMIT 24`)
	if err != nil {
		t.Fatal(err)
	}
	var pts [][2]float64
	for rows.Next() {
		var p [2]float64
		if err := rows.Scan(&p[0], &p[1]); err != nil {
			t.Fatal(err)
		}
		pts = append(pts, p)
	}
	if len(pts) < 10 {
		t.Fatalf("%d metro stations", len(pts))
	}
	body := func(extra map[string]any) map[string]any {
		b := map[string]any{"origins": map[string]any{"points": pts}, "destinations": map[string]any{"points": pts}, "mode": "transit", "max_minutes": 120}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	status, headway, raw := f.post(t, "/api/traveltimes", body(nil))
	if status != 200 {
		t.Fatalf("headway model: %d %.300s", status, raw)
	}
	status, timetable, raw := f.post(t, "/api/traveltimes", body(map[string]any{"departure": "2026-12-01T08:00", "window": 59, "percentile": 50}))
	if status != 200 || timetable["network"] != "timetable" || !strings.Contains(fmt.Sprint(timetable["note"]), "rail model") ||
		timetable["metadata"].(map[string]any)["timetable"] != "rail model (frequency-based, generated)" {
		t.Fatalf("timetable: %d %.400s", status, raw)
	}
	var diffs []float64
	for i := range pts {
		for j := range pts {
			a := headway["minutes"].([]any)[i].([]any)[j]
			b := timetable["minutes"].([]any)[i].([]any)[j]
			if i == j || a == nil || b == nil {
				if (a == nil) != (b == nil) && i != j {
					t.Errorf("%d→%d reached by one model only: headway %v, timetable %v", i, j, a, b)
				}
				continue
			}
			diffs = append(diffs, b.(float64)-a.(float64))
		}
	}
	slices.Sort(diffs)
	abs := make([]float64, len(diffs))
	for i, d := range diffs {
		abs[i] = math.Abs(d)
	}
	slices.Sort(abs)
	median, p90 := abs[len(abs)/2], abs[len(abs)*9/10]
	t.Logf("%d station pairs: timetable − headway model, minutes: median %.1f, 10th %.1f, 90th %.1f percentile; |difference| median %.1f, 90th percentile %.1f",
		len(diffs), diffs[len(diffs)/2], diffs[len(diffs)/10], diffs[len(diffs)*9/10], median, p90)
	// The models differ in waits (half a headway against the median over
	// real departures, per line and per change) and in walks (a 200 m grid
	// against straight lines to the platforms).
	if median > 3 || p90 > 6 {
		t.Fatalf("the two models disagree: |difference| median %.1f min, 90th percentile %.1f min", median, p90)
	}
}
