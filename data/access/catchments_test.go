package access_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/xuri/excelize/v2"

	"github.com/gusu-gis/gusu/data/auth"
	"github.com/gusu-gis/gusu/data/dbtest"
	"github.com/gusu-gis/gusu/data/httpapi"
	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/data/upload"
)

func (f *fixture) post(t *testing.T, path string, body any) (int, map[string]any, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(f.srv.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var v map[string]any
	json.Unmarshal(raw, &v)
	return resp.StatusCode, v, raw
}

// makeLayer creates a layer from SQL (CREATE TABLE … AS …) and waits until
// the registry knows it.
func (f *fixture) makeLayer(t *testing.T, name, kind, create string) {
	t.Helper()
	ctx := context.Background()
	for _, q := range []string{create,
		"ALTER TABLE " + name + " ADD COLUMN id bigserial PRIMARY KEY",
		fmt.Sprintf("INSERT INTO gusu_layers (name, title, table_name, geometry_type) VALUES ('%s', '%s', '%s', '%s')", name, name, name, kind)} {
		if _, err := f.pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := f.reg.Get(ctx, name); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("layer %s never appeared", name)
		}
	}
}

func props(ft any) map[string]any { return ft.(map[string]any)["properties"].(map[string]any) }

func num(v any) float64 { x, _ := v.(float64); return x }

// From the metro stations on foot, with the default demand (the county-level
// units' census populations): one feature per band, nested, each area
// equal to PostGIS's, and the covered population equal to PostGIS's
// area-weighted apportionment of the same bands within 1% of the total.
func TestCatchmentsFromALayerWithDefaultDemand(t *testing.T) {
	f := newFixture(t)
	for _, mins := range [][]float64{{15}, {10, 20}, {5, 15, 30}} {
		status, fc, raw := f.post(t, "/api/catchments", map[string]any{
			"origins": map[string]any{"layer": "rail_stations", "where": map[string]any{"kind": "metro"}},
			"mode":    "walk", "minutes": mins})
		if status != 200 {
			t.Fatalf("%v: %d %s", mins, status, raw)
		}
		feats := fc["features"].([]any)
		if len(feats) != len(mins) {
			t.Fatalf("%v: %d features", mins, len(feats))
		}
		if fc["network"] != "off-network estimate" || !strings.HasPrefix(fc["note"].(string), "Off-network estimate") {
			t.Errorf("network %v note %v", fc["network"], fc["note"])
		}
		meta := fc["metadata"].(map[string]any)
		origins := meta["origins"].(map[string]any)
		metro := f.sql(t, "SELECT count(*) FROM rail_stations WHERE kind = 'metro'").(int64)
		if int64(num(origins["count"])) != metro || origins["layer"] != "rail_stations" {
			t.Fatalf("origins %v, %d metro stations", origins, metro)
		}
		total := float64(f.sql(t, "SELECT sum(population)::float8 FROM town_system WHERE GeometryType(geom) IN ('POLYGON', 'MULTIPOLYGON')").(float64))
		cov := fc["coverage"].([]any)
		if len(cov) != len(mins) {
			t.Fatalf("%d coverage rows", len(cov))
		}
		prev := -1.0
		for i, ft := range feats {
			p := props(ft)
			g := geometry(t, ft)
			if !f.sql(t, "SELECT ST_IsValid(ST_GeomFromGeoJSON($1))", g).(bool) {
				t.Fatalf("%v min band invalid", p["minutes"])
			}
			area := f.sql(t, "SELECT ST_Area(ST_GeomFromGeoJSON($1)::geography) / 1e6", g).(float64)
			if math.Abs(area-num(p["area_km2"])) > 0.01*area+0.01 {
				t.Errorf("%v min: area_km2 %v, PostGIS %.2f", p["minutes"], p["area_km2"], area)
			}
			if num(p["demand_total"]) != total {
				t.Errorf("demand_total %v, census total %v", p["demand_total"], total)
			}
			exact := f.sql(t, `SELECT sum(population * ST_Area(ST_Intersection(geom, b)::geography) / ST_Area(geom::geography))
				FROM town_system, ST_GeomFromGeoJSON($1) b WHERE GeometryType(geom) IN ('POLYGON', 'MULTIPOLYGON')`, g).(float64)
			if math.Abs(exact-num(p["demand_covered"])) > 0.01*total {
				t.Errorf("%v min: demand_covered %v, PostGIS apportionment %.0f (total %.0f)", p["minutes"], p["demand_covered"], exact, total)
			}
			if i > 0 && !f.sql(t, "SELECT ST_Covers(ST_GeomFromGeoJSON($1), ST_GeomFromGeoJSON($2))", geometry(t, feats[i-1]), g).(bool) {
				// features come largest first
				t.Errorf("band %v not inside the larger one", p["minutes"])
			}
			t.Logf("%v min: %.1f km², %.0f of %.0f people (PostGIS %.0f)", p["minutes"], num(p["area_km2"]), num(p["demand_covered"]), total, exact)
		}
		for _, c := range cov {
			c := c.(map[string]any)
			if num(c["covered"]) < prev || num(c["share"]) > 1 {
				t.Errorf("coverage not growing with the band: %v", cov)
			}
			prev = num(c["covered"])
		}
	}
	// Naming the town system as demand counts the same people: the towns
	// with a population lie in their district, whose census total has them.
	_, fc, _ := f.post(t, "/api/catchments", map[string]any{"origins": map[string]any{"layer": "rail_stations", "where": map[string]any{"kind": "metro"}},
		"mode": "walk", "minutes": []float64{15}, "demand": map[string]any{"layer": "town_system", "weight": "population"}})
	total := f.sql(t, "SELECT sum(population)::float8 FROM town_system WHERE GeometryType(geom) IN ('POLYGON', 'MULTIPOLYGON')").(float64)
	if got := num(fc["coverage"].([]any)[0].(map[string]any)["total"]); got != total {
		t.Errorf("explicit town_system demand totals %v, the census %v", got, total)
	}
}

