package access

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/gusu-gis/gusu/data/dbtest"
	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/data/roads"
	"github.com/gusu-gis/gusu/geo/isochrone"
	"github.com/gusu-gis/gusu/geo/osmroads"
)

// Band fidelity on the Liechtenstein extract, against pgRouting's travel
// times on the same edges: of the road vertices pgRouting reaches within
// 0.75× a band, at least 95% lie inside gusu's band (recall); of the
// vertices inside the band, at most 5% take pgRouting more than 1.5× the
// band (or are unreachable). Walking and driving, 15 and 30 minutes,
// origins spread over the network.
func TestBandFidelityOnLiechtenstein(t *testing.T) {
	ctx := context.Background()
	db := dbtest.Open(t)
	res, err := roads.Import(ctx, db.Pool, liechtenstein, osmroads.Options{}, "liechtenstein.osm.pbf")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pgrouting"); err != nil {
		t.Fatalf("pgRouting: %v (apt-get install postgresql-15-pgrouting)", err)
	}
	svc := NewService(db.Pool, layers.NewRegistry(db.Pool, nil), nil, isochrone.DefaultParams())
	net, index, err := svc.loadRoads(ctx, res.Table)
	if err != nil {
		t.Fatal(err)
	}
	p := isochrone.DefaultParams()
	edgesSQL := map[isochrone.Mode]string{
		isochrone.Drive: fmt.Sprintf(`SELECT id, source, target,
			CASE WHEN drive_forward THEN length_m / (speed_kmh / 3.6) ELSE -1 END AS cost,
			CASE WHEN drive_backward THEN length_m / (speed_kmh / 3.6) ELSE -1 END AS reverse_cost FROM %s`, res.Table),
		isochrone.Walk: fmt.Sprintf(`SELECT id, source, target,
			CASE WHEN walk THEN length_m / (%g / 3.6) ELSE -1 END AS cost,
			CASE WHEN walk THEN length_m / (%g / 3.6) ELSE -1 END AS reverse_cost FROM %s`, p.WalkKmh, p.WalkKmh, res.Table),
	}
	usable := map[isochrone.Mode]string{isochrone.Drive: "drive_forward AND drive_backward", isochrone.Walk: "walk"}
	onNetwork := map[isochrone.Mode]string{isochrone.Drive: "drive_forward OR drive_backward", isochrone.Walk: "walk"}
	for _, mode := range []isochrone.Mode{isochrone.Walk, isochrone.Drive} {
		// The mode's road vertices: ends of edges it may use.
		vertices := map[int64]bool{}
		vrows, _ := db.Pool.Query(ctx, fmt.Sprintf(`SELECT source FROM %[1]s WHERE %[2]s UNION SELECT target FROM %[1]s WHERE %[2]s`, res.Table, onNetwork[mode]))
		for vrows.Next() {
			var id int64
			vrows.Scan(&id)
			vertices[id] = true
		}
		vrows.Close()
		var origins []int64
		rows, _ := db.Pool.Query(ctx, fmt.Sprintf(`SELECT source FROM (SELECT DISTINCT source FROM %s WHERE %s) s ORDER BY hashint8(source) LIMIT 15`, res.Table, usable[mode]))
		for rows.Next() {
			var id int64
			rows.Scan(&id)
			origins = append(origins, id)
		}
		rows.Close()
		for _, band := range []float64{15, 30} {
			var early, earlyIn, inside, insideFar int
			worstRecall, worstFar := 1.0, 0.0
			unreached := 0
			for _, o := range origins {
				e0, ei0, in0, far0 := early, earlyIn, inside, insideFar
				limit := 1.5 * band * 60
				pg := map[int64]float64{}
				rows, err := db.Pool.Query(ctx, `SELECT node, agg_cost FROM pgr_drivingDistance($1, $2::bigint, $3::float8, false)`, edgesSQL[mode], o, limit)
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
				iso, err := net.Isochrones(isochrone.Request{Origins: []orb.Point{net.Node(int(index[o]))}, Mode: mode, Minutes: []float64{band}})
				if err != nil {
					t.Fatal(err)
				}
				// Inside the band: PostGIS's point-in-polygon on the returned (smoothed) band.
				gj, _ := geojson.NewGeometry(iso.Bands[0].Geometry).MarshalJSON()
				insideIDs := map[int64]bool{}
				irows, err := db.Pool.Query(ctx, fmt.Sprintf(`WITH b AS MATERIALIZED (SELECT ST_SetSRID(ST_GeomFromGeoJSON($1), 4326) AS g)
					SELECT n.id FROM %s n, b WHERE ST_Intersects(n.geom, b.g)`, roads.NodesTable(res.Table)), string(gj))
				if err != nil {
					t.Fatal(err)
				}
				for irows.Next() {
					var id int64
					irows.Scan(&id)
					insideIDs[id] = true
				}
				irows.Close()
				for id := range index {
					if !vertices[id] {
						continue
					}
					in := insideIDs[id]
					c, reached := pg[id]
					if reached && c <= 0.75*band*60 {
						early++
						if in {
							earlyIn++
						}
					}
					if in {
						inside++
						if !reached || c > limit {
							insideFar++
							if !reached {
								unreached++
							}
						}
					}
				}
				// Each origin on its own, not only in aggregate.
				if n := early - e0; n >= 20 {
					worstRecall = math.Min(worstRecall, float64(earlyIn-ei0)/float64(n))
				}
				if n := inside - in0; n >= 20 {
					worstFar = math.Max(worstFar, float64(insideFar-far0)/float64(n))
				}
			}
			recall := float64(earlyIn) / float64(early)
			far := float64(insideFar) / math.Max(1, float64(inside))
			t.Logf("%s %g min, %d origins: recall of vertices within 0.75× %.1f%% (%d/%d, worst origin %.1f%%); inside but beyond 1.5× %.1f%% (%d/%d, worst origin %.1f%%; %d of them unreachable)",
				mode, band, len(origins), 100*recall, earlyIn, early, 100*worstRecall, 100*far, insideFar, inside, 100*worstFar, unreached)
			if worstRecall < 0.95 || worstFar > 0.05 {
				t.Errorf("%s %g min: worst origin's recall %.3f (≥ 0.95), beyond 1.5× %.3f (≤ 0.05)", mode, band, worstRecall, worstFar)
			}
		}
	}
}
