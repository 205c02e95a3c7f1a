package tiles_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/encoding/wkb"
	"github.com/paulmach/orb/maptile"

	"github.com/gusu-gis/gusu/data/dbtest"
	"github.com/gusu-gis/gusu/tiles"
	"github.com/gusu-gis/gusu/tiles/bench"
)

// TestDenseLayerKeepsItsFootprint: a layer of 100,000 parcels (each below a
// pixel up to z7 or z8) shows features on every tile over its extent at
// z5–14, no tile is over the 500 KB budget, and what each tile draws is
// the data at that zoom's pixel size: checked against the source table in
// PostGIS, every sampled point of the drawn footprint lies within 1.5 px of
// a parcel and every sampled point of a parcel within 1.5 px of the drawn
// footprint. GUSU_TEST_DENSE_PARCELS=1000000 runs it on a million parcels.
func TestDenseLayerKeepsItsFootprint(t *testing.T) {
	n := 100000
	if s := os.Getenv("GUSU_TEST_DENSE_PARCELS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatalf("GUSU_TEST_DENSE_PARCELS=%q: %v", s, err)
		}
	}
	in := newInstance(t, dbtest.NewDatabase(t, true), opts{cacheBytes: -1})
	ctx := context.Background()
	start := time.Now()
	if err := bench.EnsureSyntheticLayer(ctx, in.pool, n); err != nil {
		t.Fatal(err)
	}
	made := time.Since(start)
	start = time.Now()
	if err := in.gen.Refresh(ctx, bench.SyntheticLayer); err != nil {
		t.Fatal(err)
	}
	var aggregates int
	if err := in.pool.QueryRow(ctx, "SELECT count(*) FROM gusu_tile_agg WHERE layer = $1", bench.SyntheticLayer).Scan(&aggregates); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d parcels made in %v, generalised and aggregated in %v (%d aggregate blocks)", n, made.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), aggregates)
	for {
		if l, err := in.reg.Get(ctx, bench.SyntheticLayer); err == nil && in.gen.BuiltFor(l.Name) == l.Version {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}

	rng := rand.New(rand.NewPCG(16, 5))
	for z := maptile.Zoom(5); z <= 14; z++ {
		list := bench.TilesOver(bench.Region, z)
		if len(list) > 6 {
			rng.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
			list = list[:6]
		}
		for i, tile := range list {
			resp, gz := fetch(t, tileURL(in.srv.URL, bench.SyntheticLayer, tile), "Accept-Encoding", "gzip")
			if resp.StatusCode != 200 {
				t.Fatalf("tile %v: status %d (a dense layer must not vanish)", tile, resp.StatusCode)
			}
			if len(gz) > tiles.DefaultMaxTileBytes {
				t.Fatalf("tile %v: %d bytes gzip, over the %d budget", tile, len(gz), tiles.DefaultMaxTileBytes)
			}
			_, raw := fetch(t, tileURL(in.srv.URL, bench.SyntheticLayer, tile))
			layer := layerByName(decode(t, raw), bench.SyntheticLayer)
			if layer == nil || len(layer.Features) == 0 {
				t.Fatalf("tile %v has no parcels", tile)
			}
			agg := 0
			for _, f := range layer.Features {
				if _, ok := f.Properties[tiles.AggregateCountField]; ok {
					agg++
					if f.Properties["land_use"] == nil && !strings.Contains(resp.Header.Get("X-Gusu-Tile-Reduced"), "attributes dropped") {
						t.Fatalf("tile %v: aggregate without the dominant land_use: %v (reduced: %q)", tile, f.Properties, resp.Header.Get("X-Gusu-Tile-Reduced"))
					}
				}
			}
			if i == 0 {
				out, missed := footprintError(t, in, tile, layer, rng)
				t.Logf("z%d tile %v: %d features (%d aggregates), %d bytes gzip%s; drawn points beyond 1.5 px of the data: %d/%d; data points beyond 1.5 px of the drawing: %d/%d",
					z, tile, len(layer.Features), agg, len(gz), reducedNote(resp.Header.Get("X-Gusu-Tile-Reduced")), out, footprintSamples, missed, footprintSamples)
				if out > 0 || missed > 0 {
					t.Fatalf("z%d: the drawn footprint is not the data at pixel size", z)
				}
			}
		}
	}
}

