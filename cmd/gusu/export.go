package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/paulmach/orb/maptile"

	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/tiles"
	"github.com/gusu-gis/gusu/tiles/export"
)

// cmdExport is `gusu export pmtiles --layers a,b --minzoom N --maxzoom M
// [--bbox minx,miny,maxx,maxy] [--format pmtiles|mbtiles] OUT`.
func cmdExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "map" {
		return cmdExportMap(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "pmtiles" {
		return fmt.Errorf("%w: 'gusu export' takes pmtiles (with --format mbtiles for MBTiles) or map", errUsage)
	}
	fs := flag.NewFlagSet("export pmtiles", flag.ContinueOnError)
	layerList := fs.String("layers", "", "comma-separated layers to export (required)")
	minZoom := fs.Int("minzoom", 0, "lowest zoom")
	maxZoom := fs.Int("maxzoom", 14, "highest zoom")
	bbox := fs.String("bbox", "", "minx,miny,maxx,maxy in degrees; default: the layers' extent")
	format := fs.String("format", "pmtiles", "pmtiles or mbtiles")
	workers := fs.Int("workers", 4, "tiles rendered in parallel")
	cfg, fs, err := parseConfigWith("export pmtiles", args[1:], stderr, databaseKeys, fs)
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: give one output file, e.g. suzhou.pmtiles", errUsage)
	}
	out := fs.Arg(0)
	opts := export.Options{MinZoom: maptile.Zoom(*minZoom), MaxZoom: maptile.Zoom(*maxZoom), Workers: *workers}
	for _, n := range strings.Split(*layerList, ",") {
		if n = strings.TrimSpace(n); n != "" {
			opts.Layers = append(opts.Layers, n)
		}
	}
	switch {
	case len(opts.Layers) == 0:
		return fmt.Errorf("%w: --layers is required", errUsage)
	case *minZoom < 0 || *maxZoom > int(tiles.MaxZoom) || *minZoom > *maxZoom:
		return fmt.Errorf("%w: zooms must satisfy 0 ≤ --minzoom ≤ --maxzoom ≤ %d", errUsage, tiles.MaxZoom)
	case *workers < 1 || *workers > 64:
		return fmt.Errorf("%w: --workers must be from 1 to 64", errUsage)
	case *format != "pmtiles" && *format != "mbtiles":
		return fmt.Errorf("%w: --format must be pmtiles or mbtiles", errUsage)
	}
	if *bbox != "" {
		b, err := layers.ParseBBox(*bbox)
		if err != nil {
			return fmt.Errorf("%w: --bbox: %v", errUsage, err)
		}
		opts.BBox = b
	}
	log := cfg.logger(stderr)
	db, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	reg := layers.NewRegistry(db.Pool, log)
	// The layers' generalised copies are made current first, as the live
	// server makes them, so that the file holds the tiles it serves.
	gen := tiles.NewGeneralizer(db.Pool, reg, log)
	for _, name := range opts.Layers {
		if err := gen.Refresh(ctx, name); err != nil {
			return fmt.Errorf("prepare the tiles of %q: %w", name, err)
		}
	}
	srv := tiles.NewServer(reg, db.Pool, gen, tiles.Options{Timeout: time.Minute})

	var sink interface {
		export.Sink
		Abort()
	}
	if *format == "mbtiles" {
		sink, err = export.NewMBTiles(out)
	} else {
		sink, err = export.NewPMTiles(out)
	}
	if err != nil {
		return err
	}
	terminal := false
	if f, ok := stderr.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			terminal = true
		}
	}
	start := time.Now()
	lastLog := start
	opts.Progress = func(done, total int64) {
		switch {
		case terminal:
			fmt.Fprintf(stderr, "\r%d / %d tiles (%.0f%%)", done, total, 100*float64(done)/float64(total))
		case time.Since(lastLog) > 5*time.Second || done == total:
			lastLog = time.Now()
			log.Info("exporting", "tiles", done, "of", total)
		}
	}
	st, err := export.Run(ctx, srv, reg, opts, sink)
	if terminal {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		sink.Abort()
		return err
	}
	took := time.Since(start)
	fi, statErr := os.Stat(out)
	if statErr != nil {
		return errors.Join(errors.New("the export finished but its file is missing"), statErr)
	}
	fmt.Fprintf(stdout, "%s: %d tiles rendered, %d with features written, %.1f MiB, in %.1f s (%.0f tiles/s)\n",
		out, st.Tiles, st.Written, float64(fi.Size())/(1<<20), took.Seconds(), float64(st.Tiles)/took.Seconds())
	return nil
}
