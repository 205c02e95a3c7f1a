package crs

import (
	"strings"
	"testing"
)

// FuzzFromWKT feeds arbitrary text to CRS identification (what a .prj or a
// GeoPackage srs row may hold): it may refuse it, never panic, and what it
// identifies without an authority code is a system it names.
func FuzzFromWKT(f *testing.F) {
	for _, s := range []string{esriGK120, gdalGK120, esriMerc, beijing54, "", "GEOGCS[", `PROJCS["a",GEOGCS["b",DATUM["c",SPHEROID["d",6378137,298.257223563]]],PARAMETER["central_meridian",1e400]]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, wkt string) {
		c, err := FromWKT(wkt)
		if err != nil {
			return
		}
		if c.EPSG <= 0 || c.Name == "" {
			t.Fatalf("identified %q as %+v", wkt, c)
		}
		if !strings.Contains(strings.ToUpper(wkt), "EPSG") && strings.HasPrefix(c.Name, "EPSG:") {
			t.Fatalf("without an authority, %q became the unnamed %v", wkt, c)
		}
		_ = c.CheckAgainst("+proj=tmerc +lon_0=120 +x_0=500000 +ellps=GRS80")
	})
}
