package upload_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/gusu-gis/gusu/data/auth"
	"github.com/gusu-gis/gusu/data/dbtest"
	"github.com/gusu-gis/gusu/data/upload"
	"github.com/gusu-gis/gusu/geo/gcj02"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

const fixtures = "../testdata/uploads/"

type fixture struct {
	srv    *httptest.Server
	pool   *pgxpool.Pool
	editor string
	viewer string
}

// maxTestFeatures is the fixtures' --max-upload-features.
const maxTestFeatures = 5000

func newFixture(t *testing.T, maxBytes int64) *fixture {
	t.Helper()
	pool := dbtest.Open(t).Pool
	ctx := context.Background()
	editor, err := auth.Create(ctx, pool, "gis-staff", auth.Editor)
	if err != nil {
		t.Fatal(err)
	}
	viewer, err := auth.Create(ctx, pool, "planner", auth.Viewer)
	if err != nil {
		t.Fatal(err)
	}
	if maxBytes == 0 {
		maxBytes = 50 << 20
	}
	r := mux.NewRouter()
	(&upload.API{Pool: pool, Auth: auth.NewAuthenticator(pool), Log: dbtest.Logger(t), MaxUploadBytes: maxBytes, TempDir: t.TempDir(), MaxFeatures: maxTestFeatures}).Routes(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, pool: pool, editor: editor, viewer: viewer}
}

func (f *fixture) do(t *testing.T, method, path, token string, body io.Reader, ctype string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: %d, body is not JSON: %q", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, out
}

func (f *fixture) createLayer(t *testing.T, name string) {
	t.Helper()
	status, body := f.do(t, http.MethodPost, "/api/layers", f.editor, strings.NewReader(`{"name":"`+name+`","title":"测试 `+name+`","kind":"boundary"}`), "application/json")
	if status != http.StatusCreated {
		t.Fatalf("create layer: %d %v", status, body)
	}
}

func multipartBody(t *testing.T, filename string, content []byte) (io.Reader, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	fw, err := w.CreateFormFile("file", filename)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(content)
	w.Close()
	return &b, w.FormDataContentType()
}

func (f *fixture) upload(t *testing.T, layer, query, filename string, content []byte) (int, map[string]any) {
	t.Helper()
	body, ct := multipartBody(t, filename, content)
	return f.do(t, http.MethodPost, "/api/layers/"+layer+"/uploads"+query, f.editor, body, ct)
}

func read(t *testing.T, name string) []byte {
	b, err := os.ReadFile(fixtures + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sourceDistricts are the county-level units of the bundled data, from
// which the GDAL fixtures were made.
func sourceDistricts(t *testing.T, pool *pgxpool.Pool) map[string]orb.Geometry {
	rows, err := pool.Query(context.Background(), "SELECT name_zh, ST_AsGeoJSON(geom) FROM town_system WHERE level <> 'town'")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]orb.Geometry{}
	for rows.Next() {
		var name, gj string
		rows.Scan(&name, &gj)
		g, _ := geojson.UnmarshalGeometry([]byte(gj))
		out[name] = g.Geometry()
	}
	return out
}

// compareWithSource checks an uploaded version against the source within a
// metre: the symmetric difference of each district with its source, in m²,
// divided by its perimeter, is the mean offset of its boundary.
func compareWithSource(t *testing.T, pool *pgxpool.Pool, table string) {
	t.Helper()
	rows, err := pool.Query(context.Background(), fmt.Sprintf(`
		SELECT u.name, ST_Area(ST_SymDifference(u.geom, s.geom)::geography) / ST_Perimeter(s.geom::geography),
		       ST_Distance(ST_Centroid(u.geom)::geography, ST_Centroid(s.geom)::geography)
		FROM %s u JOIN town_system s ON s.name_zh = u.name AND s.level <> 'town'`, table))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var name string
		var offset, centroid float64
		if err := rows.Scan(&name, &offset, &centroid); err != nil {
			t.Fatal(err)
		}
		n++
		if offset > 1 || centroid > 1 {
			t.Errorf("%s: boundary off by %.3f m on average, centroid by %.3f m (want < 1 m)", name, offset, centroid)
		}
	}
	if n != 10 {
		t.Fatalf("%d districts matched the source by their Chinese name, want 10 (attributes not intact?)", n)
	}
}

