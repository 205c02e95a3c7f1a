package build

import (
	"fmt"
	"path/filepath"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/clip"
	"github.com/paulmach/orb/geojson"
)

// BasemapWaterFile holds the basemap's water lines: the Yangtze shore and
// the rivers and canals GSHHG/WDBII has, around the city.
const BasemapWaterFile = "basemap_water.geojson"

// basemapMargin is how far around the city the basemap reaches (degrees).
const basemapMargin = 0.3

// buildBasemapWater keeps, within the region widened by basemapMargin, the
// GSHHG level-1 shore (the mainland line and the islands' outlines) and the
// WDBII rivers and canals, as lines: GSHHG's shore is an open line, so the
// Yangtze is drawn as its banks, not filled. Names are the source's own
// identifications (marked "likely" there) where it has them.
func buildBasemapWater(raw string, region orb.Bound) (*geojson.FeatureCollection, error) {
	frame := orb.Bound{Min: orb.Point{region.Min[0] - basemapMargin, region.Min[1] - basemapMargin},
		Max: orb.Point{region.Max[0] + basemapMargin, region.Max[1] + basemapMargin}}
	fc := geojson.NewFeatureCollection()
	add := func(g orb.Geometry, kind string, props geojson.Properties, source string) {
		clipped := clip.Geometry(frame, g)
		if clipped == nil {
			return
		}
		switch c := clipped.(type) {
		case orb.LineString:
			if len(c) < 2 {
				return
			}
			clipped = orb.MultiLineString{c}
		case orb.MultiLineString:
			if len(c) == 0 {
				return
			}
		default:
			return
		}
		f := geojson.NewFeature(clipped)
		f.Properties = geojson.Properties{"kind": kind, "source": source}
		for k, v := range props {
			if v != nil && v != "" {
				f.Properties[k] = v
			}
		}
		fc.Append(f)
	}
	var shore geojson.FeatureCollection
	if err := readJSON(filepath.Join(raw, "gshhg-2.3.7/shoreline_l1_gshhg_f.geojson"), &shore); err != nil {
		return nil, err
	}
	for _, f := range shore.Features {
		props := geojson.Properties{"name": f.Properties["identified_as_zh"], "name_en": f.Properties["identified_as_en"]}
		switch g := f.Geometry.(type) {
		case orb.LineString:
			props["name"], props["name_en"] = "长江岸线", "Yangtze shore"
			add(g, "shore", props, "GSHHG 2.3.7 full-resolution level-1 shoreline")
		case orb.Polygon:
			add(orb.LineString(g[0]), "shore", props, "GSHHG 2.3.7 full-resolution level-1 island outline")
		}
	}
	var rivers geojson.FeatureCollection
	if err := readJSON(filepath.Join(raw, "gshhg-2.3.7/rivers_wdbii_f.geojson"), &rivers); err != nil {
		return nil, err
	}
	for _, f := range rivers.Features {
		kind := "river"
		if class, _ := f.Properties["class"].(string); class == "major canal" || class == "minor canal" {
			kind = "canal"
		}
		add(f.Geometry, kind, geojson.Properties{"name": f.Properties["identified_as_zh"], "name_en": f.Properties["identified_as_en"],
			"class": f.Properties["class"]}, "WDBII rivers and canals via GSHHG 2.3.7; names as identified in shared SOURCES.md (likely, not in the source)")
	}
	if len(fc.Features) == 0 {
		return nil, fmt.Errorf("no shore or river within the region")
	}
	sortFeatures(fc, func(f *geojson.Feature) string { return fmt.Sprint(f.Properties["kind"], f.Geometry.Bound().Min) })
	return fc, nil
}
