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
	"regexp"
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
	if name, ok := cgcs2000GKName(code); ok {
		return CRS{EPSG: code, Name: name}
	}
	return CRS{EPSG: code, Name: fmt.Sprintf("EPSG:%d", code), Geographic: code == 4490 || code == 4326 || code == 4214 || code == 4610}
}

func cgcs2000GKName(code int) (string, bool) {
	switch {
	case code >= 4491 && code <= 4501:
		return fmt.Sprintf("CGCS2000 / Gauss-Kruger zone %d", code-4491+13), true
	case code >= 4502 && code <= 4512:
		return fmt.Sprintf("CGCS2000 / Gauss-Kruger CM %dE", 75+6*(code-4502)), true
	case code >= 4513 && code <= 4533:
		return fmt.Sprintf("CGCS2000 / 3-degree Gauss-Kruger zone %d", code-4513+25), true
	case code >= 4534 && code <= 4554:
		return fmt.Sprintf("CGCS2000 / 3-degree Gauss-Kruger CM %dE", 75+3*(code-4534)), true
	}
	return "", false
}

var (
	authorityRe = regexp.MustCompile(`(?i)AUTHORITY\s*\[\s*"EPSG"\s*,\s*"?(\d+)"?\s*\]\s*\]\s*$`)
	idRe        = regexp.MustCompile(`(?i)\bID\s*\[\s*"EPSG"\s*,\s*(\d+)\s*\]\s*\]\s*$`)
	paramRe     = regexp.MustCompile(`(?i)PARAMETER\s*\[\s*"([^"]+)"\s*,\s*([-+0-9.eE]+)`)
	nameRe      = regexp.MustCompile(`^\s*(?i:PROJCS|GEOGCS|PROJCRS|GEOGCRS|GEODCRS)\s*\[\s*"([^"]*)"`)
)

// FromWKT identifies the CRS of a WKT string (a .prj file or a GeoPackage
// srs definition). It trusts a top-level EPSG authority when present;
// otherwise it recognises the names ArcGIS writes and, for CGCS2000
// Gauss-Krüger projections, works the EPSG code out from the central
// meridian and false easting. It fails rather than guess.
func FromWKT(wkt string) (CRS, error) {
	w := strings.TrimSpace(wkt)
	if w == "" {
		return CRS{}, fmt.Errorf("empty coordinate system definition")
	}
	if m := authorityRe.FindStringSubmatch(w); m != nil {
		code, _ := strconv.Atoi(m[1])
		return FromEPSG(code), nil
	}
	if m := idRe.FindStringSubmatch(w); m != nil {
		code, _ := strconv.Atoi(m[1])
		return FromEPSG(code), nil
	}
	name := ""
	if m := nameRe.FindStringSubmatch(w); m != nil {
		name = m[1]
	}
	upper := strings.ToUpper(w)
	projected := strings.HasPrefix(upper, "PROJCS") || strings.HasPrefix(upper, "PROJCRS")
	cgcs := strings.Contains(upper, "CGCS2000") || strings.Contains(upper, "CHINA_GEODETIC_COORDINATE_SYSTEM_2000") || strings.Contains(upper, "CHINA GEODETIC COORDINATE SYSTEM 2000") || strings.Contains(upper, "CHINA_2000")
	wgs := strings.Contains(upper, "WGS_1984") || strings.Contains(upper, "WGS 84") || strings.Contains(upper, "WGS84")
	if !projected {
		switch {
		case cgcs:
			return CGCS2000, nil
		case wgs:
			return WGS84, nil
		}
		return CRS{}, fmt.Errorf("unrecognised geographic coordinate system %q: pass ?crs=EPSG:<code>", name)
	}
	params := map[string]float64{}
	for _, m := range paramRe.FindAllStringSubmatch(w, -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err == nil {
			params[strings.ToLower(strings.ReplaceAll(m[1], " ", "_"))] = v
		}
	}
	if wgs && (strings.Contains(upper, "MERCATOR_AUXILIARY_SPHERE") || strings.Contains(upper, "PSEUDO-MERCATOR") || strings.Contains(upper, "PSEUDO_MERCATOR") || strings.Contains(upper, "WEB_MERCATOR")) {
		return WebMercator, nil
	}
	if cgcs && (strings.Contains(upper, "GAUSS") || strings.Contains(upper, "TRANSVERSE_MERCATOR") || strings.Contains(upper, "TRANSVERSE MERCATOR")) {
		if code, ok := cgcs2000GKCode(params); ok {
			return FromEPSG(code), nil
		}
	}
	return CRS{}, fmt.Errorf("unrecognised projected coordinate system %q: pass ?crs=EPSG:<code> (e.g. EPSG:4549 for CGCS2000 3-degree Gauss-Kruger CM 120E)", name)
}

// cgcs2000GKCode finds the EPSG code of a CGCS2000 Gauss-Krüger projection:
// 3-degree zones have central meridians at multiples of 3°, 6-degree zones
// at 3° + multiples of 6°; a false easting of zone×1,000,000 + 500,000
// marks the "zone" variant, plain 500,000 the "CM" variant. Scale factor 1.
func cgcs2000GKCode(p map[string]float64) (int, bool) {
	cm, ok := p["central_meridian"]
	if !ok {
		cm, ok = p["longitude_of_natural_origin"]
	}
	fe, ok2 := p["false_easting"]
	if !ok || !ok2 {
		return 0, false
	}
	if k, has := p["scale_factor"]; has && math.Abs(k-1) > 1e-9 {
		return 0, false
	}
	if fn := p["false_northing"]; fn != 0 {
		return 0, false
	}
	if lat, has := p["latitude_of_origin"]; has && lat != 0 {
		return 0, false
	}
	icm := int(math.Round(cm))
	if math.Abs(cm-float64(icm)) > 1e-9 {
		return 0, false
	}
	if icm%3 == 0 && icm >= 75 && icm <= 135 { // 3-degree
		zone := icm / 3
		switch fe {
		case 500000:
			return 4534 + (icm-75)/3, true
		case float64(zone)*1e6 + 500000:
			return 4513 + zone - 25, true
		}
	}
	if (icm-3)%6 == 0 && icm >= 75 && icm <= 135 { // 6-degree
		zone := (icm + 3) / 6
		switch fe {
		case 500000:
			return 4502 + (icm-75)/6, true
		case float64(zone)*1e6 + 500000:
			return 4491 + zone - 13, true
		}
	}
	return 0, false
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