func tableOf(t *testing.T, pool *pgxpool.Pool, layer string) string {
	var table string
	if err := pool.QueryRow(context.Background(), "SELECT table_name FROM gusu_layers WHERE name = $1", layer).Scan(&table); err != nil {
		t.Fatal(err)
	}
	return table
}

// Real files written by GDAL (scripts/make-upload-fixtures.sh) go in with
// their coordinate systems detected and their Chinese attributes intact,
// and come out within a metre of the source.
func TestRealFilesRoundTrip(t *testing.T) {
	f := newFixture(t, 0)
	cases := map[string]struct {
		file, crs, encoding string
	}{
		"Shapefile EPSG:4549, GBK, .cpg":    {"districts_4549_gbk.zip", "EPSG:4549", "GBK"},
		"Shapefile EPSG:4549, GBK, no .cpg": {"districts_4549_gbk_nocpg.zip", "EPSG:4549", "UTF-8, else GB18030 (no .cpg)"},
		"Shapefile EPSG:4490, UTF-8 .cpg":   {"districts_4490_utf8.zip", "EPSG:4490", "UTF-8"},
		"GeoPackage EPSG:4528 (GK zone 40)": {"districts_4528.gpkg", "EPSG:4528", ""},
	}
	i := 0
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			i++
			layer := fmt.Sprintf("districts_%d", i)
			f.createLayer(t, layer)
			status, rep := f.upload(t, layer, "", c.file, read(t, c.file))
			if status != http.StatusCreated {
				t.Fatalf("status %d: %v", status, rep)
			}
			if rep["crs"] != c.crs || rep["crs_source"] != "file" || rep["features_written"].(float64) != 10 {
				t.Fatalf("report: crs %v (%v), written %v", rep["crs"], rep["crs_source"], rep["features_written"])
			}
			if c.encoding != "" && rep["format_detail"].(map[string]any)["encoding"] != c.encoding {
				t.Errorf("encoding %v, want %s", rep["format_detail"], c.encoding)
			}
			compareWithSource(t, f.pool, tableOf(t, f.pool, layer))
		})
	}
}

// GeoJSON from a web map, in GCJ-02, goes in with ?crs=gcj02 and lands on
// the WGS84 source.
func TestGCJ02GeoJSON(t *testing.T) {
	f := newFixture(t, 0)
	src := sourceDistricts(t, f.pool)
	fc := geojson.NewFeatureCollection()
	for name, g := range src {
		ft := geojson.NewFeature(gcj02.GeometryFromWGS84(orb.Clone(g)))
		ft.Properties["name"] = name
		fc.Append(ft)
	}
	b, _ := json.Marshal(fc)
	f.createLayer(t, "districts_web")
	status, rep := f.upload(t, "districts_web", "?crs=gcj02", "from-web.geojson", b)
	if status != http.StatusCreated || rep["crs"] != "GCJ-02" {
		t.Fatalf("%d %v", status, rep)
	}
	compareWithSource(t, f.pool, tableOf(t, f.pool, "districts_web"))
	// Without ?crs=gcj02 the same file is taken as WGS 84 and lands ~400 m off.
	f.createLayer(t, "districts_web2")
	f.upload(t, "districts_web2", "", "from-web.geojson", b)
	var off float64
	f.pool.QueryRow(context.Background(), fmt.Sprintf(`SELECT avg(ST_Distance(ST_Centroid(u.geom)::geography, ST_Centroid(s.geom)::geography))
		FROM %s u JOIN town_system s ON s.name_zh = u.name AND s.level <> 'town'`, tableOf(t, f.pool, "districts_web2"))).Scan(&off)
	if off < 300 || off > 700 {
		t.Errorf("GCJ-02 read as WGS 84 is off by %.0f m on average, expected about 460", off)
	}
}

func featureCollection(features ...string) []byte {
	return []byte(`{"type":"FeatureCollection","features":[` + strings.Join(features, ",") + `]}`)
}

func polygonFeature(props string, x, y float64) string {
	return fmt.Sprintf(`{"type":"Feature","properties":%s,"geometry":{"type":"Polygon","coordinates":[[[%[2]g,%[3]g],[%[4]g,%[3]g],[%[4]g,%[5]g],[%[2]g,%[5]g],[%[2]g,%[3]g]]]}}`,
		props, x, y, x+0.01, y+0.01)
}

