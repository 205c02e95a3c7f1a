package access_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gusu-gis/gusu/data"
	"github.com/gusu-gis/gusu/data/access"
	"github.com/gusu-gis/gusu/data/dbtest"
	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/data/roads"
	"github.com/gusu-gis/gusu/geo/isochrone"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

type fixture struct {
	srv  *httptest.Server
	pool *pgxpool.Pool
	svc  *access.Service
	reg  *layers.Registry
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := dbtest.Open(t)
	log := dbtest.Logger(t)
	reg := layers.NewRegistry(db.Pool, log)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go reg.Listen(ctx)
	for !reg.Synced() {
		time.Sleep(5 * time.Millisecond)
	}
	svc := access.NewService(db.Pool, reg, log, isochrone.DefaultParams())
	if err := svc.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	go svc.Run(ctx)
	r := mux.NewRouter()
	svc.Routes(r, log)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, pool: db.Pool, svc: svc, reg: reg}
}

func (f *fixture) get(t *testing.T, path string) (int, map[string]any, []byte) {
	t.Helper()
	resp, err := http.Get(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("GET %s: %d, not JSON: %s", path, resp.StatusCode, b)
	}
	return resp.StatusCode, v, b
}

// sql evaluates a boolean or number about the response's geometries in PostGIS.
func (f *fixture) sql(t *testing.T, query string, args ...any) (v any) {
	t.Helper()
	if err := f.pool.QueryRow(context.Background(), query, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return v
}

func geometry(t *testing.T, feature any) string {
	b, _ := json.Marshal(feature.(map[string]any)["geometry"])
	return string(b)
}

// From Suzhou railway station by transit: three nested, valid bands, the
// 45-minute one reaching along the high-speed line to Kunshan South, with
// the lakes left out.
func TestTransitFromSuzhouStation(t *testing.T) {
	f := newFixture(t)
	status, fc, raw := f.get(t, "/api/isochrones?from=station:"+url.QueryEscape("苏州")+"&minutes=15,30,45&mode=transit")
	if status != 200 {
		t.Fatalf("status %d: %s", status, raw)
	}
	feats := fc["features"].([]any)
	if len(feats) != 3 {
		t.Fatalf("%d bands", len(feats))
	}
	meta := fc["metadata"].(map[string]any)
	if meta["network"] != access.ModelOffNetwork || meta["parameters"] == nil {
		t.Errorf("metadata %v", meta)
	}
	g := make([]string, 3)
	for i, ft := range feats {
		p := ft.(map[string]any)["properties"].(map[string]any)
		if want := []float64{45, 30, 15}[i]; p["minutes"].(float64) != want {
			t.Fatalf("band %d is %v minutes, want %v (largest first)", i, p["minutes"], want)
		}
		g[i] = geometry(t, ft)
		if !f.sql(t, "SELECT ST_IsValid(ST_GeomFromGeoJSON($1))", g[i]).(bool) {
			t.Errorf("band %v is invalid: %v", p["minutes"], f.sql(t, "SELECT ST_IsValidReason(ST_GeomFromGeoJSON($1))", g[i]))
		}
	}
	if !f.sql(t, "SELECT ST_Covers(ST_GeomFromGeoJSON($1), ST_GeomFromGeoJSON($2)) AND ST_Covers(ST_GeomFromGeoJSON($2), ST_GeomFromGeoJSON($3))", g[0], g[1], g[2]).(bool) {
		t.Error("bands are not nested")
	}
	checks := map[string]struct {
		sql  string
		band string
		want bool
	}{
		"45 min reaches 昆山南 by high-speed rail": {"SELECT ST_Intersects(ST_GeomFromGeoJSON($1), geom) FROM rail_stations WHERE name = '昆山南'", g[0], true},
		"15 min does not":                        {"SELECT ST_Intersects(ST_GeomFromGeoJSON($1), geom) FROM rail_stations WHERE name = '昆山南'", g[2], false},
		"no band covers Yangcheng Lake's middle": {"SELECT ST_Intersects(ST_GeomFromGeoJSON($1), ST_SetSRID(ST_MakePoint(120.78, 31.43), 4326))", g[0], false},
	}
	for name, c := range checks {
		if got := f.sql(t, c.sql, c.band).(bool); got != c.want {
			t.Errorf("%s: got %v", name, got)
		}
	}
	towns := feats[0].(map[string]any)["properties"].(map[string]any)["towns_reached"].([]any)
	if len(towns) == 0 || !strings.Contains(fmt.Sprint(towns), "姑苏区") {
		t.Errorf("45-minute towns_reached: %v", towns)
	}
	t.Logf("compute %.1f ms; areas %v / %v / %v km²", meta["compute_ms"],
		feats[0].(map[string]any)["properties"].(map[string]any)["area_km2"], feats[1].(map[string]any)["properties"].(map[string]any)["area_km2"],
		feats[2].(map[string]any)["properties"].(map[string]any)["area_km2"])
}

// Walking 15 minutes from a town gives a small, plausible area: about a
// 1 km radius (4.8 km/h over a 1.3 detour), i.e. a few km².
func TestWalkFromATownIsSmall(t *testing.T) {
	f := newFixture(t)
	code := f.sql(t, "SELECT code FROM town_system WHERE name_en = 'Mudu'").(string)
	status, fc, raw := f.get(t, "/api/isochrones?from=town:"+code+"&minutes=15&mode=walk")
	if status != 200 {
		t.Fatalf("%d %s", status, raw)
	}
	p := fc["features"].([]any)[0].(map[string]any)["properties"].(map[string]any)
	if a := p["area_km2"].(float64); a < 2 || a > 6 {
		t.Fatalf("15-minute walk covers %.2f km², want roughly π·1² ≈ 3", a)
	}
	if !strings.Contains(fmt.Sprint(p["towns_reached"]), "木渎") {
		t.Errorf("the origin town is not reached: %v", p["towns_reached"])
	}
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t)
	cases := map[string]string{
		"no origin":                 "/api/isochrones?minutes=15",
		"unknown mode":              "/api/isochrones?lon=120.6&lat=31.3&mode=teleport",
		"band over the maximum":     "/api/isochrones?lon=120.6&lat=31.3&minutes=15,300",
		"negative band":             "/api/isochrones?lon=120.6&lat=31.3&minutes=-5",
		"text band":                 "/api/isochrones?lon=120.6&lat=31.3&minutes=soon",
		"origin in Taihu":           "/api/isochrones?lon=120.20&lat=31.15",
		"origin outside the region": "/api/isochrones?lon=116.4&lat=39.9",
		"latitude out of range":     "/api/isochrones?lon=120.6&lat=95",
		"unknown town":              "/api/isochrones?from=town:999999999",
		"unknown station":           "/api/isochrones?from=station:nowhere",
		"malformed from":            "/api/isochrones?from=somewhere",
		"bad scenario":              "/api/isochrones?lon=120.6&lat=31.3&scenario=dream",
		"unknown parameter":         "/api/isochrones?lon=120.6&lat=31.3&speed=fast",
		"Mapbox: unknown profile":   "/isochrone/v1/flying/120.6,31.3?contours_minutes=15",
		"Mapbox: bad coordinates":   "/isochrone/v1/walking/abc?contours_minutes=15",
		"towns: bad mode":           "/api/accessibility/towns?lon=120.6&lat=31.3&mode=boat",
		"Mapbox: fewer colours":     "/isochrone/v1/walking/120.62,31.30?contours_minutes=15,30&contours_colors=ff0000",
		"Mapbox: bad colour":        "/isochrone/v1/walking/120.62,31.30?contours_minutes=15&contours_colors=red",
		"Mapbox: five contours":     "/isochrone/v1/walking/120.62,31.30?contours_minutes=5,10,15,20,25",
		"Mapbox: polygons=yes":      "/isochrone/v1/walking/120.62,31.30?contours_minutes=15&polygons=yes",
		"GET: 101 origins":          "/api/isochrones?from=" + strings.TrimSuffix(strings.Repeat("station:x,", 101), ","),
	}
	for name, path := range cases {
		t.Run(name, func(t *testing.T) {
			status, body, _ := f.get(t, path)
			if status != 400 || body["error"] == nil {
				t.Fatalf("status %d body %v", status, body)
			}
		})
	}
	resp, err := http.Post(f.srv.URL+"/api/isochrones", "application/json", strings.NewReader(`{"origins":[[120.6]],"minutes":[15]}`))
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("malformed POST: %v %v", resp.StatusCode, err)
	}
}

