package access

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/paulmach/orb"

	"github.com/gusu-gis/gusu/data/dbtest"
	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/data/roads"
	"github.com/gusu-gis/gusu/geo/isochrone"
	"github.com/gusu-gis/gusu/geo/osmroads"
)

const liechtenstein = "../../../shared/data/raw/osm-liechtenstein/liechtenstein-2013-08-03.osm.pbf"

// The real Liechtenstein extract (ODbL, a test fixture, not Suzhou data):
// imported, picked up without a restart, answered on roads, and equal to
// pgRouting's travel times on the same edges.
func TestRoadsFromOSMAgreeWithPgRouting(t *testing.T) {
	ctx := context.Background()
	db := dbtest.Open(t)
	log := dbtest.Logger(t)
	reg := layers.NewRegistry(db.Pool, log)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go reg.Listen(lctx)
	for !reg.Synced() {
		time.Sleep(5 * time.Millisecond)
	}
	svc := NewService(db.Pool, reg, log, isochrone.DefaultParams())
	if err := svc.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	go svc.Run(lctx)
	res, err := roads.Import(ctx, db.Pool, liechtenstein, osmroads.Options{}, "liechtenstein.osm.pbf")
	if err != nil {
		t.Fatal(err)
	}
	// A re-import replaces the network atomically.
	again, err := roads.Import(ctx, db.Pool, liechtenstein, osmroads.Options{}, "liechtenstein.osm.pbf")
	if err != nil || again.Edges != res.Edges || again.Version != res.Version+1 {
		t.Fatalf("re-import: %+v %v", again, err)
	}
	var tables int
	db.Pool.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'road_edges_v%'").Scan(&tables)
	if tables != 1 {
		t.Fatalf("%d road edge tables after re-import, want 1", tables)
	}
	for deadline := time.Now().Add(10 * time.Second); svc.BuiltVersion("roads") != int64(again.Version); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the service did not pick up the imported roads")
		}
	}

	r := mux.NewRouter()
	svc.Routes(r, log)
	srv := httptest.NewServer(r)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/api/isochrones?lon=9.5209&lat=47.1410&minutes=5,10,15&mode=drive")
	if err != nil {
		t.Fatal(err)
	}
	var fc map[string]any
	json.NewDecoder(resp.Body).Decode(&fc)
	resp.Body.Close()
	if resp.StatusCode != 200 || fc["metadata"].(map[string]any)["network"] != ModelRoads {
		t.Fatalf("drive from Vaduz: %d %v", resp.StatusCode, fc["metadata"])
	}
	var prev string
	for _, f := range fc["features"].([]any) {
		g, _ := json.Marshal(f.(map[string]any)["geometry"])
		var valid bool
		if err := db.Pool.QueryRow(ctx, "SELECT ST_IsValid(ST_GeomFromGeoJSON($1))", string(g)).Scan(&valid); err != nil || !valid {
			t.Fatalf("band %v invalid (%v)", f.(map[string]any)["properties"].(map[string]any)["minutes"], err)
		}
		if prev != "" {
			var nested bool
			db.Pool.QueryRow(ctx, "SELECT ST_Covers(ST_GeomFromGeoJSON($1), ST_GeomFromGeoJSON($2))", prev, string(g)).Scan(&nested)
			if !nested {
				t.Fatal("road bands are not nested")
			}
		}
		prev = string(g)
	}

	// The towns list reads times from Surface, which must be the surface
	// the bands were contoured from.
	vaduz := orb.Point{9.5209, 47.1410}
	rn := svc.RoadNetwork()
	withBands, err := rn.Isochrones(isochrone.Request{Origins: []orb.Point{vaduz}, Mode: isochrone.Drive, Minutes: []float64{5, 15}})
	if err != nil {
		t.Fatal(err)
	}
	timesOnly, err := rn.Surface([]orb.Point{vaduz}, isochrone.Drive, 15)
	if err != nil {
		t.Fatal(err)
	}
	if len(timesOnly.Bands) != 0 || len(withBands.Bands) != 2 {
		t.Fatalf("Surface made %d bands, Isochrones %d (want 0 and 2)", len(timesOnly.Bands), len(withBands.Bands))
	}
	reachedPoints := 0
	for dx := -0.05; dx <= 0.05; dx += 0.01 {
		for dy := -0.05; dy <= 0.05; dy += 0.01 {
			p := orb.Point{vaduz[0] + dx, vaduz[1] + dy}
			a, b := withBands.At(p), timesOnly.At(p)
			if a != b {
				t.Fatalf("at %v: %v s with bands, %v s from Surface", p, a, b)
			}
			if !math.IsInf(a, 1) {
				reachedPoints++
			}
		}
	}
	if reachedPoints == 0 {
		t.Fatal("no sample point around Vaduz reached within 15 minutes by car")
	}

	// The cross-check.
	if _, err := db.Pool.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pgrouting"); err != nil {
		t.Fatalf("pgRouting: %v (apt-get install postgresql-15-pgrouting)", err)
	}
	net, index, err := svc.loadRoads(ctx, res.Table[:len("road_edges_v")]+fmt.Sprint(again.Version))
	if err != nil {
		t.Fatal(err)
	}
	edgesSQL := map[isochrone.Mode]string{
		isochrone.Drive: fmt.Sprintf(`SELECT id, source, target,
			CASE WHEN drive_forward THEN length_m / (speed_kmh / 3.6) ELSE -1 END AS cost,
			CASE WHEN drive_backward THEN length_m / (speed_kmh / 3.6) ELSE -1 END AS reverse_cost FROM road_edges_v%d`, again.Version),
		isochrone.Walk: fmt.Sprintf(`SELECT id, source, target,
			CASE WHEN walk THEN length_m / (4.8 / 3.6) ELSE -1 END AS cost,
			CASE WHEN walk THEN length_m / (4.8 / 3.6) ELSE -1 END AS reverse_cost FROM road_edges_v%d`, again.Version),
	}
	// Origins that the mode can leave (both engines start from the same node).
	originsOf := func(usable string) []int64 {
		var out []int64
		rows, _ := db.Pool.Query(ctx, fmt.Sprintf(`SELECT DISTINCT source FROM road_edges_v%d WHERE %s ORDER BY source LIMIT 5 OFFSET 400`, again.Version, usable))
		for rows.Next() {
			var id int64
			rows.Scan(&id)
			out = append(out, id)
		}
		rows.Close()
		return out
	}
	usable := map[isochrone.Mode]string{isochrone.Drive: "drive_forward", isochrone.Walk: "walk"}
	for mode, sql := range edgesSQL {
		for _, o := range originsOf(usable[mode]) {
			limit := 1200.0
			pg := map[int64]float64{}
			rows, err := db.Pool.Query(ctx, `SELECT node, agg_cost FROM pgr_drivingDistance($1, $2::bigint, $3::float8, true)`, sql, o, limit)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var n int64
				var c float64
				rows.Scan(&n, &c)
				pg[n] = c
			}
			rows.Close()
			start := net.Node(int(index[o]))
			times, err := net.NodeTimes([]orb.Point{start}, mode, limit/60)
			if err != nil {
				t.Fatal(err)
			}
			reached, worst := 0, 0.0
			for id, i := range index {
				ours := float64(times[i])
				theirs, ok := pg[id]
				if !ok {
					if ours <= limit-1 {
						t.Fatalf("%s from %d: node %d reached by gusu in %.1f s but not by pgRouting", mode, o, id, ours)
					}
					continue
				}
				reached++
				worst = math.Max(worst, math.Abs(ours-theirs))
			}
			if worst > 1 {
				t.Fatalf("%s from %d: travel times differ by up to %.2f s (limit 1 s)", mode, o, worst)
			}
			if reached < 20 {
				t.Fatalf("%s from %d: only %d nodes reached", mode, o, reached)
			}
			t.Logf("%s from node %d: %d nodes, largest difference %.4f s", mode, o, reached, worst)
		}
	}
}
