package crs

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

var (
	authorityRe = regexp.MustCompile(`(?i)AUTHORITY\s*\[\s*"EPSG"\s*,\s*"?(\d+)"?\s*\]\s*\]\s*$`)
	idRe        = regexp.MustCompile(`(?i)\bID\s*\[\s*"EPSG"\s*,\s*(\d+)\s*\]\s*\]\s*$`)
	paramRe     = regexp.MustCompile(`(?i)PARAMETER\s*\[\s*"([^"]+)"\s*,\s*([-+0-9.eE]+)`)
	nameRe      = regexp.MustCompile(`^\s*(?i:PROJCS|GEOGCS|PROJCRS|GEOGCRS|GEODCRS|BASEGEOGCRS)\s*\[\s*"([^"]*)"`)
	geogNameRe  = regexp.MustCompile(`(?i)\b(?:GEOGCS|BASEGEOGCRS|BASEGEODCRS|GEOGCRS|GEODCRS)\s*\[\s*"([^"]*)"`)
	datumRe     = regexp.MustCompile(`(?i)\b(?:DATUM|GEODETICDATUM)\s*\[\s*"([^"]*)"`)
	spheroidRe  = regexp.MustCompile(`(?i)\b(?:SPHEROID|ELLIPSOID)\s*\[\s*"([^"]*)"\s*,\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)`)
	primemRe    = regexp.MustCompile(`(?i)\b(?:PRIMEM|PRIMEMERIDIAN)\s*\[\s*"[^"]*"\s*,\s*([-+0-9.eE]+)`)
	// The projected unit is the last UNIT of a PROJCS (WKT1); WKT2 puts
	// LENGTHUNIT in its coordinate system.
	unitRe = regexp.MustCompile(`(?i)\b(?:UNIT|LENGTHUNIT)\s*\[\s*"([^"]*)"\s*,\s*([-+0-9.eE]+)`)
)

// wktFacts is what FromWKT reads from a definition.
type wktFacts struct {
	name, geogName, datumName, spheroidName string
	a, rf                                   float64
	hasSpheroid                             bool
	projected                               bool
	params                                  map[string]float64
	primem                                  float64
	lastUnit                                string
	lastUnitValue                           float64
	upper                                   string
}

func readWKT(w string) wktFacts {
	f := wktFacts{upper: strings.ToUpper(w), params: map[string]float64{}}
	if m := nameRe.FindStringSubmatch(w); m != nil {
		f.name = m[1]
	}
	f.projected = strings.HasPrefix(f.upper, "PROJCS") || strings.HasPrefix(f.upper, "PROJCRS")
	if m := geogNameRe.FindStringSubmatch(w); m != nil {
		f.geogName = m[1]
	}
	if m := datumRe.FindStringSubmatch(w); m != nil {
		f.datumName = m[1]
	}
	if m := spheroidRe.FindStringSubmatch(w); m != nil {
		a, err1 := strconv.ParseFloat(m[2], 64)
		rf, err2 := strconv.ParseFloat(m[3], 64)
		if err1 == nil && err2 == nil {
			f.spheroidName, f.a, f.rf, f.hasSpheroid = m[1], a, rf, true
		}
	}
	if m := primemRe.FindStringSubmatch(w); m != nil {
		f.primem, _ = strconv.ParseFloat(m[1], 64)
	}
	for _, m := range paramRe.FindAllStringSubmatch(w, -1) {
		if v, err := strconv.ParseFloat(m[2], 64); err == nil {
			f.params[strings.ToLower(strings.ReplaceAll(m[1], " ", "_"))] = v
		}
	}
	if ms := unitRe.FindAllStringSubmatch(w, -1); len(ms) > 0 {
		last := ms[len(ms)-1]
		f.lastUnit = last[1]
		f.lastUnitValue, _ = strconv.ParseFloat(last[2], 64)
	}
	return f
}

// names are the datum-bearing names (never the whole text: "TOWGS84"
// contains "WGS84" in every Beijing 1954 definition).
func (f wktFacts) names() string {
	// Not the ellipsoid's name: NAD83 on a "WGS_1984" spheroid is not WGS 84.
	return strings.ToUpper(f.name + "|" + f.geogName + "|" + f.datumName)
}

func near(x, y, tol float64) bool { return math.Abs(x-y) <= tol }

// ellipsoid reports whether the definition's ellipsoid is (a, rf).
func (f wktFacts) ellipsoid(a, rf float64) bool {
	return f.hasSpheroid && near(f.a, a, 0.5) && near(f.rf, rf, 1e-6)
}

