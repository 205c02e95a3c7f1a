package build

import (
	"archive/zip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/clip"
	"github.com/paulmach/orb/geojson"

	"github.com/gusu-gis/gusu/geo/gcj02"
	"github.com/gusu-gis/gusu/geo/shp"
)

// Rail kinds and statuses, as stored in rail_lines/rail_stations.
const (
	KindHighSpeed    = "high_speed"
	KindIntercity    = "intercity"
	KindConventional = "conventional"
	KindMetro        = "metro"
	KindTram         = "tram"

	StatusExisting = "existing"
	StatusPlanned  = "planned"
)

type amapMetro struct {
	Lines []struct {
		ID, Name, FullName, Color string
		StationIDs                []string `json:"stationIds"`
	} `json:"lines"`
	Stations []struct {
		ID, Name, Pinyin string
		Lng, Lat         float64
		Transfer         bool
		LineNames        []string `json:"lineNames"`
	} `json:"stations"`
}

func readAMap(raw string) (*amapMetro, error) {
	var m amapMetro
	if err := readJSON(filepath.Join(raw, "amap-metro-mdjhx2018/suzhou.json"), &m); err != nil {
		return nil, err
	}
	return &m, nil
}

func buildRailLines(raw string, region orb.Bound) (*geojson.FeatureCollection, error) {
	fc := geojson.NewFeatureCollection()

	// Metro: AMap gives station order but no track, so lines join stations
	// in order and are flagged schematic.
	m, err := readAMap(raw)
	if err != nil {
		return nil, err
	}
	pos := map[string]orb.Point{}
	for _, s := range m.Stations {
		pos[s.ID] = gcj02.ToWGS84(orb.Point{s.Lng, s.Lat})
	}
	for _, l := range m.Lines {
		var ls orb.LineString
		for _, id := range l.StationIDs {
			p, ok := pos[id]
			if !ok {
				return nil, fmt.Errorf("metro %s: unknown station %s", l.Name, id)
			}
			ls = append(ls, p)
		}
		f := geojson.NewFeature(ls)
		f.Properties = geojson.Properties{
			"line_id": "amap:" + l.ID, "name": l.Name, "name_en": "Line " + strings.TrimSuffix(l.Name, "号线"),
			"kind": KindMetro, "status": StatusExisting, "schematic": true, "color": l.Color,
			"source": "AMap subway map via MDJHX2018/china-metro-visualization (station order; GCJ-02 converted)",
		}
		fc.Append(f)
	}

	// National rail: yeshan HSR (2023 compilation) and DCW conventional lines.
	hsr, err := readZippedShapefile(filepath.Join(raw, "yeshan-geographic-data/china/HighSpeedRail.zip"))
	if err != nil {
		return nil, err
	}
	for _, f := range hsr {
		g := clipLine(region, f.Geometry)
		if g == nil {
			continue
		}
		kph, _ := f.Properties["kph"].(int64)
		kind := KindHighSpeed
		if kph < 250 {
			kind = KindIntercity
		}
		status := StatusExisting
		if c := fmt.Sprint(f.Properties["condition"]); c != "Existing" && c != "Upgrade" {
			status = StatusPlanned
		}
		nf := geojson.NewFeature(g)
		nf.Properties = geojson.Properties{
			"line_id": fmt.Sprintf("yeshan-hsr:%v", f.Properties["OBJECTID"]), "name": f.Properties["line_chin"],
			"kind": kind, "status": status, "schematic": false, "design_speed_kph": kph,
			"source": "yeshancqcq/geographic_data HighSpeedRail (2023 compilation), clipped to the region",
		}
		fc.Append(nf)
	}
	dcw, err := readZippedShapefile(filepath.Join(raw, "yeshan-geographic-data/china/CHN_rails.zip"))
	if err != nil {
		return nil, err
	}
	for _, f := range dcw {
		g := clipLine(region, f.Geometry)
		if g == nil {
			continue
		}
		nf := geojson.NewFeature(g)
		nf.Properties = geojson.Properties{
			"line_id": fmt.Sprintf("dcw:%v", f.Properties["FID_rail_d"]), "name": "铁路 (DCW)",
			"kind": KindConventional, "status": StatusExisting, "schematic": false,
			"source": "Digital Chart of the World railways via DIVA-GIS (2007), clipped to the region",
		}
		fc.Append(nf)
	}

	// RailVista corridors: OSM-derived lines of three newer railways.
	for _, c := range []struct{ file, kind string }{
		{"hutong.json", KindConventional}, {"huningyanjiang.json", KindHighSpeed}, {"husuhu.json", KindHighSpeed},
	} {
		var rv struct {
			ID, Name string
			Railway  [][]float64 `json:"railway"`
		}
		if err := readJSON(filepath.Join(raw, "railvista-corridors", c.file), &rv); err != nil {
			return nil, err
		}
		var ls orb.LineString
		for _, p := range rv.Railway {
			ls = append(ls, orb.Point{p[0], p[1]})
		}
		g := clipLine(region, ls)
		if g == nil {
			continue
		}
		nf := geojson.NewFeature(g)
		nf.Properties = geojson.Properties{
			"line_id": "railvista:" + rv.ID, "name": rv.Name, "kind": c.kind, "status": StatusExisting,
			"schematic": false, "approximate": true,
			"source": "WT006/RailVista corridor (OSM-derived, gaps filled with straight lines), clipped to the region",
		}
		fc.Append(nf)
	}
	sortFeatures(fc, func(f *geojson.Feature) string { return fmt.Sprint(f.Properties["line_id"]) })
	return fc, nil
}

