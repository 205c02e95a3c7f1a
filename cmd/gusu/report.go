package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/paulmach/orb"

	"github.com/gusu-gis/gusu/data"
	"github.com/gusu-gis/gusu/data/access"
	"github.com/gusu-gis/gusu/data/database"
	"github.com/gusu-gis/gusu/data/indicators"
	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/geo/isochrone"
)

func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "indicators" {
		return cmdReportIndicators(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "coverage" {
		return cmdReportCoverage(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "traveltimes" {
		return cmdReportTravelTimes(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "accessibility" {
		return fmt.Errorf("%w: 'gusu report' takes accessibility, coverage, traveltimes or indicators", errUsage)
	}
	fs := flag.NewFlagSet("report accessibility", flag.ContinueOnError)
	from := fs.String("from", "station:苏州", "origin: station:<id or name> or town:<code> (default: Suzhou railway station, for the central city)")
	env, format, err := openReport(ctx, "report accessibility", args[1:], stderr, fs)
	if err != nil {
		return err
	}
	defer env.close()
	svc := env.access
	if env.accessErr != nil {
		return env.accessErr
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

func cmdReportIndicators(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report indicators", flag.ContinueOnError)
	env, format, err := openReport(ctx, "report indicators", args, stderr, fs)
	if err != nil {
		return err
	}
	defer env.close()
	if env.accessErr != nil {
		env.log.Warn("no accessibility network; the 45-minute circle is not computable", "error", env.accessErr)
	}
	svc, err := indicators.NewService(env.db.Pool, env.registry, env.access, data.Plan)
	if err != nil {
		return err
	}
	all, err := svc.All(ctx)
	if err != nil {
		return err
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"plan_source": svc.Plan().Source, "indicators": all})
	}
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "indicator\tvalue\t2020\t2025 target\tstatus")
	num := func(v *float64) string {
		if v == nil {
			return "–"
		}
		return strconv.FormatFloat(*v, 'f', -1, 64)
	}
	for _, in := range all {
		fmt.Fprintf(tw, "%s %s\t%s %s\t%s\t%s\t%s\n", in.NameZh, in.NameEn, num(in.Value), in.Unit, num(in.Baseline), num(in.Target), in.Status)
	}
	tw.Flush()
	fmt.Fprintln(stdout)
	for _, in := range all {
		if len(in.Details) > 0 {
			b, _ := json.Marshal(in.Details)
			fmt.Fprintf(stdout, "%s: %s\n", in.ID, b)
		}
		for _, c := range in.Caveats {
			fmt.Fprintf(stdout, "  caveat: %s\n", c)
		}
	}
	fmt.Fprintf(stdout, "\nsource of the plan's figures: %s\n", svc.Plan().Source)
	return nil
}

// reportEnv is what the report commands share: the database, a registry
// and a built accessibility network (accessErr if it could not be built).
type reportEnv struct {
	db        *database.DB
	registry  *layers.Registry
	access    *access.Service
	accessErr error
	log       *slog.Logger
}

func (e *reportEnv) close() { e.db.Close() }

// openReport parses a report command's flags (its own on fs, plus
// --format and the database flags) and opens what reports need.
func openReport(ctx context.Context, name string, args []string, stderr io.Writer, fs *flag.FlagSet, formats ...string) (*reportEnv, *string, error) {
	if len(formats) == 0 {
		formats = []string{"table", "json"}
	}
	format := fs.String("format", formats[0], strings.Join(formats, ", "))
	cfg, _, err := parseConfigWith(name, args, stderr, databaseKeys, fs)
	if err != nil {
		return nil, nil, err
	}
	if !slices.Contains(formats, *format) {
		return nil, nil, fmt.Errorf("%w: --format must be one of %s", errUsage, strings.Join(formats, ", "))
	}
	log := cfg.logger(stderr)
	db, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	env := &reportEnv{db: db, registry: layers.NewRegistry(db.Pool, log), log: log}
	env.access = access.NewService(db.Pool, env.registry, log, isoParamsOrDefault(cfg))
	env.accessErr = env.access.Rebuild(ctx)
	return env, format, nil
}
