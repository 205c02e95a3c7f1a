package upload_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gusu-gis/gusu/data/auth"
)

func (f *fixture) token(t *testing.T, name string, role auth.Role) string {
	tok, err := auth.Create(context.Background(), f.pool, name, role)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *fixture) count(t *testing.T, sql string, args ...any) int {
	var n int
	if err := f.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// A proposed upload is built and checked but not current; a reviewer sees
// its diff (feature by feature) and features and approves it, and only
// then is it the layer; each step is in the audit log.
func TestProposalApproved(t *testing.T) {
	f := newFixture(t, 0)
	reviewer := f.token(t, "chief-planner", auth.Reviewer)
	f.createLayer(t, "zoning")
	v1 := featureCollection(polygonFeature(`{"code":"A","use":"residential"}`, 120.5, 31.2), polygonFeature(`{"code":"B","use":"park"}`, 120.6, 31.2))
	s, rep := f.upload(t, "zoning", "", "v1.geojson", v1)
	if s != 201 {
		t.Fatalf("v1: %d %v", s, rep)
	}
	base := rep["version"].(float64)
	current := tableOf(t, f.pool, "zoning")
	v2 := featureCollection(polygonFeature(`{"code":"A","use":"commercial"}`, 120.5, 31.2), polygonFeature(`{"code":"C","use":"school"}`, 120.7, 31.2))
	s, rep = f.upload(t, "zoning", "?review=true", "v2.geojson", v2)
	if s != 202 || rep["proposal"] == nil {
		t.Fatalf("proposal: %d %v", s, rep)
	}
	id := rep["proposal"].(map[string]any)["id"].(float64)
	if tableOf(t, f.pool, "zoning") != current || f.count(t, "SELECT version FROM gusu_layers WHERE name = 'zoning'") != int(base) {
		t.Fatal("a proposal changed the current layer")
	}
	if s, _ := f.do(t, http.MethodGet, "/api/proposals", f.editor, nil, ""); s != 403 {
		t.Fatalf("an editor read the review queue: %d", s)
	}
	s, body := f.do(t, http.MethodGet, "/api/proposals?layer=zoning&status=proposed", reviewer, nil, "")
	if s != 200 || len(body["proposals"].([]any)) != 1 {
		t.Fatalf("queue: %d %v", s, body)
	}
	s, body = f.do(t, http.MethodGet, fmt.Sprintf("/api/proposals/%g", id), reviewer, nil, "")
	if s != 200 {
		t.Fatalf("proposal: %d %v", s, body)
	}
	ch := body["report"].(map[string]any)["diff"].(map[string]any)["changes"].(map[string]any)
	changed := ch["changed"].([]any)
	if fmt.Sprint(ch["added"]) != "[C]" || fmt.Sprint(ch["removed"]) != "[B]" || len(changed) != 1 {
		t.Fatalf("changes %v", ch)
	}
	use := changed[0].(map[string]any)["attributes"].(map[string]any)["use"].([]any)
	if changed[0].(map[string]any)["key"] != "A" || use[0] != "residential" || use[1] != "commercial" {
		t.Fatalf("A's change: %v", changed[0])
	}
	s, body = f.do(t, http.MethodGet, fmt.Sprintf("/api/proposals/%g/features", id), reviewer, nil, "")
	if s != 200 || len(body["features"].([]any)) != 2 {
		t.Fatalf("proposal features: %d %v", s, body)
	}
	if s, _ := f.do(t, http.MethodPost, fmt.Sprintf("/api/proposals/%g/approve", id), f.editor, strings.NewReader(`{"comment":"ok"}`), "application/json"); s != 403 {
		t.Fatalf("an editor approved: %d", s)
	}
	s, body = f.do(t, http.MethodPost, fmt.Sprintf("/api/proposals/%g/approve", id), reviewer, strings.NewReader(`{"comment":"符合规划"}`), "application/json")
	if s != 200 || body["status"] != "approved" || body["version"].(float64) != base+1 {
		t.Fatalf("approve: %d %v", s, body)
	}
	if n := f.count(t, fmt.Sprintf("SELECT count(*) FROM %s WHERE code IN ('A', 'C')", tableOf(t, f.pool, "zoning"))); n != 2 {
		t.Fatalf("after approval the layer has %d of A, C", n)
	}
	if a := f.count(t, "SELECT count(*) FROM gusu_layer_versions WHERE layer = 'zoning' AND action = 'approve' AND version = $1", int(base)+1); a != 1 {
		t.Fatal("the approval is not in the version history")
	}
	if s, _ := f.do(t, http.MethodPost, fmt.Sprintf("/api/proposals/%g/approve", id), reviewer, nil, ""); s != 409 {
		t.Fatalf("approving twice: %d", s)
	}
	// The audit log, oldest first: create, upload, propose, approve.
	s, body = f.do(t, http.MethodGet, "/api/layers/zoning/audit", reviewer, nil, "")
	var actions []string
	for _, e := range body["entries"].([]any) {
		actions = append([]string{e.(map[string]any)["action"].(string)}, actions...)
	}
	if s != 200 || strings.Join(actions, ",") != "create,upload,propose,approve" {
		t.Fatalf("audit: %d %v", s, actions)
	}
	if s, _ := f.do(t, http.MethodGet, "/api/audit", f.editor, nil, ""); s != 403 {
		t.Fatalf("an editor read the audit log: %d", s)
	}
	if _, err := f.pool.Exec(context.Background(), "UPDATE gusu_audit SET actor = 'someone else'"); err == nil {
		t.Fatal("the audit log can be rewritten")
	}
	if _, err := f.pool.Exec(context.Background(), "DELETE FROM gusu_audit"); err == nil {
		t.Fatal("the audit log can be deleted")
	}
}

// A rejected proposal leaves no trace in the current layer: its table is
// dropped, the layer and its version are untouched, the reason recorded.
func TestProposalRejected(t *testing.T) {
	f := newFixture(t, 0)
	reviewer := f.token(t, "chief-planner", auth.Reviewer)
	f.createLayer(t, "zoning")
	s, rep := f.upload(t, "zoning", "", "v1.geojson", featureCollection(polygonFeature(`{"code":"A"}`, 120.5, 31.2)))
	if s != 201 {
		t.Fatalf("v1: %d %v", s, rep)
	}
	table, version := tableOf(t, f.pool, "zoning"), f.count(t, "SELECT version FROM gusu_layers WHERE name = 'zoning'")
	s, rep = f.upload(t, "zoning", "?review=true", "bad.geojson", featureCollection(polygonFeature(`{"code":"X"}`, 120.2, 31.15)))
	if s != 202 {
		t.Fatalf("proposal: %d %v", s, rep)
	}
	id := rep["proposal"].(map[string]any)["id"].(float64)
	if s, _ := f.do(t, http.MethodPost, fmt.Sprintf("/api/proposals/%g/reject", id), reviewer, strings.NewReader(`{}`), "application/json"); s != 400 {
		t.Fatalf("a rejection without a reason: %d", s)
	}
	s, body := f.do(t, http.MethodPost, fmt.Sprintf("/api/proposals/%g/reject", id), reviewer, strings.NewReader(`{"reason":"侵占太湖生态红线"}`), "application/json")
	if s != 200 || body["status"] != "rejected" {
		t.Fatalf("reject: %d %v", s, body)
	}
	if tableOf(t, f.pool, "zoning") != table || f.count(t, "SELECT version FROM gusu_layers WHERE name = 'zoning'") != version {
		t.Fatal("the rejection changed the layer")
	}
	if n := f.count(t, fmt.Sprintf("SELECT count(*) FROM pg_tables WHERE tablename = 'up_zoning_p%g'", id)); n != 0 {
		t.Fatal("the rejected proposal's table is still there")
	}
	if n := f.count(t, "SELECT count(*) FROM gusu_audit WHERE layer = 'zoning' AND action = 'reject' AND detail->>'reason' = '侵占太湖生态红线'"); n != 1 {
		t.Fatal("the rejection and its reason are not in the audit log")
	}
	if s, _ := f.do(t, http.MethodPost, fmt.Sprintf("/api/proposals/%g/approve", id), reviewer, nil, ""); s != 409 {
		t.Fatalf("approving a rejected proposal: %d", s)
	}
}

// A layer that requires review makes every upload a proposal; a proposal
// overtaken by a newer version cannot be approved.
func TestReviewRequiredAndStaleProposals(t *testing.T) {
	f := newFixture(t, 0)
	reviewer := f.token(t, "chief-planner", auth.Reviewer)
	admin := f.token(t, "root", auth.Admin)
	f.createLayer(t, "zoning")
	if s, body := f.do(t, http.MethodPatch, "/api/layers/zoning", admin, strings.NewReader(`{"review_required":true}`), "application/json"); s != 200 {
		t.Fatalf("PATCH review_required: %d %v", s, body)
	}
	s, rep := f.upload(t, "zoning", "", "v1.geojson", featureCollection(polygonFeature(`{"code":"A"}`, 120.5, 31.2)))
	if s != 202 {
		t.Fatalf("an upload to a layer that requires review: %d %v", s, rep)
	}
	first := rep["proposal"].(map[string]any)["id"].(float64)
	s, rep = f.upload(t, "zoning", "", "v2.geojson", featureCollection(polygonFeature(`{"code":"B"}`, 120.6, 31.2)))
	second := rep["proposal"].(map[string]any)["id"].(float64)
	if s, body := f.do(t, http.MethodPost, fmt.Sprintf("/api/proposals/%g/approve", second), reviewer, nil, ""); s != 200 {
		t.Fatalf("approve the second: %d %v", s, body)
	}
	if s, body := f.do(t, http.MethodPost, fmt.Sprintf("/api/proposals/%g/approve", first), reviewer, nil, ""); s != 409 || !strings.Contains(body["error"].(string), "changed since") {
		t.Fatalf("approving a stale proposal: %d %v", s, body)
	}
}

// A layer marked as a control line is checked against like the red lines,
// with its tolerance.
func TestControlLineConformity(t *testing.T) {
	f := newFixture(t, 0)
	admin := f.token(t, "root", auth.Admin)
	f.createLayer(t, "farmland")
	if s, rep := f.upload(t, "farmland", "", "f.geojson", featureCollection(polygonFeature(`{"name":"基本农田"}`, 120.50, 31.20))); s != 201 {
		t.Fatalf("farmland: %d %v", s, rep)
	}
	f.do(t, http.MethodPatch, "/api/layers/farmland", admin, strings.NewReader(`{"control_line":true}`), "application/json")
	f.createLayer(t, "devzones")
	// A 0.01° square shifted by half: it overlaps the farmland by about half its area.
	s, rep := f.upload(t, "devzones", "", "d.geojson", featureCollection(polygonFeature(`{"name":"开发区"}`, 120.505, 31.20)))
	if s != 201 {
		t.Fatalf("devzones: %d %v", s, rep)
	}
	conf := rep["conformity"].([]any)
	if len(conf) != 1 {
		t.Fatalf("conformity %v", conf)
	}
	c := conf[0].(map[string]any)
	var want float64
	f.pool.QueryRow(context.Background(), `SELECT ST_Area(ST_Intersection(ST_MakeEnvelope(120.50, 31.20, 120.51, 31.21, 4326), ST_MakeEnvelope(120.505, 31.20, 120.515, 31.21, 4326))::geography)`).Scan(&want)
	got := c["total_overlap_m2"].(float64)
	if c["against"] != "farmland" || c["features_overlapping"].(float64) != 1 || got < want*0.999 || got > want*1.001 {
		t.Fatalf("check against farmland %v; PostGIS says the overlap is %.0f m²", c, want)
	}
	f.do(t, http.MethodPatch, "/api/layers/farmland", admin, strings.NewReader(fmt.Sprintf(`{"control_tolerance_m2":%f}`, want*2)), "application/json")
	s, rep = f.upload(t, "devzones", "", "d.geojson", featureCollection(polygonFeature(`{"name":"开发区"}`, 120.505, 31.20)))
	if c := rep["conformity"].([]any)[0].(map[string]any); s != 201 || c["features_overlapping"].(float64) != 0 {
		t.Fatalf("within the tolerance: %d %v", s, c)
	}
}
