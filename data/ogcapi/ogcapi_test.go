package ogcapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gusu-gis/gusu/data/auth"
	"github.com/gusu-gis/gusu/data/dbtest"
	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/data/ogcapi"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

type fixture struct {
	srv  *httptest.Server
	pool *pgxpool.Pool
	reg  *layers.Registry
}

func newFixture(t *testing.T) *fixture {
	db := dbtest.Open(t)
	log := dbtest.Logger(t)
	reg := layers.NewRegistry(db.Pool, log)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go reg.Listen(ctx)
	authn := auth.NewAuthenticator(db.Pool)
	r := mux.NewRouter()
	(&ogcapi.API{Registry: reg, Pool: db.Pool, Log: log, Auth: authn}).Routes(r)
	(&layers.API{Registry: reg, Pool: db.Pool, Log: log, Auth: authn}).Routes(r)
	// The viewer shares "/" with the landing page.
	r.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>viewer</html>")) }))
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	for !reg.Synced() {
	}
	return &fixture{srv: srv, pool: db.Pool, reg: reg}
}

func get(t *testing.T, u string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func getJSON(t *testing.T, u string) map[string]any {
	t.Helper()
	resp, b := get(t, u, "Accept", "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", u, resp.StatusCode, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: not JSON: %.200s", u, b)
	}
	return m
}

func needGDAL(t *testing.T) {
	if _, err := exec.LookPath("ogr2ogr"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ogr2ogr is missing (scripts/test.sh installs gdal-bin)")
		}
		t.Skip("ogr2ogr not installed (apt-get install gdal-bin)")
	}
}

// gdal runs a GDAL tool with network access limited to the test server.
func gdal(t *testing.T, env []string, tool string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(tool, args...)
	cmd.Env = append(os.Environ(), append([]string{"GDAL_HTTP_TIMEOUT=60", "CPL_CURL_VERBOSE=NO"}, env...)...)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s %v: %v\n%s", tool, args, err, stderr)
	}
	return out
}

type gj struct {
	Features []struct {
		Geometry   json.RawMessage `json:"geometry"`
		Properties map[string]any  `json:"properties"`
	} `json:"features"`
}

