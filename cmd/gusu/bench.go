package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gusu-gis/gusu/data"
	"github.com/gusu-gis/gusu/data/database"
	"github.com/gusu-gis/gusu/tiles/bench"
)

// cmdBench runs `gusu bench tiles`. With the managed cluster it works in a
// separate database (gusu_bench) so the synthetic layer never appears in the
// planners' catalog; with --database-url it uses that database as given.
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "tiles" {
		return fmt.Errorf("%w: 'gusu bench' takes the subcommand 'tiles'", errUsage)
	}
	keep := map[string]bool{"data-dir": true, "database-url": true, "log-format": true, "log-level": true}
	fs := flag.NewFlagSet("bench tiles", flag.ContinueOnError)
	parcels := fs.Int("parcels", 100000, "synthetic parcel polygons to generate")
	conc := fs.Int("concurrency", 8, "concurrent requests")
	perZoom := fs.Int("tiles-per-zoom", 40, "tiles per zoom level (z5–14)")
	rounds := fs.Int("rounds", 2, "measured rounds over the tile list (warm cache: 5× as many)")
	cfg, _, err := parseConfigWith("bench tiles", args[1:], stderr, keep, fs)
	if err != nil {
		return err
	}
	log := cfg.logger(stderr)
	url := cfg.DatabaseURL
	if url == "" {
		// Start (or attach to) the managed cluster, then use a database of its own.
		db, err := database.Open(ctx, database.Options{DataDir: cfg.DataDir, Durable: true, Logger: log})
		if err != nil {
			return err
		}
		defer db.Close()
		if _, err := db.Pool.Exec(ctx, "CREATE DATABASE gusu_bench"); err != nil && !isDuplicateDatabase(err) {
			return fmt.Errorf("create benchmark database: %w", err)
		}
		url = db.Cluster.URL("gusu_bench")
	}
	bdb, err := database.Open(ctx, database.Options{URL: url, Bundle: data.Suzhou, Logger: log, MaxConns: int32(*conc * 2)})
	if err != nil {
		return err
	}
	defer bdb.Close()
	_, err = bench.Run(ctx, bench.Config{Pool: bdb.Pool, Parcels: *parcels, Concurrency: *conc, TilesPerZoom: *perZoom, Rounds: *rounds, Out: stdout})
	return err
}

func isDuplicateDatabase(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P04" // duplicate_database
}
