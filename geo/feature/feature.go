// Package feature is what every file reader in geo/ yields to an upload:
// a geometry in orb's types, attributes as raw JSON, and the reason a
// feature cannot be used, if any.
package feature

import (
	"encoding/json"
	"math"

	"github.com/paulmach/orb"
)

// Feature is one feature read from a file.
type Feature struct {
	// Index is the 0-based position in the file, for reports.
	Index      int
	Geometry   orb.Geometry
	Properties map[string]json.RawMessage
	// Order lists the property names in the file's order.
	Order []string
	// Skip is why the feature cannot be used; empty when it can.
	Skip string
}

// Geometry families: a layer holds one (multi-part geometries included).
const (
	Points   = "point"
	Lines    = "line"
	Polygons = "polygon"
)

// Family returns g's geometry family, "" for nil or collections.
func Family(g orb.Geometry) string {
	switch g.(type) {
	case orb.Point, orb.MultiPoint:
		return Points
	case orb.LineString, orb.MultiLineString:
		return Lines
	case orb.Polygon, orb.MultiPolygon, orb.Ring:
		return Polygons
	}
	return ""
}

// Check returns why a geometry cannot be stored, or "": nil or empty
// geometries, non-finite coordinates, and collections (a layer holds one
// family of simple features).
func Check(g orb.Geometry) string {
	if g == nil {
		return "null geometry"
	}
	if _, ok := g.(orb.Collection); ok {
		return "GeometryCollection: split it into points, lines or polygons"
	}
	empty, bad := true, false
	visit(g, func(p orb.Point) {
		empty = false
		if math.IsNaN(p[0]) || math.IsNaN(p[1]) || math.IsInf(p[0], 0) || math.IsInf(p[1], 0) {
			bad = true
		}
	})
	switch {
	case empty:
		return "empty geometry"
	case bad:
		return "non-finite coordinates (NaN or Infinity)"
	}
	return ""
}

// visit calls f for every vertex of g.
func visit(g orb.Geometry, f func(orb.Point)) {
	switch g := g.(type) {
	case orb.Point:
		f(g)
	case orb.MultiPoint:
		for _, p := range g {
			f(p)
		}
	case orb.LineString:
		for _, p := range g {
			f(p)
		}
	case orb.MultiLineString:
		for _, l := range g {
			visit(l, f)
		}
	case orb.Ring:
		for _, p := range g {
			f(p)
		}
	case orb.Polygon:
		for _, r := range g {
			visit(r, f)
		}
	case orb.MultiPolygon:
		for _, p := range g {
			visit(p, f)
		}
	case orb.Collection:
		for _, c := range g {
			visit(c, f)
		}
	}
}
