package build

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/planar"

	"github.com/gusu-gis/gusu/geo/gcj02"
)

// Town-system levels, as stored in town_system.level.
const (
	LevelCentralCity = "central_city"
	LevelCountyCity  = "county_city"
	LevelTown        = "town"
)

// countyUnit describes one of Suzhou's ten county-level units. Codes are the
// National Bureau of Statistics codes (china-division); DataV numbers the
// Suzhou Industrial Park 320571 where the NBS uses 320576.
type countyUnit struct {
	code, dataVCode, nameEn, level string
}

var countyUnits = map[string]countyUnit{ // keyed by DataV adcode
	"320505": {"320505", "320505", "Huqiu District (Suzhou New District)", LevelCentralCity},
	"320506": {"320506", "320506", "Wuzhong District", LevelCentralCity},
	"320507": {"320507", "320507", "Xiangcheng District", LevelCentralCity},
	"320508": {"320508", "320508", "Gusu District", LevelCentralCity},
	"320509": {"320509", "320509", "Wujiang District", LevelCentralCity},
	"320571": {"320576", "320571", "Suzhou Industrial Park", LevelCentralCity},
	"320581": {"320581", "320581", "Changshu", LevelCountyCity},
	"320582": {"320582", "320582", "Zhangjiagang", LevelCountyCity},
	"320583": {"320583", "320583", "Kunshan", LevelCountyCity},
	"320585": {"320585", "320585", "Taicang", LevelCountyCity},
}

type county struct {
	code    string
	nameZh  string
	geom    orb.MultiPolygon
	bound   orb.Bound
	feature *geojson.Feature
}

// geonamesRow is one GeoNames cities500 row in Suzhou prefecture.
type geonamesRow struct {
	id, name, code string
	alt            []string
	lon, lat       float64
	population     int64
}

func buildCounties(raw string) ([]*county, error) {
	var fc geojson.FeatureCollection
	path := filepath.Join(raw, "datav-geomapdata-cn/master/citys/320500.json")
	if err := readJSON(path, &fc); err != nil {
		return nil, err
	}
	seats, err := readGeonames(raw)
	if err != nil {
		return nil, err
	}
	census, err := readCensus(raw, "3205")
	if err != nil {
		return nil, err
	}
	var out []*county
	for _, f := range fc.Features {
		adcode := fmt.Sprint(f.Properties["adcode"])
		u, ok := countyUnits[adcode]
		if !ok {
			return nil, fmt.Errorf("%s: unexpected adcode %s", path, adcode)
		}
		var mp orb.MultiPolygon
		switch g := gcj02.GeometryToWGS84(f.Geometry).(type) {
		case orb.Polygon:
			mp = orb.MultiPolygon{g}
		case orb.MultiPolygon:
			mp = g
		default:
			return nil, fmt.Errorf("%s: %s is a %T", path, adcode, g)
		}
		name := fmt.Sprint(f.Properties["name"])
		nf := geojson.NewFeature(mp)
		nf.Properties = geojson.Properties{
			"code":        u.code,
			"name_zh":     name,
			"name_en":     u.nameEn,
			"level":       u.level,
			"geom_source": "DataV.GeoAtlas county polygons (GCJ-02, converted to WGS84)",
		}
		if u.code != u.dataVCode {
			nf.Properties["datav_code"] = u.dataVCode
		}
		// The seat: the GeoNames first-order seat (PPLA3) that names this
		// unit, e.g. "Kunshan" for 昆山市 or 狮山街道 with alternate name 虎丘区.
		stem := strings.TrimSuffix(strings.TrimSuffix(name, "市"), "区")
		for _, s := range seats {
			if s.code != "PPLA3" {
				continue
			}
			if strings.EqualFold(s.name, u.nameEn) || slices.Contains(s.alt, stem+"区") || slices.Contains(s.alt, stem+"市") {
				nf.Properties["seat"] = map[string]any{"type": "Point", "coordinates": []float64{s.lon, s.lat}}
				nf.Properties["seat_source"] = "GeoNames " + s.id + " (" + s.name + ")"
				break
			}
		}
		// Whole-unit populations come from the census, never from GeoNames'
		// city figures, so that every county-level unit has one of the same kind.
		pop, ok := census[u.dataVCode]
		if !ok {
			return nil, fmt.Errorf("%s: no census row for %s (%s)", censusFile, u.dataVCode, name)
		}
		nf.Properties["population"] = pop
		nf.Properties["population_source"] = censusSource
		out = append(out, &county{code: u.code, nameZh: name, geom: mp, bound: mp.Bound(), feature: nf})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].code < out[j].code })
	return out, nil
}

