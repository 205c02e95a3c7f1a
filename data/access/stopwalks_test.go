package access

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/gusu-gis/gusu/data/dbtest"
	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/data/roads"
	"github.com/gusu-gis/gusu/data/transit"
	"github.com/gusu-gis/gusu/geo/isochrone"
	"github.com/gusu-gis/gusu/geo/osmroads"
	"github.com/gusu-gis/gusu/geo/raptor"
)

// TestStopWalksAlongStreets: with Porto Alegre's streets imported, the walk
// from a place to each bus stop runs along the streets. Checked against
// pgRouting on the same edges: for random places, every stop pgRouting's
// walk (nearest street vertex at each end, the stretches off the street
// straight × 1.3, by geography) reaches within the access limit is found,
// within 2% + 10 s (the two sides measure distances with different
// formulas, so they may snap to neighbouring vertices), and no other.
func TestStopWalksAlongStreets(t *testing.T) {
	ctx := context.Background()
	db := dbtest.Open(t)
	res, err := roads.Import(ctx, db.Pool, "../../../shared/data/raw/r5r-porto-alegre-gtfs-osm/poa_osm.pbf", osmroads.Options{}, "poa_osm.pbf")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := transit.Import(ctx, db.Pool, []string{"../../../shared/data/raw/r5r-porto-alegre-gtfs-osm/poa_eptc.zip"}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pgrouting"); err != nil {
		t.Fatalf("pgRouting: %v (apt-get install postgresql-15-pgrouting)", err)
	}
	reg := layers.NewRegistry(db.Pool, nil)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reg.Listening(lctx)
	p := isochrone.DefaultParams()
	svc := NewService(db.Pool, reg, nil, p)
	if err := svc.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	street := svc.RoadNetwork()
	if street == nil {
		t.Fatal("the streets were not built")
	}
	tt, _, err := svc.timetable(ctx, time.Date(2019, 5, 15, 0, 0, 0, 0, time.UTC), false)
	if err != nil {
		t.Fatal(err)
	}
	o := raptor.DefaultOptions()
	w := newStopWalks(tt, street, o, 0)
	walkMps := p.WalkKmh / 3.6
	edges := fmt.Sprintf(`SELECT id, source, target, CASE WHEN walk THEN length_m / %[1]g ELSE -1 END AS cost,
		CASE WHEN walk THEN length_m / %[1]g ELSE -1 END AS reverse_cost FROM %[2]s`, walkMps, res.Table)
	// The nearest vertex with a walkable edge, by geography, within 500 m.
	nearest := fmt.Sprintf(`SELECT v, ST_Distance(g::geography, ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography) FROM (
		SELECT source AS v, ST_StartPoint(geom) AS g FROM %[1]s WHERE walk UNION SELECT target, ST_EndPoint(geom) FROM %[1]s WHERE walk) s
		WHERE g && ST_Expand(ST_SetSRID(ST_MakePoint($1, $2), 4326), 0.01) ORDER BY 2 LIMIT 1`, res.Table)
	snap := func(pt orb.Point) (int64, float64, bool) {
		var v int64
		var d float64
		if err := db.Pool.QueryRow(ctx, nearest, pt[0], pt[1]).Scan(&v, &d); err != nil || d > isochrone.MaxSnapMetres {
			return 0, 0, false
		}
		return v, d, true
	}
	compared := 0
	ambiguous := map[int]bool{}
	// check compares the walks gusu found from place (stop → seconds, self
	// left out) with pgRouting's, up to limit seconds.
	check := func(what string, place orb.Point, found map[int]int32, limit float32, self int) {
		t.Helper()
		clear(ambiguous)
		ov, od, ok := snap(place)
		if !ok {
			t.Fatalf("pgRouting side: no vertex near %v", place)
		}
		// Candidate stops: those within the limit as the crow flies, each
		// snapped; one pgRouting search to all their vertices.
		type cand struct {
			stop   int
			v      int64
			off    float64
			direct float64
			snaps  bool
		}
		var cands []cand
		var targets []int64
		for s, at := range tt.StopAt {
			if s == self || isochrone.Metres(place, at) > float64(limit)*walkMps*1.02 {
				continue
			}
			c := cand{stop: s}
			c.v, c.off, c.snaps = snap(at)
			db.Pool.QueryRow(ctx, `SELECT ST_Distance(ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography, ST_SetSRID(ST_MakePoint($3, $4), 4326)::geography)`, place[0], place[1], at[0], at[1]).Scan(&c.direct)
			cands = append(cands, c)
			if c.snaps {
				targets = append(targets, c.v)
			}
		}
		cost := map[int64]float64{ov: 0}
		rows, err := db.Pool.Query(ctx, `SELECT end_vid, agg_cost FROM pgr_dijkstraCost($1, $2::bigint, $3::bigint[], false)`, edges, ov, targets)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var v int64
			var c float64
			rows.Scan(&v, &c)
			cost[v] = c
		}
		rows.Close()
		want := map[int]float64{}
		for _, c := range cands {
			best := math.Inf(1)
			if pc, ok := cost[c.v]; ok && c.snaps {
				best = (od+c.off)*p.Detour/walkMps + pc
			}
			if math.Abs(c.direct-directMetres) < 3 {
				ambiguous[c.stop] = true // the two distance formulas may fall either side of the limit
				continue
			}
			if c.direct <= directMetres {
				best = math.Min(best, c.direct*p.Detour/walkMps)
			}
			if best <= float64(limit) {
				want[c.stop] = best
			}
		}
		for s, secs := range want {
			got, ok := found[s]
			edge := secs > float64(limit)*0.99
			if !ok && !edge {
				t.Fatalf("%s %v: stop %s reached by pgRouting in %.0f s, not by gusu", what, place, tt.StopIDs[s], secs)
			}
			if ok && math.Abs(float64(got)-secs) > 0.02*secs+10 {
				t.Fatalf("%s %v: stop %s in %d s, pgRouting %.1f s", what, place, tt.StopIDs[s], got, secs)
			}
			compared++
		}
		for s, got := range found {
			if _, ok := want[s]; !ok && !ambiguous[s] && float64(got) < float64(limit)*0.99 {
				t.Fatalf("%s %v: stop %s in %d s by gusu, beyond the limit for pgRouting", what, place, tt.StopIDs[s], got)
			}
		}
	}
	rng := rand.New(rand.NewPCG(4, 8))
	places := 0
	for places < 6 {
		// A place near a random stop, on the streets.
		s0 := tt.StopAt[rng.IntN(len(tt.StopAt))]
		place := orb.Point{s0[0] + (rng.Float64()-0.5)*0.01, s0[1] + (rng.Float64()-0.5)*0.01}
		if !street.Covers(place) {
			continue
		}
		places++
		found := map[int]int32{}
		for _, f := range w.from(place).stops {
			found[f.Stop] = f.Secs
		}
		check("place", place, found, w.limit, -1)
	}
	placeWalks := compared
	// Footpaths between stops after a ride follow the streets too.
	transfer := float32(o.TransferMetres * o.Detour / walkMps)
	checked := 0
	for s := 0; checked < 5; s = (s + 797) % len(tt.StopAt) {
		if !street.Covers(tt.StopAt[s]) {
			continue
		}
		checked++
		found := map[int]int32{}
		for _, f := range tt.Walks(s) {
			found[f.Stop] = f.Secs
		}
		check("footpaths of stop", tt.StopAt[s], found, transfer, s)
	}
	// The answers built on these walks say so: an isochrone's surface walks
	// on along the streets, a matrix counts the places walked on them.
	var covered []orb.Point
	for _, at := range tt.StopAt {
		if street.Covers(at) {
			covered = append(covered, at)
		}
	}
	origin, dest := covered[0], covered[len(covered)/2]
	bands, _, src, err := svc.timetableBands(Query{Origins: []orb.Point{origin}, Mode: isochrone.Transit, Minutes: []float64{15, 30}, Departure: "2019-05-15T13:00", Percentile: 50})
	if err != nil || len(bands) != 2 || !src.streets {
		t.Fatalf("isochrone on the streets: %d bands, streets %v, %v", len(bands), src.streets, err)
	}
	m, err := svc.TravelTimesFor(ctx, TravelTimesRequest{Origins: &OriginsRef{Points: [][]float64{{origin[0], origin[1]}}},
		Destinations: &OriginsRef{Points: [][]float64{{dest[0], dest[1]}}}, Mode: "transit", Departure: "2019-05-15T13:00", MaxMinutes: 90}, true)
	if err != nil {
		t.Fatal(err)
	}
	if walks := m.Meta["walks"].(map[string]any); walks["on_streets"] != 2 {
		t.Fatalf("matrix walks: %v; note %q", walks, m.Note)
	}
	t.Logf("%d places, %d stop walks, and %d footpaths of %d stops compared with pgRouting", places, placeWalks, compared-placeWalks, checked)
	if placeWalks < 30 || compared-placeWalks < 10 {
		t.Fatalf("only %d stop walks and %d footpaths compared", placeWalks, compared-placeWalks)
	}
}
