package tiles

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb/maptile"

	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/data/sqlkit"
)

// Dense layers keep their footprint. A polygon smaller than a pixel at a
// zoom is not drawn there; dropping them one by one made a layer of small
// parcels vanish at every low zoom. Instead, per zoom, the pixels holding
// such a polygon's centroid are filled, and the filled pixels of each
// aggBlockPx-pixel block become one feature (their rows merged into runs
// and dissolved), carrying the count of polygons it stands for
// (AggregateCountField) and, for each categorical attribute, its dominant
// value — so the style that colours by that attribute colours the
// aggregate too.
//
// The footprint drawn at a zoom is therefore the data at that zoom's pixel
// size: every aggregate pixel holds a polygon's centroid, and every small
// polygon lies in a filled pixel or within a pixel of one.

// AggregateCountField is the attribute holding how many features an
// aggregate stands for; real features never have it.
const AggregateCountField = "gusu_count"

// aggMaxZoom is the deepest zoom with aggregates: from the unsimplified
// band on, every polygon is drawn as itself.
var aggMaxZoom = bands[fullBand].Min - 1

// aggBlockPx is the side of an aggregate feature's block, in screen pixels
// (32×32 blocks per tile at most).
const aggBlockPx = 16

// maxCategoryValues is how many distinct values an attribute may have to
// count as categorical (a dominant value of a unique name means nothing).
const maxCategoryValues = 64

// buildAggregates fills gusu_tile_agg for a polygon layer from its
// unsimplified copies (band fullBand) inside tx, for zooms minZoom..aggMaxZoom.
func buildAggregates(ctx context.Context, tx pgx.Tx, layer string, minZoom maptile.Zoom, cols []layers.Column) error {
	if minZoom > aggMaxZoom {
		return nil
	}
	px0 := pixelSize(minZoom)
	// Centroids once (not ST_PointOnSurface: it can raise on a geometry
	// GEOS dislikes, and a sub-pixel polygon's centroid is in its pixel or
	// the next).
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE gusu_agg_src ON COMMIT DROP AS
		SELECT ST_X(c) AS x, ST_Y(c) AS y, area, props FROM (
		  SELECT ST_Centroid(geom) AS c, area, props FROM gusu_tile_gen
		   WHERE layer = $1 AND band = $2 AND area < $3) s
		 WHERE NOT ST_IsEmpty(c)`, layer, fullBand, px0*px0); err != nil {
		return fmt.Errorf("aggregate sources: %w", err)
	}
	var n int64
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM gusu_agg_src").Scan(&n); err != nil {
		return fmt.Errorf("count aggregate sources: %w", err)
	}
	if n > 0 {
		categories, err := categoricalColumns(ctx, tx, cols)
		if err != nil {
			return err
		}
		for z := minZoom; z <= aggMaxZoom; z++ {
			q := aggregateSQL(layer, z, categories)
			if _, err := tx.Exec(ctx, q.SQL, q.Args...); err != nil {
				return fmt.Errorf("aggregate zoom %d: %w", z, err)
			}
		}
	}
	_, err := tx.Exec(ctx, "DROP TABLE gusu_agg_src")
	return err
}

// pixelSize is one screen pixel at zoom z, in EPSG:3857 metres.
func pixelSize(z maptile.Zoom) float64 { return 2 * Tolerance(z) }

// categoricalColumns lists the attributes with at most maxCategoryValues
// distinct values among the sub-pixel polygons.
func categoricalColumns(ctx context.Context, tx pgx.Tx, cols []layers.Column) ([]string, error) {
	var out []string
	for _, c := range cols {
		if c.IsGeometry() || c.JSONType() == "Number" && !strings.HasPrefix(c.PGType, "int") {
			continue // measurements, not categories
		}
		var distinct int
		err := tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT DISTINCT props -> $1 FROM gusu_agg_src LIMIT $2) s`,
			c.Name, maxCategoryValues+1).Scan(&distinct)
		if err != nil {
			return nil, fmt.Errorf("count values of %q: %w", c.Name, err)
		}
		if distinct <= maxCategoryValues {
			out = append(out, c.Name)
		}
	}
	return out, nil
}

// aggregateSQL is the statement that fills one zoom's aggregates from
// gusu_agg_src: pixels (i from the west, j from the north) → runs of
// adjacent pixels along each row within a block → one rectangle per run →
// the block's rectangles dissolved.
func aggregateSQL(layer string, z maptile.Zoom, categories []string) Query {
	px := pixelSize(z)
	args := sqlkit.Args{layer, int(z), earthCircumference / 2, px, aggBlockPx}
	pairs := []sqlkit.Pair{{Key: AggregateCountField, Expr: "s.n"}}
	var modes strings.Builder
	for i, c := range categories {
		col := fmt.Sprintf("c%d", i)
		fmt.Fprintf(&modes, ", mode() WITHIN GROUP (ORDER BY props -> %s::text) AS %s", args.Add(c), col)
		pairs = append(pairs, sqlkit.Pair{Key: c, Expr: "s." + col})
	}
	// Cell ids number blocks row by row over the world at this zoom.
	blocksPerRow := int64(screenTileSize/aggBlockPx) << z
	sql := fmt.Sprintf(`INSERT INTO gusu_tile_agg (layer, zoom, cell, geom, props)
WITH src AS (
  SELECT floor((x + $3) / $4)::bigint AS i, floor(($3 - y) / $4)::bigint AS j, props
    FROM gusu_agg_src WHERE area < $4 * $4
), pix AS (
  SELECT DISTINCT i, j FROM src
), runs AS (
  SELECT i, j, i / $5 AS bi, i - row_number() OVER (PARTITION BY j, i / $5 ORDER BY i) AS run FROM pix
), rects AS (
  SELECT bi, j / $5 AS bj,
         ST_MakeEnvelope(min(i) * $4 - $3, $3 - (j + 1) * $4, (max(i) + 1) * $4 - $3, $3 - j * $4, 3857) AS r
    FROM runs GROUP BY bi, j, run
), blocks AS (
  SELECT bi, bj, ST_UnaryUnion(ST_Collect(r)) AS geom FROM rects GROUP BY bi, bj
), s AS (
  SELECT i / $5 AS bi, j / $5 AS bj, count(*) AS n%s FROM src GROUP BY 1, 2
)
SELECT $1, $2, b.bj * %d + b.bi, b.geom, %s
  FROM blocks b JOIN s USING (bi, bj)`, modes.String(), blocksPerRow, sqlkit.JSONObject(pairs))
	return Query{SQL: sql, Args: args}
}

// aggregateZoom is the zoom whose aggregates stand in for the polygons a
// tile at z leaves out (-1: none): z itself, or coarser when a tile over
// the size budget leaves out polygons under minAreaPx pixels a side.
func aggregateZoom(z maptile.Zoom, minAreaPx float64) int {
	az := int(z)
	for px := max(1, minAreaPx); px > 1; px /= 2 {
		az--
	}
	if az < 0 || az > int(aggMaxZoom) {
		return -1
	}
	return az
}
