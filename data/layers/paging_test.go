package layers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
)

// Following next links (keyset paging, after=<id>) visits every feature
// once, whatever the page size, as a count in PostgreSQL says.
func TestNextLinksVisitEveryFeatureOnce(t *testing.T) {
	f := newFixture(t)
	var total int
	f.api.Pool.QueryRow(context.Background(), "SELECT count(*) FROM rail_stations").Scan(&total)
	for _, limit := range []int{1, 7, 100, 1000} {
		if limit == 1 && total > 300 {
			continue
		}
		seen := map[any]bool{}
		url := fmt.Sprintf("%s/api/layers/rail_stations/features?limit=%d", f.srv.URL, limit)
		pages := 0
		for url != "" {
			resp, body := get(t, url)
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d %s", url, resp.StatusCode, body)
			}
			fc, err := geojson.UnmarshalFeatureCollection(body)
			if err != nil {
				t.Fatal(err)
			}
			for _, ft := range fc.Features {
				if seen[ft.ID] {
					t.Fatalf("limit %d: feature %v twice", limit, ft.ID)
				}
				seen[ft.ID] = true
			}
			var raw struct {
				Links []map[string]string `json:"links"`
			}
			json.Unmarshal(body, &raw)
			url = ""
			for _, l := range raw.Links {
				if l["rel"] == "next" {
					url = l["href"]
					if !strings.Contains(url, "after=") || strings.Contains(url, "offset=") {
						t.Fatalf("next link %q is not a keyset link", url)
					}
				}
			}
			pages++
		}
		if len(seen) != total {
			t.Fatalf("limit %d: %d features over %d pages, the table has %d", limit, len(seen), pages, total)
		}
	}
	// after combines with bbox; after and offset together are refused.
	if resp, body := get(t, f.srv.URL+"/api/layers/rail_stations/features?after=0&offset=5"); resp.StatusCode != 400 {
		t.Fatalf("after with offset: %d %s", resp.StatusCode, body)
	}
	if resp, body := get(t, f.srv.URL+"/api/layers/rail_stations/features?after=x"); resp.StatusCode != 400 {
		t.Fatalf("after=x: %d %s", resp.StatusCode, body)
	}
	if resp, body := get(t, f.srv.URL+"/api/layers/rail_stations/features?offset=100001"); resp.StatusCode != 400 || !strings.Contains(string(body), "after=") {
		t.Fatalf("deep offset: %d %s", resp.StatusCode, body)
	}
}

// A layer with many attributes (more than jsonb_build_object's 100
// arguments allow in one call) is served whole by the features API, as the
// tiles serve it.
func TestFeaturesOfAWideLayer(t *testing.T) {
	f := newFixture(t)
	pool := f.api.Pool
	makeWide(t, pool, 120)
	f.reg.Invalidate("wide")
	resp, body := get(t, f.srv.URL+"/api/layers/wide/features")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	fc, err := geojson.UnmarshalFeatureCollection(body)
	if err != nil || len(fc.Features) != 1 {
		t.Fatalf("%v %s", err, body)
	}
	props := fc.Features[0].Properties
	if len(props) != 120 || props["c000"] != "v0" || props["c119"] != "v119" {
		t.Fatalf("%d properties: %v", len(props), props)
	}
}

func makeWide(t *testing.T, pool *pgxpool.Pool, n int) {
	var cols, vals []string
	for i := 0; i < n; i++ {
		cols = append(cols, fmt.Sprintf("c%03d text", i))
		vals = append(vals, fmt.Sprintf("'v%d'", i))
	}
	ctx := context.Background()
	for _, q := range []string{
		"CREATE TABLE wide (id bigserial PRIMARY KEY, geom geometry(Point, 4326), " + strings.Join(cols, ", ") + ")",
		"INSERT INTO wide VALUES (DEFAULT, ST_SetSRID(ST_MakePoint(120.6, 31.3), 4326), " + strings.Join(vals, ", ") + ")",
		"INSERT INTO gusu_layers (name, title, table_name, geometry_type) VALUES ('wide', 'wide', 'wide', 'point')",
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q[:40], err)
		}
	}
}