// Points as demand and units to report by: each band's covered weight is
// exactly the weight of the demand points PostGIS finds inside the band
// (bands are unions of grid cells, points count by their cell); per unit
// it matches a spatial join with the unit polygons, to within the points
// on a unit's grid edge; the uncovered demand is the rest.
func TestCatchmentsCoverPointDemandPerUnit(t *testing.T) {
	f := newFixture(t)
	f.makeLayer(t, "homes", "point", `CREATE TABLE homes AS SELECT (10 + (i * 7919) % 90)::int AS households, (i % 3 = 0) AS old_town, geom
		FROM (SELECT row_number() OVER () AS i, geom FROM (SELECT (ST_Dump(ST_GeneratePoints(ST_Buffer(ST_SetSRID(ST_MakePoint(120.62, 31.31), 4326)::geography, 9000)::geometry, 3000, 7))).geom) g) n`)
	f.makeLayer(t, "facilities", "point", `CREATE TABLE facilities AS SELECT CASE WHEN i % 2 = 0 THEN 'clinic' ELSE 'school' END AS category, 'F' || i AS name, geom
		FROM (SELECT row_number() OVER () AS i, geom FROM (SELECT (ST_Dump(ST_GeneratePoints(ST_Buffer(ST_SetSRID(ST_MakePoint(120.62, 31.31), 4326)::geography, 7000)::geometry, 40, 11))).geom) g) d`)
	clinics := f.sql(t, "SELECT count(*) FROM facilities WHERE category = 'clinic'").(int64)
	for _, split := range []string{"none", "nearest"} {
		for _, mins := range [][]float64{{10}, {10, 20}, {5, 10, 15}} {
			status, fc, raw := f.post(t, "/api/catchments", map[string]any{
				"origins": map[string]any{"layer": "facilities", "where": map[string]any{"category": "clinic"}},
				"mode":    "walk", "minutes": mins, "split": split,
				"demand":   map[string]any{"layer": "homes", "weight": "households"},
				"group_by": "town_system"})
			if status != 200 {
				t.Fatalf("%s %v: %d %s", split, mins, status, raw)
			}
			if n := num(fc["metadata"].(map[string]any)["origins"].(map[string]any)["count"]); int64(n) != clinics {
				t.Fatalf("%v origins, %d clinics", n, clinics)
			}
			feats := fc["features"].([]any)
			for bi, c := range fc["coverage"].([]any) {
				c := c.(map[string]any)
				m := c["minutes"].(float64)
				if m != mins[bi] {
					t.Fatalf("coverage rows out of order: %v", fc["coverage"])
				}
				// The band's union: the feature itself, or the union of the origins' own areas.
				var parts []string
				sumArea := 0.0
				for _, ft := range feats {
					if num(props(ft)["minutes"]) == m {
						parts = append(parts, geometry(t, ft))
						sumArea += num(props(ft)["area_km2"])
					}
				}
				if split == "none" && len(parts) != 1 || split == "nearest" && int64(len(parts)) > clinics {
					t.Fatalf("%s: %d features for %v min", split, len(parts), m)
				}
				union := `(SELECT ST_Union(ST_GeomFromGeoJSON(j)) FROM unnest($1::text[]) j)`
				inside := f.sql(t, "SELECT coalesce(sum(households), 0)::float8 FROM homes WHERE ST_Intersects(geom, "+union+")", parts).(float64)
				total := f.sql(t, "SELECT sum(households)::float8 FROM homes").(float64)
				if math.Abs(num(c["covered"])-inside) > 0.5 || num(c["total"]) != total {
					t.Errorf("%s %v min: covered %v of %v; PostGIS %v of %v", split, m, c["covered"], c["total"], inside, total)
				}
				if split == "nearest" {
					// The origins' areas do not overlap: their union has the sum of their areas.
					ua := f.sql(t, "SELECT ST_Area("+union+"::geography) / 1e6", parts).(float64)
					if math.Abs(ua-sumArea) > 0.01*ua+0.02 {
						t.Errorf("%v min: origins' areas add to %.2f km², their union is %.2f", m, sumArea, ua)
					}
				}
				units := c["units"].([]any)
				if len(units) != 10 {
					t.Fatalf("%d units", len(units))
				}
				for _, u := range units {
					u := u.(map[string]any)
					want := f.sql(t, "SELECT coalesce(sum(h.households), 0)::float8 FROM homes h, town_system u WHERE u.id = $2 AND ST_Intersects(h.geom, u.geom) AND ST_Intersects(h.geom, "+union+")", parts, int64(num(u["id"]))).(float64)
					if math.Abs(num(u["covered"])-want) > 0.03*total {
						t.Errorf("%v min, unit %v: covered %v, PostGIS %v", m, u["name"], u["covered"], want)
					}
				}
				if bi == 0 {
					// Uncovered: the homes outside the smallest band.
					out := f.sql(t, "SELECT count(*) FROM homes WHERE NOT ST_Intersects(geom, "+union+")", parts).(int64)
					unc := fc["uncovered"].(map[string]any)["features"].([]any)
					if int64(len(unc)) != out {
						t.Errorf("%d uncovered features, PostGIS %d", len(unc), out)
					}
				}
			}
			if split == "nearest" {
				ids := map[float64]bool{}
				for _, ft := range feats {
					p := props(ft)
					if !strings.HasPrefix(fmt.Sprint(p["origin_name"]), "F") {
						t.Fatalf("origin feature without its facility's name: %v", p)
					}
					ids[num(p["origin_id"])] = true
					if f.sql(t, "SELECT category FROM facilities WHERE id = $1", int64(num(p["origin_id"]))).(string) != "clinic" {
						t.Fatalf("a school got a service area: %v", p)
					}
				}
				if len(ids) < 2 {
					t.Fatalf("%d origins own an area", len(ids))
				}
			}
		}
	}
	// The table: CSV and XLSX hold the same numbers as the JSON.
	body := map[string]any{"origins": map[string]any{"layer": "facilities", "where": map[string]any{"category": []string{"clinic", "school"}}},
		"mode": "cycle", "minutes": []float64{5, 10}, "demand": map[string]any{"layer": "homes", "weight": "households", "where": map[string]any{"old_town": true}}, "group_by": "town_system"}
	_, fc, _ := f.post(t, "/api/catchments", body)
	rows := [][]string{}
	for _, c := range fc["coverage"].([]any) {
		c := c.(map[string]any)
		rows = append(rows, []string{fmt.Sprint(c["minutes"]), "all", fmt.Sprint(c["covered"]), fmt.Sprint(c["total"])})
		for _, u := range c["units"].([]any) {
			u := u.(map[string]any)
			rows = append(rows, []string{fmt.Sprint(c["minutes"]), fmt.Sprint(u["name"]), fmt.Sprint(u["covered"]), fmt.Sprint(u["total"])})
		}
	}
	oldTown := f.sql(t, "SELECT sum(households)::float8 FROM homes WHERE old_town").(float64)
	if num(fc["coverage"].([]any)[0].(map[string]any)["total"]) != oldTown {
		t.Fatalf("where on demand: total %v, want %v", fc["coverage"].([]any)[0].(map[string]any)["total"], oldTown)
	}
	b, _ := json.Marshal(body)
	resp, err := http.Post(f.srv.URL+"/api/catchments?format=csv", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("csv: %v %s", err, resp.Header.Get("Content-Type"))
	}
	if strings.Join(recs[0], ",") != "category,minutes,unit_id,unit_code,unit_name,covered,total,share" || len(recs)-1 != len(rows) {
		t.Fatalf("csv header %v, %d rows, want %d", recs[0], len(recs)-1, len(rows))
	}
	for i, r := range recs[1:] {
		got := []string{r[1], r[4], r[5], r[6]}
		for k := range got {
			a, _ := strconv.ParseFloat(got[k], 64)
			e, _ := strconv.ParseFloat(rows[i][k], 64)
			if got[k] != rows[i][k] && a != e {
				t.Fatalf("csv row %d: %v, json %v", i, got, rows[i])
			}
		}
	}
	resp, err = http.Post(f.srv.URL+"/api/catchments?format=xlsx", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	x, err := excelize.OpenReader(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("xlsx: %v", err)
	}
	xr, _ := x.GetRows("coverage")
	if len(xr)-1 != len(rows) {
		t.Fatalf("xlsx %d rows, want %d", len(xr)-1, len(rows))
	}
	for i, r := range xr[1:] {
		a, _ := strconv.ParseFloat(r[5], 64)
		e, _ := strconv.ParseFloat(rows[i][2], 64)
		if math.Abs(a-e) > 1e-6 || r[4] != rows[i][1] {
			t.Fatalf("xlsx row %d: %v, json %v", i, r, rows[i])
		}
	}
	if v, _ := x.GetCellValue("about", "A1"); v != "network" {
		t.Errorf("about sheet: %q", v)
	}
	// Accept: text/csv is the same as format=csv.
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/api/catchments", bytes.NewReader(b))
	req.Header.Set("Accept", "text/csv")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(first), "category,minutes,unit_id") {
		t.Fatalf("Accept: text/csv gave %.80s", first)
	}
}

