package tiles

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb/maptile"

	"github.com/gusu-gis/gusu/data/layers"
)

// Generalizer keeps gusu_tile_gen current: for every layer, one EPSG:3857
// copy per zoom band (see bands), made from exactly one layer version. It rebuilds in the background after each change; until it is
// done, tiles of the new version use full-resolution geometry, which is
// slower but never stale.
type Generalizer struct {
	pool *pgxpool.Pool
	reg  *layers.Registry
	log  *slog.Logger

	mu       sync.Mutex
	built    map[string]int64
	coverage map[string]*coverage
	pre      map[string]*prerendered
	budget   int // the tile budget pieces are made within (see Server)
	wake     chan struct{}
	queue    map[string]bool
}

// NewGeneralizer returns a generalizer; call Run.
func NewGeneralizer(pool *pgxpool.Pool, reg *layers.Registry, log *slog.Logger) *Generalizer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Generalizer{pool: pool, reg: reg, log: log, built: map[string]int64{}, coverage: map[string]*coverage{}, pre: map[string]*prerendered{}, budget: DefaultMaxTileBytes, wake: make(chan struct{}, 1), queue: map[string]bool{}}
	reg.OnChange(g.Schedule)
	return g
}

// BuiltFor returns the layer version the current copies were made from (0: none).
func (g *Generalizer) BuiltFor(layer string) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.built[layer]
}

// MayHaveFeatures reports whether a tile of layer at version can hold any
// feature; true whenever that is not known.
func (g *Generalizer) MayHaveFeatures(layer string, version int64, t maptile.Tile) bool {
	g.mu.Lock()
	c := g.coverage[layer]
	g.mu.Unlock()
	if c == nil || c.version != version {
		return true
	}
	return c.mayHaveFeatures(t)
}

// preRendered returns layer's pre-rendered piece of tile t at version,
// made within budget, if there is one.
func (g *Generalizer) preRendered(layer string, version int64, budget int, t maptile.Tile) (*piece, bool) {
	g.mu.Lock()
	p := g.pre[layer]
	g.mu.Unlock()
	if p == nil || p.version != version || p.budget != budget {
		return nil, false
	}
	return p.piece(t)
}

func (g *Generalizer) setBudget(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.budget = n
}

func (g *Generalizer) tileBudget() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.budget
}

