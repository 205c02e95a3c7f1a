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
		list := tilesOver(bench.Region, z)
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

// tilesOver lists the tiles at zoom z that intersect b.
func tilesOver(b orb.Bound, z maptile.Zoom) []maptile.Tile {
	nw := maptile.At(orb.Point{b.Min[0], b.Max[1]}, z)
	se := maptile.At(orb.Point{b.Max[0], b.Min[1]}, z)
	var out []maptile.Tile
	for x := nw.X; x <= se.X; x++ {
		for y := nw.Y; y <= se.Y; y++ {
			out = append(out, maptile.New(x, y, z))
		}
	}
	return out
}

func reducedNote(r string) string {
	if r == "" {
		return ""
	}
	return " (" + r + ")"
}