// Every upload is a version; the history counts what changed; restoring
// brings an old version back as a new one.
func TestVersionsDiffAndRestore(t *testing.T) {
	f := newFixture(t, 0)
	f.createLayer(t, "zones")
	v1 := featureCollection(polygonFeature(`{"code":"A","use":"residential"}`, 120.5, 31.2), polygonFeature(`{"code":"B","use":"park"}`, 120.6, 31.2))
	v2 := featureCollection(polygonFeature(`{"code":"A","use":"commercial"}`, 120.5, 31.2), polygonFeature(`{"code":"C","use":"park"}`, 120.7, 31.2), polygonFeature(`{"code":"D","use":"park"}`, 120.8, 31.2))
	s, rep := f.upload(t, "zones", "", "v1.geojson", v1)
	if s != 201 || rep["version"] != rep["layer_version"] {
		t.Fatalf("v1: %d %v", s, rep)
	}
	first := rep["version"].(float64)
	// One number everywhere: the report's version is the catalog's.
	var catalogVersion float64
	f.pool.QueryRow(context.Background(), "SELECT version FROM gusu_layers WHERE name = 'zones'").Scan(&catalogVersion)
	if catalogVersion != first {
		t.Fatalf("upload says version %v, the registry %v", first, catalogVersion)
	}
	s, rep = f.upload(t, "zones", "", "v2.geojson", v2)
	if s != 201 {
		t.Fatalf("v2: %d %v", s, rep)
	}
	d := rep["diff"].(map[string]any)
	if d["key"] != "code" || d["added"].(float64) != 2 || d["removed"].(float64) != 1 || d["changed"].(float64) != 1 {
		t.Fatalf("diff v1→v2 %v, want key code, added 2 (C, D), removed 1 (B), changed 1 (A)", d)
	}
	s, rep = f.upload(t, "zones", "?mode=append", "v3.geojson", featureCollection(polygonFeature(`{"code":"E","use":"school"}`, 120.9, 31.2)))
	if s != 201 || rep["features_written"].(float64) != 4 || rep["diff"].(map[string]any)["added"].(float64) != 1 {
		t.Fatalf("append: %d written %v diff %v", s, rep["features_written"], rep["diff"])
	}
	third := rep["version"].(float64)
	s, body := f.do(t, http.MethodGet, "/api/layers/zones/versions", "", nil, "")
	vs := body["versions"].([]any)
	if s != 200 || len(vs) != 4 || vs[0].(map[string]any)["version"].(float64) != third || vs[0].(map[string]any)["current"] != true {
		t.Fatalf("versions: %d %v", s, body)
	}
	s, body = f.do(t, http.MethodPost, fmt.Sprintf("/api/layers/zones/versions/%g/restore", first), f.editor, nil, "")
	if s != 201 || body["version"].(map[string]any)["version"] != body["layer_version"] {
		t.Fatalf("restore: %d %v", s, body)
	}
	restored := body["version"].(map[string]any)["version"].(float64)
	var n int
	f.pool.QueryRow(context.Background(), fmt.Sprintf("SELECT count(*) FROM %s WHERE code IN ('A', 'B')", tableOf(t, f.pool, "zones"))).Scan(&n)
	if n != 2 {
		t.Fatalf("after restoring version 1 the layer holds %d of A, B", n)
	}
	if s, body = f.do(t, http.MethodPost, fmt.Sprintf("/api/layers/zones/versions/%g/restore", restored), f.editor, nil, ""); s != 409 {
		t.Fatalf("restoring the current version: %d %v", s, body)
	}
}

func TestRepairAndReject(t *testing.T) {
	f := newFixture(t, 0)
	f.createLayer(t, "bowties")
	bowtie := `{"type":"Feature","properties":{"name":"领结"},"geometry":{"type":"Polygon","coordinates":[[[120.5,31.2],[120.6,31.3],[120.6,31.2],[120.5,31.3],[120.5,31.2]]]}}`
	file := featureCollection(polygonFeature(`{"name":"ok"}`, 120.5, 31.2), bowtie)
	s, rep := f.upload(t, "bowties", "?on_invalid=reject", "b.geojson", file)
	if s != http.StatusUnprocessableEntity {
		t.Fatalf("reject: %d %v", s, rep)
	}
	s, rep = f.upload(t, "bowties", "", "b.geojson", file)
	if s != 201 || fmt.Sprint(rep["repaired"]) != "[1]" || rep["features_written"].(float64) != 2 {
		t.Fatalf("repair: %d repaired %v written %v", s, rep["repaired"], rep["features_written"])
	}
	var valid bool
	f.pool.QueryRow(context.Background(), fmt.Sprintf("SELECT bool_and(ST_IsValid(geom)) FROM %s", tableOf(t, f.pool, "bowties"))).Scan(&valid)
	if !valid {
		t.Fatal("stored geometry is invalid")
	}
}

