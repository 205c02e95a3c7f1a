package ogcapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/gusu-gis/gusu/data/auth"
)

func send(t *testing.T, method, u, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/merge-patch+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// PATCH and PUT on an item change one feature as a new version of the
// layer (editors only); bad values, attributes and geometries are refused
// and change nothing; with review=true the edit waits for a reviewer.
func TestFeatureEdits(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	editor, _ := auth.Create(ctx, f.pool, "staff", auth.Editor)
	viewer, _ := auth.Create(ctx, f.pool, "planner", auth.Viewer)
	var id int64
	var name string
	f.pool.QueryRow(ctx, "SELECT id, name FROM rail_stations ORDER BY id LIMIT 1").Scan(&id, &name)
	item := fmt.Sprintf("%s/collections/rail_stations/items/%d", f.srv.URL, id)
	version := func() int64 {
		var v int64
		f.pool.QueryRow(ctx, "SELECT version FROM gusu_layers WHERE name = 'rail_stations'").Scan(&v)
		return v
	}
	before := version()
	if s, _ := send(t, http.MethodPatch, item, "", `{"properties":{"name":"x"}}`); s != 401 {
		t.Fatalf("anonymous edit: %d", s)
	}
	if s, _ := send(t, http.MethodPatch, item, viewer, `{"properties":{"name":"x"}}`); s != 403 {
		t.Fatalf("viewer edit: %d", s)
	}
	s, rep := send(t, http.MethodPatch, item, editor, `{"properties":{"name":"新站名"}}`)
	if s != 200 || rep["version"].(float64) != float64(before+1) {
		t.Fatalf("PATCH: %d %v", s, rep)
	}
	f.reg.Invalidate("rail_stations")
	ft := getJSON(t, item)
	if p := ft["properties"].(map[string]any); p["name"] != "新站名" || p["status"] == nil {
		t.Fatalf("after PATCH: %v", p)
	}
	// The other features are untouched, and the history has the old name.
	var others, old int
	f.pool.QueryRow(ctx, "SELECT count(*) FROM rail_stations WHERE id <> $1", id).Scan(&others)
	var table string
	f.pool.QueryRow(ctx, "SELECT table_name FROM gusu_layers WHERE name = 'rail_stations'").Scan(&table)
	var same int
	f.pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %q n JOIN rail_stations o USING (id) WHERE n.id <> $1 AND n.name IS NOT DISTINCT FROM o.name AND ST_Equals(n.geom, o.geom)`, table), id).Scan(&same)
	f.pool.QueryRow(ctx, "SELECT count(*) FROM rail_stations WHERE id = $1 AND name = $2", id, name).Scan(&old)
	if same != others || old != 1 {
		t.Fatalf("%d of %d other features unchanged; old version keeps the name: %d", same, others, old)
	}
	// Move it (PUT: the whole feature).
	s, rep = send(t, http.MethodPut, item, editor, `{"type":"Feature","geometry":{"type":"Point","coordinates":[120.61,31.31]},"properties":{"name":"移动的站","status":"planned","kind":"metro"}}`)
	if s != 200 {
		t.Fatalf("PUT: %d %v", s, rep)
	}
	f.reg.Invalidate("rail_stations")
	ft = getJSON(t, item)
	c := ft["geometry"].(map[string]any)["coordinates"].([]any)
	p := ft["properties"].(map[string]any)
	if math.Abs(c[0].(float64)-120.61) > 1e-9 || p["name"] != "移动的站" || p["pinyin"] != nil {
		t.Fatalf("after PUT: %v %v (PUT clears what it does not give)", c, p)
	}
	v := version()
	for name, body := range map[string]string{
		"unknown attribute":           `{"properties":{"colour":"red"}}`,
		"text into a boolean":         `{"properties":{"transfer":"maybe"}}`,
		"a polygon for a point layer": `{"geometry":{"type":"Polygon","coordinates":[[[120,31],[121,31],[121,32],[120,31]]]}}`,
		"not GeoJSON":                 `{"geometry":{"type":"Blob"}}`,
		"NUL in a value":              `{"properties":{"name":"a\u0000b"}}`,
		"PUT without geometry":        "PUT",
	} {
		method := http.MethodPatch
		switch body {
		case "PUT":
			method, body = http.MethodPut, `{"properties":{"name":"x"}}`
		case "PUT3":
			method, body = http.MethodPut, `{"geometry":{"type":"Point","coordinates":[120.6,31.3]},"properties":{}}`
		case "PUT2":
			method, body = http.MethodPut, `{"geometry":{"type":"Point","coordinates":[120.6,31.3]},"properties":{"name":"x"}}`
		}
		if s, rep := send(t, method, item, editor, body); s != 400 && s != 422 {
			t.Errorf("%s: %d %v", name, s, rep)
		}
	}
	if s, _ := send(t, http.MethodPatch, f.srv.URL+"/collections/rail_stations/items/99999999", editor, `{"properties":{"name":"x"}}`); s != 404 {
		t.Errorf("missing feature: %d", s)
	}
	if version() != v {
		t.Fatal("a refused edit changed the layer")
	}
	// With review the edit is a proposal; the layer stays as it is.
	s, rep = send(t, http.MethodPatch, item+"?review=true", editor, `{"properties":{"name":"待审"}}`)
	if s != 202 || rep["proposal"] == nil || version() != v {
		t.Fatalf("review=true: %d %v", s, rep)
	}
	changed := rep["diff"].(map[string]any)["changes"].(map[string]any)["changed"].([]any)
	if len(changed) != 1 || fmt.Sprint(changed[0].(map[string]any)["attributes"].(map[string]any)["name"]) != "[移动的站 待审]" {
		t.Fatalf("the proposal's change: %v", changed)
	}
	var audits int
	f.pool.QueryRow(ctx, "SELECT count(*) FROM gusu_audit WHERE layer = 'rail_stations' AND action IN ('edit', 'propose')").Scan(&audits)
	if audits != 3 {
		t.Fatalf("%d audit entries for 2 edits and a proposal", audits)
	}
}