// Points as origins: one in Taihu is reported and left out; 1,000 points
// answer like the few that reach anything; transit with the planned
// scenario reaches at least as far as the existing network.
func TestCatchmentsFromPoints(t *testing.T) {
	f := newFixture(t)
	pts := [][]float64{{120.62, 31.31}, {120.25, 31.15}, {120.75, 31.30}}
	status, fc, raw := f.post(t, "/api/catchments", map[string]any{"origins": map[string]any{"points": pts}, "mode": "walk", "minutes": []float64{15}, "split": "nearest"})
	if status != 200 {
		t.Fatalf("%d %s", status, raw)
	}
	o := fc["metadata"].(map[string]any)["origins"].(map[string]any)
	unplaced := o["unplaced"].([]any)
	if num(o["placed"]) != 2 || len(unplaced) != 1 || num(unplaced[0].(map[string]any)["id"]) != 1 {
		t.Fatalf("origins %v", o)
	}
	for _, ft := range fc["features"].([]any) {
		if id := num(props(ft)["origin_id"]); id == 1 {
			t.Fatal("the origin in the lake got an area")
		}
	}
	area := func(fc map[string]any) float64 { return num(props(fc["features"].([]any)[0])["area_km2"]) }
	var existing, planned map[string]any
	for _, sc := range []string{"existing", "planned"} {
		status, fc, raw := f.post(t, "/api/catchments", map[string]any{"origins": map[string]any{"points": pts[:1]}, "mode": "transit", "minutes": []float64{30}, "scenario": sc})
		if status != 200 {
			t.Fatalf("%s: %d %s", sc, status, raw)
		}
		if sc == "existing" {
			existing = fc
		} else {
			planned = fc
		}
	}
	if area(planned) < area(existing) {
		t.Errorf("planned %v km² < existing %v km²", area(planned), area(existing))
	}
	many := make([][]float64, 1000)
	for i := range many {
		many[i] = []float64{120.55 + float64(i%40)*0.004, 31.25 + float64(i/40)*0.004}
	}
	status, fc, raw = f.post(t, "/api/catchments", map[string]any{"origins": map[string]any{"points": many}, "mode": "walk", "minutes": []float64{5, 10, 15}})
	if status != 200 {
		t.Fatalf("1000 origins: %d %.200s", status, raw)
	}
	t.Logf("1,000 origins, 3 bands: %v ms, union %v km²", fc["metadata"].(map[string]any)["compute_ms"], area(fc))
}