var wgs84Names = []string{"WGS_1984", "WGS 84", "WGS84", "WORLD GEODETIC SYSTEM 1984", "WGS_84"}

func anyIn(s string, frags []string) bool {
	for _, f := range frags {
		if strings.Contains(s, f) {
			return true
		}
	}
	return false
}

// FromWKT identifies the CRS of a WKT string (a .prj file or a GeoPackage
// srs definition). It trusts a top-level EPSG authority when present;
// otherwise it identifies the datum from the ellipsoid's parameters and
// the datum's name (WGS 84, CGCS2000, Xian 1980, Beijing 1954, New
// Beijing), and for Gauss-Krüger and UTM projections works the EPSG code
// out from the central meridian and false easting. It fails rather than
// guess: an unknown ellipsoid, a name that contradicts the ellipsoid, a
// prime meridian other than Greenwich or a unit other than the metre is an
// error that says to pass ?crs=.
func FromWKT(wkt string) (CRS, error) {
	w := strings.TrimSpace(wkt)
	if w == "" {
		return CRS{}, fmt.Errorf("empty coordinate system definition")
	}
	f := readWKT(w)
	for _, re := range []*regexp.Regexp{authorityRe, idRe} {
		if m := re.FindStringSubmatch(w); m != nil {
			code, err := strconv.Atoi(m[1])
			if err != nil || code <= 0 {
				return CRS{}, fmt.Errorf("the definition names EPSG code %q, which is no code: pass ?crs=EPSG:<code>", m[1])
			}
			c := FromEPSG(code)
			c.wkt = &f
			return c, nil
		}
	}
	c, err := identify(f)
	if err != nil {
		return CRS{}, err
	}
	c.wkt = &f
	return c, nil
}

func identify(f wktFacts) (CRS, error) {
	kind := "geographic"
	if f.projected {
		kind = "projected"
	}
	unknown := func(why string) error {
		return fmt.Errorf("unrecognised %s coordinate system %q (%s): pass ?crs=EPSG:<code>", kind, f.name, why)
	}
	if !f.hasSpheroid {
		return CRS{}, unknown("no ellipsoid given")
	}
	if f.primem != 0 {
		return CRS{}, unknown(fmt.Sprintf("prime meridian at %g°, not Greenwich", f.primem))
	}
	names := f.names()
	var d *datum
	wgs84 := false
	switch {
	case f.ellipsoid(6378137, 298.257223563):
		if !anyIn(names, wgs84Names) {
			return CRS{}, unknown("the WGS 84 ellipsoid under another datum's name")
		}
		wgs84 = true
	default:
		for i := range chineseDatums {
			cd := &chineseDatums[i]
			if f.ellipsoid(cd.a, cd.rf) && anyIn(names, cd.names) {
				d = cd
				break
			}
		}
		if d == nil {
			for _, cd := range chineseDatums {
				if anyIn(names, cd.names) {
					return CRS{}, unknown(fmt.Sprintf("named %s but its ellipsoid (a=%g, 1/f=%g) is not that datum's (a=%g, 1/f=%g)", cd.name, f.a, f.rf, cd.a, cd.rf))
				}
			}
			return CRS{}, unknown(fmt.Sprintf("ellipsoid %q a=%g, 1/f=%g is not one gusu identifies", f.spheroidName, f.a, f.rf))
		}
	}
	if !f.projected {
		if wgs84 {
			return WGS84, nil
		}
		return FromEPSG(d.geographic), nil
	}
	if f.lastUnit != "" && !near(f.lastUnitValue, 1, 1e-9) {
		return CRS{}, unknown(fmt.Sprintf("unit %q is not the metre", f.lastUnit))
	}
	p := f.params
	switch {
	case wgs84 && anyIn(f.upper, []string{"MERCATOR_AUXILIARY_SPHERE", "PSEUDO-MERCATOR", "PSEUDO_MERCATOR", "WEB_MERCATOR", "POPULAR VISUALISATION PSEUDO MERCATOR"}):
		return WebMercator, nil
	case !anyIn(f.upper, []string{"GAUSS", "TRANSVERSE_MERCATOR", "TRANSVERSE MERCATOR"}):
		return CRS{}, unknown("only Gauss-Krüger / transverse Mercator and Web Mercator projections are identified")
	}
	cm, ok := p["central_meridian"]
	if !ok {
		cm, ok = p["longitude_of_natural_origin"]
	}
	fe, ok2 := p["false_easting"]
	if !ok || !ok2 || p["latitude_of_origin"]+p["latitude_of_natural_origin"] != 0 {
		return CRS{}, unknown("its transverse Mercator parameters are incomplete or unusual")
	}
	icm := int(math.Round(cm))
	if !near(cm, float64(icm), 1e-9) {
		return CRS{}, unknown(fmt.Sprintf("central meridian %g is not a whole degree", cm))
	}
	k, hasK := p["scale_factor"]
	if !hasK {
		k, hasK = p["scale_factor_at_natural_origin"]
	}
	if !hasK {
		k = 1
	}
	fn := p["false_northing"]
	if wgs84 {
		// UTM: k 0.9996, false easting 500 km; north or south.
		zone := (icm + 183) / 6
		if near(k, 0.9996, 1e-9) && fe == 500000 && (icm+183)%6 == 0 && zone >= 1 && zone <= 60 {
			switch fn {
			case 0:
				return FromEPSG(32600 + zone), nil
			case 10000000:
				return FromEPSG(32700 + zone), nil
			}
		}
		return CRS{}, unknown("a WGS 84 transverse Mercator that is not a UTM zone")
	}
	if !near(k, 1, 1e-9) || fn != 0 {
		return CRS{}, unknown(fmt.Sprintf("scale factor %g and false northing %g are not Gauss-Krüger's (1 and 0)", k, fn))
	}
	if code, ok := d.gkCode(icm, fe); ok {
		return FromEPSG(code), nil
	}
	return CRS{}, unknown(fmt.Sprintf("no %s Gauss-Krüger zone has central meridian %d° with false easting %.0f", d.name, icm, fe))
}

