package upload_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/gusu-gis/gusu/data/dbtest"
	"github.com/gusu-gis/gusu/geo/crs"
)

// Every lon/lat and Gauss-Krüger system of the datums gusu identifies
// (WGS 84, CGCS2000, Xian 1980, Beijing 1954, New Beijing), as PostGIS's
// spatial_ref_sys defines it, is identified from its WKT with the
// authority codes removed — as ArcGIS writes .prj files — as exactly that
// code, or as a code PostGIS defines identically (a 6-degree zone's
// "CM" variant is the 3-degree one with the same meridian), and passes the
// cross-check against the row's proj4text.
func TestCRSIdentificationAgainstPostGIS(t *testing.T) {
	pool := dbtest.Open(t).Pool
	rows, err := pool.Query(context.Background(), `SELECT srid, srtext, proj4text FROM spatial_ref_sys
		WHERE auth_name = 'EPSG' AND srtext NOT LIKE '%deprecated%' AND (
		      (srtext LIKE 'PROJCS[%' AND srtext LIKE '%Gauss-Kruger%' AND (srtext LIKE 'PROJCS["CGCS2000%' OR srtext LIKE 'PROJCS["Xian 1980%' OR srtext LIKE 'PROJCS["Beijing 1954%' OR srtext LIKE 'PROJCS["New Beijing%'))
		   OR srid IN (4326, 4490, 4610, 4214, 4555, 3857)
		   OR srid BETWEEN 32601 AND 32660 OR srid BETWEEN 32701 AND 32760)
		ORDER BY srid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type row struct {
		srid          int
		srtext, proj4 string
	}
	var all []row
	proj4Of := map[int]string{}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.srid, &r.srtext, &r.proj4); err != nil {
			t.Fatal(err)
		}
		all = append(all, r)
		proj4Of[r.srid] = strings.TrimSpace(r.proj4)
	}
	rows.Close()
	authority := regexp.MustCompile(`,\s*AUTHORITY\["[^"]*","[^"]*"\]`)
	n := 0
	for _, r := range all {
		srid, srtext, proj4 := r.srid, r.srtext, r.proj4
		n++
		plain := authority.ReplaceAllString(srtext, "")
		if strings.Contains(plain, "AUTHORITY") {
			t.Fatalf("EPSG:%d: authority left in %s", srid, plain)
		}
		got, err := crs.FromWKT(plain)
		if err != nil {
			t.Errorf("EPSG:%d: %v", srid, err)
			continue
		}
		if got.EPSG != srid && proj4Of[got.EPSG] != proj4Of[srid] {
			t.Errorf("EPSG:%d identified as EPSG:%d (%s) from %s", srid, got.EPSG, got.Name, plain)
			continue
		}
		if err := got.CheckAgainst(proj4); err != nil {
			t.Errorf("EPSG:%d: cross-check with its own proj4text fails: %v", srid, err)
		}
	}
	if n < 250 {
		t.Fatalf("only %d systems checked; spatial_ref_sys should have over 250 of these", n)
	}
	t.Logf("%d coordinate systems identified as PostGIS defines them", n)
}

// A definition whose parameters disagree with what PostGIS holds for the
// code it names is refused rather than applied.
func TestCRSCrossCheckRefusesMismatch(t *testing.T) {
	pool := dbtest.Open(t).Pool
	var proj4 string
	pool.QueryRow(context.Background(), "SELECT proj4text FROM spatial_ref_sys WHERE srid = 4549").Scan(&proj4)
	// Says EPSG:4549 (CM 120E) but its parameters are CM 117E.
	lying := `PROJCS["x",GEOGCS["China Geodetic Coordinate System 2000",DATUM["China_2000",SPHEROID["CGCS2000",6378137,298.257222101]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],PARAMETER["latitude_of_origin",0],PARAMETER["central_meridian",117],PARAMETER["scale_factor",1],PARAMETER["false_easting",500000],PARAMETER["false_northing",0],UNIT["metre",1],AUTHORITY["EPSG","4549"]]`
	c, err := crs.FromWKT(lying)
	if err != nil || c.EPSG != 4549 {
		t.Fatalf("authority: %v %v", c, err)
	}
	if err := c.CheckAgainst(proj4); err == nil || !strings.Contains(err.Error(), "central meridian") {
		t.Fatalf("mismatch not caught: %v", err)
	}
	// Beijing 1954 ellipsoid under a CGCS2000 code.
	var geo4490 string
	pool.QueryRow(context.Background(), "SELECT proj4text FROM spatial_ref_sys WHERE srid = 4490").Scan(&geo4490)
	c, _ = crs.FromWKT(`GEOGCS["x",DATUM["y",SPHEROID["Krassowsky 1940",6378245,298.3]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4490"]]`)
	if err := c.CheckAgainst(geo4490); err == nil || !strings.Contains(err.Error(), "ellipsoid") {
		t.Fatalf("ellipsoid mismatch not caught: %v", err)
	}
}