// The red-line check finds a zone drawn inside Taihu, with its overlap.
func TestRedLineCheck(t *testing.T) {
	f := newFixture(t, 0)
	f.createLayer(t, "devzones")
	s, rep := f.upload(t, "devzones", "", "z.geojson", featureCollection(
		polygonFeature(`{"name":"湖中开发区"}`, 120.20, 31.15), // in Taihu
		polygonFeature(`{"name":"城区地块"}`, 120.62, 31.30))) // in the old town
	if s != 201 {
		t.Fatalf("%d %v", s, rep)
	}
	rc := rep["redline_check"].(map[string]any)
	ov := rc["overlaps"].([]any)
	if rc["checked"] != true || len(ov) != 1 || ov[0].(map[string]any)["name"] != "湖中开发区" || ov[0].(map[string]any)["share"].(float64) < 0.99 {
		t.Fatalf("red-line check %v", rc)
	}
	s, body := f.do(t, http.MethodGet, fmt.Sprintf("/api/checks/redlines?layer=devzones&version=%g", rep["version"]), "", nil, "")
	if s != 200 || len(body["redline_check"].(map[string]any)["overlaps"].([]any)) != 1 {
		t.Fatalf("check endpoint: %d %v", s, body)
	}
}

func TestAccessControl(t *testing.T) {
	f := newFixture(t, 0)
	file := featureCollection(polygonFeature(`{}`, 120.5, 31.2))
	body, ct := multipartBody(t, "a.geojson", file)
	cases := map[string]struct {
		token  string
		status int
	}{
		"no token → 401":      {"", 401},
		"unknown token → 401": {"gusu_nope", 401},
		"viewer token → 403":  {f.viewer, 403},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s, b := f.do(t, http.MethodPost, "/api/layers", c.token, strings.NewReader(`{"name":"x"}`), "application/json")
			if s != c.status || b["error"] == nil {
				t.Fatalf("create: %d %v", s, b)
			}
			s, b = f.do(t, http.MethodPost, "/api/layers/town_system/uploads", c.token, body, ct)
			if s != c.status {
				t.Fatalf("upload: %d %v", s, b)
			}
		})
	}
	if _, err := auth.Revoke(context.Background(), f.pool, "gis-staff"); err != nil {
		t.Fatal(err)
	}
	// Revocation reaches a fresh authenticator at once (cached ones within 10 s).
	r := mux.NewRouter()
	(&upload.API{Pool: f.pool, Auth: auth.NewAuthenticator(f.pool), MaxUploadBytes: 1 << 20}).Routes(r)
	srv := httptest.NewServer(r)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/layers", strings.NewReader(`{"name":"y"}`))
	req.Header.Set("Authorization", "Bearer "+f.editor)
	resp, _ := http.DefaultClient.Do(req)
	if resp.StatusCode != 401 {
		t.Fatalf("revoked token: %d", resp.StatusCode)
	}
}

func zipOf(t *testing.T, files map[string][]byte) []byte {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for name, content := range files {
		fw, err := w.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(content)
	}
	w.Close()
	return b.Bytes()
}

