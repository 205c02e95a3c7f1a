package tiles_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"
	"github.com/paulmach/orb/planar"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gusu-gis/gusu/data/dbtest"
	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/tiles"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// instance is one gusu tile server (registry + listener + tiles + HTTP).
type instance struct {
	pool  *pgxpool.Pool
	reg   *layers.Registry
	gen   *tiles.Generalizer
	tiles *tiles.Server
	srv   *httptest.Server
}

type opts struct {
	cacheBytes int64
	timeout    time.Duration
	noGen      bool
	budget     int
}

func newInstance(t *testing.T, url string, o opts) *instance {
	t.Helper()
	pool := dbtest.Pool(t, url)
	log := dbtest.Logger(t)
	reg := layers.NewRegistry(pool, log)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go reg.Listen(ctx)
	var gen *tiles.Generalizer
	if !o.noGen {
		gen = tiles.NewGeneralizer(pool, reg, log)
	}
	if o.cacheBytes == 0 {
		o.cacheBytes = 64 << 20
	}
	if o.cacheBytes < 0 {
		o.cacheBytes = 0
	}
	ts := tiles.NewServer(reg, pool, gen, tiles.Options{CacheBytes: o.cacheBytes, Timeout: o.timeout, Metrics: tiles.NewMetrics(prometheus.NewRegistry()), MaxTileBytes: o.budget})
	r := mux.NewRouter()
	(&tiles.Handler{Server: ts, Log: log, CacheControl: "no-cache"}).Routes(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	// Wait until the listener is up, so that changes are not missed.
	for !reg.Synced() {
		time.Sleep(5 * time.Millisecond)
	}
	return &instance{pool: pool, reg: reg, gen: gen, tiles: ts, srv: srv}
}

func fetch(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	// Go's client adds Accept-Encoding: gzip and decodes transparently
	// unless a caller sets the header itself; be explicit either way.
	if req.Header.Get("Accept-Encoding") == "" {
		req.Header.Set("Accept-Encoding", "identity")
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func tileURL(base, layers string, tile maptile.Tile) string {
	return fmt.Sprintf("%s/tiles/%s/%d/%d/%d.mvt", base, layers, tile.Z, tile.X, tile.Y)
}

func decode(t *testing.T, b []byte) mvt.Layers {
	t.Helper()
	ls, err := mvt.Unmarshal(b)
	if err != nil {
		t.Fatalf("tile does not decode as MVT: %v", err)
	}
	return ls
}

func layerByName(ls mvt.Layers, name string) *mvt.Layer {
	for _, l := range ls {
		if l.Name == name {
			return l
		}
	}
	return nil
}

// Points come back where they are in the source, to within a tile pixel.
func TestStationsDecodeToSourcePositions(t *testing.T) {
	in := newInstance(t, dbtest.NewDatabase(t, true), opts{})
	var lon, lat float64
	if err := in.pool.QueryRow(context.Background(), "SELECT ST_X(geom), ST_Y(geom) FROM rail_stations WHERE name = '苏州北'").Scan(&lon, &lat); err != nil {
		t.Fatal(err)
	}
	src := orb.Point{lon, lat}
	for _, z := range []maptile.Zoom{10, 14} {
		tile := maptile.At(src, z)
		resp, body := fetch(t, tileURL(in.srv.URL, "rail_stations", tile))
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tiles.MVTContentType {
			t.Fatalf("z%d: status %d type %q", z, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		ls := decode(t, body)
		ls.ProjectToWGS84(tile)
		l := layerByName(ls, "rail_stations")
		if l == nil || l.Version != 2 || l.Extent != 4096 {
			t.Fatalf("z%d: layer %+v", z, l)
		}
		// One tile unit, in degrees of longitude at this zoom.
		unit := 360 / math.Exp2(float64(z)) / 4096
		found := false
		for _, f := range l.Features {
			if f.Properties["name"] == "苏州北" {
				found = true
				p := f.Geometry.(orb.Point)
				if math.Abs(p[0]-src[0]) > unit || math.Abs(p[1]-src[1]) > unit {
					t.Errorf("z%d: 苏州北 at %v, source %v (tolerance %.2g°)", z, p, src, unit)
				}
				if f.ID == nil {
					t.Errorf("z%d: feature has no id", z)
				}
				if f.Properties["kind"] != "high_speed" || !strings.Contains(fmt.Sprint(f.Properties["lines"]), "京沪") {
					t.Errorf("z%d: properties %v", z, f.Properties)
				}
			}
		}
		if !found {
			t.Errorf("z%d: 苏州北 not in tile %v", z, tile)
		}
	}
}

// Polygon area in a tile matches PostGIS's own clip of the source polygon
// to the buffered tile, within 2 %, at full resolution and from the
// generalised copies.
func TestRedLineAreaMatchesSource(t *testing.T) {
	in := newInstance(t, dbtest.NewDatabase(t, true), opts{})
	ctx := context.Background()
	if err := in.gen.Refresh(ctx, "eco_redlines"); err != nil {
		t.Fatal(err)
	}
	yangcheng := orb.Point{120.78, 31.43}
	for _, z := range []maptile.Zoom{8, 11, 13} {
		tile := maptile.At(yangcheng, z)
		var wantM2 float64
		err := in.pool.QueryRow(ctx, `SELECT coalesce(sum(ST_Area(ST_Intersection(ST_Transform(geom, 3857), ST_TileEnvelope($1, $2, $3, margin => 64.0/4096)))), 0)
			FROM eco_redlines`, int(tile.Z), int(tile.X), int(tile.Y)).Scan(&wantM2)
		if err != nil {
			t.Fatal(err)
		}
		_, body := fetch(t, tileURL(in.srv.URL, "eco_redlines", tile))
		l := layerByName(decode(t, body), "eco_redlines")
		if l == nil {
			t.Fatalf("z%d: no eco_redlines layer", z)
		}
		var units2 float64
		for _, f := range l.Features {
			units2 += math.Abs(planar.Area(f.Geometry))
		}
		unitM := 2 * math.Pi * 6378137 / math.Exp2(float64(z)) / 4096
		gotM2 := units2 * unitM * unitM
		if rel := math.Abs(gotM2-wantM2) / wantM2; rel > 0.02 {
			t.Errorf("z%d: area in tile %.0f m², PostGIS clip %.0f m² (%.1f%% off)", z, gotM2, wantM2, 100*rel)
		}
	}
}

func TestCompositeTileAndProperties(t *testing.T) {
	in := newInstance(t, dbtest.NewDatabase(t, true), opts{})
	tile := maptile.At(orb.Point{120.62, 31.32}, 10) // central Suzhou
	_, body := fetch(t, tileURL(in.srv.URL, "town_system,eco_redlines,rail_lines,rail_stations", tile))
	ls := decode(t, body)
	for _, name := range []string{"town_system", "rail_lines", "rail_stations"} {
		if l := layerByName(ls, name); l == nil || len(l.Features) == 0 {
			t.Errorf("composite tile lacks features of %s", name)
		}
	}
	_, body = fetch(t, tileURL(in.srv.URL, "rail_stations", tile)+"?properties=name,kind")
	l := layerByName(decode(t, body), "rail_stations")
	for _, f := range l.Features {
		if len(f.Properties) > 2 || f.Properties["name"] == nil {
			t.Fatalf("?properties=name,kind gave %v", f.Properties)
		}
	}
}

func TestZoomRangeIsEnforced(t *testing.T) {
	in := newInstance(t, dbtest.NewDatabase(t, true), opts{})
	if _, err := in.pool.Exec(context.Background(), "UPDATE gusu_layers SET minzoom = 11 WHERE name = 'rail_stations'"); err != nil {
		t.Fatal(err)
	}
	tile := maptile.At(orb.Point{120.62, 31.32}, 10)
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, body := fetch(t, tileURL(in.srv.URL, "rail_lines,rail_stations", tile))
		ls := decode(t, body)
		if resp.StatusCode == 200 && layerByName(ls, "rail_stations") == nil && layerByName(ls, "rail_lines") != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("rail_stations still in a z10 tile after minzoom became 11")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if resp, _ := fetch(t, tileURL(in.srv.URL, "rail_stations", tile)); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("a tile with only an out-of-range layer: status %d, want 204", resp.StatusCode)
	}
	if resp, _ := fetch(t, tileURL(in.srv.URL, "rail_stations", maptile.At(orb.Point{120.62, 31.32}, 11))); resp.StatusCode != 200 {
		t.Fatalf("z11 (in range): status %d", resp.StatusCode)
	}
}

func TestStatusCodes(t *testing.T) {
	in := newInstance(t, dbtest.NewDatabase(t, true), opts{})
	cases := map[string]struct {
		path   string
		status int
	}{
		"feature tile → 200":               {"/tiles/rail_lines/9/427/208.mvt", 200},
		"empty tile (mid-Pacific) → 204":   {"/tiles/rail_lines/9/0/0.mvt", 204},
		"x beyond the grid → 400":          {"/tiles/rail_lines/9/512/0.mvt", 400},
		"y beyond the grid → 400":          {"/tiles/rail_lines/2/0/4.mvt", 400},
		"zoom 25 → 400":                    {"/tiles/rail_lines/25/0/0.mvt", 400},
		"negative x → 400":                 {"/tiles/rail_lines/3/-1/0.mvt", 400},
		"non-numeric z → 400":              {"/tiles/rail_lines/a/0/0.mvt", 400},
		"wrong extension → 400":            {"/tiles/rail_lines/9/427/208.pbf", 400},
		"no extension → 400":               {"/tiles/rail_lines/9/427/208", 400},
		"unknown layer → 404":              {"/tiles/nope/9/427/208.mvt", 404},
		"one unknown in a composite → 404": {"/tiles/rail_lines,nope/9/427/208.mvt", 404},
		"duplicate layer → 400":            {"/tiles/rail_lines,rail_lines/9/427/208.mvt", 400},
		"empty layer name → 400":           {"/tiles/rail_lines,/9/427/208.mvt", 400},
		"unknown property → 400":           {"/tiles/rail_lines/9/427/208.mvt?properties=colour", 400},
		"unknown parameter → 400":          {"/tiles/rail_lines/9/427/208.mvt?format=png", 400},
		"TileJSON of unknown layer → 404":  {"/tiles/nope.json", 404},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			resp, body := fetch(t, in.srv.URL+c.path)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if c.status >= 400 {
				var e map[string]any
				if json.Unmarshal(body, &e) != nil || e["error"] == nil {
					t.Fatalf("error body is not JSON: %s", body)
				}
				if d, ok := e["detail"]; ok && d == nil {
					t.Fatalf("error body has \"detail\": null: %s", body)
				}
			}
		})
	}
}

func TestGzip(t *testing.T) {
	in := newInstance(t, dbtest.NewDatabase(t, true), opts{})
	url := in.srv.URL + "/tiles/town_system,rail_lines/9/427/208.mvt"
	_, plain := fetch(t, url)
	resp, zipped := fetch(t, url, "Accept-Encoding", "gzip, deflate, br")
	if resp.Header.Get("Content-Encoding") != "gzip" || len(zipped) >= len(plain) {
		t.Fatalf("Content-Encoding %q, %d bytes zipped vs %d plain", resp.Header.Get("Content-Encoding"), len(zipped), len(plain))
	}
	zr, err := gzip.NewReader(bytes.NewReader(zipped))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, _ := io.ReadAll(zr)
	if !bytes.Equal(unzipped, plain) {
		t.Fatal("gunzipped tile differs from the plain one")
	}
	if resp, _ := fetch(t, url, "Accept-Encoding", "gzip;q=0"); resp.Header.Get("Content-Encoding") != "" {
		t.Fatal("gzip sent although the client refused it (q=0)")
	}
}

func TestTileJSON(t *testing.T) {
	in := newInstance(t, dbtest.NewDatabase(t, true), opts{})
	resp, body := fetch(t, in.srv.URL+"/tiles/town_system,rail_stations.json", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "gis.example.org")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var tj tiles.TileJSON
	if err := json.Unmarshal(body, &tj); err != nil {
		t.Fatal(err)
	}
	if tj.TileJSON != "3.0.0" || len(tj.Tiles) != 1 || tj.Tiles[0] != "https://gis.example.org/tiles/town_system,rail_stations/{z}/{x}/{y}.mvt" {
		t.Errorf("tilejson %q tiles %v", tj.TileJSON, tj.Tiles)
	}
	if len(tj.VectorLayers) != 2 || tj.VectorLayers[0].ID != "town_system" || tj.VectorLayers[0].Fields["level"] != "String" || tj.VectorLayers[0].Fields["population"] != "Number" {
		t.Errorf("vector_layers %+v", tj.VectorLayers)
	}
	if _, hasSeat := tj.VectorLayers[0].Fields["seat"]; hasSeat {
		t.Error("the seat geometry column is listed as a field")
	}
	b := tj.Bounds
	if b[0] < 119.5 || b[2] > 122 || b[1] < 30.5 || b[3] > 32.5 || b[0] >= b[2] {
		t.Errorf("bounds %v", b)
	}
	if tj.Center[0] < b[0] || tj.Center[0] > b[2] || tj.Attribution == "" || tj.MaxZoom < tj.MinZoom {
		t.Errorf("center %v attribution %q zooms %d-%d", tj.Center, tj.Attribution, tj.MinZoom, tj.MaxZoom)
	}
}

// A conditional request with the current ETag is answered 304 without a
// database query; a change to the layer changes ETag and content at once.
func TestETagAndVersionBump(t *testing.T) {
	in := newInstance(t, dbtest.NewDatabase(t, true), opts{})
	ctx := context.Background()
	tile := maptile.At(orb.Point{120.62, 31.32}, 14)
	url := tileURL(in.srv.URL, "rail_stations", tile)
	resp, body := fetch(t, url)
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || !strings.HasPrefix(etag, `"`) {
		t.Fatalf("status %d etag %q", resp.StatusCode, etag)
	}
	queries := in.tiles.Queries()
	resp, _ = fetch(t, url, "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match with the current ETag: %d", resp.StatusCode)
	}
	if in.tiles.Queries() != queries {
		t.Fatal("the 304 queried the database")
	}
	before := len(layerByName(decode(t, body), "rail_stations").Features)

	p := tile.Center()
	if _, err := in.pool.Exec(ctx, "INSERT INTO rail_stations (name, kind, geom) VALUES ('新站', 'tram', ST_SetSRID(ST_MakePoint($1, $2), 4326))", p[0], p[1]); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, body = fetch(t, url, "If-None-Match", etag)
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the old ETag still matches 5 s after the layer changed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if resp.Header.Get("ETag") == etag {
		t.Fatal("content changed but the ETag did not")
	}
	after := layerByName(decode(t, body), "rail_stations").Features
	if len(after) != before+1 {
		t.Fatalf("tile has %d stations after the insert, %d before", len(after), before)
	}
}

// lockTable holds an exclusive lock on table until the returned func is
// called, so tile queries on it block: a slow database on demand.
func lockTable(t *testing.T, pool *pgxpool.Pool, table string) func() {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE "+table+" IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release := func() { once.Do(func() { tx.Rollback(ctx) }) }
	t.Cleanup(release)
	return release
}

func waitingTileQueries(t *testing.T, pool *pgxpool.Pool) int {
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND state = 'active' AND query LIKE '%ST_AsMVT%' AND pid <> pg_backend_pid()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Concurrent identical misses make one database query, even with the
// cache off.
func TestConcurrentMissesShareOneQuery(t *testing.T) {
	in := newInstance(t, dbtest.NewDatabase(t, true), opts{cacheBytes: -1})
	req := tiles.Request{Layers: []string{"rail_lines"}, Tile: maptile.New(427, 208, 9)}
	release := lockTable(t, in.pool, "rail_lines")
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tl, err := in.tiles.Tile(context.Background(), req)
			if err == nil && tl.Empty() {
				err = fmt.Errorf("empty tile")
			}
			errs <- err
		}()
	}
	for deadline := time.Now().Add(5 * time.Second); waitingTileQueries(t, in.pool) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no tile query reached the database")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // let every caller join
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if q := in.tiles.Queries(); q != 1 {
		t.Fatalf("20 concurrent identical requests made %d queries, want 1", q)
	}
}

