package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gusu-gis/gusu/data"
	"github.com/gusu-gis/gusu/data/access"
	"github.com/gusu-gis/gusu/data/database"
	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/data/pgcluster"
	"github.com/gusu-gis/gusu/data/roads"
	"github.com/gusu-gis/gusu/data/upload"
	"github.com/gusu-gis/gusu/geo/osmroads"
	"github.com/gusu-gis/gusu/tiles/bench"
)

// cmdBench runs `gusu bench tiles`. With the managed cluster it works in a
// separate database (gusu_bench) so the synthetic layer never appears in the
// planners' catalog; with --database-url it uses that database as given.
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "upload" {
		return cmdBenchUpload(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "isochrones" {
		return cmdBenchIsochrones(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "catchments" {
		return cmdBenchCatchments(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "transit" {
		return cmdBenchTransit(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "replicas" {
		return cmdBenchReplicas(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "tiles" {
		return fmt.Errorf("%w: 'gusu bench' takes the subcommand tiles, upload, isochrones, catchments, transit or replicas", errUsage)
	}
	keep := map[string]bool{"data-dir": true, "database-url": true, "log-format": true, "log-level": true}
	fs := flag.NewFlagSet("bench tiles", flag.ContinueOnError)
	parcels := fs.Int("parcels", 100000, "synthetic parcel polygons to generate")
	conc := fs.Int("concurrency", 8, "concurrent requests")
	perZoom := fs.Int("tiles-per-zoom", 40, "tiles per zoom level (z5–14)")
	rounds := fs.Int("rounds", 2, "measured rounds over the tile list (warm cache: 5× as many)")
	baselineURL := fs.String("baseline-url", "", "a running tile server to compare with, as a URL template with {layer}, {z}, {x} and {y}, e.g. http://127.0.0.1:7800/public.{layer}/{z}/{x}/{y}.pbf for pg_tileserv on the same database (default: pg_tileserv's SQL run in process)")
	onePass := fs.Bool("one-pass", false, "request every URL once per configuration, so no tile is in flight twice (overrides --rounds)")
	cfg, _, err := parseConfigWith("bench tiles", args[1:], stderr, keep, fs)
	if err != nil {
		return err
	}
	if *baselineURL != "" {
		if err := bench.CheckBaselineURL(*baselineURL); err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
	}
	bdb, closeDB, err := benchDatabase(ctx, cfg, stderr, int32(*conc*2))
	if err != nil {
		return err
	}
	defer closeDB()
	_, err = bench.Run(ctx, bench.Config{Pool: bdb.Pool, Parcels: *parcels, Concurrency: *conc, TilesPerZoom: *perZoom, Rounds: *rounds, BaselineURL: *baselineURL, OnePass: *onePass, Out: stdout})
	return err
}

func cmdBenchUpload(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	keep := map[string]bool{"data-dir": true, "database-url": true, "log-format": true, "log-level": true}
	fs := flag.NewFlagSet("bench upload", flag.ContinueOnError)
	n := fs.Int("features", 100000, "synthetic polygons in the uploaded GeoJSON")
	cfg, _, err := parseConfigWith("bench upload", args, stderr, keep, fs)
	if err != nil {
		return err
	}
	bdb, closeDB, err := benchDatabase(ctx, cfg, stderr, 4)
	if err != nil {
		return err
	}
	defer closeDB()
	dir, err := os.MkdirTemp("", "gusu-bench-upload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	_, err = upload.Bench(ctx, bdb.Pool, *n, dir, stdout)
	return err
}

func cmdBenchIsochrones(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	keep := map[string]bool{"data-dir": true, "database-url": true, "log-format": true, "log-level": true}
	fs := flag.NewFlagSet("bench isochrones", flag.ContinueOnError)
	n := fs.Int("origins", 50, "random origins per network")
	pbf := fs.String("osm", "../shared/data/raw/osm-liechtenstein/liechtenstein-2013-08-03.osm.pbf", "OSM extract to import as the road network")
	cfg, _, err := parseConfigWith("bench isochrones", args, stderr, keep, fs)
	if err != nil {
		return err
	}
	bdb, closeDB, err := benchDatabase(ctx, cfg, stderr, 4)
	if err != nil {
		return err
	}
	defer closeDB()
	if _, err := bdb.Pool.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pgrouting"); err != nil {
		return fmt.Errorf("pgRouting is needed for the comparison (apt-get install postgresql-15-pgrouting): %w", err)
	}
	res, err := roads.Import(ctx, bdb.Pool, *pbf, osmroads.Options{}, filepath.Base(*pbf))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported %d road edges from %s\n", res.Edges, filepath.Base(*pbf))
	return access.Bench(ctx, access.BenchConfig{Pool: bdb.Pool, Origins: *n, Out: stdout})
}

func cmdBenchCatchments(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	keep := map[string]bool{"data-dir": true, "database-url": true, "log-format": true, "log-level": true}
	fs := flag.NewFlagSet("bench catchments", flag.ContinueOnError)
	facilities := fs.Int("facilities", 1000, "synthetic facilities (origins)")
	demand := fs.Int("demand", 100000, "synthetic weighted demand points")
	runs := fs.Int("runs", 7, "measured runs")
	cfg, _, err := parseConfigWith("bench catchments", args, stderr, keep, fs)
	if err != nil {
		return err
	}
	bdb, closeDB, err := benchDatabase(ctx, cfg, stderr, 4)
	if err != nil {
		return err
	}
	defer closeDB()
	return access.BenchCatchments(ctx, access.CatchmentBenchConfig{Pool: bdb.Pool, Facilities: *facilities, Demand: *demand, Runs: *runs, Out: stdout})
}

func cmdBenchTransit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	keep := map[string]bool{"data-dir": true, "database-url": true, "log-format": true, "log-level": true}
	fs := flag.NewFlagSet("bench transit", flag.ContinueOnError)
	departure := fs.String("departure", "2019-05-15T13:00", "a departure the feeds serve (the default suits r5r's Porto Alegre feeds: a Wednesday, within the buses' 12:00–17:00)")
	runs := fs.Int("runs", 7, "measured runs of each query (the square matrix: a third as many)")
	size := fs.Int("matrix", 1000, "origins and destinations of the square matrix")
	osm := fs.String("osm", "", "an OSM PBF of the streets to import first, so walks to and from stops run along them (e.g. …/poa_osm.pbf)")
	cfg, parsed, err := parseConfigWith("bench transit", args, stderr, keep, fs)
	if err != nil {
		return err
	}
	rest := parsed.Args()
	if len(rest) == 0 {
		return fmt.Errorf("%w: gusu bench transit [flags] FEED.zip…, e.g. ../shared/data/raw/r5r-porto-alegre-gtfs-osm/poa_eptc.zip …/poa_trensurb.zip", errUsage)
	}
	bdb, closeDB, err := benchDatabase(ctx, cfg, stderr, 8)
	if err != nil {
		return err
	}
	defer closeDB()
	return access.BenchTransit(ctx, access.TransitBenchConfig{Pool: bdb.Pool, Feeds: rest, Departure: *departure, Runs: *runs, MatrixSize: *size, OSM: *osm, Out: stdout})
}

// benchDatabase opens the database benchmarks work in: with the managed
// cluster a database of their own (gusu_bench), so synthetic layers never
// reach the planners' catalog; with --database-url that database.
func benchDatabase(ctx context.Context, cfg *Config, stderr io.Writer, conns int32) (*database.DB, func(), error) {
	log := cfg.logger(stderr)
	url := cfg.DatabaseURL
	var managed *database.DB
	if url == "" {
		// Start (or attach to) the managed cluster, then use a database of its own.
		db, err := database.Open(ctx, database.Options{DataDir: cfg.DataDir, Durable: true, Logger: log})
		if err != nil {
			return nil, nil, err
		}
		managed = db
		if _, err := db.Pool.Exec(ctx, "CREATE DATABASE gusu_bench"); err != nil && !isDuplicateDatabase(err) {
			db.Close()
			return nil, nil, fmt.Errorf("create benchmark database: %w", err)
		}
		url = db.Cluster.URL("gusu_bench")
	}
	bdb, err := database.Open(ctx, database.Options{URL: url, Bundle: data.Suzhou, Logger: log, MaxConns: conns})
	if err != nil {
		if managed != nil {
			managed.Close()
		}
		return nil, nil, err
	}
	return bdb, func() {
		bdb.Close()
		if managed != nil {
			managed.Close()
		}
	}, nil
}

func isDuplicateDatabase(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P04" // duplicate_database
}

// cmdBenchReplicas is `gusu bench replicas`: a throwaway primary (with the
// bundled data and synthetic parcels) and a streaming replica of it, in a
// temporary directory; cold tile throughput on one database and on both.
func cmdBenchReplicas(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench replicas", flag.ContinueOnError)
	fs.SetOutput(stderr)
	parcels := fs.Int("parcels", 100000, "synthetic parcel polygons")
	conc := fs.Int("concurrency", 8, "concurrent requests")
	perZoom := fs.Int("tiles-per-zoom", 40, "tiles per zoom level (z5–14)")
	rounds := fs.Int("rounds", 2, "rounds over the tile list")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "gusu-bench-replicas-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := database.Open(ctx, database.Options{DataDir: dir, Bundle: data.Suzhou, Logger: log, MaxConns: int32(*conc * 2)})
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintf(stderr, "generating %d synthetic parcels…\n", *parcels)
	if err := bench.EnsureSyntheticLayer(ctx, db.Pool, *parcels); err != nil {
		return err
	}
	rep, err := pgcluster.StartReplica(ctx, db.Cluster, filepath.Join(dir, "replica"), pgcluster.Options{Logger: log})
	if err != nil {
		return err
	}
	defer rep.Stop(context.Background())
	cfg, err := pgxpool.ParseConfig(rep.URL("gusu"))
	if err != nil {
		return err
	}
	cfg.MaxConns = int32(*conc * 2)
	replica, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer replica.Close()
	// Wait until the replica has the synthetic layer.
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		var n int
		if replica.QueryRow(ctx, "SELECT count(*) FROM synthetic_parcels").Scan(&n) == nil && n == *parcels {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("the replica did not catch up within 2 minutes")
		}
	}
	reg := layers.NewRegistry(db.Pool, log)
	_, _, err = bench.RunReplicas(ctx, bench.ReplicaConfig{Primary: db.Pool, Replica: replica, Registry: reg, Layer: "synthetic_parcels",
		Concurrency: *conc, TilesPerZoom: *perZoom, Rounds: *rounds, Out: stdout})
	return err
}