func TestSeveralOriginsByPOST(t *testing.T) {
	f := newFixture(t)
	one := func(body string) float64 {
		resp, err := http.Post(f.srv.URL+"/api/isochrones", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var fc map[string]any
		json.NewDecoder(resp.Body).Decode(&fc)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %v", resp.StatusCode, fc)
		}
		return fc["features"].([]any)[0].(map[string]any)["properties"].(map[string]any)["area_km2"].(float64)
	}
	a := one(`{"origins":[[120.62,31.31]],"minutes":[15],"mode":"bike"}`)
	ab := one(`{"origins":[[120.62,31.31],[120.95,31.38]],"minutes":[15],"mode":"bike"}`)
	if ab < 1.8*a {
		t.Fatalf("two distant origins cover %.1f km², one covers %.1f", ab, a)
	}
}

func TestMapboxShape(t *testing.T) {
	f := newFixture(t)
	status, fc, raw := f.get(t, "/isochrone/v1/walking/120.62,31.31?contours_minutes=10,20&polygons=true&contours_colors=ff0000,0000ff")
	if status != 200 {
		t.Fatalf("%d %s", status, raw)
	}
	feats := fc["features"].([]any)
	p0 := feats[0].(map[string]any)["properties"].(map[string]any)
	if len(feats) != 2 || p0["contour"].(float64) != 20 || p0["color"] != "#0000ff" || p0["fill"] == nil || p0["metric"] != "time" {
		t.Fatalf("Mapbox properties %v", p0)
	}
	_, fc, _ = f.get(t, "/isochrone/v1/cycling/120.62,31.31?contours_minutes=10")
	if typ := fc["features"].([]any)[0].(map[string]any)["geometry"].(map[string]any)["type"]; typ != "LineString" {
		t.Fatalf("polygons=false gave %v", typ)
	}
}

