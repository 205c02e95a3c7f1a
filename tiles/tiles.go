// Package tiles serves Mapbox Vector Tiles (MVT 2.1) and TileJSON 3.0.0 for
// gusu's layers, and the MapLibre style that draws them.
//
// A tile, single-layer or composite, is one SQL statement (TileQuery) run
// by one executor with the request's context and a time limit. Polygon
// layers at low zoom read pre-generalised copies (Generalizer). Encoded
// tiles live in a byte-bounded cache whose keys carry the versions of the
// layers they were made from, so a changed layer is never served from an
// old entry; the strong ETag is derived from the same key, so
// If-None-Match is answered without the database. Identical concurrent
// misses share one query.
package tiles

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb/maptile"

	"github.com/gusu-gis/gusu/data/layers"
)

// MaxZoom is the deepest zoom served.
const MaxZoom maptile.Zoom = 24

// Tile is an encoded tile.
type Tile struct {
	// Raw is the MVT; empty when no feature falls in the tile.
	Raw []byte
	// Gzip is Raw gzip-compressed (nil when Raw is empty).
	Gzip []byte
	// ETag is the strong entity tag, quoted.
	ETag string
	// Layers are the layers whose features the tile may hold.
	Layers []string
	// Reduced says how the tile was generalised further to fit the size
	// budget ("" when it fit as it was).
	Reduced string
}

// Empty reports whether the tile has no features.
func (t *Tile) Empty() bool { return len(t.Raw) == 0 }

// Request names a tile.
type Request struct {
	Layers []string
	Tile   maptile.Tile
	// Properties, if not nil, limits attributes to these names.
	Properties []string
}

// Options configure a Server.
type Options struct {
	CacheBytes int64
	// Timeout bounds each tile query.
	Timeout time.Duration
	Metrics *Metrics
	// Reads chooses the database a tile query goes to (a replica that has
	// replayed the layers' versions, else the primary); nil: the pool.
	Reads layers.ReadPools
	// MaxTileBytes is the size budget of a gzip-compressed tile: a tile
	// over it is made again with fewer attributes and coarser coordinates
	// (0: DefaultMaxTileBytes; negative: no budget).
	MaxTileBytes int
}

// DefaultMaxTileBytes is the default tile budget, compressed.
const DefaultMaxTileBytes = 500 << 10

// reductions are the steps a tile over budget goes through, in order:
// polygons under 2 px a side aggregated as at the next zoom out (the look
// and the attributes stay); then attributes dropped too (features keep
// their id) on a coarser grid; then polygons under 4 px aggregated on a
// coarser grid still, with points clustered.
var reductions = []struct {
	name       string
	extent     int
	minAreaPx  float64
	clusterPx  float64
	attributes bool
}{
	{"polygons under 2 px aggregated", 0, 2, 0, true},
	{"attributes dropped, extent 1024, polygons under 2 px aggregated", 1024, 2, 0, false},
	{"attributes dropped, extent 256, polygons under 4 px aggregated, points clustered per 4 px", 256, 4, 4, false},
}

// Server makes tiles.
type Server struct {
	reg     *layers.Registry
	pool    *pgxpool.Pool
	cache   *Cache
	gen     *Generalizer
	group   flightGroup
	timeout time.Duration
	metrics *Metrics
	queries atomic.Int64
	// prerendered counts tiles assembled without a query.
	prerendered atomic.Int64
	reads       layers.ReadPools
	budget      int
}

