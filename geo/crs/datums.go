package crs

import "fmt"

// datum is a geodetic datum Chinese GIS files use, with its ellipsoid and
// the EPSG codes of its lon/lat system and Gauss-Krüger projections. The
// code lists are ordered by central meridian (75°E up); a test checks each
// against PostGIS's spatial_ref_sys.
type datum struct {
	name       string
	a, rf      float64 // semi-major axis (m) and inverse flattening
	geographic int     // EPSG code of the lon/lat system
	// names are upper-case fragments of datum or GEOGCS names that denote it.
	names []string
	zone3 []int // 3-degree, false easting with zone prefix (CM 75..135)
	cm3   []int // 3-degree, false easting 500 km
	zone6 []int // 6-degree, zone prefix (CM 75..135)
	cm6   []int // 6-degree, 500 km
}

func span(first, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = first + i
	}
	return out
}

// chineseDatums are told apart by ellipsoid first (Krassowsky, IAG 1975,
// CGCS2000), then by name (Beijing 1954 and New Beijing share Krassowsky).
var chineseDatums = []datum{
	{name: "China Geodetic Coordinate System 2000", a: 6378137, rf: 298.257222101, geographic: 4490,
		names: []string{"CGCS2000", "CGCS_2000", "CHINA_GEODETIC_COORDINATE_SYSTEM_2000", "CHINA GEODETIC COORDINATE SYSTEM 2000", "CHINA_2000", "CHINA 2000"},
		zone3: span(4513, 21), cm3: span(4534, 21), zone6: span(4491, 11), cm6: span(4502, 11)},
	{name: "Xian 1980", a: 6378140, rf: 298.257, geographic: 4610,
		names: []string{"XIAN_1980", "XIAN 1980", "XI'AN 1980", "XIAN1980", "XIAN80"},
		zone3: span(2349, 21), cm3: span(2370, 21), zone6: span(2327, 11), cm6: span(2338, 11)},
	{name: "New Beijing", a: 6378245, rf: 298.3, geographic: 4555,
		names: []string{"NEW_BEIJING", "NEW BEIJING"},
		zone3: append(span(4652, 5), span(4766, 16)...), cm3: append(span(4782, 19), 4812, 4822),
		zone6: span(4568, 11), cm6: span(4579, 11)},
	{name: "Beijing 1954", a: 6378245, rf: 298.3, geographic: 4214,
		names: []string{"BEIJING_1954", "BEIJING 1954", "BEIJING1954", "BEIJING54"},
		zone3: span(2401, 21), cm3: span(2422, 21), zone6: span(21413, 11), cm6: span(21453, 11)},
}

// gkCode is the EPSG code of this datum's Gauss-Krüger projection with
// central meridian cm (whole degrees) and false easting fe.
func (d datum) gkCode(cm int, fe float64) (int, bool) {
	if cm < 75 || cm > 135 {
		return 0, false
	}
	if cm%3 == 0 {
		i, zone := (cm-75)/3, cm/3
		switch fe {
		case 500000:
			return d.cm3[i], true
		case float64(zone)*1e6 + 500000:
			return d.zone3[i], true
		}
	}
	if (cm-3)%6 == 0 {
		i, zone := (cm-75)/6, (cm+3)/6
		switch fe {
		case 500000:
			return d.cm6[i], true
		case float64(zone)*1e6 + 500000:
			return d.zone6[i], true
		}
	}
	return 0, false
}

// gkName names an EPSG code of this datum's Gauss-Krüger projections.
func (d datum) gkName(code int) (string, bool) {
	for i, c := range d.zone3 {
		if c == code {
			return fmt.Sprintf("%s / 3-degree Gauss-Kruger zone %d", d.name, 25+i), true
		}
	}
	for i, c := range d.cm3 {
		if c == code {
			return fmt.Sprintf("%s / 3-degree Gauss-Kruger CM %dE", d.name, 75+3*i), true
		}
	}
	for i, c := range d.zone6 {
		if c == code {
			return fmt.Sprintf("%s / Gauss-Kruger zone %d", d.name, 13+i), true
		}
	}
	for i, c := range d.cm6 {
		if c == code {
			return fmt.Sprintf("%s / Gauss-Kruger CM %dE", d.name, 75+6*i), true
		}
	}
	return "", false
}
