package tiles

import (
	"fmt"
	"math"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"
	"github.com/paulmach/orb/project"

	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/data/sqlkit"
)

// Query is SQL with its bound arguments, built without touching a database.
type Query = sqlkit.Query

// earthCircumference is the width of the EPSG:3857 world in metres.
const earthCircumference = 2 * math.Pi * 6378137

// screenTileSize is the size MapLibre draws a vector tile at, in CSS pixels.
const screenTileSize = 512

// Tolerance is the simplification tolerance at zoom z in EPSG:3857 metres:
// half a screen pixel, the largest error nobody can see.
func Tolerance(z maptile.Zoom) float64 {
	return earthCircumference / (screenTileSize * math.Exp2(float64(z))) / 2
}

// Zoom bands of gusu_tile_gen. Each layer keeps one EPSG:3857 copy per
// band: lines and polygons simplified at the band's highest zoom (so low
// zooms never touch full-resolution geometry), the last band unsimplified
// (so no tile pays for ST_Transform per row). Points only need the last.
var bands = []struct {
	Min, Max maptile.Zoom
	Simplify bool
}{{0, 5, true}, {6, 7, true}, {8, 9, true}, {10, 12, true}, {13, MaxZoom, false}}

// fullBand is the unsimplified band.
const fullBand = 4

// bandOf returns the band for zoom z of a layer of the given geometry type.
func bandOf(z maptile.Zoom, geometryType string) int {
	if geometryType == "point" {
		return fullBand
	}
	for i, b := range bands {
		if z >= b.Min && z <= b.Max {
			return i
		}
	}
	return fullBand
}

// LayerPlan is one layer's part of a tile: which columns, and whether its
// generalised copy (for this version) may be used.
type LayerPlan struct {
	Layer       *layers.Layer
	Properties  []layers.Column
	Generalized bool
	// Extent overrides the layer's MVT extent (0: the layer's), for tiles
	// over the size budget; the buffer scales with it.
	Extent int
	// MinAreaPx leaves out polygons smaller than this many pixels a side
	// (generalised copies only; 0: the band's own rule).
	MinAreaPx float64
	// ClusterPx, over the size budget, draws a point layer's points as one
	// point per cell of this many pixels, with their count (generalised
	// copies only; 0: every point).
	ClusterPx float64
}

// bufferedBound is the tile's lon/lat box grown by the layer's buffer, for
// the index filter on the 4326 geometry.
func bufferedBound(t maptile.Tile, extent, buffer int) orb.Bound {
	b := t.Bound()
	min := project.WGS84.ToMercator(b.Min)
	max := project.WGS84.ToMercator(b.Max)
	pad := (max[0] - min[0]) * float64(buffer) / float64(extent)
	min = project.Mercator.ToWGS84(orb.Point{min[0] - pad, min[1] - pad})
	max = project.Mercator.ToWGS84(orb.Point{max[0] + pad, max[1] + pad})
	return orb.Bound{Min: min, Max: max}
}

// TileQuery builds the one statement that makes a (possibly composite)
// tile: each layer's ST_AsMVT result, concatenated, which is a valid MVT
// because a tile is a sequence of layer messages.
func TileQuery(t maptile.Tile, plans []LayerPlan) Query {
	args := sqlkit.Args{int(t.Z), int(t.X), int(t.Y)}
	parts := make([]string, 0, len(plans))
	for _, p := range plans {
		parts = append(parts, layerSQL(t, p, args.Add))
	}
	return Query{SQL: "SELECT " + strings.Join(parts, "\n || "), Args: args}
}

// valueSQL is a column's value as a tile attribute: arrays (MVT values are
// scalars) become comma-separated text. Both tile paths use it, so a
// feature's attributes are the same whichever path made the tile.
func valueSQL(c layers.Column, alias string) string {
	id := alias + "." + sqlkit.Ident(c.Name)
	if strings.HasPrefix(c.PGType, "_") {
		return "array_to_string(" + id + ", ',')"
	}
	return id
}