func TestCatchmentsBadRequests(t *testing.T) {
	f := newFixture(t)
	f.makeLayer(t, "secret_sites", "point", `CREATE TABLE secret_sites AS SELECT 'x' AS label, ST_SetSRID(ST_MakePoint(120.62, 31.31), 4326) AS geom`)
	if _, err := f.pool.Exec(context.Background(), "UPDATE gusu_layers SET private = true WHERE name = 'secret_sites'"); err != nil {
		t.Fatal(err)
	}
	f.svc.CanSeePrivate = func(r *http.Request) bool { return r.Header.Get("X-Test") == "admin" }
	time.Sleep(200 * time.Millisecond) // the registry hears of the change
	st := map[string]any{"layer": "rail_stations"}
	cases := map[string]struct {
		body   any
		status int
		says   string
	}{
		"no origins":           {map[string]any{"mode": "walk", "minutes": []int{15}}, 400, "origins is required"},
		"no mode":              {map[string]any{"origins": st, "minutes": []int{15}}, 400, "mode is required"},
		"no minutes":           {map[string]any{"origins": st, "mode": "walk"}, 400, "minutes is required"},
		"bad mode":             {map[string]any{"origins": st, "mode": "fly", "minutes": []int{15}}, 400, "unknown mode"},
		"bad split":            {map[string]any{"origins": st, "mode": "walk", "minutes": []int{15}, "split": "voronoi"}, 400, "split must be"},
		"negative band":        {map[string]any{"origins": st, "mode": "walk", "minutes": []int{-5}}, 400, "positive"},
		"eleven bands":         {map[string]any{"origins": st, "mode": "walk", "minutes": []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}}, 400, "at most 10"},
		"unknown field":        {map[string]any{"origins": st, "mode": "walk", "minutes": []int{15}, "radius": 3}, 400, "unknown field"},
		"layer and points":     {map[string]any{"origins": map[string]any{"layer": "rail_stations", "points": [][]float64{{120, 31}}}, "mode": "walk", "minutes": []int{15}}, 400, "not both"},
		"bad point":            {map[string]any{"origins": map[string]any{"points": [][]float64{{120}}}, "mode": "walk", "minutes": []int{15}}, 400, "[lon, lat]"},
		"point off the globe":  {map[string]any{"origins": map[string]any{"points": [][]float64{{200, 31}}}, "mode": "walk", "minutes": []int{15}}, 400, "longitude/latitude"},
		"nothing matches":      {map[string]any{"origins": map[string]any{"layer": "rail_stations", "where": map[string]any{"kind": "zeppelin"}}, "mode": "walk", "minutes": []int{15}}, 400, "no feature"},
		"all in the lake":      {map[string]any{"origins": map[string]any{"points": [][]float64{{120.25, 31.15}}}, "mode": "walk", "minutes": []int{15}}, 400, "none of the 1 origins"},
		"unknown layer":        {map[string]any{"origins": map[string]any{"layer": "nope"}, "mode": "walk", "minutes": []int{15}}, 404, "no layer named"},
		"private layer":        {map[string]any{"origins": map[string]any{"layer": "secret_sites"}, "mode": "walk", "minutes": []int{15}}, 404, "no layer named"},
		"unknown where attr":   {map[string]any{"origins": map[string]any{"layer": "rail_stations", "where": map[string]any{"colour": "red"}}, "mode": "walk", "minutes": []int{15}}, 404, "no attribute"},
		"unknown demand layer": {map[string]any{"origins": st, "mode": "walk", "minutes": []int{15}, "demand": map[string]any{"layer": "nope", "weight": "x"}}, 404, "no layer named"},
		"unknown weight":       {map[string]any{"origins": st, "mode": "walk", "minutes": []int{15}, "demand": map[string]any{"layer": "town_system", "weight": "households"}}, 404, "no attribute"},
		"text weight":          {map[string]any{"origins": st, "mode": "walk", "minutes": []int{15}, "demand": map[string]any{"layer": "town_system", "weight": "name_zh"}}, 400, "not a number"},
		"no weight":            {map[string]any{"origins": st, "mode": "walk", "minutes": []int{15}, "demand": map[string]any{"layer": "town_system"}}, 400, "weight is required"},
		"points as units":      {map[string]any{"origins": st, "mode": "walk", "minutes": []int{15}, "group_by": "rail_stations"}, 400, "no polygons"},
		"unknown group layer":  {map[string]any{"origins": st, "mode": "walk", "minutes": []int{15}, "group_by": "nope"}, 404, "no layer named"},
		"save_as a bad name":   {map[string]any{"origins": st, "mode": "walk", "minutes": []int{15}, "save_as": "X Y"}, 400, "layer name"},
		"not JSON":             {"{", 400, "must be JSON"},
	}
	for name, c := range cases {
		var status int
		var v map[string]any
		var raw []byte
		if s, ok := c.body.(string); ok {
			resp, err := http.Post(f.srv.URL+"/api/catchments", "application/json", strings.NewReader(s))
			if err != nil {
				t.Fatal(err)
			}
			raw, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
			json.Unmarshal(raw, &v)
		} else {
			status, v, raw = f.post(t, "/api/catchments", c.body)
		}
		if status != c.status || !strings.Contains(fmt.Sprint(v["error"]), c.says) {
			t.Errorf("%s: %d %s, want %d saying %q", name, status, raw, c.status, c.says)
		}
	}
	if status, _, raw := f.post(t, "/api/catchments?format=pdf", map[string]any{"origins": st, "mode": "walk", "minutes": []int{15}}); status != 400 {
		t.Errorf("format=pdf: %d %s", status, raw)
	}
	// An admin sees the private layer.
	b, _ := json.Marshal(map[string]any{"origins": map[string]any{"layer": "secret_sites"}, "mode": "walk", "minutes": []int{15}})
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/api/catchments", bytes.NewReader(b))
	req.Header.Set("X-Test", "admin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("admin on a private layer: %d", resp.StatusCode)
	}
}