// proj4Ellipsoids are the +ellps names PostGIS's proj4text uses for the
// datums gusu identifies.
var proj4Ellipsoids = map[string][2]float64{
	"WGS84": {6378137, 298.257223563}, "GRS80": {6378137, 298.257222101}, "krass": {6378245, 298.3},
}

// CheckAgainst compares what a WKT definition said (ellipsoid, central
// meridian, false easting, scale factor) with the definition of the
// identified code in PostGIS's spatial_ref_sys (its proj4text), so that an
// identification that does not hold is an error, not a silent shift. A CRS
// that came from a code, not a WKT, passes.
func (c CRS) CheckAgainst(proj4 string) error {
	f := c.wkt
	if f == nil || c.GCJ02 {
		return nil
	}
	p := map[string]string{}
	for _, field := range strings.Fields(proj4) {
		k, v, _ := strings.Cut(strings.TrimPrefix(field, "+"), "=")
		p[k] = v
	}
	num := func(k string) (float64, bool) {
		v, err := strconv.ParseFloat(p[k], 64)
		return v, err == nil
	}
	mismatch := func(what string, file, db any) error {
		return fmt.Errorf("the file's coordinate system %q does not match %s as PostGIS defines it: %s is %v in the file, %v in EPSG: pass ?crs=EPSG:<code>", f.name, c, what, file, db)
	}
	if f.hasSpheroid {
		var a, rf float64
		if e, ok := proj4Ellipsoids[p["ellps"]]; ok {
			a, rf = e[0], e[1]
		} else if p["datum"] == "WGS84" {
			a, rf = 6378137, 298.257223563
		} else if av, ok := num("a"); ok {
			a = av
			if bv, ok := num("b"); ok && av != bv {
				rf = av / (av - bv)
			} else if rv, ok := num("rf"); ok {
				rf = rv
			}
		}
		// Web Mercator's sphere is a projection trick, not the datum.
		if a != 0 && p["proj"] != "merc" && (!near(a, f.a, 0.5) || !near(rf, f.rf, 1e-3)) {
			return mismatch("the ellipsoid", fmt.Sprintf("a=%g 1/f=%g", f.a, f.rf), fmt.Sprintf("a=%g 1/f=%g", a, rf))
		}
	}
	if p["proj"] == "tmerc" {
		cm, ok1 := f.params["central_meridian"]
		if !ok1 {
			cm, ok1 = f.params["longitude_of_natural_origin"]
		}
		if lon0, ok := num("lon_0"); ok && ok1 && !near(lon0, cm, 1e-9) {
			return mismatch("the central meridian", cm, lon0)
		}
		if x0, ok := num("x_0"); ok {
			if fe, ok := f.params["false_easting"]; ok && !near(x0, fe, 1e-3) {
				return mismatch("the false easting", fe, x0)
			}
		}
	}
	return nil
}
