package upload_test

import (
	"archive/zip"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"
	_ "modernc.org/sqlite" // writes the GeoPackage fixture below

	"github.com/gusu-gis/gusu/data/upload"
)

// Attribute names PostgreSQL cannot take as they are (system columns,
// names equal in their first 63 bytes) all become distinct columns, with
// every value kept.
func TestAwkwardAttributeNames(t *testing.T) {
	f := newFixture(t, 0)
	f.createLayer(t, "names")
	long := strings.Repeat("很长的属性名", 4) // 72 bytes: over PostgreSQL's 63
	props := []string{`"xmin":1`, `"ctid":2`, `"tableoid":3`, `"id":4`, `"geom":5`}
	for i := 0; i < 101; i++ {
		props = append(props, fmt.Sprintf(`"%s%03d":%d`, long, i, 100+i))
	}
	s, rep := f.upload(t, "names", "", "a.geojson", featureCollection(`{"type":"Feature","properties":{`+strings.Join(props, ",")+`},"geometry":{"type":"Point","coordinates":[120.6,31.3]}}`))
	if s != 201 {
		t.Fatalf("upload: %d %v", s, rep)
	}
	attrs := rep["attributes"].([]any)
	if len(attrs) != len(props) {
		t.Fatalf("%d attributes reported, want %d", len(attrs), len(props))
	}
	// The table itself (PostgreSQL's catalog, not the report) has them all.
	var cols int
	f.pool.QueryRow(context.Background(), `SELECT count(*) FROM information_schema.columns WHERE table_name = $1 AND column_name NOT IN ('id', 'geom')`, tableOf(t, f.pool, "names")).Scan(&cols)
	if cols != len(props) {
		t.Fatalf("the table has %d attribute columns, want %d", cols, len(props))
	}
	var sum int
	f.pool.QueryRow(context.Background(), fmt.Sprintf(`SELECT (SELECT sum(value::int) FROM jsonb_each_text(to_jsonb(t) - 'id' - 'geom')) FROM %s t`, tableOf(t, f.pool, "names"))).Scan(&sum)
	want := 1 + 2 + 3 + 4 + 5
	for i := 0; i < 101; i++ {
		want += 100 + i
	}
	if sum != want {
		t.Fatalf("the values add up to %d, want %d: some were lost", sum, want)
	}
}

// A .dbf naming the same field many times keeps every field's values,
// under NAME, NAME_2, …, and the report says so.
func TestRepeatedDBFFieldNames(t *testing.T) {
	f := newFixture(t, 0)
	f.createLayer(t, "dups")
	files := unzip(t, "districts_4549_gbk.zip")
	var dbfName string
	for k := range files {
		if strings.HasSuffix(k, ".dbf") {
			dbfName = k
		}
	}
	dbf := append([]byte{}, files[dbfName]...)
	n := 0
	for off := 32; off+32 <= len(dbf) && dbf[off] != 0x0D; off += 32 {
		copy(dbf[off:off+11], append([]byte("NAME"), make([]byte, 7)...))
		n++
	}
	if n < 3 {
		t.Fatalf("the fixture has %d fields; the test needs several", n)
	}
	files[dbfName] = dbf
	s, rep := f.upload(t, "dups", "", "dups.zip", zipOf(t, files))
	if s != 201 {
		t.Fatalf("upload: %d %v", s, rep)
	}
	if got := len(rep["attributes"].([]any)); got != n {
		t.Fatalf("%d attributes, want %d (one per .dbf field)", got, n)
	}
	detail := rep["format_detail"].(map[string]any)
	renamed, _ := detail["renamed_fields"].([]any)
	if len(renamed) != n-1 {
		t.Fatalf("renamed_fields lists %d, want %d: %v", len(renamed), n-1, detail)
	}
}

// Zips made on Chinese Windows store GBK file names without flagging them.
func TestGBKZipEntryNames(t *testing.T) {
	f := newFixture(t, 0)
	f.createLayer(t, "gbknames")
	files := unzip(t, "districts_4549_gbk.zip")
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for name, content := range files {
		gbkName, _ := simplifiedchinese.GBK.NewEncoder().String("苏州区划" + filepath.Ext(name))
		fw, err := w.CreateHeader(&zip.FileHeader{Name: gbkName, Method: zip.Deflate, NonUTF8: true})
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(content)
	}
	w.Close()
	s, rep := f.upload(t, "gbknames", "", "区划.zip", b.Bytes())
	if s != 201 {
		t.Fatalf("upload: %d %v", s, rep)
	}
	if got := rep["format_detail"].(map[string]any)["shapefile"]; got != "苏州区划.shp" {
		t.Fatalf("shapefile %q, want the GBK name decoded", got)
	}
}

