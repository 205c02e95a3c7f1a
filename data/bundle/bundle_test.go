package bundle_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gusu-gis/gusu/data"
	"github.com/gusu-gis/gusu/data/bundle"
	"github.com/gusu-gis/gusu/data/dbtest"
	"github.com/gusu-gis/gusu/data/migrate"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

func TestLoadsSuzhouLayers(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t, dbtest.NewDatabase(t, false))
	if _, err := migrate.Up(ctx, pool); err != nil {
		t.Fatal(err)
	}
	res, err := bundle.Load(ctx, pool, data.Suzhou)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Loaded {
		t.Fatal("first load did not load")
	}
	count := func(sql string) (n int) {
		t.Helper()
		if err := pool.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	checks := map[string]struct {
		sql      string
		min, max int
	}{
		"6 central-city districts":              {"SELECT count(*) FROM town_system WHERE level = 'central_city'", 6, 6},
		"4 county-level cities":                 {"SELECT count(*) FROM town_system WHERE level = 'county_city'", 4, 4},
		"at least 60 towns":                     {"SELECT count(*) FROM town_system WHERE level = 'town'", 60, 1000},
		"every town has a parent":               {"SELECT count(*) FROM town_system WHERE level = 'town' AND parent IS NULL", 0, 0},
		"parents are county-level units":        {"SELECT count(*) FROM town_system t JOIN town_system p ON p.code = t.parent WHERE p.level = 'town'", 0, 0},
		"parent names match parent codes":       {"SELECT count(*) FROM town_system t JOIN town_system p ON p.code = t.parent WHERE t.parent_name IS DISTINCT FROM p.name_zh", 0, 0},
		"county cities have seats":              {"SELECT count(*) FROM town_system WHERE level = 'county_city' AND seat IS NOT NULL", 4, 4},
		"red lines: Taihu, Yangcheng, Dianshan": {"SELECT count(*) FROM eco_redlines WHERE name IN ('太湖', '阳澄湖', '淀山湖') AND approximate", 3, 3},
		"nine metro lines, schematic":           {"SELECT count(*) FROM rail_lines WHERE kind = 'metro' AND schematic", 9, 9},
		"national rail lines":                   {"SELECT count(*) FROM rail_lines WHERE kind <> 'metro'", 5, 1000},
		"236 metro stations":                    {"SELECT count(*) FROM rail_stations WHERE kind = 'metro'", 236, 236},
		"Suzhou North HSR station":              {"SELECT count(*) FROM rail_stations WHERE name = '苏州北'", 1, 1},
		"no invalid geometry":                   {"SELECT (SELECT count(*) FROM town_system WHERE NOT ST_IsValid(geom)) + (SELECT count(*) FROM eco_redlines WHERE NOT ST_IsValid(geom)) + (SELECT count(*) FROM rail_lines WHERE NOT ST_IsValid(geom))", 0, 0},
		"all SRID 4326 and 2D":                  {"SELECT count(*) FROM (SELECT geom FROM town_system UNION ALL SELECT geom FROM eco_redlines UNION ALL SELECT geom FROM rail_lines UNION ALL SELECT geom FROM rail_stations) g WHERE ST_SRID(geom) <> 4326 OR ST_NDims(geom) <> 2", 0, 0},
		// Towns and stations must lie in the region: inside the city (towns) or close to it.
		// The outlines are simplified (~1:1M), and a parent taken from the
		// official code outranks them, so a seat may sit just across an edge.
		"towns inside their parent":                {"SELECT count(*) FROM town_system t JOIN town_system p ON p.code = t.parent WHERE NOT ST_Intersects(t.geom, p.geom)", 0, 1},
		"towns within 1 km of their parent":        {"SELECT count(*) FROM town_system t JOIN town_system p ON p.code = t.parent WHERE NOT ST_DWithin(t.geom::geography, p.geom::geography, 1000)", 0, 0},
		"red lines inside the city":                {"SELECT count(*) FROM eco_redlines r WHERE NOT ST_CoveredBy(r.geom, (SELECT ST_Buffer(ST_Union(geom), 0.0001) FROM town_system WHERE level <> 'town'))", 0, 0},
		"water bodies for the accessibility model": {"SELECT count(*) FROM water_bodies WHERE name IN ('太湖', '阳澄湖', '淀山湖')", 3, 3},
		"stations inside the region box":           {"SELECT count(*) FROM rail_stations WHERE NOT ST_Intersects(geom, ST_MakeEnvelope(119.8, 30.7, 121.5, 32.1, 4326))", 0, 0},
	}
	for name, c := range checks {
		t.Run(name, func(t *testing.T) {
			if n := count(c.sql); n < c.min || n > c.max {
				t.Fatalf("got %d, want %d..%d", n, c.min, c.max)
			}
		})
	}

	// Clipping must have cut Taihu to Suzhou's share: its GSHHG outline is
	// 2,526 km²; most, not all, of the lake is in Suzhou.
	var taihuKm2 float64
	if err := pool.QueryRow(ctx, "SELECT area_m2 / 1e6 FROM eco_redlines WHERE name = '太湖'").Scan(&taihuKm2); err != nil {
		t.Fatal(err)
	}
	if taihuKm2 < 1200 || taihuKm2 > 2500 {
		t.Errorf("Taihu inside Suzhou is %.0f km², want between 1200 and 2500", taihuKm2)
	}

	again, err := bundle.Load(ctx, pool, data.Suzhou)
	if err != nil {
		t.Fatal(err)
	}
	if again.Loaded {
		t.Fatal("second load loaded again; it must leave a loaded database alone")
	}
	if n := count("SELECT count(*) FROM town_system"); n != int(res.Rows["town_system"]) {
		t.Fatalf("after second load town_system has %d rows, want %d", n, res.Rows["town_system"])
	}
}