// coords flattens a GeoJSON geometry's coordinates.
func coords(t *testing.T, raw json.RawMessage) []float64 {
	var g struct {
		Coordinates any `json:"coordinates"`
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	var out []float64
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case float64:
			out = append(out, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(g.Coordinates)
	return out
}

// GDAL's OAPIF driver, the reference client, lists every public layer and
// copies every feature of each, paging with small pages, with geometry and
// Chinese attributes equal to what /api/layers/{name}/features returns.
func TestGDALCopiesEveryCollection(t *testing.T) {
	needGDAL(t)
	f := newFixture(t)
	ls, _ := f.reg.List(context.Background())
	listing := string(gdal(t, nil, "ogrinfo", "-ro", "-q", "OAPIF:"+f.srv.URL+"/"))
	for _, l := range ls {
		if !strings.Contains(listing, l.Name) {
			t.Errorf("ogrinfo does not list %s:\n%s", l.Name, listing)
		}
	}
	for _, l := range ls {
		t.Run(l.Name, func(t *testing.T) {
			var viaGDAL, direct gj
			out := gdal(t, nil, "ogr2ogr", "-f", "GeoJSON", "/vsistdout/", "OAPIF:"+f.srv.URL+"/", l.Name, "-oo", "PAGE_SIZE=37")
			if err := json.Unmarshal(out, &viaGDAL); err != nil {
				t.Fatalf("ogr2ogr output: %v", err)
			}
			_, b := get(t, f.srv.URL+"/api/layers/"+l.Name+"/features?limit=10000")
			json.Unmarshal(b, &direct)
			if len(viaGDAL.Features) != len(direct.Features) || len(direct.Features) == 0 {
				t.Fatalf("GDAL copied %d features, the features API has %d", len(viaGDAL.Features), len(direct.Features))
			}
			for i, d := range direct.Features {
				g := viaGDAL.Features[i]
				dc, gc := coords(t, d.Geometry), coords(t, g.Geometry)
				if len(dc) != len(gc) {
					t.Fatalf("feature %d: %d coordinates via GDAL, %d direct", i, len(gc), len(dc))
				}
				for k := range dc {
					if math.Abs(dc[k]-gc[k]) > 1e-7 {
						t.Fatalf("feature %d coordinate %d: %v via GDAL, %v direct", i, k, gc[k], dc[k])
					}
				}
				for k, v := range d.Properties {
					if s, ok := v.(string); ok && g.Properties[k] != s {
						t.Fatalf("feature %d attribute %s: %q via GDAL, %q direct", i, k, g.Properties[k], s)
					}
				}
			}
		})
	}
}

// Through crs=EPSG:4549 (CGCS2000 3-degree Gauss-Krüger CM 120E, northing
// first as EPSG orders its axes) GDAL copies the coordinates PostGIS's
// ST_Transform gives, and Content-Crs names the system.
func TestGDALCopiesInCGCS2000GaussKruger(t *testing.T) {
	needGDAL(t)
	f := newFixture(t)
	crs := "http://www.opengis.net/def/crs/EPSG/0/4549"
	out := gdal(t, nil, "ogr2ogr", "-f", "GeoJSON", "/vsistdout/", "OAPIF:"+f.srv.URL+"/?crs="+url.QueryEscape(crs), "town_system", "-oo", "PAGE_SIZE=30")
	var viaGDAL gj
	if err := json.Unmarshal(out, &viaGDAL); err != nil {
		t.Fatal(err)
	}
	rows, err := f.pool.Query(context.Background(), `SELECT ST_AsGeoJSON(ST_FlipCoordinates(ST_Transform(geom, 4549)), 3) FROM town_system ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		want = append(want, s)
	}
	if len(want) != len(viaGDAL.Features) {
		t.Fatalf("%d features via GDAL, %d in PostGIS", len(viaGDAL.Features), len(want))
	}
	for i, w := range want {
		wc, gc := coords(t, json.RawMessage(w)), coords(t, viaGDAL.Features[i].Geometry)
		if len(wc) != len(gc) || len(wc) < 2 {
			t.Fatalf("feature %d: %d coordinates, want %d", i, len(gc), len(wc))
		}
		for k := range wc {
			if math.Abs(wc[k]-gc[k]) > 0.002 {
				t.Fatalf("feature %d coordinate %d: %v, PostGIS says %v", i, k, gc[k], wc[k])
			}
		}
		if gc[0] < 3e6 || gc[1] > 1e6 {
			t.Fatalf("feature %d starts at %v,%v: not northing, easting", i, gc[0], gc[1])
		}
	}
	resp, _ := get(t, f.srv.URL+"/collections/town_system/items?limit=1&crs="+url.QueryEscape(crs))
	if resp.Header.Get("Content-Crs") != "<"+crs+">" {
		t.Fatalf("Content-Crs %q", resp.Header.Get("Content-Crs"))
	}
}

// A private collection is listed and read only with a token, which GDAL
// sends as a header (GDAL_HTTP_HEADERS).
func TestGDALReadsAPrivateCollectionWithAToken(t *testing.T) {
	needGDAL(t)
	f := newFixture(t)
	if _, err := f.pool.Exec(context.Background(), "UPDATE gusu_layers SET private = true WHERE name = 'rail_stations'"); err != nil {
		t.Fatal(err)
	}
	f.reg.Invalidate("rail_stations")
	tok, _ := auth.Create(context.Background(), f.pool, "planner", auth.Viewer)
	anonymous := string(gdal(t, nil, "ogrinfo", "-ro", "-q", "OAPIF:"+f.srv.URL+"/"))
	if strings.Contains(anonymous, "rail_stations") {
		t.Fatalf("an anonymous client sees the private collection:\n%s", anonymous)
	}
	header := []string{"GDAL_HTTP_HEADERS=Authorization: Bearer " + tok}
	if !strings.Contains(string(gdal(t, header, "ogrinfo", "-ro", "-q", "OAPIF:"+f.srv.URL+"/")), "rail_stations") {
		t.Fatal("a viewer's token does not list the private collection")
	}
	var viaGDAL gj
	json.Unmarshal(gdal(t, header, "ogr2ogr", "-f", "GeoJSON", "/vsistdout/", "OAPIF:"+f.srv.URL+"/", "rail_stations", "-oo", "PAGE_SIZE=100"), &viaGDAL)
	var n int
	f.pool.QueryRow(context.Background(), "SELECT count(*) FROM rail_stations").Scan(&n)
	if len(viaGDAL.Features) != n {
		t.Fatalf("GDAL with a token copied %d of %d", len(viaGDAL.Features), n)
	}
	if resp, _ := get(t, f.srv.URL+"/collections/rail_stations/items"); resp.StatusCode != 401 {
		t.Fatalf("items of a private collection without a token: %d", resp.StatusCode)
	}
}

// The landing page shares "/" with the viewer: JSON for clients that ask
// for it, the viewer for browsers.
func TestLandingPageNegotiation(t *testing.T) {
	f := newFixture(t)
	doc := getJSON(t, f.srv.URL+"/")
	rels := map[string]bool{}
	for _, l := range doc["links"].([]any) {
		rels[l.(map[string]any)["rel"].(string)] = true
	}
	for _, rel := range []string{"self", "service-desc", "conformance", "data"} {
		if !rels[rel] {
			t.Errorf("landing page lacks rel=%s", rel)
		}
	}
	if _, b := get(t, f.srv.URL+"/", "Accept", "text/html,application/xhtml+xml,*/*;q=0.8"); !strings.Contains(string(b), "viewer") {
		t.Fatalf("a browser did not get the viewer: %.100s", b)
	}
	if _, b := get(t, f.srv.URL+"/?f=json", "Accept", "text/html"); !strings.Contains(string(b), `"service-desc"`) {
		t.Fatalf("f=json did not win over Accept: %.100s", b)
	}
	if _, b := get(t, f.srv.URL+"/collections", "Accept", "text/html"); !strings.Contains(string(b), "城镇体系") || !strings.Contains(string(b), "<table>") {
		t.Fatalf("collections as HTML: %.300s", b)
	}
	conf := getJSON(t, f.srv.URL+"/conformance")
	if !strings.Contains(fmt.Sprint(conf["conformsTo"]), "ogcapi-features-2/1.0/conf/crs") {
		t.Fatalf("conformance %v", conf)
	}
	resp, b := get(t, f.srv.URL+"/api")
	var api map[string]any
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/vnd.oai.openapi+json") || json.Unmarshal(b, &api) != nil || api["paths"] == nil {
		t.Fatalf("/api: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// /items filters by bbox (in CRS84 or another CRS), by attribute, and
// pages; each is checked against a count in PostGIS.
func TestItemsFilters(t *testing.T) {
	f := newFixture(t)
	count := func(sql string, args ...any) int {
		var n int
		if err := f.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	items := func(q string) []any {
		return getJSON(t, f.srv.URL+"/collections/rail_stations/items?"+q)["features"].([]any)
	}
	box := "120.55,31.25,120.70,31.35"
	want := count("SELECT count(*) FROM rail_stations WHERE ST_Intersects(geom, ST_MakeEnvelope(120.55, 31.25, 120.70, 31.35, 4326))")
	if got := len(items("limit=1000&bbox=" + box)); got != want || want == 0 {
		t.Fatalf("bbox: %d features, PostGIS counts %d", got, want)
	}
	// The same area given in EPSG:4549 (northing, easting), from PostGIS.
	var n1, e1, n2, e2 float64
	f.pool.QueryRow(context.Background(), `SELECT ST_Y(a), ST_X(a), ST_Y(b), ST_X(b) FROM (SELECT ST_Transform(ST_SetSRID(ST_MakePoint(120.60, 31.28), 4326), 4549) a,
		ST_Transform(ST_SetSRID(ST_MakePoint(120.66, 31.33), 4326), 4549) b) s`).Scan(&n1, &e1, &n2, &e2)
	projected := fmt.Sprintf("%f,%f,%f,%f", n1, e1, n2, e2)
	wantProjected := count(`SELECT count(*) FROM rail_stations WHERE ST_Intersects(ST_Transform(geom, 4549), ST_MakeEnvelope($1, $2, $3, $4, 4549))`, e1, n1, e2, n2)
	if got := len(items("limit=1000&bbox-crs=" + url.QueryEscape("http://www.opengis.net/def/crs/EPSG/0/4549") + "&bbox=" + projected)); got != wantProjected || wantProjected == 0 {
		t.Fatalf("bbox in EPSG:4549: %d features, PostGIS counts %d", got, wantProjected)
	}
	wantLevel := count("SELECT count(*) FROM town_system WHERE level = 'county_city'")
	if got := len(getJSON(t, f.srv.URL+"/collections/town_system/items?level=county_city")["features"].([]any)); got != wantLevel || wantLevel == 0 {
		t.Fatalf("level=county_city: %d, PostGIS counts %d", got, wantLevel)
	}
	// Pages of 50 followed through next links visit every station once.
	total := count("SELECT count(*) FROM rail_stations")
	seen := map[float64]bool{}
	next := f.srv.URL + "/collections/rail_stations/items?limit=50"
	for next != "" {
		doc := getJSON(t, next)
		for _, ft := range doc["features"].([]any) {
			id := ft.(map[string]any)["id"].(float64)
			if seen[id] {
				t.Fatalf("feature %v twice", id)
			}
			seen[id] = true
		}
		next = ""
		for _, l := range doc["links"].([]any) {
			if l.(map[string]any)["rel"] == "next" {
				next = l.(map[string]any)["href"].(string)
			}
		}
	}
	if len(seen) != total {
		t.Fatalf("next links visited %d of %d", len(seen), total)
	}
	// One feature by id, in two CRSs; a missing one is 404.
	var id int64
	var lon, lat float64
	f.pool.QueryRow(context.Background(), "SELECT id, ST_X(geom), ST_Y(geom) FROM rail_stations ORDER BY id LIMIT 1").Scan(&id, &lon, &lat)
	ft := getJSON(t, fmt.Sprintf("%s/collections/rail_stations/items/%d", f.srv.URL, id))
	c := ft["geometry"].(map[string]any)["coordinates"].([]any)
	if math.Abs(c[0].(float64)-lon) > 1e-7 || math.Abs(c[1].(float64)-lat) > 1e-7 {
		t.Fatalf("item %d at %v, PostGIS says %v,%v", id, c, lon, lat)
	}
	ft = getJSON(t, fmt.Sprintf("%s/collections/rail_stations/items/%d?crs=%s", f.srv.URL, id, url.QueryEscape("http://www.opengis.net/def/crs/EPSG/0/4490")))
	c = ft["geometry"].(map[string]any)["coordinates"].([]any)
	if math.Abs(c[0].(float64)-lat) > 1e-6 || math.Abs(c[1].(float64)-lon) > 1e-6 {
		t.Fatalf("item %d in EPSG:4490 at %v: want latitude first (%v, %v)", id, c, lat, lon)
	}
	for path, status := range map[string]int{
		"/collections/rail_stations/items/99999999":                         404,
		"/collections/rail_stations/items/abc":                              404,
		"/collections/nope/items":                                           404,
		"/collections/rail_stations/items?colour=red":                       400,
		"/collections/rail_stations/items?crs=EPSG:2000":                    400,
		"/collections/rail_stations/items?bbox=1,2,3":                       400,
		"/collections/rail_stations/items?limit=0":                          400,
		"/collections/rail_stations/items?datetime=yesterday":               400,
		"/collections/rail_stations/items?datetime=2026-01-01T00:00:00Z/..": 200,
		"/collections/rail_stations/items?limit=999999":                     200, // served at the maximum
	} {
		resp, b := get(t, f.srv.URL+path)
		if resp.StatusCode != status {
			t.Errorf("%s: %d, want %d: %.200s", path, resp.StatusCode, status, b)
		}
	}
	// Items as HTML name the stations.
	if _, b := get(t, f.srv.URL+"/collections/rail_stations/items?limit=5&f=html"); !strings.Contains(string(b), "<table>") {
		t.Fatalf("items as HTML: %.300s", b)
	}
	names := []string{}
	for _, ft := range items("limit=3") {
		names = append(names, fmt.Sprint(ft.(map[string]any)["properties"]))
	}
	sort.Strings(names)
	if len(names) != 3 {
		t.Fatal(names)
	}
}