// Presets: the definitions file lists each circle with its source; a
// preset fills mode and bands, and with origins.category reports each
// facility category at its own band, from the facilities named by it.
func TestCatchmentPresets(t *testing.T) {
	f := newFixture(t)
	status, lc, raw := f.get(t, "/api/catchments/presets")
	if status != 200 {
		t.Fatalf("%d %s", status, raw)
	}
	seen := map[string]bool{}
	for _, p := range lc["presets"].([]any) {
		p := p.(map[string]any)
		id := p["id"].(string)
		if seen[id] || p["source"] == "" || p["distance_note"] == "" || len(p["minutes"].([]any)) == 0 {
			t.Errorf("preset %v", p)
		}
		seen[id] = true
		top := 0.0
		for _, m := range p["minutes"].([]any) {
			top = math.Max(top, m.(float64))
		}
		for _, c := range p["categories"].([]any) {
			c := c.(map[string]any)
			if m := c["minutes"].(float64); m <= 0 || m > top || len(c["aliases"].([]any)) == 0 {
				t.Errorf("%s: category %v", id, c)
			}
		}
	}
	for _, want := range []string{"gb50180_5min", "gb50180_10min", "gb50180_15min", "tdt1062_community", "suzhou_town", "suzhou_city_45min"} {
		if !seen[want] {
			t.Errorf("no preset %s", want)
		}
	}

	f.makeLayer(t, "homes", "point", `CREATE TABLE homes AS SELECT 1 + (i % 5)::int AS people, geom
		FROM (SELECT row_number() OVER () AS i, geom FROM (SELECT (ST_Dump(ST_GeneratePoints(ST_Buffer(ST_SetSRID(ST_MakePoint(120.62, 31.31), 4326)::geography, 6000)::geometry, 2000, 3))).geom) g) n`)
	f.makeLayer(t, "amenities", "point", `CREATE TABLE amenities AS SELECT (ARRAY['小学', 'primary_school', '幼儿园', '网吧'])[1 + i % 4] AS kind, geom
		FROM (SELECT row_number() OVER () AS i, geom FROM (SELECT (ST_Dump(ST_GeneratePoints(ST_Buffer(ST_SetSRID(ST_MakePoint(120.62, 31.31), 4326)::geography, 5000)::geometry, 24, 5))).geom) g) n`)
	status, fc, raw := f.post(t, "/api/catchments", map[string]any{"preset": "gb50180_15min",
		"origins": map[string]any{"layer": "amenities", "category": "kind"}, "demand": map[string]any{"layer": "homes", "weight": "people"}})
	if status != 200 {
		t.Fatalf("%d %s", status, raw)
	}
	meta := fc["metadata"].(map[string]any)
	if meta["mode"] != "walk" || meta["preset"].(map[string]any)["id"] != "gb50180_15min" || len(fc["coverage"].([]any)) != 3 {
		t.Fatalf("preset not applied: mode %v preset %v coverage %v", meta["mode"], meta["preset"], fc["coverage"])
	}
	cats := fc["categories"].([]any)
	if len(cats) != 8 {
		t.Fatalf("%d categories", len(cats))
	}
	for _, c := range cats {
		c := c.(map[string]any)
		id := c["category"].(string)
		var want int64
		switch id {
		case "primary_school":
			want = f.sql(t, "SELECT count(*) FROM amenities WHERE kind IN ('小学', 'primary_school')").(int64)
		case "kindergarten":
			want = f.sql(t, "SELECT count(*) FROM amenities WHERE kind = '幼儿园'").(int64)
		}
		if int64(num(c["origins"])) != want {
			t.Fatalf("%s: %v origins, want %d", id, c["origins"], want)
		}
		if want == 0 {
			if c["note"] == nil || len(c["coverage"].([]any)) != 0 {
				t.Errorf("%s without facilities: %v", id, c)
			}
			continue
		}
		// The category's band is its own, and its coverage is what PostGIS
		// finds inside the category's feature.
		var band string
		for _, ft := range fc["features"].([]any) {
			if props(ft)["category"] == id {
				band = geometry(t, ft)
				if num(props(ft)["minutes"]) != num(c["minutes"]) {
					t.Fatalf("%s: feature of %v min, category band %v", id, props(ft)["minutes"], c["minutes"])
				}
			}
		}
		cov := c["coverage"].([]any)[0].(map[string]any)
		inside := f.sql(t, "SELECT coalesce(sum(people), 0)::float8 FROM homes WHERE ST_Intersects(geom, ST_GeomFromGeoJSON($1))", band).(float64)
		if band == "" || math.Abs(num(cov["covered"])-inside) > 0.5 {
			t.Errorf("%s: covered %v, PostGIS %v", id, cov["covered"], inside)
		}
	}
	for name, c := range map[string]struct {
		body   map[string]any
		status int
		says   string
	}{
		"town circles need a mode": {map[string]any{"preset": "suzhou_town", "origins": map[string]any{"layer": "amenities"}}, 400, "does not fix a mode"},
		"unknown preset":           {map[string]any{"preset": "20min", "origins": map[string]any{"layer": "amenities"}}, 404, "no preset"},
		"category without preset":  {map[string]any{"origins": map[string]any{"layer": "amenities", "category": "kind"}, "mode": "walk", "minutes": []int{5}}, 400, "give preset"},
		"unknown category attr":    {map[string]any{"preset": "gb50180_5min", "origins": map[string]any{"layer": "amenities", "category": "type"}}, 404, "no attribute"},
	} {
		status, v, raw := f.post(t, "/api/catchments", c.body)
		if status != c.status || !strings.Contains(fmt.Sprint(v["error"]), c.says) {
			t.Errorf("%s: %d %s", name, status, raw)
		}
	}
	status, fc, raw = f.post(t, "/api/catchments", map[string]any{"preset": "suzhou_town", "mode": "cycle", "origins": map[string]any{"layer": "amenities"}})
	if status != 200 || len(fc["features"].([]any)) != 3 {
		t.Fatalf("town circles by bike: %d %.300s", status, raw)
	}
}

