// Package database opens gusu's PostGIS: the one at a --database-url, or the
// private cluster it manages under the data directory. Either way the
// schema is migrated and the bundled dataset loaded before Open returns.
package database

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gusu-gis/gusu/data/bundle"
	"github.com/gusu-gis/gusu/data/httpapi"
	"github.com/gusu-gis/gusu/data/migrate"
	"github.com/gusu-gis/gusu/data/pgcluster"
	"github.com/gusu-gis/gusu/data/roads"
)

// Options configure Open.
type Options struct {
	// URL of an existing PostGIS database. Empty: manage a local cluster.
	URL string
	// DataDir holds the managed cluster (DataDir/postgres).
	DataDir string
	// MaxConns bounds the pool; 0 keeps pgx's default (max(4, cores)).
	MaxConns int32
	// Bundle is the dataset to load into an empty database; nil loads nothing.
	Bundle fs.FS
	// Durable=false runs a managed cluster without fsync (tests).
	Durable bool
	Logger  *slog.Logger
	// ReplicaURLs are streaming replicas of URL that reads may use.
	ReplicaURLs []string
	// ReplicaMaxLag is how far behind a replica may be and still be used.
	ReplicaMaxLag time.Duration
}

// DB is an open, migrated database.
type DB struct {
	Pool    *pgxpool.Pool
	Cluster *pgcluster.Cluster // nil with an external URL
	// Replicas routes reads; nil when none are configured.
	Replicas     *Replicas
	replicaPools []*pgxpool.Pool
	log          *slog.Logger
}

// Open connects (starting the managed cluster if no URL is given), migrates
// and loads the bundle.
func Open(ctx context.Context, opts Options) (*DB, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db := &DB{log: log}
	url := opts.URL
	if url == "" {
		start := time.Now()
		c, err := pgcluster.Start(ctx, pgcluster.Options{
			Dir: filepath.Join(opts.DataDir, "postgres"), Logger: log, Durable: opts.Durable,
		})
		if err != nil {
			return nil, fmt.Errorf("managed PostGIS cluster: %w", err)
		}
		db.Cluster = c
		url = c.URL("gusu")
		log.Info("managed PostGIS ready", "dir", c.Dir(), "attached", c.Attached(), "took", time.Since(start).Round(time.Millisecond))
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("database URL: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "gusu"
	// gusu's queries are many and short (tiles, features); parallel workers
	// cost more to start than they save and starve concurrent requests.
	cfg.ConnConfig.RuntimeParams["max_parallel_workers_per_gather"] = "0"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	db.Pool = pool
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to database %s: %w", cfg.ConnConfig.Host, err)
	}
	applied, err := migrate.Up(ctx, pool)
	if err != nil {
		db.Close()
		return nil, err
	}
	if len(applied) > 0 {
		log.Info("applied migrations", "versions", applied)
	}
	if len(opts.ReplicaURLs) > 0 {
		var names []string
		for i, u := range opts.ReplicaURLs {
			rc, err := pgxpool.ParseConfig(u)
			if err != nil {
				db.Close()
				return nil, fmt.Errorf("replica URL %d: %w", i+1, err)
			}
			rc.MaxConns = cfg.MaxConns
			rc.ConnConfig.RuntimeParams["application_name"] = "gusu"
			rc.ConnConfig.RuntimeParams["max_parallel_workers_per_gather"] = "0"
			// Connections are made on demand: a replica that is down at
			// start is reported and skipped, not fatal.
			rp, err := pgxpool.NewWithConfig(ctx, rc)
			if err != nil {
				db.Close()
				return nil, fmt.Errorf("replica %d: %w", i+1, err)
			}
			db.replicaPools = append(db.replicaPools, rp)
			names = append(names, redact(u))
		}
		lag := opts.ReplicaMaxLag
		if lag <= 0 {
			lag = 30 * time.Second
		}
		db.Replicas = NewReplicas(pool, db.replicaPools, names, lag, log)
	}
	if opts.Bundle != nil {
		start := time.Now()
		res, err := bundle.Load(ctx, pool, opts.Bundle)
		if err != nil {
			db.Close()
			return nil, err
		}
		if res.Loaded {
			log.Info("loaded the bundled Suzhou dataset", "rows", res.Rows, "hash", res.Hash, "took", time.Since(start).Round(time.Millisecond))
		}
		// The old city's streets, as the road network (once; see roads.ImportBundled).
		if _, err := fs.Stat(opts.Bundle, bundledRoads); err == nil {
			start := time.Now()
			r, err := roads.ImportBundled(ctx, pool, opts.Bundle, bundledRoads, bundledRoadsSource)
			if err != nil {
				db.Close()
				return nil, fmt.Errorf("load the bundled streets: %w", err)
			}
			if r != nil {
				log.Info("loaded the bundled old-city streets as the road network", "edges", r.Stats.Edges, "connectors", r.Stats.Connectors, "took", time.Since(start).Round(time.Millisecond))
			}
		}
	}
	return db, nil
}

// bundledRoads is the bundle's road network: OSM streets of the old city.
const (
	bundledRoads       = "suzhou/roads_gusu.geojson"
	bundledRoadsSource = "bundled: OSM streets of Suzhou's old city (zhwal/zhwal_ersi suzhou_roads_gusu.json, ODbL), gusu data build"
)

// Close closes the pool and stops the managed cluster if this process started it.
func (db *DB) Close() {
	for _, p := range db.replicaPools {
		p.Close()
	}
	if db.Pool != nil {
		db.Pool.Close()
	}
	if db.Cluster != nil {
		_ = db.Cluster.Stop(context.Background())
	}
}

// Health answers GET /healthz: 200 when the database answers a query within
// two seconds, 503 with the reason when it does not.
func (db *DB) Health() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		var postgis string
		err := db.Pool.QueryRow(ctx, "SELECT postgis_lib_version()").Scan(&postgis)
		if err != nil {
			db.log.Warn("health check failed", "error", err)
			httpapi.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{
				"status": "unavailable", "error": "the database does not answer", "detail": classifyDown(err)})
			return
		}
		mode := "external"
		if db.Cluster != nil {
			mode = "managed"
		}
		out := map[string]any{"status": "ok", "database": mode, "postgis": postgis}
		if db.Replicas != nil {
			// The primary answers every read a replica cannot: replicas
			// down or lagging are reported, not a failure.
			out["replicas"] = db.Replicas.Status()
		}
		httpapi.WriteJSON(w, http.StatusOK, out)
	})
}

// classifyDown says why without leaking connection strings.
func classifyDown(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out after 2s"
	case errors.Is(err, context.Canceled):
		return "request canceled"
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return "cannot connect"
	}
	return "query failed"
}

// redact is a database URL without its password, for reports.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparseable URL)"
	}
	return p.Redacted()
}