// When the client goes away, its query is canceled in the database.
func TestClientGoneCancelsQuery(t *testing.T) {
	in := newInstance(t, dbtest.NewDatabase(t, true), opts{timeout: time.Minute})
	lockTable(t, in.pool, "rail_lines")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := in.tiles.Tile(ctx, tiles.Request{Layers: []string{"rail_lines"}, Tile: maptile.New(427, 208, 9)})
		done <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); waitingTileQueries(t, in.pool) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no tile query reached the database")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("canceled request returned a tile")
	}
	for deadline := time.Now().Add(5 * time.Second); waitingTileQueries(t, in.pool) != 0; {
		if time.Now().After(deadline) {
			t.Fatal("the tile query is still running in the database after the client left")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A database that does not answer in time gives 504 with a JSON reason.
func TestDatabaseTimeoutIs504(t *testing.T) {
	in := newInstance(t, dbtest.NewDatabase(t, true), opts{timeout: 300 * time.Millisecond})
	lockTable(t, in.pool, "rail_lines")
	start := time.Now()
	resp, body := fetch(t, in.srv.URL+"/tiles/rail_lines/9/427/208.mvt")
	if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(body), "did not answer in time") {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), "SELECT") {
		t.Fatalf("body leaks SQL: %s", body)
	}
	t.Logf("timed out after %v", time.Since(start))
}