// PropsSQL is a jsonb object of the tile attributes of cols (geometry
// columns left out, NULLs stripped), as stored with generalised copies.
func PropsSQL(cols []layers.Column, alias string) string {
	var pairs []sqlkit.Pair
	for _, c := range cols {
		if !c.IsGeometry() {
			pairs = append(pairs, sqlkit.Pair{Key: c.Name, Expr: valueSQL(c, alias)})
		}
	}
	return sqlkit.JSONObject(pairs)
}

func layerSQL(t maptile.Tile, p LayerPlan, arg func(any) string) string {
	l := p.Layer
	if p.ClusterPx > 0 && p.Generalized && l.GeometryType == "point" {
		return clusterSQL(t, p, arg)
	}
	var cols strings.Builder
	if p.Generalized {
		cols.WriteString("g.fid AS id, ")
		if excluded := excludedProps(l, p.Properties); len(excluded) > 0 {
			fmt.Fprintf(&cols, "g.props - %s::text[] AS props", arg(excluded))
		} else {
			cols.WriteString("g.props")
		}
	} else {
		cols.WriteString("t.id")
		for _, c := range p.Properties {
			fmt.Fprintf(&cols, ", %s AS %s", valueSQL(c, "t"), sqlkit.Ident(c.Name))
		}
	}
	extent, buffer := l.TileExtent, l.TileBuffer
	if p.Extent > 0 && p.Extent != extent {
		buffer = max(1, buffer*p.Extent/extent)
		extent = p.Extent
	}
	const env = "ST_TileEnvelope($1, $2, $3)"
	simplify := l.GeometryType != "point"
	var from, geom, aggregates string
	if p.Generalized {
		// Copies are already in 3857 and simplified for the band. The band is
		// a constant from this code, inlined so the planner picks its partial
		// index; the envelope with margin is the index filter.
		from = fmt.Sprintf("gusu_tile_gen g WHERE g.band = %d AND g.layer = %s::text AND g.geom && ST_TileEnvelope($1, $2, $3, margin => %s::float8)",
			bandOf(t.Z, l.GeometryType), arg(l.Name), arg(float64(buffer)/float64(extent)))
		if l.GeometryType == "polygon" && (t.Z < bands[fullBand].Min || p.MinAreaPx > 0) {
			// Sub-pixel polygons are invisible at this zoom (and, over the
			// size budget, polygons of a few pixels are left out too).
			px := 2 * Tolerance(t.Z) * max(1, p.MinAreaPx)
			from += fmt.Sprintf(" AND g.area >= %s::float8", arg(px*px))
		}
		geom = "g.geom"
		if l.GeometryType == "polygon" && (t.Z < bands[fullBand].Min || p.MinAreaPx > 0) {
			if az := aggregateZoom(t.Z, p.MinAreaPx); az >= 0 {
				// What the area filter leaves out, aggregated (aggregate.go).
				aggProps := "a.props"
				if excluded := excludedProps(l, p.Properties); len(excluded) > 0 {
					aggProps = fmt.Sprintf("a.props - %s::text[]", arg(excluded))
				}
				aggregates = fmt.Sprintf(`
  UNION ALL
  SELECT NULL::bigint, %s, ST_AsMVTGeom(a.geom, %s, %d, %d, true)
  FROM gusu_tile_agg a WHERE a.zoom = %d AND a.layer = %s::text AND a.geom && ST_TileEnvelope($1, $2, $3, margin => %s::float8)`,
					aggProps, env, extent, buffer, az, arg(l.Name), arg(float64(buffer)/float64(extent)))
			}
		}
	} else {
		bb := bufferedBound(t, extent, buffer)
		from = fmt.Sprintf("%s t WHERE t.geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)",
			sqlkit.Ident(l.Table), arg(bb.Min[0]), arg(bb.Min[1]), arg(bb.Max[0]), arg(bb.Max[1]))
		geom = "ST_Transform(t.geom, 3857)"
		if simplify {
			geom = fmt.Sprintf("ST_Simplify(%s, %s::float8, true)", geom, arg(Tolerance(t.Z)))
		}
	}
	// No "WHERE geom IS NOT NULL" on q: ST_AsMVT skips NULL geometries, and
	// the planner would push that filter into the scan and compute
	// ST_AsMVTGeom, the costliest step, twice per row. Features in id order
	// (aggregates, which have none, last in geometry order): the same tile
	// is the same bytes from any plan, instance or export, so ETags agree
	// across instances.
	return fmt.Sprintf(`COALESCE((SELECT ST_AsMVT(q, %s::text, %d, 'geom', 'id' ORDER BY q.id, q.geom) FROM (
  SELECT %s, ST_AsMVTGeom(%s, %s, %d, %d, true) AS geom
  FROM %s%s
) AS q), ''::bytea)`,
		arg(l.Name), extent, cols.String(), geom, env, extent, buffer, from, aggregates)
}

