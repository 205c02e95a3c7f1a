package migrate_test

import (
	"context"
	"os"
	"testing"

	"github.com/gusu-gis/gusu/data/dbtest"
	"github.com/gusu-gis/gusu/data/migrate"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

func TestUpTwiceIsANoOp(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t, dbtest.NewDatabase(t, false))
	all, err := migrate.All()
	if err != nil {
		t.Fatal(err)
	}
	first, err := migrate.Up(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != len(all) {
		t.Fatalf("first run applied %v, want all %d migrations", first, len(all))
	}
	second, err := migrate.Up(ctx, pool)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if len(second) != 0 {
		t.Fatalf("second run applied %v, want none", second)
	}
	var recorded int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM gusu_schema_migrations").Scan(&recorded); err != nil {
		t.Fatal(err)
	}
	if recorded != len(all) {
		t.Fatalf("recorded %d migrations, want %d", recorded, len(all))
	}
}

// Instances starting together against one database must not both apply
// the same migration.
func TestConcurrentUp(t *testing.T) {
	ctx := context.Background()
	url := dbtest.NewDatabase(t, false)
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		pool := dbtest.Pool(t, url)
		go func() { _, err := migrate.Up(ctx, pool); errs <- err }()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent migrate: %v", err)
		}
	}
}

func TestSchemaGuaranteesGeometry(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t, dbtest.NewDatabase(t, false))
	if _, err := migrate.Up(ctx, pool); err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{
		"invalid bow-tie polygon": `INSERT INTO eco_redlines (name, category, geom) VALUES ('x', 'lake', 'SRID=4326;MULTIPOLYGON(((0 0,1 1,1 0,0 1,0 0)))')`,
		"wrong SRID":              `INSERT INTO rail_stations (name, kind, geom) VALUES ('x', 'metro', 'SRID=3857;POINT(0 0)')`,
		"3D point":                `INSERT INTO rail_stations (name, kind, geom) VALUES ('x', 'metro', 'SRID=4326;POINT(0 0 5)')`,
		"unknown rail kind":       `INSERT INTO rail_stations (name, kind, geom) VALUES ('x', 'maglev', 'SRID=4326;POINT(0 0)')`,
		"unknown level":           `INSERT INTO town_system (name_zh, level, geom) VALUES ('x', 'village', 'SRID=4326;POINT(0 0)')`,
		"county as a point":       `INSERT INTO town_system (name_zh, level, geom) VALUES ('x', 'county_city', 'SRID=4326;POINT(0 0)')`,
	}
	for name, sql := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := pool.Exec(ctx, sql); err == nil {
				t.Fatalf("accepted: %s", sql)
			}
		})
	}
}

// Every statement that changes a feature table bumps the layer's version
// once and announces it.
func TestFeatureChangesBumpVersion(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t, dbtest.NewDatabase(t, false))
	if _, err := migrate.Up(ctx, pool); err != nil {
		t.Fatal(err)
	}
	version := func() (v int64) {
		t.Helper()
		if err := pool.QueryRow(ctx, "SELECT version FROM gusu_layers WHERE name = 'rail_stations'").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN gusu_layer_changed"); err != nil {
		t.Fatal(err)
	}
	before := version()
	if _, err := pool.Exec(ctx, `INSERT INTO rail_stations (name, kind, geom)
		SELECT 's' || i, 'metro', ST_SetSRID(ST_MakePoint(120 + i * 0.001, 31), 4326) FROM generate_series(1, 50) i`); err != nil {
		t.Fatal(err)
	}
	if got := version(); got != before+1 {
		t.Fatalf("after a 50-row insert version is %d, want %d (one bump per statement)", got, before+1)
	}
	n, err := conn.Conn().WaitForNotification(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n.Channel != "gusu_layer_changed" || n.Payload == "" {
		t.Fatalf("notification %+v", n)
	}
}
