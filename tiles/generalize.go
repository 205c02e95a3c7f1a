package tiles

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gusu-gis/gusu/data/layers"
)

// Generalizer keeps gusu_tile_gen current: for every polygon layer, one
// simplified EPSG:3857 copy per zoom band, made from exactly one layer
// version. It rebuilds in the background after each change; until it is
// done, tiles of the new version use full-resolution geometry, which is
// slower but never stale.
type Generalizer struct {
	pool *pgxpool.Pool
	reg  *layers.Registry
	log  *slog.Logger

	mu    sync.Mutex
	built map[string]int64
	wake  chan struct{}
	queue map[string]bool
}

// NewGeneralizer returns a generalizer; call Run.
func NewGeneralizer(pool *pgxpool.Pool, reg *layers.Registry, log *slog.Logger) *Generalizer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Generalizer{pool: pool, reg: reg, log: log, built: map[string]int64{}, wake: make(chan struct{}, 1), queue: map[string]bool{}}
	reg.OnChange(g.Schedule)
	return g
}

// BuiltFor returns the layer version the current copies were made from (0: none).
func (g *Generalizer) BuiltFor(layer string) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.built[layer]
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
	// Repeatable read: the layer's version and its features come from one
	// snapshot, so the copies match the version they are recorded for.
	err = pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		var table, geomType string
		err := tx.QueryRow(ctx, "SELECT version, table_name, geometry_type FROM gusu_layers WHERE name = $1", name).Scan(&version, &table, &geomType)
		if err == pgx.ErrNoRows {
			version = 0
			return nil
		}
		if err != nil {
			return err
		}
		if geomType != "polygon" {
			version = 0
			return nil
		}
		var builtVersion int64
		err = tx.QueryRow(ctx, "SELECT version FROM gusu_tile_gen_state WHERE layer = $1", name).Scan(&builtVersion)
		if err != nil && err != pgx.ErrNoRows {
			return err
		}
		if builtVersion == version {
			return nil
		}
		if _, err := tx.Exec(ctx, "DELETE FROM gusu_tile_gen WHERE layer = $1", name); err != nil {
			return err
		}
		for i, b := range bands {
			tol := Tolerance(b.Max)
			// Polygons smaller than about a pixel at the band's top zoom are
			// invisible there and dropped; ST_SimplifyPreserveTopology keeps
			// each polygon valid.
			minArea := (2 * tol) * (2 * tol)
			_, err := tx.Exec(ctx, fmt.Sprintf(`
				INSERT INTO gusu_tile_gen (layer, band, fid, geom)
				SELECT $1, $2, id, g FROM (
				  SELECT id, ST_SimplifyPreserveTopology(ST_Transform(geom, 3857), $3) AS g FROM %s
				) s WHERE NOT ST_IsEmpty(g) AND ST_Area(g) >= $4`, pgx.Identifier{table}.Sanitize()),
				name, i, tol, minArea)
			if err != nil {
				return fmt.Errorf("band %d: %w", i, err)
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO gusu_tile_gen_state (layer, version) VALUES ($1, $2)
			ON CONFLICT (layer) DO UPDATE SET version = excluded.version, built_at = now()`, name, version)
		rebuilt = err == nil
		return err
	})
	if err != nil {
		return fmt.Errorf("generalise layer %q: %w", name, err)
	}
	g.mu.Lock()
	g.built[name] = version
	g.mu.Unlock()
	if rebuilt {
		g.log.Info("generalised polygon layer for low zooms", "layer", name, "version", version, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}