// NewServer returns a tile server. Run gen (if not nil) separately.
func NewServer(reg *layers.Registry, pool *pgxpool.Pool, gen *Generalizer, opts Options) *Server {
	s := &Server{reg: reg, pool: pool, gen: gen, cache: NewCache(opts.CacheBytes), timeout: opts.Timeout, metrics: opts.Metrics, reads: opts.Reads, budget: opts.MaxTileBytes}
	if s.budget == 0 {
		s.budget = DefaultMaxTileBytes
	}
	if s.reads == nil {
		s.reads = layers.Primary{Pool: pool}
	}
	if s.timeout <= 0 {
		s.timeout = 5 * time.Second
	}
	if s.metrics != nil {
		s.cache.OnEvict = func(n int) { s.metrics.cacheEvictions.Inc() }
		s.metrics.watchCache(s.cache)
	}
	if gen != nil {
		// Pieces are pre-rendered within the same budget.
		gen.setBudget(s.budget)
	}
	// Free memory early; correctness does not depend on it (keys carry versions).
	reg.OnChange(s.cache.DropLayer)
	return s
}

// PreRenderedTiles counts tiles made from pre-rendered pieces, without a
// query (tests, benchmarks).
func (s *Server) PreRenderedTiles() int64 { return s.prerendered.Load() }

// assemble makes the tile from its layers' pre-rendered pieces, in plan
// order (the order TileQuery concatenates them in); nil when any piece is
// missing, or when a composite would need reducing (reductions apply to a
// composite's layers together, so the query makes it).
func (s *Server) assemble(t maptile.Tile, p *plan) *Tile {
	if s.gen == nil || !p.allProps || t.Z > preMaxZoom {
		return nil
	}
	pieces := make([]*piece, len(p.layers))
	for i, lp := range p.layers {
		pc, ok := s.gen.preRendered(lp.Layer.Name, lp.Layer.Version, s.budget, t)
		if !ok || !lp.Generalized {
			return nil
		}
		pieces[i] = pc
	}
	tile := &Tile{ETag: p.etag, Layers: p.names}
	if len(pieces) == 1 {
		tile.Raw, tile.Gzip, tile.Reduced = pieces[0].raw, pieces[0].gzip, pieces[0].reduced
		return tile
	}
	var raw [][]byte
	for _, pc := range pieces {
		if pc.reduced != "" {
			return nil
		}
		raw = append(raw, pc.raw)
	}
	tile.Raw = bytes.Join(raw, nil)
	if len(tile.Raw) > 0 {
		tile.Gzip = gzipBytes(tile.Raw)
	}
	if s.budget >= 0 && len(tile.Gzip) > s.budget {
		return nil
	}
	return tile
}

// Queries counts tile queries sent to the database (tests, benchmarks).
func (s *Server) Queries() int64 { return s.queries.Load() }

// Cache exposes the tile cache (for metrics and tests).
func (s *Server) Cache() *Cache { return s.cache }

// BadRequestError is a tile request that cannot be served as asked.
type BadRequestError struct {
	Msg    string
	Detail map[string]any
}

func (e *BadRequestError) Error() string { return e.Msg }

// plan is a resolved request: plans per layer in zoom range, the cache key.
type plan struct {
	layers []LayerPlan
	// allProps: every attribute asked for (pre-rendered pieces have all).
	allProps bool
	names    []string
	key      string
	etag     string
}