func regionBound(counties []*county) orb.Bound {
	b := counties[0].bound
	for _, c := range counties[1:] {
		b = b.Union(c.bound)
	}
	return b
}

// countyAt returns the county-level unit containing p, or nil.
func countyAt(counties []*county, p orb.Point) *county {
	for _, c := range counties {
		if c.bound.Contains(p) && planar.MultiPolygonContains(c.geom, p) {
			return c
		}
	}
	return nil
}

func readGeonames(raw string) ([]geonamesRow, error) {
	path := filepath.Join(raw, "geonames-cities500/cities500-yangtze-delta.tsv")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rows []geonamesRow
	for i, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		c := strings.Split(line, "\t")
		if len(c) < 19 {
			return nil, fmt.Errorf("%s line %d: %d columns, want 19", path, i+1, len(c))
		}
		if c[10] != "04" || c[11] != "3205" { // Jiangsu, Suzhou prefecture
			continue
		}
		lat, err1 := strconv.ParseFloat(c[4], 64)
		lon, err2 := strconv.ParseFloat(c[5], 64)
		pop, _ := strconv.ParseInt(c[14], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s line %d: bad coordinates", path, i+1)
		}
		var alt []string
		if c[3] != "" {
			alt = strings.Split(c[3], ",")
		}
		rows = append(rows, geonamesRow{id: c[0], name: c[1], code: c[7], alt: alt, lon: lon, lat: lat, population: pop})
	}
	return rows, nil
}

type street struct{ code, name, areaCode string }

func readStreets(raw string) ([]street, error) {
	path := filepath.Join(raw, "china-division/streets.csv")
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	var out []street
	for _, r := range recs[1:] {
		if r[4] == "3205" {
			out = append(out, street{code: r[0], name: r[1], areaCode: r[2]})
		}
	}
	return out, nil
}

func isHan(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !unicode.Is(unicode.Han, r) {
			return false
		}
	}
	return true
}

func parentName(c *county) string {
	if c == nil {
		return "no county"
	}
	return c.nameZh
}

// matchStreet finds the official unit for a GeoNames place: a Chinese
// alternate name equal to the official name, or to it without its
// 镇/街道/乡 suffix, preferring units of the county-level unit that
// contains the point. Ambiguous matches are left unmatched.
func matchStreet(alt []string, parent string, streets []street) (street, bool) {
	var found []street
	seen := map[string]bool{}
	for _, a := range alt {
		if !isHan(a) || strings.HasSuffix(a, "区") || strings.HasSuffix(a, "市") {
			continue
		}
		for _, s := range streets {
			if (s.name == a || slices.Contains(nameStems(s.name), a)) && !seen[s.code] {
				seen[s.code] = true
				found = append(found, s)
			}
		}
	}
	var inParent []street
	for _, s := range found {
		if s.areaCode == parent {
			inParent = append(inParent, s)
		}
	}
	if len(inParent) == 1 {
		return inParent[0], true
	}
	if len(inParent) == 0 && len(found) == 1 {
		return found[0], true
	}
	return street{}, false
}