func unzip(t *testing.T, name string) map[string][]byte {
	zr, err := zip.NewReader(bytes.NewReader(read(t, name)), int64(len(read(t, name))))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		out[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	return out
}

// Malformed input is refused with a JSON error naming the problem, and the
// layer stays exactly as it was.
func TestMalformedUploadsChangeNothing(t *testing.T) {
	f := newFixture(t, 256<<10)
	f.createLayer(t, "target")
	s, baseline := f.upload(t, "target", "", "good.geojson", featureCollection(polygonFeature(`{"code":"keep"}`, 120.5, 31.2)))
	if s != 201 {
		t.Fatalf("baseline upload: %d %v", s, baseline)
	}
	keptVersion := int(baseline["version"].(float64))
	shp := unzip(t, "districts_4549_gbk.zip")
	without := func(ext string) map[string][]byte {
		out := map[string][]byte{}
		for k, v := range shp {
			if !strings.HasSuffix(k, ext) {
				out[k] = v
			}
		}
		return out
	}
	with := func(name string, content []byte) map[string][]byte {
		out := map[string][]byte{}
		for k, v := range shp {
			out[k] = v
		}
		out[name] = content
		return out
	}
	truncate := func(ext string, n int) map[string][]byte {
		for k, v := range shp {
			if strings.HasSuffix(k, ext) {
				return with(k, v[:n])
			}
		}
		return nil
	}
	badMagic := append([]byte{}, shp["districts.shp"]...)
	badMagic[2] = 0xFF
	moreRecords := append([]byte{}, shp["districts.dbf"]...)
	moreRecords[4]++ // the .dbf now claims 11 records
	manyEntries := map[string][]byte{}
	for i := 0; i < 250; i++ {
		manyEntries[fmt.Sprintf("f%03d.txt", i)] = []byte("x")
	}
	bomb := zipOf(t, map[string][]byte{"districts.shp": bytes.Repeat([]byte{0}, 5<<20)})
	projected := `{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[512000,3460000],[513000,3460000],[513000,3461000],[512000,3460000]]]}}`
	zone40 := `{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[40512000,3460000]}}`
	point := `{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[120.6,31.3]}}`
	pointWith := func(props string) []byte {
		return featureCollection(`{"type":"Feature","properties":` + props + `,"geometry":{"type":"Point","coordinates":[120.6,31.3]}}`)
	}
	gbk, _ := simplifiedchinese.GBK.NewEncoder().Bytes(pointWith(`{"名称":"苏州"}`))
	var manyAttrs []string
	for i := 0; i < 2000; i++ {
		manyAttrs = append(manyAttrs, fmt.Sprintf(`"a%d":%d`, i, i))
	}
	degenerate := `{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[120.5,31.2],[120.5,31.2],[120.5,31.2],[120.5,31.2]]]}}`
	hugePRJ := with("districts.prj", bytes.Repeat([]byte(`PROJCS["x",GEOGCS["y"]],`), 5000))
	gdalStatus, dxfStatus, dxfSays, gdalTabSays := 400, 400, "?crs=", ".dat"
	if _, err := exec.LookPath("ogr2ogr"); err != nil {
		gdalStatus, dxfStatus, dxfSays, gdalTabSays = 415, 415, "gdal-bin", "gdal-bin"
	}
	cases := map[string]struct {
		name    string
		content []byte
		query   string
		status  int
		says    string
	}{
		"empty file":                         {"a.geojson", nil, "", 400, "empty"},
		"not JSON":                           {"a.geojson", []byte("{not json"), "", 400, "GeoJSON"},
		"JSON but not GeoJSON":               {"a.geojson", []byte(`{"hello":"world"}`), "", 400, "GeoJSON"},
		"a bare geometry":                    {"a.geojson", []byte(`{"type":"Point","coordinates":[1,2]}`), "", 400, "FeatureCollection"},
		"no features":                        {"a.geojson", featureCollection(), "", 400, "no features"},
		"only null geometries":               {"a.geojson", featureCollection(`{"type":"Feature","properties":{},"geometry":null}`), "", 422, "no usable features"},
		"truncated GeoJSON":                  {"a.geojson", featureCollection(point)[:60], "", 400, "GeoJSON"},
		"mixed geometry families":            {"a.geojson", featureCollection(polygonFeature(`{}`, 120.5, 31.2), point), "", 400, "mixed geometry families"},
		"projected without a CRS":            {"a.geojson", featureCollection(projected), "", 400, "EPSG:4549"},
		"zone-40 coordinates, no CRS":        {"a.geojson", featureCollection(zone40), "", 400, "EPSG:4528"},
		"projected but declared 4326":        {"a.geojson", []byte(`{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"EPSG:4326"}},"features":[` + projected + `]}`), "", 400, "longitude/latitude"},
		"unknown crs member":                 {"a.geojson", []byte(`{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"local-grid"}},"features":[` + point + `]}`), "", 400, "crs member"},
		"bad ?crs":                           {"a.geojson", featureCollection(point), "?crs=mercator", 400, "unknown coordinate system"},
		"EPSG code PostGIS lacks":            {"a.geojson", featureCollection(point), "?crs=EPSG:999999", 400, "PostGIS"},
		"bad ?mode":                          {"a.geojson", featureCollection(point), "?mode=merge", 400, "mode"},
		"bad ?on_invalid":                    {"a.geojson", featureCollection(point), "?on_invalid=ignore", 400, "on_invalid"},
		"unknown parameter":                  {"a.geojson", featureCollection(point), "?colour=red", 400, "unknown parameter"},
		"unsupported format":                 {"a.docx", []byte("<w:document/>"), "", 415, "not supported"},
		"unknown extension":                  {"a.xyz", []byte("hello"), "", 415, "not supported"},
		"a bare .shp":                        {"a.shp", shp["districts.shp"], "", 400, "zip"},
		"zip without .shp":                   {"a.zip", zipOf(t, without(".shp")), "", 415, "no Shapefile"},
		"zip without .dbf":                   {"a.zip", zipOf(t, without(".dbf")), "", 400, ".dbf is missing"},
		"zip without .shx":                   {"a.zip", zipOf(t, without(".shx")), "", 400, ".shx is missing"},
		"truncated .shp":                     {"a.zip", zipOf(t, truncate(".shp", 5000)), "", 400, "truncated"},
		"truncated .dbf":                     {"a.zip", zipOf(t, truncate(".dbf", 600)), "", 400, "truncated"},
		"wrong .shp magic number":            {"a.zip", zipOf(t, with("districts.shp", badMagic)), "", 400, "file code"},
		"record counts disagree":             {"a.zip", zipOf(t, with("districts.dbf", moreRecords)), "", 400, "disagree"},
		"zip with .. path":                   {"a.zip", zipOf(t, map[string][]byte{"../evil.shp": []byte("x")}), "", 400, "climbs out"},
		"zip with absolute path":             {"a.zip", zipOf(t, map[string][]byte{"/etc/evil.shp": []byte("x")}), "", 400, "absolute path"},
		"zip with too many entries":          {"a.zip", zipOf(t, manyEntries), "", 400, "entries"},
		"zip bomb":                           {"a.zip", bomb, "", 400, "zip bomb"},
		"two Shapefiles, none named":         {"a.zip", zipOf(t, map[string][]byte{"a.shp": shp["districts.shp"], "b.shp": shp["districts.shp"]}), "", 400, "?table="},
		"corrupt zip":                        {"a.zip", []byte("PK\x03\x04 this is not really a zip"), "", 400, "zip"},
		"not a GeoPackage":                   {"a.gpkg", []byte("SQLite format 3\x00 but truncated"), "", 400, "GeoPackage"},
		"GeoPackage table that is not there": {"a.gpkg", read(t, "districts_4528.gpkg"), "?table=parcels", 400, "no feature table"},
		"over the size limit → 413":          {"big.geojson", bytes.Repeat([]byte(" "), 300<<10), "", 413, "limit"},
		"GBK-encoded GeoJSON":                {"a.geojson", gbk, "", 400, "UTF-8"},
		"NUL in a value":                     {"a.geojson", pointWith(`{"name":"a\u0000b"}`), "", 400, "NUL"},
		"NUL in a key":                       {"a.geojson", pointWith(`{"na\u0000me":"ab"}`), "", 400, "NUL"},
		"NUL inside an array value":          {"a.geojson", pointWith(`{"tags":["a","b\u0000"]}`), "", 400, "NUL"},
		"number beyond a double":             {"a.geojson", pointWith(`{"n":1e400}`), "", 400, "double"},
		"number beyond a double, nested":     {"a.geojson", pointWith(`{"n":[1,-1e400]}`), "", 400, "double"},
		"2000 attributes":                    {"a.geojson", pointWith(`{` + strings.Join(manyAttrs, ",") + `}`), "", 400, "attributes"},
		"every feature skipped → 422":        {"a.geojson", featureCollection(degenerate, degenerate), "", 422, "allow_empty"},
		"bad ?allow_empty":                   {"a.geojson", featureCollection(point), "?allow_empty=yes", 400, "allow_empty"},
		// Formats read through GDAL: broken files are a 400 saying so, or a
		// 415 naming the package to install when GDAL is absent.
		"zipped KML (a KMZ), broken":            {"a.kmz", zipOf(t, map[string][]byte{"doc.kml": []byte("<kml/>")}), "", gdalStatus, "KML"},
		"zipped FileGDB, broken":                {"a.zip", zipOf(t, map[string][]byte{"plan.gdb/a00000001.gdbtable": []byte("x")}), "", gdalStatus, "FileGDB"},
		"zipped MapInfo, broken":                {"a.zip", zipOf(t, map[string][]byte{"zones.tab": []byte("x"), "zones.dat": []byte("x")}), "", gdalStatus, "MapInfo"},
		"DXF without ?crs":                      {"a.dxf", []byte("0\nSECTION\n"), "", dxfStatus, dxfSays},
		"CSV without coordinates":               {"a.csv", []byte("name,value\na,1\n"), "", gdalStatus, "CSV"},
		"a lone MapInfo .tab":                   {"a.tab", []byte("!table"), "", gdalStatus, gdalTabSays},
		"a VRT named .kml (reads server files)": {"a.kml", []byte(`<OGRVRTDataSource><OGRVRTLayer name="x"><SrcDataSource>/etc/passwd</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>`), "", gdalStatus, "KML"},
		"zip with nothing readable":             {"a.zip", zipOf(t, map[string][]byte{"readme.txt": []byte("x")}), "", 415, "no Shapefile"},
		"a .prj far too large":                  {"a.zip", zipOf(t, hugePRJ), "", 400, ".prj"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s, body := f.upload(t, "target", c.query, c.name, c.content)
			if s != c.status {
				t.Fatalf("status %d, want %d: %v", s, c.status, body)
			}
			msg, _ := body["error"].(string)
			if !strings.Contains(strings.ToLower(msg), strings.ToLower(c.says)) {
				t.Errorf("error %q does not say %q", msg, c.says)
			}
		})
	}
	// Nothing changed: still the baseline's version, its one feature, no stray tables.
	var dataVersion, n, tables int
	f.pool.QueryRow(context.Background(), "SELECT version FROM gusu_layers WHERE name = 'target'").Scan(&dataVersion)
	f.pool.QueryRow(context.Background(), fmt.Sprintf("SELECT count(*) FROM %s WHERE code = 'keep'", tableOf(t, f.pool, "target"))).Scan(&n)
	f.pool.QueryRow(context.Background(), "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'up_target_%'").Scan(&tables)
	if dataVersion != keptVersion || n != 1 || tables != 2 {
		t.Fatalf("after %d refused uploads: version %d, %d kept features, %d tables (want %d, 1, 2)", len(cases), dataVersion, n, tables, keptVersion)
	}
}