// clusterSQL draws a point layer as one point per grid cell of
// p.ClusterPx pixels (at the centroid of its points) carrying how many it
// stands for; a point alone in its cell is a cluster of one.
func clusterSQL(t maptile.Tile, p LayerPlan, arg func(any) string) string {
	l := p.Layer
	extent, buffer := l.TileExtent, l.TileBuffer
	if p.Extent > 0 && p.Extent != extent {
		buffer = max(1, buffer*p.Extent/extent)
		extent = p.Extent
	}
	cell := pixelSize(t.Z) * p.ClusterPx
	return fmt.Sprintf(`COALESCE((SELECT ST_AsMVT(q, %s::text, %d, 'geom', 'id' ORDER BY q.id, q.geom) FROM (
  SELECT NULL::bigint AS id, jsonb_build_object(%s::text, count(*)) AS props,
         ST_AsMVTGeom(ST_Centroid(ST_Collect(g.geom)), ST_TileEnvelope($1, $2, $3), %d, %d, true) AS geom
  FROM gusu_tile_gen g WHERE g.band = %d AND g.layer = %s::text AND g.geom && ST_TileEnvelope($1, $2, $3, margin => %s::float8)
  GROUP BY floor(ST_X(g.geom) / %s::float8), floor(ST_Y(g.geom) / %s::float8)
) AS q), ''::bytea)`,
		arg(l.Name), extent, arg(AggregateCountField), extent, buffer, fullBand, arg(l.Name), arg(float64(buffer)/float64(extent)), arg(cell), arg(cell))
}

// BaselineQuery is the statement pg_tileserv issues for one layer, for the
// benchmark: ST_AsMVT over ST_AsMVTGeom(ST_Transform(geom, 3857)) filtered
// with ST_Intersects against the transformed envelope, all attributes.
func BaselineQuery(t maptile.Tile, l *layers.Layer) Query {
	var cols []string
	for _, c := range l.Columns {
		if !c.IsGeometry() {
			cols = append(cols, "t."+sqlkit.Ident(c.Name))
		}
	}
	colList := ""
	if len(cols) > 0 {
		colList = ", " + strings.Join(cols, ", ")
	}
	sql := fmt.Sprintf(`SELECT ST_AsMVT(mvtgeom, $4) FROM (
  SELECT ST_AsMVTGeom(ST_Transform(t.geom, 3857), bounds.geom_clip, 4096, 256) AS geom, t.id%s
  FROM %s t, (SELECT ST_TileEnvelope($1, $2, $3) AS geom_clip,
                     ST_Transform(ST_TileEnvelope($1, $2, $3, margin => 0.0625), 4326) AS geom_query) bounds
  WHERE ST_Intersects(t.geom, bounds.geom_query)
) mvtgeom`, colList, sqlkit.Ident(l.Table))
	return Query{SQL: sql, Args: []any{int(t.Z), int(t.X), int(t.Y), l.Name}}
}

// excludedProps lists the attribute names a request leaves out.
func excludedProps(l *layers.Layer, keep []layers.Column) []string {
	var out []string
	for _, c := range l.Columns {
		if c.IsGeometry() {
			continue
		}
		kept := false
		for _, k := range keep {
			if k.Name == c.Name {
				kept = true
			}
		}
		if !kept {
			out = append(out, c.Name)
		}
	}
	return out
}