// A table added to the bundle later reaches databases loaded before it,
// without reloading (or duplicating) the others.
func TestLaterBundleTablesLoadIntoOldDatabases(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t, dbtest.NewDatabase(t, false))
	if _, err := migrate.Up(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := bundle.Load(ctx, pool, data.Suzhou); err != nil {
		t.Fatal(err)
	}
	// Make it look like a database from before water_bodies (and the basemap) were bundled.
	for _, sql := range []string{"DELETE FROM water_bodies", "DELETE FROM basemap_water", "DELETE FROM gusu_meta WHERE key LIKE 'bundle:%'", "INSERT INTO gusu_meta VALUES ('bundle', 'old')"} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	res, err := bundle.Load(ctx, pool, data.Suzhou)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 2 || res.Rows["water_bodies"] == 0 || res.Rows["basemap_water"] == 0 {
		t.Fatalf("loaded %v, want only water_bodies and basemap_water", res.Rows)
	}
	var towns int
	pool.QueryRow(ctx, "SELECT count(*) FROM town_system").Scan(&towns)
	if towns != 82 {
		t.Fatalf("town_system has %d rows after the second load", towns)
	}
}

// A property the schema has no column for is refused, and nothing loads.
func TestRefusesPropertiesWithoutAColumn(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t, dbtest.NewDatabase(t, false))
	if _, err := migrate.Up(ctx, pool); err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{}
	for _, name := range []string{"town_system", "eco_redlines", "rail_lines", "rail_stations", "water_bodies", "basemap_water"} {
		b, err := fs.ReadFile(data.Suzhou, "suzhou/"+name+".geojson")
		if err != nil {
			t.Fatal(err)
		}
		if name == "rail_lines" {
			b = bytes.Replace(b, []byte(`"properties":{`), []byte(`"properties":{"opened_year":2012,`), 1)
		}
		fsys["suzhou/"+name+".geojson"] = &fstest.MapFile{Data: b}
	}
	_, err := bundle.Load(ctx, pool, fsys)
	if err == nil || !strings.Contains(err.Error(), "opened_year") {
		t.Fatalf("load with a stray property: %v", err)
	}
	var rows int
	pool.QueryRow(ctx, "SELECT (SELECT count(*) FROM town_system) + (SELECT count(*) FROM rail_lines)").Scan(&rows)
	if rows != 0 {
		t.Fatalf("%d rows left by the refused load", rows)
	}
}