// Existing against planned: with a planned line from Suzhou station to
// Kunshan, a transit catchment from the station gains area around the new
// stop; the comparison's coverages equal the two scenarios asked for
// separately, and its gained area equals PostGIS's difference of their bands.
func TestCatchmentsCompareScenarios(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	kunshan := f.sql(t, "SELECT ST_X(seat) || ',' || ST_Y(seat) FROM town_system WHERE code = '320583'").(string)
	station := f.sql(t, "SELECT json_build_array(ST_X(geom), ST_Y(geom))::text FROM rail_stations WHERE name = '苏州'").(string)
	// The bundle's one planned line has no stations on it: the comparison says so.
	if _, fc, _ := f.post(t, "/api/catchments", map[string]any{"origins": map[string]any{"points": [][]float64{{120.62, 31.33}}}, "mode": "transit", "minutes": []float64{30},
		"compare": map[string]any{"scenario": "planned"}}); !strings.Contains(fmt.Sprint(fc["comparison"].(map[string]any)["note"]), "no planned rail line") {
		t.Fatalf("comparison note: %v", fc["comparison"])
	}
	for _, sql := range []string{
		"INSERT INTO rail_stations (station_id, name, kind, status, lines, geom) VALUES ('test:ks', '昆山中心（规划）', 'intercity', 'planned', '{苏昆城际}', ST_SetSRID(ST_MakePoint(" + kunshan + "), 4326))",
		"INSERT INTO rail_lines (line_id, name, kind, status, schematic, avg_speed_kmh, headway_min, geom) SELECT 'test:sk', '苏昆城际', 'intercity', 'planned', true, 120, 10, ST_Multi(ST_MakeLine(a.geom, b.geom)) FROM rail_stations a, rail_stations b WHERE a.name = '苏州' AND b.station_id = 'test:ks'",
	} {
		if _, err := f.pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	var at []float64
	json.Unmarshal([]byte(station), &at)
	body := func(scenario string, compare bool) map[string]any {
		b := map[string]any{"origins": map[string]any{"points": [][]float64{at}}, "mode": "transit", "minutes": []float64{20, 40}, "scenario": scenario, "group_by": "town_system"}
		if compare {
			b["compare"] = map[string]any{"scenario": "planned"}
		}
		return b
	}
	var fc map[string]any
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var status int
		var raw []byte
		status, fc, raw = f.post(t, "/api/catchments", body("existing", true))
		if status != 200 {
			t.Fatalf("%d %s", status, raw)
		}
		if num(fc["comparison"].(map[string]any)["bands"].([]any)[1].(map[string]any)["gained_km2"]) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the planned line gained nothing: %v", fc["comparison"])
		}
	}
	_, existing, _ := f.post(t, "/api/catchments", body("existing", false))
	_, planned, _ := f.post(t, "/api/catchments", body("planned", false))
	cmp := fc["comparison"].(map[string]any)
	if cmp["scenario"] != "existing" || cmp["compared_scenario"] != "planned" || !strings.Contains(fmt.Sprint(cmp["note"]), "planned line sections") {
		t.Fatalf("comparison %v", cmp)
	}
	bandOf := func(fc map[string]any, m float64) string {
		for _, ft := range fc["features"].([]any) {
			if num(props(ft)["minutes"]) == m {
				return geometry(t, ft)
			}
		}
		t.Fatalf("no %v-minute band", m)
		return ""
	}
	for bi, b := range cmp["bands"].([]any) {
		b := b.(map[string]any)
		m := num(b["minutes"])
		e := existing["coverage"].([]any)[bi].(map[string]any)
		p := planned["coverage"].([]any)[bi].(map[string]any)
		if num(b["covered"]) != num(e["covered"]) || num(b["covered_compared"]) != num(p["covered"]) || math.Abs(num(b["difference"])-(num(p["covered"])-num(e["covered"]))) > 0.02 {
			t.Errorf("%v min: comparison %v; existing %v, planned %v", m, b, e["covered"], p["covered"])
		}
		for k, u := range b["units"].([]any) {
			u := u.(map[string]any)
			if num(u["covered_compared"]) != num(p["units"].([]any)[k].(map[string]any)["covered"]) {
				t.Errorf("%v min, unit %v: %v", m, u["name"], u)
			}
		}
		gained := f.sql(t, "SELECT ST_Area(ST_Difference(ST_GeomFromGeoJSON($1), ST_GeomFromGeoJSON($2))::geography) / 1e6", bandOf(planned, m), bandOf(existing, m)).(float64)
		if math.Abs(gained-num(b["gained_km2"])) > 0.01*gained+0.05 {
			t.Errorf("%v min: gained %v km², PostGIS difference %.2f", m, b["gained_km2"], gained)
		}
		t.Logf("%v min: %v → %v people (+%v), gained %v km² (PostGIS %.2f), lost %v", m, b["covered"], b["covered_compared"], b["difference"], b["gained_km2"], gained, b["lost_km2"])
	}
	g := cmp["gained"].(map[string]any)["features"].([]any)
	if len(g) == 0 || !f.sql(t, "SELECT ST_DWithin(ST_GeomFromGeoJSON($1), geom, 0.003) FROM rail_stations WHERE station_id = 'test:ks'", geometry(t, g[len(g)-1])).(bool) {
		t.Errorf("the gained area of the largest band is not around the new stop")
	}
	if status, _, raw := f.post(t, "/api/catchments", map[string]any{"origins": map[string]any{"points": [][]float64{at}}, "mode": "transit", "minutes": []float64{20}, "compare": map[string]any{"scenario": "later"}}); status != 400 {
		t.Errorf("bad compare scenario: %d %s", status, raw)
	}
}