const footprintSamples = 400

// footprintError samples points of what the tile draws and of the parcels
// in it and counts those farther than 1.5 pixels from the other, in PostGIS
// against the source table (EPSG:4326, transformed here).
func footprintError(t *testing.T, in *instance, tile maptile.Tile, layer *mvt.Layer, rng *rand.Rand) (drawnOut, dataMissed int) {
	t.Helper()
	layer.ProjectToWGS84(tile)
	var drawn [][]byte
	for _, f := range layer.Features {
		b, err := wkb.Marshal(f.Geometry)
		if err != nil {
			t.Fatal(err)
		}
		drawn = append(drawn, b)
	}
	px := tiles.Tolerance(tile.Z) * 2
	b := tile.Bound()
	seed := 1 + rng.IntN(1<<30)
	var detail string
	err := in.pool.QueryRow(context.Background(), fmt.Sprintf(`
		WITH d AS (
		  SELECT ST_Transform(ST_SetSRID(ST_GeomFromWKB(w), 4326), 3857) AS g FROM unnest($1::bytea[]) AS w
		), drawn AS (
		  SELECT ST_Collect(g) AS g FROM d
		), env AS (
		  SELECT ST_Transform(ST_MakeEnvelope($2, $3, $4, $5, 4326), 3857) AS g
		), parcels AS (
		  SELECT ST_CollectionExtract(ST_Intersection(ST_Transform(p.geom, 3857), env.g), 3) AS g FROM %[1]s p, env
		   WHERE p.geom && ST_MakeEnvelope($2, $3, $4, $5, 4326) AND ST_Intersects(ST_Transform(p.geom, 3857), env.g)
		   ORDER BY hashint8(p.id + $7) LIMIT $8
		), drawn_pts AS (
		  SELECT (ST_Dump(ST_GeneratePoints(ST_CollectionExtract(ST_Intersection(ST_UnaryUnion(drawn.g), env.g), 3), $8::int, $7::int))).geom AS p FROM drawn, env
		), data_pts AS (
		  SELECT p FROM (SELECT ST_GeneratePoints(g, 1, $7::int) AS p FROM parcels WHERE ST_Area(g) > 0) s
		   WHERE NOT ST_IsEmpty(p) -- a sliver at the tile's edge may get no point
		)
		SELECT (SELECT count(*) FROM drawn_pts dp WHERE NOT EXISTS (
		          SELECT 1 FROM %[1]s p WHERE p.geom && ST_Transform(ST_Expand(dp.p, $6), 4326)
		             AND ST_DWithin(ST_Transform(p.geom, 3857), dp.p, $6))),
		       (SELECT count(*) FROM data_pts, drawn WHERE NOT ST_DWithin(data_pts.p, drawn.g, $6)),
		       (SELECT coalesce(string_agg(ST_AsText(ST_Transform(data_pts.p, 4326)) || ' ' || ST_Distance(data_pts.p, drawn.g)::text, '; '), '') FROM data_pts, drawn WHERE NOT ST_DWithin(data_pts.p, drawn.g, $6))`, bench.SyntheticLayer),
		drawn, b.Min[0], b.Min[1], b.Max[0], b.Max[1], 1.5*px, seed, footprintSamples).Scan(&drawnOut, &dataMissed, &detail)
	if err != nil {
		t.Fatal(err)
	}
	if detail != "" {
		t.Logf("data points far from the drawing (px %.1f m): %s", px, detail)
	}
	return drawnOut, dataMissed
}

