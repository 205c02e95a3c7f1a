package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/data/roads"
	"github.com/gusu-gis/gusu/geo/osmroads"
)

// cmdImport runs `gusu import osm [--bbox minx,miny,maxx,maxy] [--snap M] FILE.osm.pbf|FILE.geojson`.
// With the managed cluster it attaches to a running `gusu serve` (which then
// picks the new network up by itself) or starts and stops the cluster.
func cmdImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "osm" {
		return fmt.Errorf("%w: 'gusu import' takes osm", errUsage)
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