// plan resolves a request against the registry without touching feature
// data: unknown layers are an *layers.UnknownLayerError, layers outside
// their zoom range are left out.
func (s *Server) plan(ctx context.Context, req Request) (*plan, error) {
	t := req.Tile
	if t.Z > MaxZoom || !t.Valid() {
		return nil, &BadRequestError{Msg: fmt.Sprintf("tile %d/%d/%d is outside the tile grid (x and y must be below 2^z = %d, z at most %d)", t.Z, t.X, t.Y, uint64(1)<<min(t.Z, 63), MaxZoom)}
	}
	// The key is built by appending: this runs for every request, cached
	// or not, and warm requests are mostly this.
	b := make([]byte, 0, 64)
	b = strconv.AppendUint(b, uint64(t.Z), 10)
	b = append(b, '/')
	b = strconv.AppendUint(b, uint64(t.X), 10)
	b = append(b, '/')
	b = strconv.AppendUint(b, uint64(t.Y), 10)
	p := &plan{allProps: req.Properties == nil, names: make([]string, 0, len(req.Layers)), layers: make([]LayerPlan, 0, len(req.Layers))}
	var wanted, matched map[string]bool
	if req.Properties != nil {
		wanted, matched = map[string]bool{}, map[string]bool{}
		for _, name := range req.Properties {
			wanted[name] = true
		}
	}
	for _, name := range req.Layers {
		l, err := s.reg.Get(ctx, name)
		if err != nil {
			return nil, err
		}
		for _, c := range l.Columns {
			if wanted[c.Name] {
				matched[c.Name] = true
			}
		}
		if int(t.Z) < l.MinZoom || int(t.Z) > l.MaxZoom {
			continue
		}
		lp := LayerPlan{Layer: l, Properties: l.Attributes}
		if req.Properties != nil {
			lp.Properties = nil
			for _, c := range l.Attributes {
				if wanted[c.Name] {
					lp.Properties = append(lp.Properties, c)
				}
			}
		}
		lp.Generalized = s.gen != nil && s.gen.BuiltFor(l.Name) == l.Version
		p.names = append(p.names, l.Name)
		// Known to be empty here: no query for this layer (the key still
		// names it, since emptiness is a fact about this version).
		if s.gen == nil || s.gen.MayHaveFeatures(l.Name, l.Version, t) {
			p.layers = append(p.layers, lp)
		}
		b = append(b, '|')
		b = append(b, l.Name...)
		b = append(b, '@')
		b = strconv.AppendInt(b, l.Version, 10)
		if lp.Generalized {
			b = append(b, 'g')
		}
	}
	for _, name := range req.Properties {
		if !matched[name] {
			return nil, &BadRequestError{Msg: fmt.Sprintf("property %q is not an attribute of any requested layer", name), Detail: map[string]any{"property": name}}
		}
	}
	if req.Properties != nil {
		props := slices.Clone(req.Properties)
		slices.Sort(props)
		b = append(b, "|p="...)
		b = append(b, strings.Join(props, ",")...)
	}
	p.key = string(b)
	sum := sha256.Sum256(b)
	p.etag = `"` + hex.EncodeToString(sum[:12]) + `"`
	return p, nil
}

// Tile returns the tile, from the cache or the database.
func (s *Server) Tile(ctx context.Context, req Request) (*Tile, error) {
	p, err := s.plan(ctx, req)
	if err != nil {
		return nil, err
	}
	return s.tileFor(ctx, req.Tile, p)
}

// tileFor makes or fetches the tile p describes. The handler plans once and
// answers If-None-Match from p.etag before calling it, so a conditional
// request never renders and the ETag sent always matches the body.
func (s *Server) tileFor(ctx context.Context, t maptile.Tile, p *plan) (*Tile, error) {
	if len(p.layers) == 0 {
		return &Tile{ETag: p.etag}, nil
	}
	if cached, ok := s.cache.Get(p.key); ok {
		s.metrics.cacheHit()
		return cached, nil
	}
	s.metrics.cacheMiss()
	// Identical misses share one query, canceled only when every caller
	// has gone, and bounded by the timeout.
	return s.group.do(ctx, p.key, func(ctx context.Context) (*Tile, error) {
		qctx, cancel := context.WithTimeout(ctx, s.timeout)
		defer cancel()
		tile, err := s.render(qctx, t, p)
		if err != nil {
			return nil, err
		}
		s.cache.Add(p.key, p.names, tile)
		return tile, nil
	})
}

func (s *Server) render(ctx context.Context, t maptile.Tile, p *plan) (*Tile, error) {
	if tile := s.assemble(t, p); tile != nil {
		s.prerendered.Add(1)
		return tile, nil
	}
	tile, err := withinBudget(p.layers, s.budget, func(plans []LayerPlan) (*Tile, error) {
		return s.renderPlans(ctx, t, p, plans)
	})
	if err == nil && tile.Reduced != "" && s.metrics != nil {
		s.metrics.reduced.Inc()
	}
	return tile, err
}

