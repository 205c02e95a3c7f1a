package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/paulmach/orb"

	"github.com/gusu-gis/gusu/data/access"
	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/geo/isochrone"
)

func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "accessibility" {
		return fmt.Errorf("%w: 'gusu report' takes accessibility", errUsage)
	}
	fs := flag.NewFlagSet("report accessibility", flag.ContinueOnError)
	from := fs.String("from", "station:苏州", "origin: station:<id or name> or town:<code> (default: Suzhou railway station, for the central city)")
	format := fs.String("format", "table", "table or json")
	cfg, _, err := parseConfigWith("report accessibility", args[1:], stderr, databaseKeys, fs)
	if err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return fmt.Errorf("%w: --format must be table or json", errUsage)
	}
	log := cfg.logger(stderr)
	db, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := access.NewService(db.Pool, layers.NewRegistry(db.Pool, log), log, isochrone.DefaultParams())
	if err := svc.Rebuild(ctx); err != nil {
		return err
	}
	origin, err := svc.Resolve(*from)
	if err != nil {
		return err
	}
	bands := []float64{15, 30, 45}
	type row struct {
		Mode  isochrone.Mode    `json:"mode"`
		Units []access.UnitTime `json:"units"`
		Meta  map[string]any    `json:"metadata"`
	}
	var rows []row
	for _, m := range isochrone.Modes {
		units, meta, err := svc.Towns(access.Query{Origins: []orb.Point{origin}, From: []string{*from}, Mode: m, Minutes: bands})
		if err != nil {
			return err
		}
		rows = append(rows, row{m, units, meta})
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"from": *from, "bands": bands, "modes": rows})
	}
	fmt.Fprintf(stdout, "Accessibility from %s (%.4f, %.4f) — %s: %s\n\n", *from, origin[0], origin[1], access.ModelOffNetwork,
		"no road network is loaded; times are estimates over land plus rail")
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "mode\tband\tcounty-level cities\ttowns\tnames (county-level cities first)")
	for _, r := range rows {
		for _, b := range bands {
			var counties, towns []string
			for _, u := range r.Units {
				if u.Band == nil || *u.Band > b {
					continue
				}
				if u.Level == "town" {
					towns = append(towns, u.Name)
				} else {
					counties = append(counties, u.Name)
				}
			}
			names := strings.Join(append(counties, towns...), " ")
			if len([]rune(names)) > 60 {
				names = string([]rune(names)[:60]) + "…"
			}
			fmt.Fprintf(tw, "%s\t≤ %g min\t%d\t%d\t%s\n", r.Mode, b, len(counties), len(towns), names)
		}
	}
	return tw.Flush()
}