func TestRequestProblems(t *testing.T) {
	f := newFixture(t, 0)
	cases := map[string]struct {
		method, path, body, ctype string
		status                    int
	}{
		"upload without multipart":  {"POST", "/api/layers/town_system/uploads", `{"type":"FeatureCollection"}`, "application/json", 400},
		"multipart without a file":  {"POST", "/api/layers/town_system/uploads", "--x\r\nContent-Disposition: form-data; name=\"crs\"\r\n\r\nEPSG:4326\r\n--x--\r\n", "multipart/form-data; boundary=x", 400},
		"upload to unknown layer":   {"POST", "/api/layers/nope/uploads", "", "", 0},
		"create with a bad name":    {"POST", "/api/layers", `{"name":"Bad Name!"}`, "application/json", 400},
		"create with unknown field": {"POST", "/api/layers", `{"name":"ok","colour":"red"}`, "application/json", 400},
		"create a layer twice":      {"POST", "/api/layers", `{"name":"town_system"}`, "application/json", 409},
		"create with a bad kind":    {"POST", "/api/layers", `{"name":"ok2","kind":"spaceport"}`, "application/json", 400},
		"versions of unknown layer": {"GET", "/api/layers/nope/versions", "", "", 404},
		"restore a missing version": {"POST", "/api/layers/town_system/versions/99/restore", "", "", 404},
		"restore version 'x'":       {"POST", "/api/layers/town_system/versions/x/restore", "", "", 400},
		"check without a layer":     {"GET", "/api/checks/redlines", "", "", 400},
		"check an unknown version":  {"GET", "/api/checks/redlines?layer=town_system&version=9", "", "", 404},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var s int
			var body map[string]any
			if c.status == 0 { // an upload to a layer that does not exist
				s, body = f.upload(t, "nope", "", "a.geojson", featureCollection(polygonFeature(`{}`, 120.5, 31.2)))
				c.status = 404
			} else {
				s, body = f.do(t, c.method, c.path, f.editor, strings.NewReader(c.body), c.ctype)
			}
			if s != c.status || body["error"] == nil {
				t.Fatalf("status %d, want %d: %v", s, c.status, body)
			}
		})
	}
}
