package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"

	"github.com/gusu-gis/gusu/data/auth"
	"github.com/gusu-gis/gusu/data/dbtest"
)

func uploadFile(t *testing.T, base, layer, token, name string, content []byte) (int, map[string]any) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	fw, _ := w.CreateFormFile("file", name)
	fw.Write(content)
	w.Close()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/layers/"+layer+"/uploads", &b)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func tile(t *testing.T, url string) (int, string, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("ETag"), b
}

func squares(n int, x0 float64) []byte {
	var fs []string
	for i := 0; i < n; i++ {
		x := x0 + float64(i%100)*0.002
		y := 31.2 + float64(i/100)*0.002
		fs = append(fs, fmt.Sprintf(`{"type":"Feature","properties":{"code":"P%d"},"geometry":{"type":"Polygon","coordinates":[[[%g,%g],[%g,%g],[%g,%g],[%g,%g],[%g,%g]]]}}`,
			i, x, y, x+0.001, y, x+0.001, y+0.001, x, y+0.001, x, y))
	}
	return []byte(`{"type":"FeatureCollection","features":[` + strings.Join(fs, ",") + `]}`)
}

// An upload through the server changes the layer's tiles at once, and a
// restore brings the old tiles back, with no restart.
func TestUploadChangesTilesAndRestoreBringsThemBack(t *testing.T) {
	url := dbtest.NewDatabase(t, false)
	root, _ := dbtest.TempDir()
	defer os.RemoveAll(root)
	g := startGusu(t, "--database-url", url, "--data-dir", filepath.Join(root, "var"))
	ctx := context.Background()
	pool := dbtest.Pool(t, url)
	tok, err := auth.Create(ctx, pool, "staff", auth.Editor)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, g.url+"/api/layers", strings.NewReader(`{"name":"plots","kind":"zone"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 201 {
		t.Fatalf("create layer: %v %v", resp, err)
	}
	s, v1 := uploadFile(t, g.url, "plots", tok, "v1.geojson", squares(10, 120.60))
	if s != 201 {
		t.Fatalf("v1: %d %v", s, v1)
	}
	tl := maptile.At(orb.Point{120.6005, 31.2005}, 12)
	tileURL := fmt.Sprintf("%s/tiles/plots/%d/%d/%d.mvt", g.url, tl.Z, tl.X, tl.Y)
	s1, etag1, body1 := tile(t, tileURL)
	if s1 != 200 {
		t.Fatalf("v1 tile: %d", s1)
	}
	if s, rep := uploadFile(t, g.url, "plots", tok, "v2.geojson", squares(40, 120.60)); s != 201 {
		t.Fatalf("v2: %d %v", s, rep)
	}
	s2, etag2, body2 := tile(t, tileURL)
	if s2 != 200 || etag2 == etag1 || bytes.Equal(body1, body2) {
		t.Fatalf("after v2 the tile is unchanged (status %d, etag %s → %s)", s2, etag1, etag2)
	}
	req, _ = http.NewRequest(http.MethodPost, fmt.Sprintf("%s/api/layers/plots/versions/%g/restore", g.url, v1["version"]), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 201 {
		t.Fatalf("restore: %v %v", resp, err)
	}
	_, etag3, body3 := tile(t, tileURL)
	if etag3 == etag2 || !bytes.Equal(body3, body1) {
		t.Fatalf("after restoring v1 the tile is not v1's (etag %s)", etag3)
	}
}

// startChild runs gusu in a child process (this test binary re-executed),
// so that it can be killed like a real server.
func startChild(t *testing.T, args ...string) (*exec.Cmd, string) {
	t.Helper()
	args = append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json"}, args...)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "GUSU_TEST_CHILD_ARGS="+strings.Join(args, "\x1f"))
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if l := logs.find("gusu is serving"); l != nil {
			return cmd, strings.TrimRight(l["url"].(string), "/")
		}
	}
	t.Fatalf("child gusu did not start:\n%s", logs.raw.String())
	return nil, ""
}

// Killing the server in the middle of an upload's transaction leaves the
// previous version current and nothing of the upload behind.
func TestKilledMidUploadLeavesPreviousVersion(t *testing.T) {
	url := dbtest.NewDatabase(t, true)
	ctx := context.Background()
	pool := dbtest.Pool(t, url)
	tok, err := auth.Create(ctx, pool, "staff", auth.Editor)
	if err != nil {
		t.Fatal(err)
	}
	child, base := startChild(t, "--database-url", url)
	s, first := uploadFile(t, base, "eco_redlines", tok, "official.geojson", squares(5, 120.2))
	if s != 201 {
		t.Fatalf("first upload: %d %v", s, first)
	}
	firstVersion := int(first["version"].(float64))
	// Hold the version history so the next upload blocks after it has staged,
	// reprojected and written its new table, inside its transaction.
	hold, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback(ctx)
	if _, err := hold.Exec(ctx, "LOCK TABLE gusu_layer_versions IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	go func() {
		// The server dies under this request: its error is the point, not a failure.
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		fw, _ := w.CreateFormFile("file", "second.geojson")
		fw.Write(squares(2000, 120.2))
		w.Close()
		req, _ := http.NewRequest(http.MethodPost, base+"/api/layers/eco_redlines/uploads", &b)
		req.Header.Set("Content-Type", w.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+tok)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	var waiting bool
	for deadline := time.Now().Add(30 * time.Second); !waiting; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the upload never reached the version history")
		}
		pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO gusu_layer_versions%')`).Scan(&waiting)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	hold.Rollback(ctx)
	// PostgreSQL ends the dead client's session and rolls it back.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var sessions int
		pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'gusu'`).Scan(&sessions)
		if sessions == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the killed server's sessions did not end")
		}
	}
	var dataVersion, features, stray int
	var table string
	pool.QueryRow(ctx, "SELECT version, table_name FROM gusu_layers WHERE name = 'eco_redlines'").Scan(&dataVersion, &table)
	pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&features)
	pool.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'up_eco_redlines_v%' AND tablename <> $1", table).Scan(&stray)
	if dataVersion != firstVersion || features != 5 || stray != 0 {
		t.Fatalf("after the kill: version %d (want %d), %d features (want 5), stray tables: %d", dataVersion, firstVersion, features, stray)
	}
}

// The token is printed alone on standard output, for scripts.
func TestTokenCreatePrintsOnlyTheToken(t *testing.T) {
	url := dbtest.NewDatabase(t, false)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"token", "create", "--name", "ci", "--role", "viewer", "--database-url", url}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(out.String())
	if strings.Count(out.String(), "\n") != 1 || !strings.HasPrefix(tok, "gusu_") || len(tok) < 40 {
		t.Fatalf("stdout %q", out.String())
	}
	if err := run(context.Background(), []string{"token", "revoke", "--name", "ci", "--database-url", url}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"token", "create", "--name", "x", "--role", "god", "--database-url", url}, io.Discard, io.Discard); err == nil {
		t.Fatal("accepted role god")
	}
}

// A private layer: invisible in the catalog and closed (401) without a
// token, open to a viewer token by header or ?token= (embedded maps),
// including its tiles and TileJSON, whose tile URLs carry the token.
func TestPrivateLayers(t *testing.T) {
	url := dbtest.NewDatabase(t, false)
	root, _ := dbtest.TempDir()
	defer os.RemoveAll(root)
	g := startGusu(t, "--database-url", url, "--data-dir", filepath.Join(root, "var"))
	ctx := context.Background()
	pool := dbtest.Pool(t, url)
	editor, _ := auth.Create(ctx, pool, "staff", auth.Editor)
	viewer, _ := auth.Create(ctx, pool, "planner", auth.Viewer)
	req, _ := http.NewRequest(http.MethodPost, g.url+"/api/layers", strings.NewReader(`{"name":"secret_zones","kind":"zone","private":true}`))
	req.Header.Set("Authorization", "Bearer "+editor)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 201 {
		t.Fatalf("create: %v %v", resp, err)
	}
	if s, rep := uploadFile(t, g.url, "secret_zones", editor, "z.geojson", squares(4, 120.60)); s != 201 {
		t.Fatalf("upload: %d %v", s, rep)
	}
	tl := maptile.At(orb.Point{120.6005, 31.2005}, 12)
	tilePath := fmt.Sprintf("/tiles/secret_zones/%d/%d/%d.mvt", tl.Z, tl.X, tl.Y)
	get := func(path, token string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, g.url+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	for _, path := range []string{"/api/layers/secret_zones", "/api/layers/secret_zones/features", tilePath, "/tiles/secret_zones.json", "/api/layers/secret_zones/versions"} {
		if s, b := get(path, ""); s != 401 || !strings.Contains(string(b), "token") {
			t.Errorf("%s without a token: %d %s", path, s, b)
		}
		if s, _ := get(path, "gusu_wrong"); s != 401 {
			t.Errorf("%s with a bad token: %d", path, s)
		}
		if s, b := get(path, viewer); s != 200 {
			t.Errorf("%s with a viewer token: %d %s", path, s, b)
		}
	}
	if s, _ := get(tilePath+"?token="+viewer, ""); s != 200 {
		t.Errorf("tile with ?token=: %d", s)
	}
	if _, b := get("/api/layers", ""); strings.Contains(string(b), "secret_zones") {
		t.Error("the catalog lists a private layer to an anonymous client")
	}
	if _, b := get("/api/layers", viewer); !strings.Contains(string(b), "secret_zones") {
		t.Error("the catalog hides a private layer from a viewer")
	}
	if _, b := get("/tiles/secret_zones.json?token="+viewer, ""); !strings.Contains(string(b), "token="+viewer) {
		t.Errorf("TileJSON tile URLs do not carry the token: %s", b)
	}
	// Nothing names the private layer to an anonymous client.
	for _, path := range []string{"/api/layers/nope", "/api/layers/nope/features", "/tiles/nope/1/1/1.mvt", "/tiles/nope.json", "/tiles/town_system,nope/1/1/1.mvt", "/metrics"} {
		if s, b := get(path, ""); strings.Contains(string(b), "secret_zones") {
			t.Errorf("%s (%d) names the private layer: %.300s", path, s, b)
		}
	}
	testLayerAdmin(t, g.url, pool, get, viewer, editor)
}

// Admins make layers private or public, retitle and delete them; every
// route follows at once, and private inputs vanish from accessibility
// answers and indicators for clients without access.
func testLayerAdmin(t *testing.T, base string, pool *pgxpool.Pool, get func(path, token string) (int, []byte), viewer, editor string) {
	admin, _ := auth.Create(context.Background(), pool, "root", auth.Admin)
	send := func(method, path, token, body string) (int, []byte) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "bearer "+token) // the scheme is case-insensitive
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if s, b := send(http.MethodPatch, "/api/layers/secret_zones", editor, `{"private":false}`); s != 403 {
		t.Fatalf("PATCH by an editor: %d %s", s, b)
	}
	if s, b := send(http.MethodPatch, "/api/layers/secret_zones", admin, `{"private":false,"title":"公开的分区"}`); s != 200 {
		t.Fatalf("PATCH by an admin: %d %s", s, b)
	}
	if s, b := get("/api/layers/secret_zones", ""); s != 200 || !strings.Contains(string(b), "公开的分区") {
		t.Fatalf("after making it public: %d %s", s, b)
	}
	if s, b := send(http.MethodPatch, "/api/layers/secret_zones", admin, `{"title":"a\u0000b"}`); s != 400 {
		t.Fatalf("NUL in a title: %d %s", s, b)
	}
	if s, b := send(http.MethodPatch, "/api/layers/secret_zones", admin, `{"colour":"red"}`); s != 400 {
		t.Fatalf("unknown field: %d %s", s, b)
	}
	if s, _ := send(http.MethodPatch, "/api/layers/secret_zones", admin, `{"private":true}`); s != 200 {
		t.Fatal("PATCH private")
	}
	if s, _ := get("/api/layers/secret_zones", ""); s != 401 {
		t.Fatalf("private again: %d", s)
	}

	// The town system made private vanishes from accessibility answers and indicators.
	waitForNetwork(t, base)
	if s, b := send(http.MethodPatch, "/api/layers/town_system", admin, `{"private":true}`); s != 200 {
		t.Fatalf("PATCH town_system: %d %s", s, b)
	}
	if s, b := get("/api/accessibility/towns?lon=120.62&lat=31.30&mode=walk", ""); s != 404 {
		t.Errorf("towns table for an anonymous client: %d %.200s", s, b)
	}
	if s, b := get("/api/accessibility/towns?lon=120.62&lat=31.30&mode=walk", viewer); s != 200 {
		t.Errorf("towns table for a viewer: %d %.200s", s, b)
	}
	if s, b := get("/api/isochrones?lon=120.62&lat=31.30&mode=walk&minutes=15", ""); s != 200 || strings.Contains(string(b), "towns_reached") || strings.Contains(string(b), `"town_system"`) {
		t.Errorf("isochrone for an anonymous client: %d %.300s", s, b)
	}
	if s, b := get("/api/isochrones?lon=120.62&lat=31.30&mode=walk&minutes=15", viewer); s != 200 || !strings.Contains(string(b), "towns_reached") {
		t.Errorf("isochrone for a viewer: %d %.300s", s, b)
	}
	if s, b := get("/api/isochrones?from=town:320583&mode=walk&minutes=15", ""); s != 400 {
		t.Errorf("a private town as origin: %d %.300s", s, b)
	}
	if _, b := get("/api/indicators", ""); strings.Contains(string(b), `"town_system":`) {
		t.Errorf("indicators name the private layer's version: %.500s", b)
	}
	if _, b := get("/api/indicators", viewer); !strings.Contains(string(b), `"town_system":`) {
		t.Errorf("indicators for a viewer lack the town system: %.500s", b)
	}
	send(http.MethodPatch, "/api/layers/town_system", admin, `{"private":false}`)

	// Deleting: admins only, uploaded layers only, every version's table goes.
	if s, _ := send(http.MethodDelete, "/api/layers/secret_zones", editor, ""); s != 403 {
		t.Fatalf("DELETE by an editor: %d", s)
	}
	if s, b := send(http.MethodDelete, "/api/layers/town_system", admin, ""); s != 409 {
		t.Fatalf("DELETE of a bundled layer: %d %s", s, b)
	}
	if s, b := send(http.MethodDelete, "/api/layers/secret_zones", admin, ""); s != 204 {
		t.Fatalf("DELETE: %d %s", s, b)
	}
	if s, _ := get("/api/layers/secret_zones", viewer); s != 404 {
		t.Fatalf("after DELETE: %d", s)
	}
	var tables int
	pool.QueryRow(context.Background(), "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'up_secret_zones_%'").Scan(&tables)
	if tables != 0 {
		t.Fatalf("%d version tables left", tables)
	}
	if s, _ := send(http.MethodDelete, "/api/layers/secret_zones", admin, ""); s != 404 {
		t.Fatalf("second DELETE: %d", s)
	}
}
