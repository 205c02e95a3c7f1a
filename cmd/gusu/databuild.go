package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/gusu-gis/gusu/data/build"
)

func cmdDataBuild(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("data build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	raw := fs.String("raw", "../shared/data/raw", "the raw sources (shared/data/raw)")
	curated := fs.String("curated", "data/curated", "small cited tables with no raw file")
	out := fs.String("out", "data/suzhou", "where to write the built dataset")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ds, err := build.Build(build.Options{Raw: *raw, Curated: *curated})
	if err != nil {
		return fmt.Errorf("build dataset: %w", err)
	}
	if err := ds.Write(*out); err != nil {
		return fmt.Errorf("write dataset: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s: %d town-system units, %d red-line polygons, %d rail lines, %d rail stations\n",
		*out, len(ds.TownSystem.Features), len(ds.RedLines.Features), len(ds.RailLines.Features), len(ds.RailStations.Features))
	return nil
}