// Two gusu instances on one database: a change made through one is seen by
// the other's cache at once (LISTEN/NOTIFY), no restart.
func TestTwoInstancesInvalidateEachOther(t *testing.T) {
	url := dbtest.NewDatabase(t, true)
	a := newInstance(t, url, opts{})
	b := newInstance(t, url, opts{})
	tile := maptile.At(orb.Point{120.62, 31.32}, 13)
	tu := tileURL(b.srv.URL, "rail_stations", tile)
	resp, body := fetch(t, tu)
	oldETag := resp.Header.Get("ETag")
	before := len(layerByName(decode(t, body), "rail_stations").Features)
	fetch(t, tu) // now cached in b
	p := tile.Center()
	if _, err := a.pool.Exec(context.Background(), "INSERT INTO rail_stations (name, kind, geom) VALUES ('经 A 新增', 'metro', ST_SetSRID(ST_MakePoint($1, $2), 4326))", p[0], p[1]); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, body = fetch(t, tu)
		if resp.Header.Get("ETag") != oldETag {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("instance B still serves the old tile 5 s after a change through A")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(layerByName(decode(t, body), "rail_stations").Features); n != before+1 {
		t.Fatalf("B's new tile has %d stations, want %d", n, before+1)
	}
}

// Low-zoom polygon tiles come from the generalised copies once built, and
// a layer change invalidates them until rebuilt.
func TestGeneralizedCopiesFollowVersions(t *testing.T) {
	in := newInstance(t, dbtest.NewDatabase(t, true), opts{})
	ctx := context.Background()
	if err := in.gen.Refresh(ctx, "eco_redlines"); err != nil {
		t.Fatal(err)
	}
	l, _ := in.reg.Get(ctx, "eco_redlines")
	if in.gen.BuiltFor("eco_redlines") != l.Version {
		t.Fatalf("built for %d, layer at %d", in.gen.BuiltFor("eco_redlines"), l.Version)
	}
	if _, err := in.pool.Exec(ctx, "UPDATE eco_redlines SET name = name"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		l2, _ := in.reg.Get(ctx, "eco_redlines")
		if l2.Version > l.Version {
			if in.gen.BuiltFor("eco_redlines") == l2.Version {
				t.Fatal("copies claim the new version before a rebuild")
			}
			if err := in.gen.Refresh(ctx, "eco_redlines"); err != nil {
				t.Fatal(err)
			}
			if in.gen.BuiltFor("eco_redlines") != l2.Version {
				t.Fatal("rebuild did not record the new version")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("version did not change")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTileQueryGolden(t *testing.T) {
	l := &layers.Layer{Name: "rail_stations", Table: "rail_stations", GeometryType: "point", TileExtent: 4096, TileBuffer: 64,
		Columns: []layers.Column{{Name: "name", PGType: "text"}, {Name: "lines", PGType: "_text"}}}
	q := tiles.TileQuery(maptile.New(1, 2, 3), []tiles.LayerPlan{{Layer: l, Properties: l.Columns}})
	want := `SELECT COALESCE((SELECT ST_AsMVT(q, $8::text, 4096, 'geom', 'id' ORDER BY q.id, q.geom) FROM (
  SELECT t.id, t."name" AS "name", array_to_string(t."lines", ',') AS "lines", ST_AsMVTGeom(ST_Transform(t.geom, 3857), ST_TileEnvelope($1, $2, $3), 4096, 64, true) AS geom
  FROM "rail_stations" t WHERE t.geom && ST_MakeEnvelope($4, $5, $6, $7, 4326)
) AS q), ''::bytea)`
	if q.SQL != want {
		t.Fatalf("SQL:\n%s\nwant:\n%s", q.SQL, want)
	}
	if len(q.Args) != 8 || q.Args[0] != 3 || q.Args[1] != 1 || q.Args[2] != 2 || q.Args[7] != "rail_stations" {
		t.Fatalf("args %v", q.Args)
	}
}

func BenchmarkParseTile(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := tiles.ParseTile("14", "13670", "6654"); err != nil {
			b.Fatal(err)
		}
	}
}

// A tile made from the generalised copies has the same features, ids and
// attributes as the one made from the layer's table (at z14 the copy is the
// unsimplified geometry, so positions match too).
func TestGeneralizedAndFullPathsAgree(t *testing.T) {
	tile := maptile.At(orb.Point{120.62, 31.32}, 14)
	for _, props := range []string{"", "?properties=name,lines"} {
		t.Run("query "+props, func(t *testing.T) {
			in := newInstance(t, dbtest.NewDatabase(t, true), opts{cacheBytes: -1})
			url := tileURL(in.srv.URL, "rail_stations", tile) + props
			_, full := fetch(t, url)
			if err := in.gen.Refresh(context.Background(), "rail_stations"); err != nil {
				t.Fatal(err)
			}
			_, gen := fetch(t, url)
			a, b := layerByName(decode(t, full), "rail_stations"), layerByName(decode(t, gen), "rail_stations")
			if a == nil || b == nil || len(a.Features) == 0 || len(a.Features) != len(b.Features) {
				t.Fatalf("full path %v, generalised path %v", a, b)
			}
			byID := map[any]*geojson.Feature{}
			for _, f := range b.Features {
				byID[f.ID] = f
			}
			for _, f := range a.Features {
				g := byID[f.ID]
				if g == nil {
					t.Fatalf("feature %v missing from the generalised tile", f.ID)
				}
				if !orb.Equal(f.Geometry, g.Geometry) || fmt.Sprint(f.Properties) != fmt.Sprint(g.Properties) {
					t.Fatalf("feature %v differs:\n full %v %v\n gen  %v %v", f.ID, f.Geometry, f.Properties, g.Geometry, g.Properties)
				}
			}
		})
	}
}

// Tiles that no feature can reach are known to be empty without a query.
func TestCoverageIndexSkipsEmptyTiles(t *testing.T) {
	in := newInstance(t, dbtest.NewDatabase(t, true), opts{cacheBytes: -1})
	ctx := context.Background()
	if err := in.gen.Refresh(ctx, "rail_stations"); err != nil {
		t.Fatal(err)
	}
	l, _ := in.reg.Get(ctx, "rail_stations")
	var lon, lat float64
	if err := in.pool.QueryRow(ctx, "SELECT ST_X(geom), ST_Y(geom) FROM rail_stations WHERE name = '苏州北'").Scan(&lon, &lat); err != nil {
		t.Fatal(err)
	}
	station := orb.Point{lon, lat}
	cases := map[string]struct {
		tile maptile.Tile
		may  bool
	}{
		"z14 tile of 苏州北":           {maptile.At(station, 14), true},
		"z10 tile of 苏州北":           {maptile.At(station, 10), true},
		"z5 tile of Suzhou":         {maptile.At(station, 5), true},
		"z12 tile in Taihu":         {maptile.At(orb.Point{120.20, 31.15}, 12), false},
		"z14 tile in the Pacific":   {maptile.At(orb.Point{-150, 10}, 14), false},
		"z3 tile over the Atlantic": {maptile.At(orb.Point{-30, 30}, 3), false},
	}
	for name, c := range cases {
		if got := in.gen.MayHaveFeatures("rail_stations", l.Version, c.tile); got != c.may {
			t.Errorf("%s %v: MayHaveFeatures = %v, want %v", name, c.tile, got, c.may)
		}
	}
	before := in.tiles.Queries()
	resp, _ := fetch(t, tileURL(in.srv.URL, "rail_stations", maptile.At(orb.Point{120.20, 31.15}, 12)))
	if resp.StatusCode != http.StatusNoContent || in.tiles.Queries() != before {
		t.Fatalf("empty tile: status %d, %d queries", resp.StatusCode, in.tiles.Queries()-before)
	}
}

// A tile over the size budget is made again with no attributes and coarser
// coordinates, and says so: every layer keeps its features (the first
// step drops none), the compressed size fits, and a tile under the budget
// is untouched.
func TestTileSizeBudget(t *testing.T) {
	url := dbtest.NewDatabase(t, true)
	full := newInstance(t, url, opts{})
	tile := maptile.At(orb.Point{120.62, 31.30}, 9)
	const layersPath = "town_system,rail_lines,rail_stations"
	resp, body := fetch(t, tileURL(full.srv.URL, layersPath, tile), "Accept-Encoding", "gzip")
	if resp.StatusCode != 200 || resp.Header.Get("X-Gusu-Tile-Reduced") != "" {
		t.Fatalf("full tile: %d, reduced %q", resp.StatusCode, resp.Header.Get("X-Gusu-Tile-Reduced"))
	}
	size := len(body)
	_, raw := fetch(t, tileURL(full.srv.URL, layersPath, tile))
	before := decode(t, raw)
	budget := size / 2
	small := newInstance(t, url, opts{budget: budget})
	resp, body = fetch(t, tileURL(small.srv.URL, layersPath, tile), "Accept-Encoding", "gzip")
	reduced := resp.Header.Get("X-Gusu-Tile-Reduced")
	if resp.StatusCode != 200 || reduced == "" {
		t.Fatalf("over budget: %d, X-Gusu-Tile-Reduced %q", resp.StatusCode, reduced)
	}
	t.Logf("z9 tile %d bytes gzip; budget %d → %d bytes (%s)", size, budget, len(body), reduced)
	if len(body) > budget && !strings.Contains(reduced, "256") {
		t.Fatalf("%d bytes over a budget of %d after %q", len(body), budget, reduced)
	}
	_, raw = fetch(t, tileURL(small.srv.URL, layersPath, tile))
	after := decode(t, raw)
	count := func(ls mvt.Layers) map[string]int {
		m := map[string]int{}
		for _, l := range ls {
			m[l.Name] = len(l.Features)
		}
		return m
	}
	b, a := count(before), count(after)
	for name, n := range b {
		if a[name] == 0 || (strings.Contains(reduced, "extent 1024") && a[name] != n) {
			t.Errorf("layer %s: %d features before, %d after %q", name, n, a[name], reduced)
		}
	}
	for _, l := range after {
		for _, f := range l.Features {
			if _, aggregate := f.Properties[tiles.AggregateCountField]; len(f.Properties) > 1 || len(f.Properties) == 1 && !aggregate {
				t.Fatalf("layer %s keeps attributes %v over budget", l.Name, f.Properties)
			}
		}
	}
	// A small tile stays as it is.
	resp, _ = fetch(t, tileURL(small.srv.URL, "rail_stations", maptile.At(orb.Point{120.62, 31.30}, 14)), "Accept-Encoding", "gzip")
	if resp.StatusCode != 200 || resp.Header.Get("X-Gusu-Tile-Reduced") != "" {
		t.Fatalf("small tile: %d, reduced %q", resp.StatusCode, resp.Header.Get("X-Gusu-Tile-Reduced"))
	}
}
