package layers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/gusu-gis/gusu/data/dbtest"
	"github.com/gusu-gis/gusu/data/layers"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

type fixture struct {
	srv *httptest.Server
	reg *layers.Registry
	api *layers.API
}

func newFixture(t *testing.T) *fixture {
	db := dbtest.Open(t)
	reg := layers.NewRegistry(db.Pool, dbtest.Logger(t))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go reg.Listen(ctx)
	api := &layers.API{Registry: reg, Pool: db.Pool, Log: dbtest.Logger(t)}
	r := mux.NewRouter()
	api.Routes(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, reg: reg, api: api}
}

func get(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp, []byte(b.String())
}

func TestCatalogListsThePlanLayers(t *testing.T) {
	f := newFixture(t)
	resp, body := get(t, f.srv.URL+"/api/layers")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var cat struct {
		Layers []struct {
			Name         string            `json:"name"`
			FeatureCount int64             `json:"feature_count"`
			Bounds       []float64         `json:"bounds"`
			Version      int64             `json:"version"`
			MinZoom      *int              `json:"minzoom"`
			MaxZoom      *int              `json:"maxzoom"`
			GeometryType string            `json:"geometry_type"`
			Attribution  string            `json:"attribution"`
			Links        map[string]string `json:"links"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(body, &cat); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, l := range cat.Layers {
		seen[l.Name] = true
		if l.FeatureCount <= 0 || len(l.Bounds) != 4 || l.Version < 1 || l.MinZoom == nil || l.MaxZoom == nil || l.Attribution == "" || l.GeometryType == "" {
			t.Errorf("layer %s incomplete: %+v", l.Name, l)
		}
		if len(l.Bounds) == 4 && (l.Bounds[0] < 119 || l.Bounds[2] > 122 || l.Bounds[1] < 30 || l.Bounds[3] > 33) {
			t.Errorf("layer %s bounds %v are not around Suzhou", l.Name, l.Bounds)
		}
		if !strings.HasPrefix(l.Links["tilejson"], f.srv.URL+"/tiles/") {
			t.Errorf("layer %s tilejson link %q", l.Name, l.Links["tilejson"])
		}
	}
	for _, want := range []string{"town_system", "eco_redlines", "rail_lines", "rail_stations"} {
		if !seen[want] {
			t.Errorf("catalog lacks %s", want)
		}
	}
}

// The catalog honours a reverse proxy's forwarded scheme and host.
func TestCatalogLinksBehindProxy(t *testing.T) {
	f := newFixture(t)
	_, body := get(t, f.srv.URL+"/api/layers/rail_lines", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "maps.example.org")
	if !strings.Contains(string(body), `"tilejson":"https://maps.example.org/tiles/rail_lines.json"`) {
		t.Fatalf("links do not use the forwarded host: %s", body)
	}
}

func TestFeatures(t *testing.T) {
	f := newFixture(t)
	decode := func(body []byte) (*geojson.FeatureCollection, map[string]any) {
		t.Helper()
		fc, err := geojson.UnmarshalFeatureCollection(body)
		if err != nil {
			t.Fatalf("not a FeatureCollection: %v\n%s", err, body)
		}
		var raw map[string]any
		_ = json.Unmarshal(body, &raw)
		return fc, raw
	}

	t.Run("all towns and districts with properties", func(t *testing.T) {
		resp, body := get(t, f.srv.URL+"/api/layers/town_system/features")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/geo+json" {
			t.Fatalf("status %d type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		fc, _ := decode(body)
		if len(fc.Features) != 82 {
			t.Fatalf("%d features, want 82", len(fc.Features))
		}
		var kunshan *geojson.Feature
		for _, ft := range fc.Features {
			if ft.Properties["name_zh"] == "昆山市" {
				kunshan = ft
			}
		}
		if kunshan == nil || kunshan.Properties["level"] != "county_city" || kunshan.Properties["code"] != "320583" {
			t.Fatalf("昆山市 missing or wrong: %+v", kunshan)
		}
		if _, ok := kunshan.Geometry.(orb.MultiPolygon); !ok {
			t.Errorf("昆山市 geometry is %T", kunshan.Geometry)
		}
		if seat, ok := kunshan.Properties["seat"].(map[string]any); !ok || seat["type"] != "Point" {
			t.Errorf("昆山市 seat is %v, want a GeoJSON point", kunshan.Properties["seat"])
		}
	})

	t.Run("bbox keeps only intersecting features", func(t *testing.T) {
		// A box around Kunshan's centre: only stations inside it come back.
		box := orb.Bound{Min: orb.Point{120.90, 31.33}, Max: orb.Point{121.00, 31.42}}
		_, body := get(t, f.srv.URL+"/api/layers/rail_stations/features?bbox=120.90,31.33,121.00,31.42")
		fc, _ := decode(body)
		_, allBody := get(t, f.srv.URL+"/api/layers/rail_stations/features?limit=10000")
		all, _ := decode(allBody)
		want := 0
		for _, ft := range all.Features {
			if box.Contains(ft.Geometry.(orb.Point)) {
				want++
			}
		}
		if want == 0 || len(fc.Features) != want {
			t.Fatalf("bbox returned %d stations, %d of all lie in the box", len(fc.Features), want)
		}
	})

	t.Run("paging with limit, offset and a next link", func(t *testing.T) {
		_, body := get(t, f.srv.URL+"/api/layers/rail_stations/features?limit=100")
		page1, raw := decode(body)
		links := raw["links"].([]any)
		if len(page1.Features) != 100 || len(links) != 1 {
			t.Fatalf("page 1: %d features, links %v", len(page1.Features), links)
		}
		next := links[0].(map[string]any)["href"].(string)
		_, body2 := get(t, next)
		page2, _ := decode(body2)
		if len(page2.Features) != 100 || page2.Features[0].ID == page1.Features[99].ID {
			t.Fatalf("page 2 has %d features starting with id %v", len(page2.Features), page2.Features[0].ID)
		}
		_, body3 := get(t, f.srv.URL+"/api/layers/rail_stations/features?limit=100&offset=200")
		page3, raw3 := decode(body3)
		if len(page3.Features) != 47 || len(raw3["links"].([]any)) != 0 {
			t.Fatalf("last page: %d features, links %v", len(page3.Features), raw3["links"])
		}
	})
}

func TestBadRequestsGetJSONErrors(t *testing.T) {
	f := newFixture(t)
	cases := map[string]struct {
		path   string
		status int
		says   string
	}{
		"unknown layer → 404":              {"/api/layers/nope/features", 404, `unknown layer \"nope\"`},
		"unknown layer in catalog → 404":   {"/api/layers/nope", 404, "known: basemap_water, eco_redlines"},
		"bbox with 3 numbers → 400":        {"/api/layers/rail_lines/features?bbox=1,2,3", 400, "bbox needs 4"},
		"bbox with text → 400":             {"/api/layers/rail_lines/features?bbox=a,b,c,d", 400, "not a number"},
		"bbox min > max → 400":             {"/api/layers/rail_lines/features?bbox=121,31,120,32", 400, "min greater than max"},
		"bbox out of range → 400":          {"/api/layers/rail_lines/features?bbox=-200,0,0,10", 400, "outside"},
		"limit 0 → 400":                    {"/api/layers/rail_lines/features?limit=0", 400, "limit must be"},
		"limit over maximum → 400":         {"/api/layers/rail_lines/features?limit=10001", 400, "10000"},
		"negative offset → 400":            {"/api/layers/rail_lines/features?offset=-1", 400, "offset must be"},
		"unknown parameter → 400":          {"/api/layers/rail_lines/features?color=red", 400, `unknown parameter \"color\"`},
		"SQL in layer name → 404, no leak": {"/api/layers/x%27%3Bdrop%20table%20gusu_layers--/features", 404, "unknown layer"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			resp, body := get(t, f.srv.URL+c.path)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("content type %q", resp.Header.Get("Content-Type"))
			}
			var e map[string]any
			if err := json.Unmarshal(body, &e); err != nil || e["error"] == nil {
				t.Fatalf("body is not a JSON error: %s", body)
			}
			if !strings.Contains(string(body), c.says) {
				t.Errorf("body %s does not say %q", body, c.says)
			}
			if strings.Contains(string(body), "SQLSTATE") || strings.Contains(string(body), "SELECT") {
				t.Errorf("body leaks SQL: %s", body)
			}
		})
	}
}