// The Mapbox route with 1, 2 and 3 contours, with and without colours and
// polygons: one feature per contour, largest first, each with the colour
// given for its minutes (or the Mapbox default for its position). The
// README's example (3 contours, no colours, polygons) once panicked.
func TestMapboxContours(t *testing.T) {
	f := newFixture(t)
	defaults := []string{"#bf4040", "#bf8040", "#bfbf40"}
	for _, c := range []struct {
		minutes, colors string
		polygons        bool
	}{
		{"15", "", true}, {"15", "00ff00", false}, {"15,30", "", false}, {"15,30", "ff0000,0000ff", true},
		{"15,30,45", "", true}, {"15,30,45", "", false}, {"15,30,45", "111111,222222,333333", true}, {"30,15", "aa0000,00aa00", true},
	} {
		q := "contours_minutes=" + c.minutes
		if c.colors != "" {
			q += "&contours_colors=" + c.colors
		}
		if c.polygons {
			q += "&polygons=true"
		}
		t.Run(q, func(t *testing.T) {
			status, fc, raw := f.get(t, "/isochrone/v1/walking/120.62,31.30?"+q)
			if status != 200 {
				t.Fatalf("%d %s", status, raw)
			}
			mins := strings.Split(c.minutes, ",")
			colors := strings.Split(c.colors, ",")
			feats := fc["features"].([]any)
			if len(feats) != len(mins) {
				t.Fatalf("%d features for %d contours", len(feats), len(mins))
			}
			prev := 1e9
			for _, ft := range feats {
				p := ft.(map[string]any)["properties"].(map[string]any)
				contour := p["contour"].(float64)
				if contour > prev {
					t.Fatalf("contour %v after %v: not largest first", contour, prev)
				}
				prev = contour
				i := slices.Index(mins, strconv.FormatFloat(contour, 'f', -1, 64))
				want := defaults[i]
				if c.colors != "" {
					want = "#" + colors[i]
				}
				if p["color"] != want {
					t.Fatalf("contour %v has colour %v, want %v", contour, p["color"], want)
				}
				typ := ft.(map[string]any)["geometry"].(map[string]any)["type"]
				if c.polygons != (typ != "LineString") || (c.polygons && p["fill"] != want) {
					t.Fatalf("polygons=%v gave %v with fill %v", c.polygons, typ, p["fill"])
				}
			}
		})
	}
}

func TestTownsTable(t *testing.T) {
	f := newFixture(t)
	status, body, _ := f.get(t, "/api/accessibility/towns?from=station:"+url.QueryEscape("苏州")+"&minutes=15,30,45&mode=drive")
	if status != 200 {
		t.Fatalf("%d %v", status, body)
	}
	units := body["units"].([]any)
	var n int
	f.pool.QueryRow(context.Background(), "SELECT count(*) FROM town_system").Scan(&n)
	if len(units) != n {
		t.Fatalf("%d units, the town system has %d", len(units), n)
	}
	first := units[0].(map[string]any)
	if first["minutes"] == nil || first["band"] == nil || first["band"].(float64) < first["minutes"].(float64) {
		t.Fatalf("first unit %v", first)
	}
}