// buildTowns makes the "N": GeoNames township seats (PPLA4, and the PPLA3
// seats of subdistricts) with official names and codes where they match.
func buildTowns(raw string, counties []*county) ([]*geojson.Feature, []string, error) {
	rows, err := readGeonames(raw)
	if err != nil {
		return nil, nil, err
	}
	streets, err := readStreets(raw)
	if err != nil {
		return nil, nil, err
	}
	countySeat := map[string]bool{}
	for _, u := range countyUnits {
		if u.level == LevelCountyCity {
			countySeat[u.nameEn] = true
		}
	}
	matched := map[string]bool{}
	var towns []*geojson.Feature
	var missing []string
	for _, r := range rows {
		if r.code != "PPLA4" && !(r.code == "PPLA3" && !countySeat[r.name]) {
			continue
		}
		p := orb.Point{r.lon, r.lat}
		f := geojson.NewFeature(p)
		f.Properties = geojson.Properties{
			"level":       LevelTown,
			"name_en":     r.name,
			"geonames_id": r.id,
			"geom_source": "GeoNames cities500 " + r.code + " seat point",
		}
		c := countyAt(counties, p)
		parent := ""
		if c != nil {
			parent = c.code
			f.Properties["parent"] = c.code
			f.Properties["parent_name"] = c.nameZh
		} else {
			missing = append(missing, fmt.Sprintf("- %s (GeoNames %s) lies outside every county-level polygon: no parent.", r.name, r.id))
		}
		if s, ok := matchStreet(r.alt, parent, streets); ok {
			f.Properties["code"] = s.code
			f.Properties["name_zh"] = s.name
			f.Properties["unit_type"] = unitType(s.name)
			matched[s.code] = true
			// The official code outranks a point falling just across a
			// simplified (~1:1M) outline: the code names the county it is in.
			if s.areaCode != parent {
				for _, oc := range counties {
					if oc.code == s.areaCode {
						missing = append(missing, fmt.Sprintf("- %s (GeoNames %s, %s): the seat point lies in %s's simplified outline; parent %s taken from its official code.",
							r.name, r.id, s.name, parentName(c), oc.nameZh))
						f.Properties["parent"] = oc.code
						f.Properties["parent_name"] = oc.nameZh
					}
				}
			}
		} else {
			for _, a := range r.alt {
				if isHan(a) && !strings.HasSuffix(a, "区") && !strings.HasSuffix(a, "市") {
					f.Properties["name_zh"] = a
				}
			}
			missing = append(missing, fmt.Sprintf("- %s (GeoNames %s, %v): no unique official code in china-division/streets.csv.", r.name, r.id, f.Properties["name_zh"]))
		}
		if r.population > 0 {
			f.Properties["population"] = r.population
			f.Properties["population_source"] = "GeoNames " + r.id
		}
		towns = append(towns, f)
	}
	sort.Slice(towns, func(i, j int) bool {
		return fmt.Sprint(towns[i].Properties["geonames_id"]) < fmt.Sprint(towns[j].Properties["geonames_id"])
	})
	var unlocated []string
	for _, s := range streets {
		if !matched[s.code] {
			unlocated = append(unlocated, fmt.Sprintf("- %s %s", s.code, s.name))
		}
	}
	missing = append(missing, "", fmt.Sprintf("## Official town-level units with no location in any source (%d of %d)", len(unlocated), len(streets)), "",
		"These are in china-division/streets.csv (NBS 2023) but no source gives their seat or boundary, so they are not on the map.", "")
	missing = append(missing, unlocated...)
	return towns, append([]string{"## Towns", ""}, missing...), nil
}

func unitType(name string) string {
	switch {
	case strings.HasSuffix(name, "街道"):
		return "subdistrict"
	case strings.HasSuffix(name, "镇"):
		return "town"
	case strings.HasSuffix(name, "乡"):
		return "township"
	}
	return "other"
}

// nameStems returns the forms an official name may be cited by: without its
// 镇/街道/乡 suffix, and for names such as 科技城（东渚街道） or
// 浒墅关经开区（镇） also the part inside or before the brackets.
func nameStems(name string) []string {
	trim := func(s string) string {
		for _, suf := range []string{"街道", "镇", "乡", "经开区"} {
			s = strings.TrimSuffix(s, suf)
		}
		return s
	}
	out := []string{trim(name)}
	if i := strings.IndexAny(name, "（("); i > 0 {
		out = append(out, trim(name[:i]))
		inner := strings.TrimRight(name[i:], "）)")
		inner = strings.TrimLeft(strings.TrimPrefix(inner, "（"), "(")
		if stem := trim(inner); stem != "" {
			out = append(out, stem)
		}
	}
	return out
}
