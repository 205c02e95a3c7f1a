package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/data/roads"
	"github.com/gusu-gis/gusu/data/transit"
	"github.com/gusu-gis/gusu/geo/osmroads"
)

// cmdImport runs `gusu import osm [--bbox minx,miny,maxx,maxy] [--snap M] FILE.osm.pbf|FILE.geojson`.
// With the managed cluster it attaches to a running `gusu serve` (which then
// picks the new network up by itself) or starts and stops the cluster.
func cmdImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "gtfs" {
		return cmdImportGTFS(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "osm" {
		return fmt.Errorf("%w: 'gusu import' takes osm or gtfs", errUsage)
	}
	fs := flag.NewFlagSet("import osm", flag.ContinueOnError)
	bbox := fs.String("bbox", "", "keep only roads inside minx,miny,maxx,maxy (degrees)")
	snap := fs.Float64("snap", 20, "GeoJSON road lines: join a loose line end to a vertex of another piece within this many metres by a walking connector (0: never)")
	cfg, fset, err := parseConfigWith("import osm", args[1:], stderr, databaseKeys, fs)
	if err != nil {
		return err
	}
	if fset.NArg() != 1 {
		return fmt.Errorf("%w: name one .osm.pbf or .geojson file", errUsage)
	}
	path := fset.Arg(0)
	if *snap < 0 || *snap > 500 {
		return fmt.Errorf("%w: --snap must be between 0 and 500 metres", errUsage)
	}
	opts := osmroads.Options{SnapMetres: *snap}
	if *bbox != "" {
		b, err := layers.ParseBBox(*bbox)
		if err != nil {
			return fmt.Errorf("%w: --bbox: %v", errUsage, err)
		}
		opts.Bound = *b
	}
	start := time.Now()
	opts.Progress = func(stage string, n int64) {
		fmt.Fprintf(stderr, "\r%-12s %10d  (%s)", stage, n, time.Since(start).Round(100*time.Millisecond))
		if stage == "edges" {
			fmt.Fprintln(stderr)
		}
	}
	log := cfg.logger(stderr)
	db, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := roads.Import(ctx, db.Pool, path, opts, filepath.Base(path))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported %s: %d road ways, %d nodes, %d edges (%d snapping connectors) into layer %q version %d in %s\n",
		filepath.Base(path), res.Ways, res.Nodes, res.Edges, res.Connectors, roads.Layer, res.Version, res.Took.Round(time.Millisecond))
	return nil
}

// cmdImportGTFS runs `gusu import gtfs FILE.zip…`: the feeds, validated,
// become the transit network in one transaction (a feed with problems
// changes nothing, and the problems are listed with file, line and field).
func cmdImportGTFS(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import gtfs", flag.ContinueOnError)
	cfg, fset, err := parseConfigWith("import gtfs", args, stderr, databaseKeys, fs)
	if err != nil {
		return err
	}
	if fset.NArg() == 0 {
		return fmt.Errorf("%w: name one or more GTFS .zip files", errUsage)
	}
	log := cfg.logger(stderr)
	db, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := transit.Import(ctx, db.Pool, fset.Args(), "gusu import gtfs")
	var fe *transit.FeedError
	if errors.As(err, &fe) {
		fmt.Fprintf(stderr, "%s: %d problem(s); nothing was imported:\n", fe.File, len(fe.Errs.Problems)+fe.Errs.More)
		for _, p := range fe.Errs.Problems {
			fmt.Fprintf(stderr, "  %s\n", p)
		}
		if fe.Errs.More > 0 {
			fmt.Fprintf(stderr, "  … and %d more\n", fe.Errs.More)
		}
		return fmt.Errorf("%w: %s is not a valid GTFS feed", errUsage, fe.File)
	}
	if err != nil {
		return err
	}
	for _, f := range res.Feeds {
		fmt.Fprintf(stdout, "%s (feed %q): %d stops, %d routes, %d trips, %d stop times; service %s to %s\n",
			f.File, f.ID, f.Stops, f.Routes, f.Trips, f.StopTimes, f.From.Format("2006-01-02"), f.To.Format("2006-01-02"))
	}
	fmt.Fprintf(stdout, "imported into layers %q and %q, version %d, in %s\n", transit.StopsLayer, transit.RoutesLayer, res.Version, res.Took.Round(time.Millisecond))
	return nil
}