// Only tables registered in gpkg_contents are read, never views: a
// recursive view registered as a feature table yields nothing.
func TestGeoPackageViewsAreNotRead(t *testing.T) {
	f := newFixture(t, 0)
	f.createLayer(t, "views")
	path := filepath.Join(t.TempDir(), "boom.gpkg")
	if err := os.WriteFile(path, read(t, "districts_4528.gpkg"), 0o644); err != nil {
		t.Fatal(err)
	}
	db := openSQLite(t, path)
	var table, geomCol string
	var srs int
	db.QueryRow("SELECT table_name, column_name, srs_id FROM gpkg_geometry_columns LIMIT 1").Scan(&table, &geomCol, &srs)
	for _, q := range []string{
		fmt.Sprintf(`CREATE VIEW boom AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x AS fid, (SELECT "%s" FROM "%s" LIMIT 1) AS geom FROM c`, geomCol, table),
		fmt.Sprintf(`INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) VALUES ('boom', 'features', 'boom', %d)`, srs),
		fmt.Sprintf(`INSERT INTO gpkg_geometry_columns (table_name, column_name, geometry_type_name, srs_id, z, m) VALUES ('boom', 'geom', 'MULTIPOLYGON', %d, 0, 0)`, srs),
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	content, _ := os.ReadFile(path)
	s, rep := f.upload(t, "views", "?table=boom", "boom.gpkg", content)
	if s != 400 || !strings.Contains(rep["error"].(string), "views are not read") {
		t.Fatalf("naming the view: %d %v", s, rep)
	}
	// Without ?table the first real table is read, as before.
	s, rep = f.upload(t, "views", "", "boom.gpkg", content)
	if s != 201 || rep["format_detail"].(map[string]any)["table"] != table {
		t.Fatalf("without ?table: %d %v", s, rep)
	}
}

// An upload that skips every feature is refused unless the caller asks for
// an empty layer; then it is allowed and says so.
func TestAllowEmpty(t *testing.T) {
	f := newFixture(t, 0)
	f.createLayer(t, "emptyok")
	if s, rep := f.upload(t, "emptyok", "", "a.geojson", featureCollection(polygonFeature(`{"code":"A"}`, 120.5, 31.2))); s != 201 {
		t.Fatalf("first upload: %d %v", s, rep)
	}
	degenerate := `{"type":"Feature","properties":{"code":"B"},"geometry":{"type":"Polygon","coordinates":[[[120.5,31.2],[120.5,31.2],[120.5,31.2],[120.5,31.2]]]}}`
	s, rep := f.upload(t, "emptyok", "", "b.geojson", featureCollection(degenerate))
	if s != 422 || rep["detail"] == nil {
		t.Fatalf("all skipped: %d %v", s, rep)
	}
	var n int
	f.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+tableOf(t, f.pool, "emptyok")).Scan(&n)
	if n != 1 {
		t.Fatalf("the layer has %d features after a refused upload, want 1", n)
	}
	s, rep = f.upload(t, "emptyok", "?allow_empty=true", "b.geojson", featureCollection(degenerate))
	if s != 201 || rep["features_written"].(float64) != 0 {
		t.Fatalf("allow_empty=true: %d %v", s, rep)
	}
}

// A retried upload with the same Idempotency-Key and bytes answers with the
// first result and writes nothing; other bytes under the key are a 422.
func TestIdempotencyKey(t *testing.T) {
	f := newFixture(t, 0)
	f.createLayer(t, "retry")
	send := func(key, query string, content []byte) (int, map[string]any, http.Header) {
		body, ct := multipartBody(t, "a.geojson", content)
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/api/layers/retry/uploads"+query, body)
		req.Header.Set("Authorization", "Bearer "+f.editor)
		req.Header.Set("Content-Type", ct)
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		decodeJSON(t, resp.Body, &out)
		return resp.StatusCode, out, resp.Header
	}
	versions := func() int {
		var n int
		f.pool.QueryRow(context.Background(), "SELECT count(*) FROM gusu_layer_versions WHERE layer = 'retry'").Scan(&n)
		return n
	}
	a := featureCollection(polygonFeature(`{"code":"A"}`, 120.5, 31.2))
	b := featureCollection(polygonFeature(`{"code":"B"}`, 120.6, 31.2))
	s1, r1, _ := send("k-1", "?mode=append", a)
	if s1 != 201 {
		t.Fatalf("first: %d %v", s1, r1)
	}
	before := versions()
	// Concurrent and sequential retries alike.
	var wg sync.WaitGroup
	results := make([]map[string]any, 4)
	statuses := make([]int, 4)
	headers := make([]http.Header, 4)
	for i := range results {
		wg.Add(1)
		go func() { defer wg.Done(); statuses[i], results[i], headers[i] = send("k-1", "?mode=append", a) }()
	}
	wg.Wait()
	for i := range results {
		if statuses[i] != 201 || results[i]["version"] != r1["version"] || headers[i].Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry %d: %d %v (replayed %q), first was version %v", i, statuses[i], results[i], headers[i].Get("Idempotent-Replayed"), r1["version"])
		}
	}
	if after := versions(); after != before {
		t.Fatalf("retries made %d new versions", after-before)
	}
	var n int
	f.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+tableOf(t, f.pool, "retry")).Scan(&n)
	if n != 1 {
		t.Fatalf("append retried: %d features, want 1", n)
	}
	if s, r, _ := send("k-1", "?mode=append", b); s != 422 || !strings.Contains(r["error"].(string), "Idempotency-Key") {
		t.Fatalf("same key, other bytes: %d %v", s, r)
	}
	if s, r, _ := send("k-1", "?mode=replace", a); s != 422 {
		t.Fatalf("same key, other options: %d %v", s, r)
	}
	if s, r, _ := send("k-2", "?mode=append", a); s != 201 || r["version"] == r1["version"] {
		t.Fatalf("a new key is a new upload: %d %v", s, r)
	}
	if s, r, _ := send(strings.Repeat("x", 300), "", a); s != 400 {
		t.Fatalf("overlong key: %d %v", s, r)
	}
}