// clipLine clips a line to the region's bounding box and returns nil if
// nothing is left. Z values were already dropped by the reader.
func clipLine(region orb.Bound, g orb.Geometry) orb.Geometry {
	if g == nil || !region.Intersects(g.Bound()) {
		return nil
	}
	out := clip.Geometry(region, g)
	switch o := out.(type) {
	case orb.LineString:
		if len(o) < 2 {
			return nil
		}
	case orb.MultiLineString:
		var keep orb.MultiLineString
		for _, l := range o {
			if len(l) >= 2 {
				keep = append(keep, l)
			}
		}
		switch len(keep) {
		case 0:
			return nil
		case 1:
			return keep[0]
		}
		return keep
	case nil:
		return nil
	}
	return out
}

func buildRailStations(raw, curated string, counties []*county) (*geojson.FeatureCollection, error) {
	fc := geojson.NewFeatureCollection()
	m, err := readAMap(raw)
	if err != nil {
		return nil, err
	}
	for _, s := range m.Stations {
		f := geojson.NewFeature(gcj02.ToWGS84(orb.Point{s.Lng, s.Lat}))
		f.Properties = geojson.Properties{
			"station_id": "amap:" + s.ID, "name": s.Name, "pinyin": s.Pinyin, "kind": KindMetro,
			"lines": s.LineNames, "transfer": s.Transfer, "status": StatusExisting,
			"source": "AMap subway map via MDJHX2018/china-metro-visualization (GCJ-02 converted)",
		}
		fc.Append(f)
	}
	hsr, err := readZippedShapefile(filepath.Join(raw, "yeshan-geographic-data/china/HighSpeedRailStation.zip"))
	if err != nil {
		return nil, err
	}
	for _, s := range hsr {
		p, ok := s.Geometry.(orb.Point)
		if !ok || countyAt(counties, p) == nil {
			continue
		}
		kph, _ := s.Properties["speed_kph"].(int64)
		kind := KindHighSpeed
		if kph < 250 {
			kind = KindIntercity
		}
		line := strings.TrimSuffix(fmt.Sprint(s.Properties["line_name"]), "/车站")
		f := geojson.NewFeature(p)
		f.Properties = geojson.Properties{
			"station_id": fmt.Sprintf("yeshan-hsr:%v", s.Properties["OBJECTID"]), "name": s.Properties["NAME_ZH"],
			"kind": kind, "lines": []string{line}, "status": StatusExisting,
			"source": "yeshancqcq/geographic_data HighSpeedRailStation (2023 compilation)",
		}
		fc.Append(f)
	}
	cur, err := readCuratedStations(filepath.Join(curated, "stations.csv"))
	if err != nil {
		return nil, err
	}
	for _, f := range cur {
		fc.Append(f)
	}
	sortFeatures(fc, func(f *geojson.Feature) string { return fmt.Sprint(f.Properties["station_id"]) })
	return fc, nil
}

func readCuratedStations(path string) ([]*geojson.Feature, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comment = '#'
	recs, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	var out []*geojson.Feature
	for i, rec := range recs[1:] {
		lon, err1 := strconv.ParseFloat(rec[3], 64)
		lat, err2 := strconv.ParseFloat(rec[4], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s row %d: bad coordinates", path, i+2)
		}
		f := geojson.NewFeature(orb.Point{lon, lat})
		f.Properties = geojson.Properties{
			"station_id": rec[0], "name": rec[1], "name_en": rec[2], "kind": rec[5],
			"lines": strings.Split(rec[6], ";"), "status": StatusExisting,
			"source": "WT006/RailVista data/stations-geo.json (OSM-derived), as cited in shared/data/raw/SOURCES.md",
		}
		out = append(out, f)
	}
	return out, nil
}

type shpFeature = shp.Feature

func readZippedShapefile(path string) ([]shpFeature, error) {
	z, err := zip.OpenReader(path)
	if err != nil {
		return nil, err
	}
	defer z.Close()
	files, err := shp.FindShapefiles(z)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", path, err)
	}
	if len(files) != 1 {
		return nil, fmt.Errorf("%s holds %d shapefiles, want 1", path, len(files))
	}
	r, err := shp.Open(z, files[0], shp.Options{})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer r.Close()
	var out []shpFeature
	for {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		out = append(out, f)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out, nil
}
