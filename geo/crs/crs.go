// Package crs identifies the coordinate reference systems that Suzhou's GIS
// files come in — from a .prj's WKT, a GeoPackage's srs table, a GeoJSON
// crs member or a user's "EPSG:4549" / "gcj02" — and judges whether
// coordinates are plausible for one.
//
// Reprojection itself is PostGIS's job; this package only names the EPSG
// code to hand it. GCJ-02 has no EPSG code: it is lon/lat with an
// obfuscating offset that geo/gcj02 removes.
package crs

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// CRS is an identified coordinate reference system.
type CRS struct {
	// EPSG code; 4326 for GCJ-02 after conversion.
	EPSG int
	// GCJ02 marks lon/lat in GCJ-02, to be converted to WGS84 before use.
	GCJ02 bool
	// Name is a readable name for reports.
	Name string
	// Geographic is true for lon/lat systems.
	Geographic bool
	// wkt is what a WKT definition said, for CheckAgainst; nil otherwise.
	wkt *wktFacts
}

func (c CRS) String() string {
	if c.GCJ02 {
		return "GCJ-02"
	}
	return fmt.Sprintf("EPSG:%d", c.EPSG)
}

// Common systems.
var (
	WGS84       = CRS{EPSG: 4326, Name: "WGS 84", Geographic: true}
	CGCS2000    = CRS{EPSG: 4490, Name: "China Geodetic Coordinate System 2000", Geographic: true}
	WebMercator = CRS{EPSG: 3857, Name: "WGS 84 / Pseudo-Mercator"}
	GCJ02       = CRS{EPSG: 4326, GCJ02: true, Name: "GCJ-02 (Chinese web maps)", Geographic: true}
	CGCS2000GK3 = CRS{EPSG: 4549, Name: "CGCS2000 / 3-degree Gauss-Kruger CM 120E"}
	CGCS2000Z40 = CRS{EPSG: 4528, Name: "CGCS2000 / 3-degree Gauss-Kruger zone 40"}
	knownByEPSG = map[int]CRS{4326: WGS84, 4490: CGCS2000, 3857: WebMercator, 4549: CGCS2000GK3, 4528: CGCS2000Z40, 900913: WebMercator, 3785: WebMercator}
)

// ParseUser parses what a user passes as ?crs=: "EPSG:4549", "4549",
// "urn:ogc:def:crs:EPSG::4549", "CRS84" or "gcj02".
func ParseUser(s string) (CRS, error) {
	t := strings.TrimSpace(strings.ToLower(s))
	switch t {
	case "gcj02", "gcj-02", "gcj_02":
		return GCJ02, nil
	case "crs84", "urn:ogc:def:crs:ogc:1.3:crs84", "urn:ogc:def:crs:ogc::crs84", "wgs84":
		return WGS84, nil
	}
	for _, prefix := range []string{"urn:ogc:def:crs:epsg::", "urn:ogc:def:crs:epsg:", "epsg:", "http://www.opengis.net/def/crs/epsg/0/"} {
		t = strings.TrimPrefix(t, prefix)
	}
	code, err := strconv.Atoi(t)
	if err != nil || code <= 0 {
		return CRS{}, fmt.Errorf("unknown coordinate system %q: pass EPSG:<code> (e.g. EPSG:4549) or gcj02", s)
	}
	return FromEPSG(code), nil
}

// FromEPSG returns the CRS for an EPSG code, named where gusu knows it.
func FromEPSG(code int) CRS {
	if c, ok := knownByEPSG[code]; ok {
		return c
	}
	for _, d := range chineseDatums {
		if d.geographic == code {
			return CRS{EPSG: code, Name: d.name, Geographic: true}
		}
		if name, ok := d.gkName(code); ok {
			return CRS{EPSG: code, Name: name}
		}
	}
	return CRS{EPSG: code, Name: fmt.Sprintf("EPSG:%d", code)}
}

// Extent is a bounding box of raw coordinates.
type Extent struct{ MinX, MinY, MaxX, MaxY float64 }

// LooksGeographic reports whether the extent fits in lon/lat ranges.
func (e Extent) LooksGeographic() bool {
	return e.MinX >= -180 && e.MaxX <= 180 && e.MinY >= -90 && e.MaxY <= 90
}

// Suggest names likely coordinate systems for projected coordinates around
// Suzhou, for error messages when a file declares none.
func (e Extent) Suggest() string {
	switch {
	case e.MinX >= 39e6 && e.MaxX <= 41e6 && e.MinY > 3e6 && e.MaxY < 4e6:
		return "the x values carry a zone prefix 40: this looks like CGCS2000 3-degree Gauss-Kruger zone 40, pass ?crs=EPSG:4528"
	case e.MinX >= 100000 && e.MaxX <= 900000 && e.MinY > 3e6 && e.MaxY < 4e6:
		return "this looks like CGCS2000 3-degree Gauss-Kruger CM 120E (Suzhou's usual), pass ?crs=EPSG:4549"
	case math.Abs(e.MinX) <= 20037509 && math.Abs(e.MaxX) <= 20037509 && e.MinX > 1e7:
		return "this looks like Web Mercator, pass ?crs=EPSG:3857"
	}
	return "pass ?crs=EPSG:<code>"
}
