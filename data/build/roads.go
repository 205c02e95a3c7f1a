package build

import (
	"fmt"
	"path/filepath"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
)

// RoadsFile holds the old city's OSM streets, the bundled road network.
const RoadsFile = "roads_gusu.geojson"

// roadsRaw is the OSM street export of Gusu and its edges (ODbL; WGS84;
// see data/SOURCES.md).
const roadsRaw = "osm-zhwal-gusu-roads/suzhou_roads_gusu.json"

// buildRoads keeps the lines and the tags the road reader uses (highway,
// name), in the file's order; the author's walk_class and index are not
// OSM's and are left out.
func buildRoads(raw string) (*geojson.FeatureCollection, error) {
	var in geojson.FeatureCollection
	if err := readJSON(filepath.Join(raw, roadsRaw), &in); err != nil {
		return nil, err
	}
	out := geojson.NewFeatureCollection()
	for i, f := range in.Features {
		switch f.Geometry.(type) {
		case orb.LineString, orb.MultiLineString:
		default:
			return nil, fmt.Errorf("%s: feature %d is a %s, not a line", roadsRaw, i, f.Geometry.GeoJSONType())
		}
		hw, _ := f.Properties["highway"].(string)
		if hw == "" {
			return nil, fmt.Errorf("%s: feature %d has no highway tag", roadsRaw, i)
		}
		g := geojson.NewFeature(f.Geometry)
		g.Properties = geojson.Properties{"highway": hw}
		if name, _ := f.Properties["name"].(string); name != "" {
			g.Properties["name"] = name
		}
		out.Append(g)
	}
	if len(out.Features) == 0 {
		return nil, fmt.Errorf("%s holds no lines", roadsRaw)
	}
	return out, nil
}
