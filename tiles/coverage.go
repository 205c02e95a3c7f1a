package tiles

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb/maptile"
)

// coverageZoom is the zoom of the coverage index: which tiles at this zoom
// any feature of a layer (its bounding box grown by the tile buffer) may
// touch. A request for a tile whose z10 ancestor (or, below z10, whose
// z10 descendants) are all uncovered is empty without asking the database.
const coverageZoom maptile.Zoom = 10

// maxCoverageTiles bounds the index; a layer that spreads over more tiles
// gains little from it and is always queried.
const maxCoverageTiles = 200000

// coverage holds, for zooms 0..coverageZoom, the covered tiles.
type coverage struct {
	version int64
	byZoom  [coverageZoom + 1]map[uint64]struct{}
}

func tileKey(x, y uint32) uint64 { return uint64(x)<<32 | uint64(y) }

// mayHaveFeatures reports whether tile t can contain any feature.
func (c *coverage) mayHaveFeatures(t maptile.Tile) bool {
	if t.Z > coverageZoom {
		shift := t.Z - coverageZoom
		t = maptile.New(t.X>>shift, t.Y>>shift, coverageZoom)
	}
	_, ok := c.byZoom[t.Z][tileKey(t.X, t.Y)]
	return ok
}

// buildCoverage computes the index from the layer's unsimplified copies in
// tx (so it matches the version they were made from). It returns nil if the
// layer covers too many tiles to be worth indexing.
func buildCoverage(ctx context.Context, tx pgx.Tx, layer string, version int64, extent, buffer int) (*coverage, error) {
	const half = earthCircumference / 2
	width := earthCircumference / float64(uint64(1)<<coverageZoom)
	margin := width * float64(buffer) / float64(extent)
	n := int64(1) << coverageZoom
	rows, err := tx.Query(ctx, `
		WITH b AS (
		  SELECT floor((ST_XMin(geom) - $3 + $4) / $5)::bigint AS x0, floor((ST_XMax(geom) + $3 + $4) / $5)::bigint AS x1,
		         floor(($4 - ST_YMax(geom) - $3) / $5)::bigint AS y0, floor(($4 - ST_YMin(geom) + $3) / $5)::bigint AS y1
		    FROM gusu_tile_gen WHERE layer = $1 AND band = $2
		), c AS (
		  SELECT greatest(x0, 0) AS x0, least(x1, $6 - 1) AS x1, greatest(y0, 0) AS y0, least(y1, $6 - 1) AS y1 FROM b
		)
		SELECT DISTINCT x, y FROM c, generate_series(x0, x1) AS x, generate_series(y0, y1) AS y
		 WHERE (SELECT sum((x1 - x0 + 1) * (y1 - y0 + 1)) FROM c) <= $7`,
		layer, fullBand, margin, half, width, n, maxCoverageTiles)
	if err != nil {
		return nil, fmt.Errorf("coverage of %q: %w", layer, err)
	}
	c := &coverage{version: version}
	for z := range c.byZoom {
		c.byZoom[z] = map[uint64]struct{}{}
	}
	var x, y int64
	_, err = pgx.ForEachRow(rows, []any{&x, &y}, func() error {
		for z := coverageZoom; ; z-- {
			shift := coverageZoom - z
			c.byZoom[z][tileKey(uint32(x>>shift), uint32(y>>shift))] = struct{}{}
			if z == 0 {
				return nil
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("coverage of %q: %w", layer, err)
	}
	if len(c.byZoom[coverageZoom]) == 0 {
		var features int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM gusu_tile_gen WHERE layer = $1 AND band = $2", layer, fullBand).Scan(&features); err != nil {
			return nil, err
		}
		if features > 0 { // over the cap: no index
			return nil, nil
		}
	}
	return c, nil
}