// save_as keeps a run as a versioned layer (editors only; never over a
// layer staff maintain); a change to a layer the run read marks it stale,
// and recomputing makes a new version only then.
func TestCatchmentsSaveAsLayer(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.svc.Auth = auth.NewAuthenticator(f.pool)
	editor, err := auth.Create(ctx, f.pool, "planner", auth.Editor)
	if err != nil {
		t.Fatal(err)
	}
	viewer, err := auth.Create(ctx, f.pool, "guest", auth.Viewer)
	if err != nil {
		t.Fatal(err)
	}
	post := func(path, token string, body any) (int, map[string]any, []byte) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, bytes.NewReader(b))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var v map[string]any
		json.Unmarshal(raw, &v)
		return resp.StatusCode, v, raw
	}
	body := map[string]any{"origins": map[string]any{"layer": "rail_stations", "where": map[string]any{"kind": "metro"}}, "mode": "walk", "minutes": []int{10, 20}, "save_as": "metro_walk"}
	if status, _, raw := post("/api/catchments", "", body); status != 401 {
		t.Fatalf("anonymous save: %d %s", status, raw)
	}
	if status, _, raw := post("/api/catchments", viewer, body); status != 403 {
		t.Fatalf("viewer save: %d %s", status, raw)
	}
	status, fc, raw := post("/api/catchments", editor, body)
	if status != 200 {
		t.Fatalf("editor save: %d %s", status, raw)
	}
	saved := fc["metadata"].(map[string]any)["saved"].(map[string]any)
	l := mustLayer(t, f, "metro_walk")
	if num(saved["version"]) != float64(l.Version) || num(saved["features"]) != 2 {
		t.Fatalf("saved %v, layer version %d", saved, l.Version)
	}
	// The layer holds the bands as the response has them.
	area := f.sql(t, fmt.Sprintf(`SELECT sum(ST_Area(geom::geography)) / 1e6 FROM %q WHERE minutes = 20`, l.Table)).(float64)
	if want := num(props(fc["features"].([]any)[0])["area_km2"]); math.Abs(area-want) > 0.01*want {
		t.Fatalf("saved 20-minute band %.2f km², response %v", area, want)
	}
	if status, _, raw := post("/api/catchments", editor, map[string]any{"origins": map[string]any{"layer": "rail_stations"}, "mode": "walk", "minutes": []int{10}, "save_as": "town_system"}); status != 409 {
		t.Fatalf("save over the town system: %d %s", status, raw)
	}
	runs := func() []any {
		_, v, _ := f.get(t, "/api/catchments/saved")
		return v["runs"].([]any)
	}
	if r := runs(); len(r) != 1 || r[0].(map[string]any)["stale"] != false {
		t.Fatalf("saved runs %v", r)
	}
	if status, v, _ := post("/api/catchments/saved/metro_walk/recompute", editor, nil); status != 200 || v["recomputed"] != false {
		t.Fatalf("recompute of a fresh run: %d %v", status, v)
	}
	// A new metro station: the run is stale; recomputing saves a new version.
	if _, err := f.pool.Exec(ctx, `INSERT INTO rail_stations (station_id, name, kind, geom) VALUES ('test:new', '新站', 'metro', 'SRID=4326;POINT(120.70 31.20)')`); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); runs()[0].(map[string]any)["stale"] != true; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the run did not become stale: %v", runs())
		}
	}
	if _, ok := runs()[0].(map[string]any)["changed"].(map[string]any)["rail_stations"]; !ok {
		t.Fatalf("changed inputs: %v", runs()[0])
	}
	if status, v, raw := post("/api/catchments/saved/metro_walk/recompute", viewer, nil); status != 403 {
		t.Fatalf("viewer recompute: %d %v %s", status, v, raw)
	}
	status, v, raw := post("/api/catchments/saved/metro_walk/recompute", editor, nil)
	if status != 200 || v["recomputed"] != true || num(v["version"]) <= num(saved["version"]) {
		t.Fatalf("recompute: %d %s", status, raw)
	}
	for deadline := time.Now().Add(5 * time.Second); mustLayer(t, f, "metro_walk").Version != int64(num(v["version"])); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the registry did not see the recomputed version")
		}
	}
	if n := f.sql(t, fmt.Sprintf(`SELECT count(*) FROM %q WHERE ST_Intersects(geom, 'SRID=4326;POINT(120.70 31.20)')`, mustLayer(t, f, "metro_walk").Table)).(int64); n == 0 {
		t.Fatal("the recomputed layer does not reach the new station")
	}
	if r := runs(); r[0].(map[string]any)["stale"] != false {
		t.Fatalf("still stale after recompute: %v", r)
	}
	if status, _, _ := post("/api/catchments/saved/nothing/recompute", editor, nil); status != 404 {
		t.Fatalf("unknown run: %d", status)
	}
}

