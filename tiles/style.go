package tiles

// Planning-map colours, shared by the style and the viewer's legend.
const (
	ColorBackground   = "#f5f3ee"
	ColorCentralCity  = "#f6d7b0" // districts of the central city (中心城区)
	ColorCountyCity   = "#cfe3f1" // county-level cities (县级市)
	ColorUnitOutline  = "#7a6a58"
	ColorTown         = "#8d4f2a"
	ColorRedLineFill  = "#3f9b4a" // protected area fill (生态保护红线)
	ColorRedLineEdge  = "#d7261e" // the red line itself
	ColorHighSpeed    = "#6a1b9a"
	ColorIntercity    = "#ad4fb8"
	ColorConventional = "#4d4d4d"
	ColorMetro        = "#0b72b9" // fallback when a metro line has no colour
	ColorTram         = "#2a9d8f"
	ColorStation      = "#ffffff"
)

// StyleLayers lists the layers the style draws, in drawing order.
var StyleLayers = []string{"town_system", "eco_redlines", "rail_lines", "rail_stations", "basemap_water"}

// ColorWater draws the basemap's shore, rivers and canals.
const ColorWater = "#5b9bd1"

// Style returns a MapLibre style (spec v8) for gusu's planning layers,
// reading the composite TileJSON at base. Labels are Chinese names, drawn
// with the browser's CJK fonts (see glyphs).
func Style(base string) map[string]any {
	kindColor := []any{"match", []any{"get", "kind"},
		"high_speed", ColorHighSpeed, "intercity", ColorIntercity, "conventional", ColorConventional,
		"tram", ColorTram, "metro", []any{"coalesce", []any{"get", "color"}, ColorMetro}, ColorConventional}
	planned := []any{"==", []any{"get", "status"}, "planned"}
	// Aggregated blocks of sub-pixel polygons are filled, never outlined:
	// their edges follow the pixel grid, not a boundary.
	notAggregate := []any{"!", []any{"has", AggregateCountField}}
	return map[string]any{
		"version": 8,
		"name":    "gusu planning map",
		"metadata": map[string]any{
			"gusu:layers": StyleLayers,
		},
		"glyphs": base + "/fonts/{fontstack}/{range}.pbf",
		"sources": map[string]any{
			"gusu": map[string]any{"type": "vector", "url": base + "/tiles/town_system,eco_redlines,rail_lines,rail_stations,basemap_water.json"},
			// One label point per unit (not per tile it spans): each name once.
			"town_labels": map[string]any{"type": "geojson", "data": base + "/api/layers/town_system/labels"},
			// Beyond the city: rail runs on past the boundary; this fades it.
			"city_outside": map[string]any{"type": "geojson", "data": base + "/api/layers/town_system/outside"},
		},
		"layers": []any{
			map[string]any{"id": "background", "type": "background", "paint": map[string]any{"background-color": ColorBackground}},
			map[string]any{"id": "town_system-fill", "type": "fill", "source": "gusu", "source-layer": "town_system",
				"filter": []any{"==", []any{"geometry-type"}, "Polygon"},
				"paint":  map[string]any{"fill-color": []any{"match", []any{"get", "level"}, "central_city", ColorCentralCity, ColorCountyCity}, "fill-opacity": 0.9}},
			map[string]any{"id": "town_system-outline", "type": "line", "source": "gusu", "source-layer": "town_system",
				"filter": []any{"all", []any{"==", []any{"geometry-type"}, "Polygon"}, notAggregate},
				"paint": map[string]any{"line-color": ColorUnitOutline, "line-width": []any{"interpolate", []any{"linear"}, []any{"zoom"}, 6, 0.6, 12, 1.6},
					"line-dasharray": []any{4, 2}}},
			map[string]any{"id": "eco_redlines-fill", "type": "fill", "source": "gusu", "source-layer": "eco_redlines",
				"paint": map[string]any{"fill-color": ColorRedLineFill, "fill-opacity": 0.55}},
			map[string]any{"id": "eco_redlines-line", "type": "line", "source": "gusu", "source-layer": "eco_redlines",
				"filter": notAggregate,
				"paint":  map[string]any{"line-color": ColorRedLineEdge, "line-width": []any{"interpolate", []any{"linear"}, []any{"zoom"}, 6, 1, 12, 2.5}}},
			map[string]any{"id": "rail_lines-existing", "type": "line", "source": "gusu", "source-layer": "rail_lines",
				"filter": []any{"!", planned},
				"layout": map[string]any{"line-cap": "round", "line-join": "round"},
				"paint": map[string]any{"line-color": kindColor,
					"line-width": []any{"interpolate", []any{"linear"}, []any{"zoom"}, 6, []any{"match", []any{"get", "kind"}, "metro", 1.2, "tram", 1, 1.8}, 13, []any{"match", []any{"get", "kind"}, "metro", 3.5, "tram", 2.5, 4.5}}}},
			map[string]any{"id": "rail_lines-planned", "type": "line", "source": "gusu", "source-layer": "rail_lines",
				"filter": planned,
				"paint":  map[string]any{"line-color": kindColor, "line-width": 2, "line-dasharray": []any{2, 2}, "line-opacity": 0.8}},
			map[string]any{"id": "town_system-towns", "type": "circle", "source": "gusu", "source-layer": "town_system",
				"filter": []any{"==", []any{"geometry-type"}, "Point"}, "minzoom": 7,
				"paint": map[string]any{"circle-color": ColorTown, "circle-radius": []any{"interpolate", []any{"linear"}, []any{"zoom"}, 7, 2, 12, 5},
					"circle-stroke-color": "#ffffff", "circle-stroke-width": 1}},
			map[string]any{"id": "rail_stations", "type": "circle", "source": "gusu", "source-layer": "rail_stations",
				"minzoom": 9,
				"paint": map[string]any{"circle-color": ColorStation,
					"circle-radius":       []any{"interpolate", []any{"linear"}, []any{"zoom"}, 9, []any{"match", []any{"get", "kind"}, "metro", 1.5, 3}, 14, []any{"match", []any{"get", "kind"}, "metro", 4, 6}},
					"circle-stroke-color": []any{"match", []any{"get", "kind"}, "metro", ColorMetro, ColorHighSpeed},
					"circle-stroke-width": 1.5}},
			// Outside the city everything fades into the background, so rail
			// lines end at the city boundary rather than at a rectangle.
			map[string]any{"id": "city-outside", "type": "fill", "source": "city_outside",
				"paint": map[string]any{"fill-color": ColorBackground, "fill-opacity": 0.85}},
			// The basemap's water, above the fade: context reaches past the city.
			map[string]any{"id": "basemap_water-shore", "type": "line", "source": "gusu", "source-layer": "basemap_water",
				"filter": []any{"==", []any{"get", "kind"}, "shore"},
				"paint":  map[string]any{"line-color": ColorWater, "line-opacity": 0.8, "line-width": []any{"interpolate", []any{"linear"}, []any{"zoom"}, 6, 0.7, 12, 2}}},
			map[string]any{"id": "basemap_water-rivers", "type": "line", "source": "gusu", "source-layer": "basemap_water",
				"filter": []any{"in", []any{"get", "kind"}, []any{"literal", []any{"river", "canal"}}},
				"paint":  map[string]any{"line-color": ColorWater, "line-opacity": 0.8, "line-width": []any{"interpolate", []any{"linear"}, []any{"zoom"}, 6, 1, 12, 3}}},
			map[string]any{"id": "basemap_water-label", "type": "symbol", "source": "gusu", "source-layer": "basemap_water", "minzoom": 9,
				"filter": []any{"all", []any{"in", []any{"get", "kind"}, []any{"literal", []any{"river", "canal"}}}, []any{"has", "name"}},
				"layout": map[string]any{"symbol-placement": "line", "text-field": []any{"get", "name"}, "text-font": []any{LabelFont}, "text-size": 11},
				"paint":  map[string]any{"text-color": "#2f6b9e", "text-halo-color": "#ffffff", "text-halo-width": 1.2}},
			// Labels that collide give way by priority: county-level units,
			// then towns, then stations. MapLibre places the topmost symbol
			// layer first, so the most important comes last.
			labelLayer("rail_stations-label", "rail_stations", nil, "name", 12, 24, 11, "#243447", "top"),
			labelLayer("town_system-label-towns", "town_system", []any{"==", []any{"geometry-type"}, "Point"}, "name_zh", 9, 24, 12, ColorTown, "top"),
			unitLabels(labelLayer("town_system-label-units", "", nil, "name_zh", 6, 11, 15, "#3d3326", "center")),
		},
	}
}

// unitLabels draws the units' names from their label points.
func unitLabels(l map[string]any) map[string]any {
	l["source"] = "town_labels"
	delete(l, "source-layer")
	return l
}

// labelLayer draws a name; "top" anchors it below a point symbol.
func labelLayer(id, sourceLayer string, filter any, field string, minzoom, maxzoom, size int, color, anchor string) map[string]any {
	offset := []any{0, 0}
	if anchor == "top" {
		offset = []any{0, 0.9}
	}
	l := map[string]any{"id": id, "type": "symbol", "source": "gusu", "source-layer": sourceLayer,
		"minzoom": minzoom, "maxzoom": maxzoom,
		"layout": map[string]any{"text-field": []any{"get", field}, "text-font": []any{LabelFont}, "text-size": size,
			"text-offset": offset, "text-anchor": anchor, "text-max-width": 8},
		"paint": map[string]any{"text-color": color, "text-halo-color": "#ffffff", "text-halo-width": 1.5},
	}
	if filter != nil {
		l["filter"] = filter
	}
	return l
}