// Creating a layer that exists is a 409, also when several creates race.
func TestCreateExistingLayer(t *testing.T) {
	f := newFixture(t, 0)
	f.createLayer(t, "taken")
	if s, r := f.do(t, http.MethodPost, "/api/layers", f.editor, strings.NewReader(`{"name":"taken"}`), "application/json"); s != 409 {
		t.Fatalf("existing: %d %v", s, r)
	}
	var wg sync.WaitGroup
	statuses := make([]int, 6)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], _ = f.do(t, http.MethodPost, "/api/layers", f.editor, strings.NewReader(`{"name":"race"}`), "application/json")
		}()
	}
	wg.Wait()
	created := 0
	for _, s := range statuses {
		switch s {
		case 201:
			created++
		case 409:
		default:
			t.Fatalf("concurrent creates: %v", statuses)
		}
	}
	if created != 1 {
		t.Fatalf("concurrent creates: %v", statuses)
	}
	for _, body := range []string{`{"name":"nul","title":"a\u0000b"}`, `{"name":"longtitle","title":"` + strings.Repeat("长", 201) + `"}`} {
		if s, r := f.do(t, http.MethodPost, "/api/layers", f.editor, strings.NewReader(body), "application/json"); s != 400 {
			t.Fatalf("%s: %d %v", body[:30], s, r)
		}
	}
}

// A file with more features than --max-upload-features is refused whole.
func TestFeatureCap(t *testing.T) {
	f := newFixture(t, 0)
	f.createLayer(t, "capped")
	point := `{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[120.6,31.3]}}`
	var feats []string
	for i := 0; i <= maxTestFeatures; i++ {
		feats = append(feats, point)
	}
	s, rep := f.upload(t, "capped", "", "a.geojson", featureCollection(feats...))
	if s != 422 || !strings.Contains(rep["error"].(string), "max-upload-features") {
		t.Fatalf("%d %v", s, rep)
	}
	if s, rep := f.upload(t, "capped", "", "a.geojson", featureCollection(feats[1:]...)); s != 201 {
		t.Fatalf("exactly at the cap: %d %v", s, rep)
	}
}

// Spools older than the age are removed; fresh ones and other files stay.
func TestCleanStaleSpools(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{upload.SpoolPrefix + "old.zip", upload.SpoolPrefix + "new.zip", "other.txt"} {
		os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600)
	}
	old := filepath.Join(dir, upload.SpoolPrefix+"old.zip")
	past := mustTime(t, "2020-01-01T00:00:00Z")
	os.Chtimes(old, past, past)
	n, err := upload.CleanStaleSpools(dir, 3600e9)
	if err != nil || n != 1 {
		t.Fatalf("removed %d (%v), want 1", n, err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) != 2 {
		t.Fatalf("left %v", left)
	}
}

func openSQLite(t *testing.T, path string) *sql.DB {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func decodeJSON(t *testing.T, r io.Reader, v any) {
	b, _ := io.ReadAll(r)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("not JSON: %q", b)
	}
}

func mustTime(t *testing.T, s string) time.Time {
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A Beijing 1954 .prj, TOWGS84 clause and all, is read as Beijing 1954,
// not as WGS 84 ("TOWGS84" contains "WGS84"), and PostGIS applies its
// datum shift.
func TestBeijing1954PRJ(t *testing.T) {
	f := newFixture(t, 0)
	f.createLayer(t, "bj54")
	files := unzip(t, "districts_4549_gbk.zip")
	for k := range files {
		if strings.HasSuffix(k, ".prj") {
			files[k] = []byte(`PROJCS["Beijing_1954_3_Degree_GK_CM_120E",GEOGCS["GCS_Beijing_1954",DATUM["D_Beijing_1954",SPHEROID["Krasovsky_1940",6378245.0,298.3],TOWGS84[15.8,-154.4,-82.3,0,0,0,0]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Gauss_Kruger"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",120.0],PARAMETER["Scale_Factor",1.0],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]`)
		}
	}
	s, rep := f.upload(t, "bj54", "", "bj54.zip", zipOf(t, files))
	if s != 201 || rep["crs"] != "EPSG:2437" {
		t.Fatalf("%d crs %v: %v", s, rep["crs"], rep["error"])
	}
}
