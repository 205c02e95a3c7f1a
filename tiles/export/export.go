// Package export writes a set of layers' vector tiles to files that travel:
// PMTiles v3 (one file, read over HTTP range requests by MapLibre's
// pmtiles protocol or served by gusu --pmtiles) and MBTiles (SQLite).
// Tiles come from the tile server itself, so a file holds exactly what
// gusu serves live; only tiles with features are written.
package export

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"

	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/tiles"
)

// Options say what to export.
type Options struct {
	Layers           []string
	MinZoom, MaxZoom maptile.Zoom
	// BBox limits the export (lon/lat); nil: the layers' extent.
	BBox *orb.Bound
	// Workers render tiles in parallel (default 4).
	Workers int
	// Progress, if set, is told how many of the tiles have been rendered.
	Progress func(done, total int64)
}

// Sink receives rendered tiles (gzip-compressed MVT), in any order, and
// the metadata at the end.
type Sink interface {
	Put(t maptile.Tile, gz []byte) error
	Close(m Metadata) error
}

// Metadata describes an export: TileJSON-like, with the layer versions.
type Metadata struct {
	Name          string              `json:"name"`
	Description   string              `json:"description"`
	Attribution   string              `json:"attribution"`
	Version       string              `json:"version"`
	MinZoom       int                 `json:"minzoom"`
	MaxZoom       int                 `json:"maxzoom"`
	Bounds        [4]float64          `json:"bounds"`
	Center        [3]float64          `json:"center"`
	VectorLayers  []tiles.VectorLayer `json:"vector_layers"`
	LayerVersions map[string]int64    `json:"gusu_layer_versions"`
	Stats         Stats               `json:"-"`
}

// Stats count what an export did.
type Stats struct {
	Tiles      int64 // rendered
	Written    int64 // with features
	Bytes      int64 // compressed tile bytes written
	Duplicates int64 // written once, addressed more than once (PMTiles)
}

// Bounds is the export's extent: opts.BBox, else the union of the
// layers' extents.
func Bounds(ctx context.Context, reg *layers.Registry, opts Options) (orb.Bound, error) {
	if opts.BBox != nil {
		return *opts.BBox, nil
	}
	var b *orb.Bound
	for _, name := range opts.Layers {
		l, err := reg.Get(ctx, name)
		if err != nil {
			return orb.Bound{}, err
		}
		st, err := reg.Stats(ctx, l)
		if err != nil {
			return orb.Bound{}, err
		}
		if st.Bounds == nil {
			continue
		}
		lb := orb.Bound{Min: orb.Point{st.Bounds[0], st.Bounds[1]}, Max: orb.Point{st.Bounds[2], st.Bounds[3]}}
		if b == nil {
			b = &lb
		} else {
			u := b.Union(lb)
			b = &u
		}
	}
	if b == nil {
		return orb.Bound{}, errors.New("the layers have no features: nothing to export")
	}
	return *b, nil
}

// tileRange is the tiles of zoom z that cover b.
func tileRange(b orb.Bound, z maptile.Zoom) (minX, minY, maxX, maxY uint32) {
	lo := maptile.At(orb.Point{b.Min[0], math.Min(b.Max[1], 85.0511)}, z)
	hi := maptile.At(orb.Point{math.Min(b.Max[0], 179.9999999), math.Max(b.Min[1], -85.0511)}, z)
	return lo.X, lo.Y, hi.X, hi.Y
}

// Count is the number of tiles an export renders.
func Count(b orb.Bound, minZ, maxZ maptile.Zoom) int64 {
	var n int64
	for z := minZ; z <= maxZ; z++ {
		x0, y0, x1, y1 := tileRange(b, z)
		n += int64(x1-x0+1) * int64(y1-y0+1)
	}
	return n
}

// Run renders every tile of opts over the extent with srv and hands the
// non-empty ones to sink, then closes it with the metadata.
func Run(ctx context.Context, srv *tiles.Server, reg *layers.Registry, opts Options, sink Sink) (Stats, error) {
	if len(opts.Layers) == 0 {
		return Stats{}, errors.New("name the layers to export")
	}
	if opts.MinZoom > opts.MaxZoom || opts.MaxZoom > tiles.MaxZoom {
		return Stats{}, fmt.Errorf("zooms %d–%d: the minimum must not exceed the maximum, which is at most %d", opts.MinZoom, opts.MaxZoom, tiles.MaxZoom)
	}
	b, err := Bounds(ctx, reg, opts)
	if err != nil {
		return Stats{}, err
	}
	tj, err := srv.TileJSON(ctx, opts.Layers, "")
	if err != nil {
		return Stats{}, err
	}
	meta := Metadata{Name: tj.Name, Description: tj.Description, Attribution: tj.Attribution, Version: tj.Version,
		MinZoom: int(opts.MinZoom), MaxZoom: int(opts.MaxZoom), Bounds: [4]float64{b.Min[0], b.Min[1], b.Max[0], b.Max[1]},
		VectorLayers: tj.VectorLayers, LayerVersions: map[string]int64{}}
	c := b.Center()
	meta.Center = [3]float64{c[0], c[1], float64(opts.MinZoom+opts.MaxZoom) / 2}
	for _, name := range opts.Layers {
		l, err := reg.Get(ctx, name)
		if err != nil {
			return Stats{}, err
		}
		meta.LayerVersions[name] = l.Version
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = 4
	}
	total := Count(b, opts.MinZoom, opts.MaxZoom)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan maptile.Tile, 4*workers)
	var st Stats
	var done atomic.Int64
	var mu sync.Mutex // the sink is written by one worker at a time
	var firstErr error
	var once sync.Once
	fail := func(err error) { once.Do(func() { firstErr = err; cancel() }) }
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range jobs {
				tile, err := srv.Tile(ctx, tiles.Request{Layers: opts.Layers, Tile: t})
				if err != nil {
					fail(fmt.Errorf("tile %d/%d/%d: %w", t.Z, t.X, t.Y, err))
					return
				}
				n := done.Add(1)
				if opts.Progress != nil && (n%256 == 0 || n == total) {
					opts.Progress(n, total)
				}
				if tile.Empty() {
					continue
				}
				mu.Lock()
				err = sink.Put(t, tile.Gzip)
				st.Written++
				st.Bytes += int64(len(tile.Gzip))
				mu.Unlock()
				if err != nil {
					fail(err)
					return
				}
			}
		}()
	}
feed:
	for z := opts.MinZoom; z <= opts.MaxZoom; z++ {
		x0, y0, x1, y1 := tileRange(b, z)
		for x := x0; x <= x1; x++ {
			for y := y0; y <= y1; y++ {
				select {
				case jobs <- maptile.New(x, y, z):
				case <-ctx.Done():
					break feed
				}
			}
		}
	}
	close(jobs)
	wg.Wait()
	st.Tiles = done.Load()
	if firstErr != nil {
		return st, firstErr
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	meta.Stats = st
	if err := sink.Close(meta); err != nil {
		return st, err
	}
	return st, nil
}
