package tiles

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb/maptile"

	"github.com/gusu-gis/gusu/data/layers"
)

// Low zooms are pre-rendered. A tile at z ≤ preMaxZoom spans much of the
// city, so it is the costliest to make and the fewest to keep: when a
// layer version's copies are current, each instance renders that layer's
// own piece of every covered tile up to preMaxZoom, in the same snapshot,
// and keeps them in memory for that version only. A request at those
// zooms with all attributes is then the pieces of its layers concatenated
// (a composite tile is a sequence of layer messages), the same bytes the
// query would make, with no query.
const preMaxZoom maptile.Zoom = 9

// Caps per layer: a layer that spreads over more tiles, or whose pieces
// add up to more, keeps its lower zooms only.
const (
	maxPreTiles = 2048
	maxPreBytes = 32 << 20
	// maxPreTotalBytes caps all layers' pieces together in one instance:
	// a layer that would pass it is served by query at every zoom.
	maxPreTotalBytes = 256 << 20
)

// prerendered is one layer version's pieces by tile.
type prerendered struct {
	version int64
	maxZoom maptile.Zoom // pieces exist for every covered tile up to here
	pieces  map[maptile.Tile]*piece
	bytes   int
	budget  int
	cov     *coverage
}

// piece is one layer's tile, made within the tile budget like any tile.
type piece struct {
	raw, gzip []byte
	reduced   string
}

// emptyPiece stands for a tile the layer has no feature in.
var emptyPiece = &piece{}

// piece returns the layer's part of tile t and whether it is known.
func (p *prerendered) piece(t maptile.Tile) (*piece, bool) {
	if t.Z > p.maxZoom {
		return nil, false
	}
	if pc, ok := p.pieces[t]; ok {
		return pc, true
	}
	// Not covered: no feature can be in it.
	if !p.cov.mayHaveFeatures(t) {
		return emptyPiece, true
	}
	return nil, false
}

// prerender renders a layer's low-zoom pieces inside tx (the snapshot its
// copies and coverage come from). It returns nil when there is nothing to
// gain (no coverage index, or the layer starts above preMaxZoom).
func prerender(ctx context.Context, tx pgx.Tx, l *layers.Layer, cov *coverage, budget int) (*prerendered, error) {
	if cov == nil || maptile.Zoom(l.MinZoom) > preMaxZoom {
		return nil, nil
	}
	p := &prerendered{version: l.Version, pieces: map[maptile.Tile]*piece{}, cov: cov, budget: budget}
	all := LayerPlan{Layer: l, Properties: l.Attributes, Generalized: true}
	tiles, size := 0, 0
	top := min(preMaxZoom, maptile.Zoom(l.MaxZoom))
	for z := maptile.Zoom(l.MinZoom); z <= top; z++ {
		keys := make([]uint64, 0, len(cov.byZoom[z]))
		for k := range cov.byZoom[z] {
			keys = append(keys, k)
		}
		if tiles+len(keys) > maxPreTiles {
			break
		}
		slices.Sort(keys)
		zoom := map[maptile.Tile]*piece{}
		for _, k := range keys {
			t := maptile.New(uint32(k>>32), uint32(k), z)
			tile, err := withinBudget([]LayerPlan{all}, budget, func(plans []LayerPlan) (*Tile, error) {
				q := TileQuery(t, plans)
				var raw []byte
				if err := tx.QueryRow(ctx, q.SQL, q.Args...).Scan(&raw); err != nil {
					return nil, fmt.Errorf("pre-render %s tile %d/%d/%d: %w", l.Name, t.Z, t.X, t.Y, err)
				}
				tile := &Tile{Raw: raw}
				if len(raw) > 0 {
					tile.Gzip = gzipBytes(raw)
				}
				return tile, nil
			})
			if err != nil {
				return nil, err
			}
			zoom[t] = &piece{raw: tile.Raw, gzip: tile.Gzip, reduced: tile.Reduced}
			size += len(tile.Raw) + len(tile.Gzip)
		}
		if size > maxPreBytes {
			break
		}
		tiles += len(keys)
		p.bytes = size
		for t, b := range zoom {
			p.pieces[t] = b
		}
		p.maxZoom = z
	}
	if len(p.pieces) == 0 {
		return nil, nil
	}
	return p, nil
}