// Schedule asks for layer ("" = all layers) to be checked and rebuilt if stale.
func (g *Generalizer) Schedule(layer string) {
	g.mu.Lock()
	g.queue[layer] = true
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// Run works through scheduled layers until ctx ends.
func (g *Generalizer) Run(ctx context.Context) {
	g.Schedule("")
	for {
		g.mu.Lock()
		pending := g.queue
		g.queue = map[string]bool{}
		g.mu.Unlock()
		var names []string
		if pending[""] {
			ls, err := g.reg.List(ctx)
			if err != nil {
				g.log.Warn("generalizer: list layers", "error", err)
			}
			for _, l := range ls {
				names = append(names, l.Name)
			}
		} else {
			for n := range pending {
				names = append(names, n)
			}
		}
		for _, n := range names {
			if ctx.Err() != nil {
				return
			}
			if err := g.Refresh(ctx, n); err != nil && ctx.Err() == nil {
				g.log.Warn("generalizer: refresh failed; tiles use full-resolution geometry", "layer", n, "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-g.wake:
		}
	}
}

// Refresh makes the layer's generalised copies current. Instances sharing a
// database take turns through an advisory lock; the one that comes second
// finds the copies current and only records that.
func (g *Generalizer) Refresh(ctx context.Context, name string) error {
	conn, err := g.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	lockKey := "gusu_tile_gen:" + name
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtext($1))", lockKey); err != nil {
		return fmt.Errorf("lock generalisation of %q: %w", name, err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext($1))", lockKey)

	start := time.Now()
	var version int64
	var rebuilt bool
	var cov *coverage
	var pre *prerendered
	// Repeatable read: the layer's version and its features come from one
	// snapshot, so the copies match the version they are recorded for.
	err = pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		l := &layers.Layer{Name: name}
		err := tx.QueryRow(ctx, "SELECT version, table_name, geometry_type, tile_extent, tile_buffer, minzoom, maxzoom FROM gusu_layers WHERE name = $1", name).
			Scan(&l.Version, &l.Table, &l.GeometryType, &l.TileExtent, &l.TileBuffer, &l.MinZoom, &l.MaxZoom)
		version = l.Version
		table, geomType, extent, buffer, minZoom := l.Table, l.GeometryType, l.TileExtent, l.TileBuffer, l.MinZoom
		if err == pgx.ErrNoRows {
			version = 0
			return nil
		}
		if err != nil {
			return err
		}
		var builtVersion int64
		err = tx.QueryRow(ctx, "SELECT version FROM gusu_tile_gen_state WHERE layer = $1", name).Scan(&builtVersion)
		if err != nil && err != pgx.ErrNoRows {
			return err
		}
		tableColumns, err := tileColumns(ctx, tx, table)
		if err != nil {
			return err
		}
		l.SetColumns(tableColumns)
		cols := l.Columns
		if builtVersion == version {
			if cov, err = buildCoverage(ctx, tx, name, version, extent, buffer); err != nil {
				return err
			}
			pre, err = prerender(ctx, tx, l, cov, g.tileBudget())
			return err
		}
		for _, table := range []string{"gusu_tile_gen", "gusu_tile_agg"} {
			if _, err := tx.Exec(ctx, "DELETE FROM "+table+" WHERE layer = $1", name); err != nil {
				return err
			}
		}
		props := PropsSQL(cols, "t")
		for i, b := range bands {
			if geomType == "point" && i != fullBand {
				continue
			}
			sql, args := bandSQL(table, geomType, props, name, i, b.Simplify, b.Max)
			if _, err := tx.Exec(ctx, sql, args...); err != nil {
				return fmt.Errorf("band %d: %w", i, err)
			}
		}
		if geomType == "polygon" {
			if err := buildAggregates(ctx, tx, name, maptile.Zoom(minZoom), cols); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO gusu_tile_gen_state (layer, version) VALUES ($1, $2)
			ON CONFLICT (layer) DO UPDATE SET version = excluded.version, built_at = now()`, name, version)
		if err != nil {
			return err
		}
		rebuilt = true
		if cov, err = buildCoverage(ctx, tx, name, version, extent, buffer); err != nil {
			return err
		}
		pre, err = prerender(ctx, tx, l, cov, g.tileBudget())
		return err
	})
	if err != nil {
		return fmt.Errorf("generalise layer %q: %w", name, err)
	}
	g.mu.Lock()
	g.built[name] = version
	g.coverage[name] = cov
	if pre != nil {
		total := pre.bytes
		for other, p := range g.pre {
			if other != name && p != nil {
				total += p.bytes
			}
		}
		if total > maxPreTotalBytes {
			g.log.Warn("pre-rendered tiles over the instance's cap; this layer's low zooms are made by query", "layer", name, "cap_mb", maxPreTotalBytes>>20)
			pre = nil
		}
	}
	g.pre[name] = pre
	g.mu.Unlock()
	if rebuilt {
		g.log.Info("generalised polygon layer for low zooms", "layer", name, "version", version, "took", time.Since(start).Round(time.Millisecond))
	}
	if pre != nil {
		g.log.Debug("pre-rendered low zooms", "layer", name, "version", version, "up_to_zoom", pre.maxZoom, "tiles", len(pre.pieces), "bytes", pre.bytes)
	}
	return nil
}

// bandSQL fills one band of a layer's copies. Polygons smaller than about a
// pixel at the band's top zoom are invisible in the whole band and are not
// stored (they are aggregated instead: aggregate.go); tiles leave out those
// below a pixel at their own zoom by the stored area, the feature's own
// unsimplified area, so a polygon is drawn at a zoom exactly when it is not
// aggregated there. ST_SimplifyPreserveTopology keeps each geometry valid.
func bandSQL(table, geomType, props, layer string, band int, simplify bool, top maptile.Zoom) (string, []any) {
	t := pgx.Identifier{table}.Sanitize()
	area := "0"
	if geomType == "polygon" {
		area = "ST_Area(f)"
	}
	if !simplify {
		return fmt.Sprintf(`INSERT INTO gusu_tile_gen (layer, band, fid, geom, area, props)
			SELECT $1, $2, id, f, %s, p FROM (SELECT t.id, ST_Transform(t.geom, 3857) AS f, %s AS p FROM %s t) s`, area, props, t), []any{layer, band}
	}
	tol := Tolerance(top)
	filter := "NOT ST_IsEmpty(g)"
	args := []any{layer, band, tol}
	if geomType == "polygon" {
		filter += " AND a >= $4"
		args = append(args, (2*tol)*(2*tol))
	}
	return fmt.Sprintf(`INSERT INTO gusu_tile_gen (layer, band, fid, geom, area, props)
		SELECT $1, $2, id, g, a, p FROM (
		  SELECT id, ST_SimplifyPreserveTopology(f, $3) AS g, %s AS a, p
		    FROM (SELECT t.id, ST_Transform(t.geom, 3857) AS f, %s AS p FROM %s t) s) s
		WHERE %s`, area, props, t, filter), args
}

// tileColumns reads a table's attribute columns inside tx, so they match
// the snapshot the copies are made from.
func tileColumns(ctx context.Context, tx pgx.Tx, table string) ([]layers.Column, error) {
	rows, err := tx.Query(ctx, `
		SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
		 WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attname NOT IN ('id', 'geom')
		 ORDER BY a.attnum`, pgx.Identifier{table}.Sanitize())
	if err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", table, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (layers.Column, error) {
		var c layers.Column
		err := r.Scan(&c.Name, &c.PGType)
		return c, err
	})
}
