package upload_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// zipDir zips the files under dir (paths relative to dir's parent, so a
// FileGDB keeps its .gdb folder).
func zipDir(t *testing.T, dir string, files ...string) []byte {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	add := func(p string) {
		rel, _ := filepath.Rel(filepath.Dir(dir), p)
		if files != nil {
			rel = filepath.Base(p)
		}
		fw, err := w.Create(filepath.ToSlash(rel))
		if err != nil {
			t.Fatal(err)
		}
		content, _ := os.ReadFile(p)
		fw.Write(content)
	}
	if files != nil {
		for _, f := range files {
			add(f)
		}
	} else {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				add(p)
			}
			return nil
		})
	}
	w.Close()
	return b.Bytes()
}

// Each format GIS staff hold that gusu reads through GDAL — KML, KMZ, a
// zipped FileGDB, DXF (with ?crs=), a zipped MapInfo TAB, CSV with WKT,
// GML, FlatGeobuf — written by ogr2ogr from one reference GeoJSON, is read
// back within 1 m of the reference upload (measured by PostGIS), with its
// attributes where the format keeps them.
func TestFormatsThroughGDAL(t *testing.T) {
	if _, err := exec.LookPath("ogr2ogr"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ogr2ogr is missing (scripts/test.sh installs gdal-bin)")
		}
		t.Skip("ogr2ogr not installed")
	}
	f := newFixture(t, 0)
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ogr2ogr", args...).CombinedOutput(); err != nil {
			t.Fatalf("ogr2ogr %v: %v\n%s", args, err, out)
		}
	}
	fixture, _ := filepath.Abs(fixtures + "districts_4490_utf8.zip")
	ref := filepath.Join(dir, "ref.geojson")
	run("-f", "GeoJSON", ref, "/vsizip/"+fixture, "-t_srs", "EPSG:4326")
	content, _ := os.ReadFile(ref)
	f.createLayer(t, "reference")
	if s, rep := f.upload(t, "reference", "", "ref.geojson", content); s != 201 {
		t.Fatalf("reference upload: %d %v", s, rep)
	}
	make := func(name string, args ...string) string {
		p := filepath.Join(dir, name)
		run(append([]string{p, ref}, args...)...)
		return p
	}
	cases := []struct {
		name, query, file string
		content           func() []byte
		keepsNames        bool
	}{
		{"kml", "", "plan.kml", func() []byte { b, _ := os.ReadFile(make("plan.kml", "-f", "KML")); return b }, true},
		{"kmz", "", "plan.kmz", func() []byte { b, _ := os.ReadFile(make("plan.kmz", "-f", "LIBKML")); return b }, true},
		{"filegdb", "", "plan.gdb.zip", func() []byte { return zipDir(t, make("plan.gdb", "-f", "OpenFileGDB")) }, true},
		{"dxf", "?crs=EPSG:4549", "plan.dxf", func() []byte {
			b, _ := os.ReadFile(make("plan.dxf", "-f", "DXF", "-t_srs", "EPSG:4549"))
			return b
		}, false},
		{"mapinfo", "", "plan_tab.zip", func() []byte {
			tab := make("plan.tab", "-f", "MapInfo File")
			base := strings.TrimSuffix(tab, ".tab")
			return zipDir(t, dir, tab, base+".dat", base+".map", base+".id")
		}, true},
		{"csv", "", "plan.csv", func() []byte { b, _ := os.ReadFile(make("plan.csv", "-f", "CSV", "-lco", "GEOMETRY=AS_WKT")); return b }, true},
		{"gml", "", "plan.gml", func() []byte { b, _ := os.ReadFile(make("plan.gml", "-f", "GML")); return b }, true},
		{"flatgeobuf", "", "plan.fgb", func() []byte { b, _ := os.ReadFile(make("plan.fgb", "-f", "FlatGeobuf")); return b }, true},
	}
	refTable := tableOf(t, f.pool, "reference")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			layer := "via_" + c.name
			f.createLayer(t, layer)
			s, rep := f.upload(t, layer, c.query, c.file, c.content())
			if s != 201 {
				t.Fatalf("upload: %d %v", s, rep)
			}
			detail, _ := rep["format_detail"].(map[string]any)
			if !strings.Contains(fmt.Sprint(detail["converted_by"]), "GDAL") {
				t.Errorf("the report does not say GDAL converted it: %v", detail)
			}
			table := tableOf(t, f.pool, layer)
			var n, refN int
			var worst float64
			f.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n)
			f.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+refTable).Scan(&refN)
			// For each feature read back, its distance to the nearest
			// reference feature, in metres (CGCS2000 Gauss-Krüger CM 120E).
			err := f.pool.QueryRow(context.Background(), fmt.Sprintf(`SELECT max(d) FROM (
				SELECT (SELECT min(ST_HausdorffDistance(ST_Transform(a.geom, 4549), ST_Transform(r.geom, 4549))) FROM %s r) AS d FROM %s a) s`,
				refTable, table)).Scan(&worst)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d features, the farthest %.3f m from the reference", c.name, n, worst)
			if n != refN || worst > 1 {
				t.Fatalf("%d features (reference %d), farthest %.3f m from the reference", n, refN, worst)
			}
			if c.keepsNames {
				var missing int
				f.pool.QueryRow(context.Background(), fmt.Sprintf(`SELECT count(*) FROM %s r WHERE NOT EXISTS (SELECT 1 FROM %s a WHERE to_jsonb(a)->>'name' = r.name)`, refTable, table)).Scan(&missing)
				if missing > 0 {
					t.Fatalf("%d Chinese names of the reference are not found", missing)
				}
			}
		})
	}
}
