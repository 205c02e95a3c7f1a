package crs

import (
	"strings"
	"testing"
)

// WKT as ArcGIS and GDAL write it for Suzhou's usual systems.
const (
	esriGK120  = `PROJCS["CGCS2000_3_Degree_GK_CM_120E",GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Gauss_Kruger"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",120.0],PARAMETER["Scale_Factor",1.0],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]`
	esriZone40 = `PROJCS["CGCS2000_3_Degree_GK_Zone_40",GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Gauss_Kruger"],PARAMETER["False_Easting",40500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",120.0],PARAMETER["Scale_Factor",1.0],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]`
	esriCGCS   = `GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]`
	esriWGS    = `GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]`
	gdalGK120  = `PROJCS["CGCS2000 / 3-degree Gauss-Kruger CM 120E",GEOGCS["China Geodetic Coordinate System 2000",DATUM["China_2000",SPHEROID["CGCS2000",6378137,298.257222101,AUTHORITY["EPSG","1024"]],AUTHORITY["EPSG","1043"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AUTHORITY["EPSG","4490"]],PROJECTION["Transverse_Mercator"],PARAMETER["latitude_of_origin",0],PARAMETER["central_meridian",120],PARAMETER["scale_factor",1],PARAMETER["false_easting",500000],PARAMETER["false_northing",0],UNIT["metre",1,AUTHORITY["EPSG","9001"]],AUTHORITY["EPSG","4549"]]`
	esriMerc   = `PROJCS["WGS_1984_Web_Mercator_Auxiliary_Sphere",GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Mercator_Auxiliary_Sphere"],PARAMETER["False_Easting",0.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",0.0],PARAMETER["Standard_Parallel_1",0.0],PARAMETER["Auxiliary_Sphere_Type",0.0],UNIT["Meter",1.0]]`
	beijing54  = `PROJCS["Beijing_1954_3_Degree_GK_CM_120E",GEOGCS["GCS_Beijing_1954",DATUM["D_Beijing_1954",SPHEROID["Krasovsky_1940",6378245.0,298.3]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Gauss_Kruger"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",120.0],PARAMETER["Scale_Factor",1.0],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]`
)

func TestFromWKT(t *testing.T) {
	cases := map[string]struct {
		wkt  string
		epsg int
	}{
		"ArcGIS CGCS2000 GK CM 120E":    {esriGK120, 4549},
		"ArcGIS CGCS2000 GK zone 40":    {esriZone40, 4528},
		"ArcGIS CGCS2000 geographic":    {esriCGCS, 4490},
		"ArcGIS WGS 84":                 {esriWGS, 4326},
		"GDAL WKT1 with EPSG authority": {gdalGK120, 4549},
		"ArcGIS Web Mercator":           {esriMerc, 3857},
		"CGCS2000 GK CM 117E (Anhui)":   {strings.ReplaceAll(esriGK120, `"Central_Meridian",120.0`, `"Central_Meridian",117.0`), 4548},
		// Every 6° central meridian is also a 3° one: EPSG 4550 (3° CM 123E) and 4510 (6°)
		// define the identical projection, and the 3° name wins.
		"CGCS2000 GK CM 123E":       {strings.ReplaceAll(esriGK120, `"Central_Meridian",120.0`, `"Central_Meridian",123.0`), 4550},
		"CGCS2000 6-degree zone 19": {strings.ReplaceAll(strings.ReplaceAll(esriGK120, `"Central_Meridian",120.0`, `"Central_Meridian",111.0`), `"False_Easting",500000.0`, `"False_Easting",19500000.0`), 4497},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := FromWKT(c.wkt)
			if err != nil {
				t.Fatal(err)
			}
			if got.EPSG != c.epsg {
				t.Fatalf("EPSG %d, want %d (%s)", got.EPSG, c.epsg, got.Name)
			}
		})
	}
}

// Unknown systems are errors that say what to pass, never a guess.
func TestFromWKTRefusesToGuess(t *testing.T) {
	for name, wkt := range map[string]string{
		"Krassowsky ellipsoid named Pulkovo":         strings.ReplaceAll(strings.ReplaceAll(beijing54, "Beijing_1954", "Pulkovo_1942"), "Beijing_1954_3_Degree", "Pulkovo_1942_3_Degree"),
		"named CGCS2000 on the Krassowsky ellipsoid": strings.ReplaceAll(beijing54, "Beijing_1954", "CGCS2000"),
		"WGS 84 ellipsoid named NAD83":               `GEOGCS["GCS_North_American_1983",DATUM["D_North_American_1983",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]`,
		"GRS80 ellipsoid named ETRS89":               `GEOGCS["GCS_ETRS_1989",DATUM["D_ETRS_1989",SPHEROID["GRS_1980",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]`,
		"Paris prime meridian":                       strings.ReplaceAll(beijing54, `PRIMEM["Greenwich",0.0]`, `PRIMEM["Paris",2.33722917]`),
		"US survey feet":                             strings.ReplaceAll(beijing54, `UNIT["Meter",1.0]`, `UNIT["Foot_US",0.3048006096012192]`),
		"GK with scale factor 0.9996":                strings.ReplaceAll(beijing54, `"Scale_Factor",1.0`, `"Scale_Factor",0.9996`),
		"no ellipsoid":                               `GEOGCS["GCS_Beijing_1954",DATUM["D_Beijing_1954"],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]`,
		"empty":                                      "",
		"garbage":                                    "not a coordinate system",
		"GK with odd false easting":                  strings.ReplaceAll(esriGK120, "500000.0", "123.0"),
	} {
		if c, err := FromWKT(wkt); err == nil {
			t.Errorf("%s: identified as %v", name, c)
		} else if name != "empty" && !strings.Contains(err.Error(), "?crs=") {
			t.Errorf("%s: error %q does not say what to pass", name, err)
		}
	}
}