func mustLayer(t *testing.T, f *fixture, name string) *layers.Layer {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		l, err := f.reg.Get(context.Background(), name)
		if err == nil {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
}

// Before and after an upload: the comparison measures the same request
// against the facility layer (or the demand layer) as it was at an earlier
// version; what the new facilities add equals PostGIS's difference of the
// bands from the two versions' points, and the earlier demand's total is
// the earlier table's.
func TestCatchmentsCompareLayerVersions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name string, feats []string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(`{"type":"FeatureCollection","features":[`+strings.Join(feats, ",")+`]}`), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	point := func(lon, lat float64, props string) string {
		return fmt.Sprintf(`{"type":"Feature","properties":{%s},"geometry":{"type":"Point","coordinates":[%g,%g]}}`, props, lon, lat)
	}
	for _, l := range []string{"clinics", "blocks"} {
		if err := upload.CreateLayer(ctx, f.pool, upload.LayerSpec{Name: l, Kind: "other"}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	up := func(layer, path string) int64 {
		rep, err := upload.Run(ctx, f.pool, path, upload.Options{Layer: layer, FileName: "x.geojson", User: "test"})
		if err != nil {
			t.Fatal(err)
		}
		return int64(rep.Version)
	}
	// Away from the old city's streets, so both versions are answered on the same network.
	before := []string{point(120.90, 31.38, `"name":"a"`), point(120.93, 31.40, `"name":"b"`)}
	v1 := up("clinics", write("c1.geojson", before))
	up("clinics", write("c2.geojson", append(before, point(120.96, 31.36, `"name":"c"`), point(120.88, 31.42, `"name":"d"`))))
	var blocks1, blocks2 []string
	for i := 0; i < 40; i++ {
		lon, lat := 120.87+float64(i%8)*0.015, 31.34+float64(i/8)*0.02
		blocks1 = append(blocks1, point(lon, lat, fmt.Sprintf(`"people":%d`, 100+i)))
		blocks2 = append(blocks2, point(lon, lat, fmt.Sprintf(`"people":%d`, 300+2*i)))
	}
	d1 := up("blocks", write("b1.geojson", blocks1))
	up("blocks", write("b2.geojson", blocks2))
	mustLayer(t, f, "blocks")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if l, _ := f.reg.Get(ctx, "blocks"); l != nil && l.Version > d1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the registry did not see the second upload")
		}
	}
	body := map[string]any{"origins": map[string]any{"layer": "clinics"}, "mode": "walk", "minutes": []float64{10, 20},
		"demand": map[string]any{"layer": "blocks", "weight": "people"}, "compare": map[string]any{"origins_version": v1, "demand_version": d1}}
	status, fc, raw := f.post(t, "/api/catchments", body)
	if status != 200 {
		t.Fatalf("%d %s", status, raw)
	}
	cmp := fc["comparison"].(map[string]any)
	if !strings.Contains(cmp["compared_scenario"].(string), fmt.Sprintf("origins clinics version %d", v1)) {
		t.Fatalf("compared %v", cmp["compared_scenario"])
	}
	old := func(points []string) map[string]any {
		var pts [][]float64
		for _, p := range points {
			var ft struct {
				Geometry struct{ Coordinates []float64 }
			}
			json.Unmarshal([]byte(p), &ft)
			pts = append(pts, ft.Geometry.Coordinates)
		}
		_, v, _ := f.post(t, "/api/catchments", map[string]any{"origins": map[string]any{"points": pts}, "mode": "walk", "minutes": []float64{10, 20}})
		return v
	}(before)
	oldTotal := f.sql(t, "SELECT sum(people)::float8 FROM "+pgxIdent(t, f, "blocks", d1)).(float64)
	for bi, b := range cmp["bands"].([]any) {
		b := b.(map[string]any)
		m := num(b["minutes"])
		var now, then string
		for _, ft := range fc["features"].([]any) {
			if num(props(ft)["minutes"]) == m {
				now = geometry(t, ft)
			}
		}
		for _, ft := range old["features"].([]any) {
			if num(props(ft)["minutes"]) == m {
				then = geometry(t, ft)
			}
		}
		lost := f.sql(t, "SELECT ST_Area(ST_Difference(ST_GeomFromGeoJSON($1), ST_GeomFromGeoJSON($2))::geography) / 1e6", now, then).(float64)
		if lost <= 0 || math.Abs(lost-num(b["lost_km2"])) > 0.01*lost+0.05 || num(b["gained_km2"]) != 0 {
			t.Errorf("%v min: lost %v km² (PostGIS %.2f), gained %v", m, b["lost_km2"], lost, b["gained_km2"])
		}
		if num(b["total_compared"]) != oldTotal || num(b["total"]) != num(fc["coverage"].([]any)[bi].(map[string]any)["total"]) {
			t.Errorf("%v min: totals %v / %v, the earlier demand holds %v", m, b["total"], b["total_compared"], oldTotal)
		}
	}
	if status, _, raw := f.post(t, "/api/catchments", map[string]any{"origins": map[string]any{"layer": "clinics"}, "mode": "walk", "minutes": []float64{10},
		"compare": map[string]any{"origins_version": 99}}); status != 404 {
		t.Errorf("unknown version: %d %s", status, raw)
	}
	if status, _, raw := f.post(t, "/api/catchments", map[string]any{"origins": map[string]any{"layer": "clinics"}, "mode": "walk", "minutes": []float64{10},
		"compare": map[string]any{}}); status != 400 {
		t.Errorf("empty compare: %d %s", status, raw)
	}
}

// pgxIdent is the quoted table of layer name at version v.
func pgxIdent(t *testing.T, f *fixture, name string, v int64) string {
	t.Helper()
	l, err := f.reg.AtVersion(context.Background(), name, v)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%q", l.Table)
}

// Catchments, matrices and opportunities have slots of their own: while
// they are all taken, another such request is a 503 after the wait, and
// isochrones are still answered.
func TestHeavyRequestsLeaveIsochronesFree(t *testing.T) {
	f := newFixture(t)
	f.svc.Slots = httpapi.NewLimiter("isochrone", 4, time.Second)
	f.svc.HeavySlots = httpapi.NewLimiter("accessibility-heavy", 1, 100*time.Millisecond)
	r := mux.NewRouter()
	f.svc.Routes(r, dbtest.Logger(t))
	srv := httptest.NewServer(r)
	defer srv.Close()
	release, err := f.svc.HeavySlots.Acquire(context.Background()) // a long catchment is running
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	b, _ := json.Marshal(map[string]any{"origins": map[string]any{"points": [][]float64{{120.62, 31.31}}}, "mode": "walk", "minutes": []int{15}})
	resp, err := http.Post(srv.URL+"/api/catchments", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a second heavy request: %d", resp.StatusCode)
	}
	resp, err = http.Get(srv.URL + "/api/isochrones?lon=120.62&lat=31.31&minutes=15&mode=walk")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("an isochrone while the heavy slots are taken: %d", resp.StatusCode)
	}
}
