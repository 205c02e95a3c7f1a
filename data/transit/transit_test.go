package transit_test

import (
	"archive/zip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gusu-gis/gusu/data/dbtest"
	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/data/transit"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

const poa = "../../../shared/data/raw/r5r-porto-alegre-gtfs-osm/"

// brokenCopy writes a copy of a feed with one line of stop_times.txt
// replaced, to dir.
func brokenCopy(t *testing.T, src, dir, old, new string) string {
	t.Helper()
	zr, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out := filepath.Join(dir, "broken_"+filepath.Base(src))
	f, _ := os.Create(out)
	zw := zip.NewWriter(f)
	for _, zf := range zr.File {
		rc, _ := zf.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		if filepath.Base(zf.Name) == "stop_times.txt" {
			b = []byte(strings.Replace(string(b), old, new, 1))
		}
		w, _ := zw.Create(zf.Name)
		w.Write(b)
	}
	zw.Close()
	f.Close()
	return out
}

// Both Porto Alegre feeds import as one version: every stop, route, trip
// and stop time of the files, routes drawn and valid, the layers in the
// catalog; a re-import replaces the tables; a broken feed changes nothing
// and names its file, line and field.
func TestImportPortoAlegre(t *testing.T) {
	ctx := context.Background()
	db := dbtest.Open(t)
	paths := []string{poa + "poa_eptc.zip", poa + "poa_trensurb.zip"}
	res, err := transit.Import(ctx, db.Pool, paths, "test")
	if err != nil {
		t.Fatal(err)
	}
	one := func(sql string) int64 {
		t.Helper()
		var n int64
		if err := db.Pool.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	var stops, trips, stopTimes int
	for _, f := range res.Feeds {
		stops, trips, stopTimes = stops+f.Stops, trips+f.Trips, stopTimes+f.StopTimes
	}
	if len(res.Feeds) != 2 || res.Feeds[0].ID != "poa_eptc" || res.Feeds[1].ID != "poa_trensurb" || stops != 3986+24 || stopTimes != 130019+14855 {
		t.Fatalf("feeds %+v", res.Feeds)
	}
	v := res.Version
	if n := one("SELECT count(*) FROM transit_stops_v1"); n != int64(stops) {
		t.Errorf("%d stops stored, %d read", n, stops)
	}
	if n := one("SELECT count(*) FROM gtfs_stop_times_v1"); n != int64(stopTimes) {
		t.Errorf("%d stop times stored, %d read", n, stopTimes)
	}
	if n := one("SELECT count(*) FROM gtfs_trips_v1"); n != int64(trips) {
		t.Errorf("%d trips stored, %d read", n, trips)
	}
	if n := one("SELECT count(*) FROM transit_routes_v1 WHERE geom IS NULL OR NOT ST_IsValid(geom)"); n != 0 {
		t.Errorf("%d routes without a valid drawing", n)
	}
	if n := one(`SELECT count(*) FROM transit_stops_v1 WHERE NOT ST_Intersects(geom, ST_MakeEnvelope(-51.4, -30.3, -50.9, -29.6, 4326))`); n != 0 {
		t.Errorf("%d stops outside Porto Alegre", n)
	}
	// Trensurb files its metro and Aeromóvel as route_type 2 (rail); EPTC's are buses.
	if n := one(`SELECT count(*) FROM transit_routes_v1 WHERE mode = 'rail' AND feed = 'poa_trensurb'`) + one(`SELECT count(*) FROM transit_routes_v1 WHERE mode = 'bus' AND feed = 'poa_eptc'`); n != 117 {
		t.Errorf("%d routes typed rail (Trensurb) or bus (EPTC), want all 117", n)
	}
	reg := layers.NewRegistry(db.Pool, nil)
	for _, name := range []string{transit.StopsLayer, transit.RoutesLayer} {
		l, err := reg.Get(ctx, name)
		if err != nil || l.Version != int64(v) {
			t.Fatalf("layer %s: %+v %v", name, l, err)
		}
	}

	again, err := transit.Import(ctx, db.Pool, paths, "test")
	if err != nil || again.Version != v+1 {
		t.Fatalf("re-import: %+v %v", again, err)
	}
	if n := one("SELECT count(*) FROM pg_tables WHERE tablename LIKE '%_v1' AND (tablename LIKE 'gtfs_%' OR tablename LIKE 'transit_%')"); n != 0 {
		t.Errorf("%d tables of the replaced import are left", n)
	}

	broken := brokenCopy(t, poa+"poa_trensurb.zip", t.TempDir(), ",05:05:35,", ",25:61:00,")
	_, err = transit.Import(ctx, db.Pool, []string{poa + "poa_eptc.zip", broken}, "test")
	var fe *transit.FeedError
	if !errors.As(err, &fe) || fe.File != filepath.Base(broken) || len(fe.Errs.Problems) == 0 {
		t.Fatalf("broken feed: %v", err)
	}
	p := fe.Errs.Problems[0]
	if p.File != "stop_times.txt" || p.Line < 2 || (p.Field != "arrival_time" && p.Field != "departure_time") || !strings.Contains(p.Msg, "25:61:00") {
		t.Errorf("problem %+v", p)
	}
	if l, _ := layers.NewRegistry(db.Pool, nil).Get(ctx, transit.StopsLayer); l.Version != int64(v+1) {
		t.Errorf("a refused import changed the version to %d", l.Version)
	}
	t.Logf("imported %d stops, %d trips, %d stop times in %v; refused: %s", stops, trips, stopTimes, res.Took, p)
}