// Beijing 1954 and Xian 1980 definitions as ArcGIS and GDAL write them,
// TOWGS84 clauses included ("TOWGS84" contains "WGS84": it must not make
// them WGS 84, ~100 m off).
func TestFromWKTChineseDatums(t *testing.T) {
	geoBeijing := `GEOGCS["Beijing 1954",DATUM["Beijing_1954",SPHEROID["Krassowsky 1940",6378245,298.3],TOWGS84[15.8,-154.4,-82.3,0,0,0,0]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]]`
	geoXian := `GEOGCS["GCS_Xian_1980",DATUM["D_Xian_1980",SPHEROID["Xian_1980",6378140.0,298.257],TOWGS84[24,-123,-94,0.02,-0.25,-0.13,1.1]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]`
	xianGK := `PROJCS["Xian_1980_3_Degree_GK_CM_120E",GEOGCS["GCS_Xian_1980",DATUM["D_Xian_1980",SPHEROID["Xian_1980",6378140.0,298.257]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Gauss_Kruger"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",120.0],PARAMETER["Scale_Factor",1.0],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]`
	newBeijing := `GEOGCS["GCS_New_Beijing",DATUM["D_New_Beijing",SPHEROID["Krasovsky_1940",6378245.0,298.3]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]`
	cases := map[string]struct {
		wkt  string
		epsg int
	}{
		"Beijing 1954 lon/lat with TOWGS84": {geoBeijing, 4214},
		"Xian 1980 lon/lat with TOWGS84":    {geoXian, 4610},
		"New Beijing lon/lat":               {newBeijing, 4555},
		"Beijing 1954 3-degree GK CM 120E":  {beijing54, 2437},
		"Beijing 1954 3-degree GK zone 40":  {strings.ReplaceAll(beijing54, `"False_Easting",500000.0`, `"False_Easting",40500000.0`), 2416},
		"Xian 1980 3-degree GK CM 120E":     {xianGK, 2385},
		"Xian 1980 6-degree GK zone 21":     {strings.ReplaceAll(strings.ReplaceAll(xianGK, `"Central_Meridian",120.0`, `"Central_Meridian",123.0`), `"False_Easting",500000.0`, `"False_Easting",21500000.0`), 2335},
		"New Beijing 3-degree GK CM 120E":   {strings.ReplaceAll(beijing54, "Beijing_1954", "New_Beijing"), 4797},
		"WGS 84 UTM 51N":                    {`PROJCS["WGS_1984_UTM_Zone_51N",GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",123.0],PARAMETER["Scale_Factor",0.9996],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]`, 32651},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := FromWKT(c.wkt)
			if err != nil {
				t.Fatal(err)
			}
			if got.EPSG != c.epsg {
				t.Fatalf("EPSG %d, want %d (%s)", got.EPSG, c.epsg, got.Name)
			}
		})
	}
}

func TestParseUser(t *testing.T) {
	cases := map[string]CRS{
		"EPSG:4549": CGCS2000GK3, "4528": CGCS2000Z40, "epsg:3857": WebMercator, "gcj02": GCJ02, "GCJ-02": GCJ02,
		"urn:ogc:def:crs:EPSG::4490": CGCS2000, "urn:ogc:def:crs:OGC:1.3:CRS84": WGS84,
	}
	for in, want := range cases {
		got, err := ParseUser(in)
		if err != nil || got.EPSG != want.EPSG || got.GCJ02 != want.GCJ02 {
			t.Errorf("ParseUser(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "EPSG:", "mercator", "EPSG:-1"} {
		if _, err := ParseUser(bad); err == nil {
			t.Errorf("ParseUser(%q) accepted", bad)
		}
	}
}

func TestSuggest(t *testing.T) {
	if s := (Extent{40500000, 3450000, 40560000, 3500000}).Suggest(); !strings.Contains(s, "4528") {
		t.Error(s)
	}
	if s := (Extent{500000, 3450000, 560000, 3500000}).Suggest(); !strings.Contains(s, "4549") {
		t.Error(s)
	}
}