func reducedNote(r string) string {
	if r == "" {
		return ""
	}
	return " (" + r + ")"
}

// TestDensePointsClusterOverBudget: 60,000 points inside one z9 tile make
// it far larger than a 64 KB budget; the last reduction draws them as one
// point per 4-pixel cell whose counts add up to every point (PostGIS's
// count), so none is lost from the map.
func TestDensePointsClusterOverBudget(t *testing.T) {
	url := dbtest.NewDatabase(t, true)
	in := newInstance(t, url, opts{cacheBytes: -1, budget: 64 << 10})
	ctx := context.Background()
	tile := maptile.At(orb.Point{120.62, 31.30}, 9)
	b := tile.Bound()
	// Points well inside the tile, away from its buffer.
	inner := orb.Bound{Min: orb.Point{b.Min[0] + 0.1*(b.Max[0]-b.Min[0]), b.Min[1] + 0.1*(b.Max[1]-b.Min[1])},
		Max: orb.Point{b.Max[0] - 0.1*(b.Max[0]-b.Min[0]), b.Max[1] - 0.1*(b.Max[1]-b.Min[1])}}
	for _, sql := range []string{
		`CREATE TABLE dense_points (id bigserial PRIMARY KEY, kind text NOT NULL, geom geometry(Point, 4326) NOT NULL)`,
		fmt.Sprintf(`INSERT INTO dense_points (kind, geom) SELECT (ARRAY['shop','school','clinic'])[1 + i %% 3],
			ST_SetSRID(ST_MakePoint(%f + (abs(hashint4(i)) %% 100000) / 100000.0 * %f, %f + (abs(hashint4(i + 7)) %% 100000) / 100000.0 * %f), 4326)
			FROM generate_series(1, 60000) AS i`, inner.Min[0], inner.Max[0]-inner.Min[0], inner.Min[1], inner.Max[1]-inner.Min[1]),
		`INSERT INTO gusu_layers (name, title, kind, table_name, geometry_type, attribution, license, source)
		 VALUES ('dense_points', 'SYNTHETIC dense points (test)', 'synthetic', 'dense_points', 'point', 'test', 'CC0', 'test')`,
	} {
		if _, err := in.pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	for {
		if _, err := in.reg.Get(ctx, "dense_points"); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := in.gen.Refresh(ctx, "dense_points"); err != nil {
		t.Fatal(err)
	}
	resp, gz := fetch(t, tileURL(in.srv.URL, "dense_points", tile), "Accept-Encoding", "gzip")
	reduced := resp.Header.Get("X-Gusu-Tile-Reduced")
	if resp.StatusCode != 200 || !strings.Contains(reduced, "points clustered") {
		t.Fatalf("status %d, reduced %q", resp.StatusCode, reduced)
	}
	_, raw := fetch(t, tileURL(in.srv.URL, "dense_points", tile))
	layer := layerByName(decode(t, raw), "dense_points")
	total := 0
	for _, f := range layer.Features {
		n, ok := f.Properties[tiles.AggregateCountField].(float64)
		if !ok || n < 1 {
			t.Fatalf("a cluster without a count: %v", f.Properties)
		}
		total += int(n)
	}
	var want int
	if err := in.pool.QueryRow(ctx, `SELECT count(*) FROM dense_points WHERE ST_Intersects(geom, ST_Transform(ST_TileEnvelope($1, $2, $3), 4326))`, int(tile.Z), int(tile.X), int(tile.Y)).Scan(&want); err != nil {
		t.Fatal(err)
	}
	t.Logf("60,000 points: %d clusters, %d bytes gzip (budget %d), counts add up to %d (PostGIS: %d)", len(layer.Features), len(gz), 64<<10, total, want)
	if total != want || want != 60000 {
		t.Fatalf("clusters count %d points, PostGIS %d", total, want)
	}
	if len(gz) > 64<<10 {
		t.Fatalf("%d bytes over the budget", len(gz))
	}
}