// A change made directly in the database shows in the catalog at once:
// the registry listens for the version bump.
func TestCatalogReflectsChangesImmediately(t *testing.T) {
	f := newFixture(t)
	l, err := f.reg.Get(context.Background(), "rail_stations")
	if err != nil {
		t.Fatal(err)
	}
	v0 := l.Version
	if _, err := f.api.Pool.Exec(context.Background(), `INSERT INTO rail_stations (name, kind, geom) VALUES ('测试站', 'tram', 'SRID=4326;POINT(120.6 31.3)')`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, body := get(t, f.srv.URL+"/api/layers/rail_stations")
		var e struct {
			Version int64 `json:"version"`
			Count   int64 `json:"feature_count"`
		}
		_ = json.Unmarshal(body, &e)
		if e.Version > v0 && e.Count == 248 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("catalog still says version %d, %d features (was %d)", e.Version, e.Count, v0)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFeaturesQueryIsParameterised(t *testing.T) {
	l := &layers.Layer{Name: "x", Table: "my table", Columns: []layers.Column{{Name: "name", PGType: "text"}, {Name: "seat", PGType: "geometry"}}}
	b := orb.Bound{Min: orb.Point{1, 2}, Max: orb.Point{3, 4}}
	q := layers.FeaturesQuery(l, layers.FeatureParams{BBox: &b, Limit: 10, Offset: 20})
	want := `SELECT t.id, ST_AsGeoJSON(t.geom, 7), jsonb_strip_nulls(jsonb_build_object('name', t."name", 'seat', ST_AsGeoJSON(t."seat", 7)::jsonb))::text FROM "my table" AS t WHERE t.geom && ST_MakeEnvelope($1, $2, $3, $4, 4326) AND ST_Intersects(t.geom, ST_MakeEnvelope($1, $2, $3, $4, 4326)) ORDER BY t.id LIMIT $5 OFFSET $6`
	if q.SQL != want {
		t.Fatalf("SQL:\n%s\nwant:\n%s", q.SQL, want)
	}
	if len(q.Args) != 6 || q.Args[4] != 10 || q.Args[5] != 20 {
		t.Fatalf("args %v", q.Args)
	}
}