// withinBudget renders plans, and over budget renders them again through
// the reductions until the tile fits or none is left: generalised further
// rather than sent oversized (or timed out on the next, larger one).
func withinBudget(plans []LayerPlan, budget int, render func([]LayerPlan) (*Tile, error)) (*Tile, error) {
	tile, err := render(plans)
	if err != nil || budget < 0 || len(tile.Gzip) <= budget {
		return tile, err
	}
	for _, r := range reductions {
		reduced := make([]LayerPlan, len(plans))
		changes := false
		for i, lp := range plans {
			reduced[i] = LayerPlan{Layer: lp.Layer, Properties: []layers.Column{}, Generalized: lp.Generalized, Extent: r.extent, MinAreaPx: r.minAreaPx, ClusterPx: r.clusterPx}
			if r.attributes {
				reduced[i].Properties = lp.Properties
			}
			changes = changes || r.extent != 0 || lp.Generalized && lp.Layer.GeometryType == "polygon"
		}
		if !changes {
			continue // the same tile again
		}
		smaller, err := render(reduced)
		if err != nil {
			return nil, err
		}
		smaller.Reduced = r.name
		tile = smaller
		if len(tile.Gzip) <= budget {
			break
		}
	}
	return tile, nil
}

func (s *Server) renderPlans(ctx context.Context, t maptile.Tile, p *plan, plans []LayerPlan) (*Tile, error) {
	q := TileQuery(t, plans)
	s.queries.Add(1)
	start := time.Now()
	var raw []byte
	needs := make([]layers.Need, len(p.layers))
	for i, lp := range p.layers {
		needs[i] = layers.Need{Layer: lp.Layer.Name, Version: lp.Layer.Version, Generalized: lp.Generalized}
	}
	pool := s.reads.For(ctx, needs)
	err := pool.QueryRow(ctx, q.SQL, q.Args...).Scan(&raw)
	if err != nil && pool != s.pool && ctx.Err() == nil && layers.Unreachable(err) {
		// A replica that stopped answering: the primary answers instead.
		s.reads.Failed(pool)
		err = s.pool.QueryRow(ctx, q.SQL, q.Args...).Scan(&raw)
	}
	if err != nil {
		return nil, fmt.Errorf("render tile %d/%d/%d of %s: %w", t.Z, t.X, t.Y, strings.Join(p.names, ","), err)
	}
	s.metrics.observeQuery(time.Since(start))
	tile := &Tile{Raw: raw, ETag: p.etag, Layers: p.names}
	if len(raw) > 0 {
		tile.Gzip = gzipBytes(raw)
	}
	return tile, nil
}

// gzipWriters reuses compressors: each new one allocates about a megabyte
// of tables, which dominated the Go side of a cold tile.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return zw
}}

func gzipBytes(raw []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(raw)/2 + 64)
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(&buf)
	_, _ = zw.Write(raw) // writes to a bytes.Buffer cannot fail
	_ = zw.Close()
	gzipWriters.Put(zw)
	return buf.Bytes()
}

// ParseTile parses z, x and y path segments strictly (decimal, no signs).
func ParseTile(zs, xs, ys string) (maptile.Tile, error) {
	var v [3]uint64
	for i, s := range []string{zs, xs, ys} {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil || s == "" || s[0] == '+' {
			return maptile.Tile{}, &BadRequestError{Msg: fmt.Sprintf("tile coordinate %q is not a whole number", s)}
		}
		v[i] = n
	}
	if v[0] > uint64(MaxZoom) {
		return maptile.Tile{}, &BadRequestError{Msg: fmt.Sprintf("zoom %d is above the maximum %d", v[0], MaxZoom)}
	}
	t := maptile.New(uint32(v[1]), uint32(v[2]), maptile.Zoom(v[0]))
	if !t.Valid() {
		return maptile.Tile{}, &BadRequestError{Msg: fmt.Sprintf("tile %d/%d/%d is outside the tile grid: x and y must be below %d at zoom %d", v[0], v[1], v[2], uint64(1)<<v[0], v[0])}
	}
	return t, nil
}
