package gpkg

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

const fixture = "../../data/testdata/uploads/districts_4528.gpkg"

// A GeoPackage written by GDAL (scripts/make-upload-fixtures.sh): ten
// county-level units in CGCS2000 3-degree Gauss-Kruger zone 40.
func TestReadsGDALGeoPackage(t *testing.T) {
	tables, err := Tables(fixture)
	if err != nil || len(tables) != 1 || tables[0] != "districts" {
		t.Fatalf("tables %v, %v", tables, err)
	}
	r, err := Open(fixture, "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.CRS.EPSG != 4528 {
		t.Fatalf("CRS %v (%v), want EPSG:4528", r.CRS, r.CRSErr)
	}
	names := map[string]bool{}
	for {
		f, err := r.Next()
		if errors.Is(err, ErrEnd) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if f.Skip != "" {
			t.Fatalf("feature %d skipped: %s", f.Index, f.Skip)
		}
		names[string(f.Properties["name"])] = true
		b := f.Geometry.Bound()
		// Zone-40 coordinates carry the 40,000,000 m prefix.
		if b.Min[0] < 40e6 || b.Max[0] > 41e6 || b.Min[1] < 3.3e6 || b.Max[1] > 3.6e6 {
			t.Fatalf("feature %d bound %v is not zone-40 Suzhou", f.Index, b)
		}
		if _, ok := f.Geometry.(orb.MultiPolygon); !ok {
			if _, ok := f.Geometry.(orb.Polygon); !ok {
				t.Fatalf("feature %d is %T", f.Index, f.Geometry)
			}
		}
		if planar.Area(f.Geometry) <= 0 {
			t.Fatalf("feature %d has no area", f.Index)
		}
	}
	if len(names) != 10 || !names[`"昆山市"`] || !names[`"苏州工业园区"`] {
		t.Fatalf("names %v", names)
	}
}

func TestRefusesNonGeoPackages(t *testing.T) {
	dir := t.TempDir()
	notSQLite := filepath.Join(dir, "x.gpkg")
	os.WriteFile(notSQLite, []byte("definitely not sqlite"), 0o644)
	if _, err := Open(notSQLite, ""); !errors.Is(err, ErrFormat) {
		t.Errorf("text file: %v", err)
	}
	if _, err := Open(fixture, "no_such_table"); !errors.Is(err, ErrFormat) {
		t.Errorf("missing table: %v", err)
	}
}

func TestDecodeGeometryHeader(t *testing.T) {
	for name, blob := range map[string][]byte{
		"too short":     {'G', 'P', 0},
		"wrong magic":   {'X', 'Y', 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0},
		"empty flag":    {'G', 'P', 0, 0x10, 0, 0, 0, 0},
		"bad envelope":  {'G', 'P', 0, 0x0E, 0, 0, 0, 0, 1, 1, 0, 0, 0},
		"truncated WKB": {'G', 'P', 0, 0x01, 0, 0, 0, 0, 1, 1, 0},
	} {
		if g, skip := decodeGeometry(blob); skip == "" {
			t.Errorf("%s: decoded %v", name, g)
		}
	}
}
