package build

import (
	"fmt"
	"path/filepath"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
)

// buildRedLines takes the GSHHG lakes that reach Suzhou as provisional
// ecological red lines. They are flagged approximate: the official red-line
// polygons are not public and are to be uploaded by GIS staff. Clipping to
// the city boundary happens in PostGIS at load time.
func buildRedLines(raw string, region orb.Bound) (*geojson.FeatureCollection, error) {
	var lakes geojson.FeatureCollection
	path := filepath.Join(raw, "gshhg-2.3.7/lakes_gshhg_f.geojson")
	if err := readJSON(path, &lakes); err != nil {
		return nil, err
	}
	fc := geojson.NewFeatureCollection()
	for _, f := range lakes.Features {
		nameZh, _ := f.Properties["name_zh"].(string)
		if nameZh == "" || !region.Intersects(f.Geometry.Bound()) {
			continue // the unnamed GSHHG lakes lie outside Suzhou
		}
		nf := geojson.NewFeature(f.Geometry)
		nf.Properties = geojson.Properties{
			"name":             nameZh,
			"name_en":          f.Properties["name_en"],
			"category":         "lake",
			"protection_level": "unknown",
			"approximate":      true,
			"source":           "GSHHG 2.3.7 full-resolution lake outline (WDBII, about 1:1M), clipped to the city boundary on load",
		}
		fc.Append(nf)
	}
	if len(fc.Features) == 0 {
		return nil, fmt.Errorf("%s: no named lake reaches Suzhou", path)
	}
	sortFeatures(fc, func(f *geojson.Feature) string { return fmt.Sprint(f.Properties["name"]) })
	return fc, nil
}

// buildWater takes every GSHHG lake that reaches the region as water the
// accessibility model cannot cross. The Yangtze needs no polygon: it lies
// outside the city's land, which is all the model walks on.
func buildWater(raw string, region orb.Bound) (*geojson.FeatureCollection, error) {
	var lakes geojson.FeatureCollection
	path := filepath.Join(raw, "gshhg-2.3.7/lakes_gshhg_f.geojson")
	if err := readJSON(path, &lakes); err != nil {
		return nil, err
	}
	fc := geojson.NewFeatureCollection()
	for _, f := range lakes.Features {
		if !region.Intersects(f.Geometry.Bound()) {
			continue
		}
		nf := geojson.NewFeature(f.Geometry)
		nf.Properties = geojson.Properties{"name": f.Properties["name_zh"], "name_en": f.Properties["name_en"], "kind": "lake",
			"source": "GSHHG 2.3.7 full-resolution lake outline (WDBII)"}
		fc.Append(nf)
	}
	sortFeatures(fc, func(f *geojson.Feature) string { return fmt.Sprint(f.Properties["name_en"], f.Geometry.Bound().Min) })
	return fc, nil
}