// A planned line changes transit times only with ?scenario=planned, and
// the network picks the new line up without a restart.
func TestPlannedLineAndRebuild(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	kunshan := f.sql(t, "SELECT ST_X(seat) || ',' || ST_Y(seat) FROM town_system WHERE code = '320583'").(string)
	timeTo := func(scenario string) float64 {
		_, body, _ := f.get(t, "/api/accessibility/towns?from=station:"+url.QueryEscape("苏州")+"&minutes=120&mode=transit&scenario="+scenario)
		for _, u := range body["units"].([]any) {
			m := u.(map[string]any)
			if m["code"] == "320583" && m["minutes"] != nil {
				return m["minutes"].(float64)
			}
		}
		return 999
	}
	before := timeTo("existing")
	for _, sql := range []string{
		"INSERT INTO rail_stations (station_id, name, kind, status, lines, geom) VALUES ('test:ks', '昆山中心（规划）', 'intercity', 'planned', '{苏昆城际}', ST_SetSRID(ST_MakePoint(" + kunshan + "), 4326))",
		"INSERT INTO rail_lines (line_id, name, kind, status, schematic, avg_speed_kmh, headway_min, geom) SELECT 'test:sk', '苏昆城际', 'intercity', 'planned', true, 120, 10, ST_Multi(ST_MakeLine(a.geom, b.geom)) FROM rail_stations a, rail_stations b WHERE a.name = '苏州' AND b.station_id = 'test:ks'",
	} {
		if _, err := f.pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for timeTo("planned") >= before-5 {
		if time.Now().After(deadline) {
			t.Fatalf("the planned line was not picked up: %.1f min before, %.1f with it", before, timeTo("planned"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if existing := timeTo("existing"); existing != before {
		t.Fatalf("the existing scenario changed from %.1f to %.1f min", before, existing)
	}
	t.Logf("苏州站 → 昆山市: %.1f min today, %.1f with the planned line", before, timeTo("planned"))
}

// Concurrent requests share one network safely (run under -race).
func TestConcurrentRequests(t *testing.T) {
	f := newFixture(t)
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		go func(i int) {
			modes := []string{"walk", "bike", "drive", "transit"}
			resp, err := http.Get(fmt.Sprintf("%s/api/isochrones?lon=%f&lat=31.3&minutes=10,20&mode=%s", f.srv.URL, 120.55+float64(i)*0.01, modes[i%4]))
			if err == nil {
				if resp.StatusCode != 200 {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
				resp.Body.Close()
			}
			errs <- err
		}(i)
	}
	for i := 0; i < 16; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// The bundled old-city streets are the road network from the first start:
// a walk in the old city follows them ("roads"), one outside it stays an
// off-network estimate; the bundle loads them once, and never over a road
// network the database already has.
func TestBundledOldCityStreets(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for deadline := time.Now().Add(10 * time.Second); f.svc.RoadNetwork() == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no road network from the bundle")
		}
	}
	status, fc, raw := f.get(t, "/api/isochrones?lon=120.6195&lat=31.3110&minutes=15&mode=walk")
	if status != 200 || fc["metadata"].(map[string]any)["network"] != access.ModelRoads {
		t.Fatalf("old city walk: %d %.300s", status, raw)
	}
	code := f.sql(t, "SELECT code FROM town_system WHERE name_en = 'Mudu'").(string)
	_, fc, _ = f.get(t, "/api/isochrones?from=town:"+code+"&minutes=15&mode=walk")
	if fc["metadata"].(map[string]any)["network"] != access.ModelOffNetwork {
		t.Fatalf("Mudu walk: %v", fc["metadata"])
	}
	source := f.sql(t, "SELECT source FROM gusu_layers WHERE name = 'roads'").(string)
	version := f.sql(t, "SELECT version FROM gusu_layers WHERE name = 'roads'").(int64)
	if !strings.HasPrefix(source, "bundled") || f.sql(t, "SELECT value FROM gusu_meta WHERE key = 'bundle:roads'").(string) != source {
		t.Fatalf("roads source %q", source)
	}
	again, err := roads.ImportBundled(ctx, f.pool, data.Suzhou, "suzhou/roads_gusu.geojson", "bundled again")
	if err != nil || again != nil {
		t.Fatalf("a second bundle load imported: %+v %v", again, err)
	}
	// A database that had roads before the bundle carried streets keeps them.
	if _, err := f.pool.Exec(ctx, "DELETE FROM gusu_meta WHERE key = 'bundle:roads'"); err != nil {
		t.Fatal(err)
	}
	again, err = roads.ImportBundled(ctx, f.pool, data.Suzhou, "suzhou/roads_gusu.geojson", "bundled again")
	if err != nil || again != nil || f.sql(t, "SELECT version FROM gusu_layers WHERE name = 'roads'").(int64) != version {
		t.Fatalf("the bundle replaced an existing road network: %+v %v", again, err)
	}
	if f.sql(t, "SELECT count(*) FROM gusu_meta WHERE key = 'bundle:roads'").(int64) != 1 {
		t.Fatal("the decision to keep the network was not recorded")
	}
}
