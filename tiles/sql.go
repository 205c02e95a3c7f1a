package tiles

import (
	"fmt"
	"math"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"
	"github.com/paulmach/orb/project"

	"github.com/gusu-gis/gusu/data/layers"
)

// Query is SQL with its bound arguments, built without touching a database.
type Query struct {
	SQL  string
	Args []any
}

// earthCircumference is the width of the EPSG:3857 world in metres.
const earthCircumference = 2 * math.Pi * 6378137

// screenTileSize is the size MapLibre draws a vector tile at, in CSS pixels.
const screenTileSize = 512

// Tolerance is the simplification tolerance at zoom z in EPSG:3857 metres:
// half a screen pixel, the largest error nobody can see.
func Tolerance(z maptile.Zoom) float64 {
	return earthCircumference / (screenTileSize * math.Exp2(float64(z))) / 2
}

// Generalisation bands: polygon layers keep one simplified copy per band,
// made at the band's highest zoom, so low-zoom tiles never touch the
// full-resolution geometry.
var bands = []struct {
	Min, Max maptile.Zoom
}{{0, 5}, {6, 7}, {8, 9}}

// MaxGeneralizedZoom is the highest zoom served from generalised copies.
const MaxGeneralizedZoom maptile.Zoom = 9

// bandOf returns the band index for zoom z, or -1 above the bands.
func bandOf(z maptile.Zoom) int {
	for i, b := range bands {
		if z >= b.Min && z <= b.Max {
			return i
		}
	}
	return -1
}

// LayerPlan is one layer's part of a tile: which columns, and whether its
// generalised copy (for this version) may be used.
type LayerPlan struct {
	Layer       *layers.Layer
	Properties  []layers.Column
	Generalized bool
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
	args := []any{int(t.Z), int(t.X), int(t.Y)}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	parts := make([]string, 0, len(plans))
	for _, p := range plans {
		parts = append(parts, layerSQL(t, p, arg))
	}
	return Query{SQL: "SELECT " + strings.Join(parts, "\n || "), Args: args}
}

func layerSQL(t maptile.Tile, p LayerPlan, arg func(any) string) string {
	l := p.Layer
	var cols strings.Builder
	cols.WriteString("t.id")
	for _, c := range p.Properties {
		id := pgx.Identifier{c.Name}.Sanitize()
		if strings.HasPrefix(c.PGType, "_") { // arrays: MVT values are scalars
			fmt.Fprintf(&cols, ", array_to_string(t.%s, ',') AS %s", id, id)
		} else {
			fmt.Fprintf(&cols, ", t.%s", id)
		}
	}
	extent, buffer := l.TileExtent, l.TileBuffer
	const env = "ST_TileEnvelope($1, $2, $3)"
	simplify := l.GeometryType != "point"
	var from, geom string
	if p.Generalized {
		// Pre-generalised copies are already in 3857; the band filter and the
		// envelope (with margin) use gusu_tile_gen's own index.
		from = fmt.Sprintf("gusu_tile_gen g JOIN %s t ON t.id = g.fid WHERE g.layer = %s::text AND g.band = %s::smallint AND g.geom && ST_TileEnvelope($1, $2, $3, margin => %s::float8)",
			pgx.Identifier{l.Table}.Sanitize(), arg(l.Name), arg(bandOf(t.Z)), arg(float64(buffer)/float64(extent)))
		geom = fmt.Sprintf("ST_Simplify(g.geom, %s::float8, true)", arg(Tolerance(t.Z)))
	} else {
		bb := bufferedBound(t, extent, buffer)
		from = fmt.Sprintf("%s t WHERE t.geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)",
			pgx.Identifier{l.Table}.Sanitize(), arg(bb.Min[0]), arg(bb.Min[1]), arg(bb.Max[0]), arg(bb.Max[1]))
		geom = "ST_Transform(t.geom, 3857)"
		if simplify {
			geom = fmt.Sprintf("ST_Simplify(%s, %s::float8, true)", geom, arg(Tolerance(t.Z)))
		}
	}
	return fmt.Sprintf(`COALESCE((SELECT ST_AsMVT(q, %s::text, %d, 'geom', 'id') FROM (
  SELECT %s, ST_AsMVTGeom(%s, %s, %d, %d, true) AS geom
  FROM %s
) AS q WHERE q.geom IS NOT NULL), ''::bytea)`,
		arg(l.Name), extent, cols.String(), geom, env, extent, buffer, from)
}

// BaselineQuery is the statement pg_tileserv issues for one layer, for the
// benchmark: ST_AsMVT over ST_AsMVTGeom(ST_Transform(geom, 3857)) filtered
// with ST_Intersects against the transformed envelope, all attributes.
func BaselineQuery(t maptile.Tile, l *layers.Layer) Query {
	var cols []string
	for _, c := range l.Columns {
		if !c.IsGeometry() {
			cols = append(cols, "t."+pgx.Identifier{c.Name}.Sanitize())
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
) mvtgeom`, colList, pgx.Identifier{l.Table}.Sanitize())
	return Query{SQL: sql, Args: []any{int(t.Z), int(t.X), int(t.Y), l.Name}}
}