// The features query obeys its time limit: a page that takes longer is a
// 504 at the limit, and the query is canceled in the database.
func TestFeaturesQueryTimeout(t *testing.T) {
	f := newFixture(t)
	f.api.Timeout = 200 * time.Millisecond
	pool := f.api.Pool
	// A view-backed layer whose rows each take 50 ms: 100 rows take 5 s.
	for _, q := range []string{
		`CREATE TABLE slow_base AS SELECT g AS id, ST_SetSRID(ST_MakePoint(120 + g / 1000.0, 31), 4326) AS geom FROM generate_series(1, 100) g`,
		`CREATE VIEW slow AS SELECT id, geom, pg_sleep(0.05)::text AS nap FROM slow_base`,
		`INSERT INTO gusu_layers (name, title, table_name, geometry_type) VALUES ('slow', 'slow', 'slow', 'point')`,
	} {
		if _, err := pool.Exec(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q[:30], err)
		}
	}
	f.reg.Invalidate("slow")
	start := time.Now()
	resp, body := get(t, f.srv.URL+"/api/layers/slow/features?limit=100")
	took := time.Since(start)
	if resp.StatusCode != 504 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if took > 3*time.Second {
		t.Fatalf("answered after %v, the limit is 200 ms", took)
	}
	// The database is not still running it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var running int
		pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%FROM "slow"%' AND state = 'active' AND pid <> pg_backend_pid()`).Scan(&running)
		if running == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the timed-out query is still running in PostgreSQL")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Label points: one per polygon, each inside its polygon (PostGIS says),
// with its attributes; a revalidation with the ETag is a 304.
func TestLabelPoints(t *testing.T) {
	f := newFixture(t)
	resp, body := get(t, f.srv.URL+"/api/layers/town_system/labels")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	fc, err := geojson.UnmarshalFeatureCollection(body)
	if err != nil {
		t.Fatal(err)
	}
	var polygons int
	f.api.Pool.QueryRow(context.Background(), "SELECT count(*) FROM town_system WHERE GeometryType(geom) IN ('POLYGON', 'MULTIPOLYGON')").Scan(&polygons)
	if len(fc.Features) != polygons || polygons == 0 {
		t.Fatalf("%d label points for %d polygons", len(fc.Features), polygons)
	}
	for _, ft := range fc.Features {
		p, ok := ft.Geometry.(orb.Point)
		if !ok {
			t.Fatalf("label of %v is a %T", ft.Properties["name_zh"], ft.Geometry)
		}
		var inside bool
		f.api.Pool.QueryRow(context.Background(), "SELECT ST_Contains(geom, ST_SetSRID(ST_MakePoint($2, $3), 4326)) FROM town_system WHERE id = $1", ft.ID, p[0], p[1]).Scan(&inside)
		if !inside || ft.Properties["name_zh"] == nil {
			t.Fatalf("label of %v at %v is outside its polygon", ft.Properties["name_zh"], p)
		}
	}
	if again, _ := get(t, f.srv.URL+"/api/layers/town_system/labels", "If-None-Match", resp.Header.Get("ETag")); again.StatusCode != 304 {
		t.Fatalf("revalidation: %d", again.StatusCode)
	}
}

// The city's outside: a frame around the town system with the city cut out
// (PostGIS: it hardly overlaps the city, and with the city it fills the
// frame), holding the rail that runs on past the boundary; cached by ETag.
func TestOutsideFrame(t *testing.T) {
	f := newFixture(t)
	resp, body := get(t, f.srv.URL+"/api/layers/town_system/outside")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	fc, err := geojson.UnmarshalFeatureCollection(body)
	if err != nil || len(fc.Features) != 1 {
		t.Fatalf("%v: %d features", err, len(fc.Features))
	}
	g, _ := geojson.NewGeometry(fc.Features[0].Geometry).MarshalJSON()
	var overlap, filled, railOutside float64
	err = f.api.Pool.QueryRow(context.Background(), `WITH o AS (SELECT ST_SetSRID(ST_GeomFromGeoJSON($1), 4326) AS g),
		c AS (SELECT ST_Union(geom) AS g FROM town_system WHERE GeometryType(geom) IN ('POLYGON', 'MULTIPOLYGON'))
		SELECT ST_Area(ST_Intersection(o.g, c.g)) / ST_Area(c.g),
		       (ST_Area(o.g) + ST_Area(c.g)) / ST_Area(ST_Expand(ST_Envelope(c.g), 0.5)),
		       (SELECT sum(ST_Length(ST_Intersection(r.geom, o.g)::geography)) FROM rail_lines r) / 1000
		FROM o, c`, string(g)).Scan(&overlap, &filled, &railOutside)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("outside overlaps %.5f%% of the city; outside + city = %.4f of the frame; %.0f km of rail outside", 100*overlap, filled, railOutside)
	if overlap > 0.001 || filled < 0.999 || filled > 1.001 || railOutside < 50 {
		t.Fatalf("overlap %.5f, filled %.4f, rail outside %.0f km", overlap, filled, railOutside)
	}
	if again, _ := get(t, f.srv.URL+"/api/layers/town_system/outside", "If-None-Match", resp.Header.Get("ETag")); again.StatusCode != 304 {
		t.Fatalf("revalidation: %d", again.StatusCode)
	}
	if resp, _ := get(t, f.srv.URL+"/api/layers/town_system/outside?x=1"); resp.StatusCode != 400 {
		t.Fatalf("a parameter: %d", resp.StatusCode)
	}
}
