package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/gusu-gis/gusu/data/access"
)

// cmdReportCoverage is `gusu report coverage`: POST /api/catchments from the
// command line, for batch reports. The request comes from --request (the
// API's JSON body) or from flags.
func cmdReportCoverage(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report coverage", flag.ContinueOnError)
	requestFile := fs.String("request", "", "a JSON file with the body of POST /api/catchments (- for stdin); the flags below are then not used")
	originsLayer := fs.String("origins", "", "origin layer, e.g. rail_stations")
	var originsWhere, demandWhere stringList
	fs.Var(&originsWhere, "where", "origin filter ATTR=VALUE (repeatable; VALUE may be v1|v2)")
	points := fs.String("points", "", "origin points instead of a layer: lon,lat;lon,lat;…")
	mode := fs.String("mode", "", "walk, cycle, drive or transit (default walk, or the preset's)")
	minutes := fs.String("minutes", "", "bands in minutes, e.g. 5,10,15 (default 15, or the preset's)")
	split := fs.String("split", "none", "none, or nearest for each origin's own area")
	demandLayer := fs.String("demand", "", "demand layer (default: the town system's county-level units and their census populations)")
	weight := fs.String("weight", "", "the demand layer's numeric weight attribute, e.g. population")
	fs.Var(&demandWhere, "demand-where", "demand filter ATTR=VALUE (repeatable)")
	groupBy := fs.String("group-by", "", "a polygon layer to report per unit, e.g. town_system")
	scenario := fs.String("scenario", "existing", "existing or planned (rail lines with status=planned)")
	compare := fs.String("compare", "", "measure the same in this scenario too (existing or planned) and report the difference")
	out := fs.String("out", "", "write to this file instead of stdout")
	saveAsFlag := fs.String("save-as", "", "also save the bands as a layer of this name (a new version if it is a saved run already)")
	preset := fs.String("preset", "", "a life-circle preset (GET /api/catchments/presets), e.g. gb50180_15min: fills --mode and --minutes unless given")
	category := fs.String("category", "", "with --preset: the origin layer's attribute naming each facility's category; one report per category")
	env, format, err := openReport(ctx, "report coverage", args, stderr, fs, "table", "json", "csv", "xlsx")
	if err != nil {
		return err
	}
	defer env.close()
	if env.accessErr != nil {
		return env.accessErr
	}
	var req access.CatchmentRequest
	if *requestFile != "" {
		if err := readRequest(*requestFile, &req); err != nil {
			return err
		}
	} else {
		req = access.CatchmentRequest{Mode: *mode, Split: *split, GroupBy: *groupBy, Scenario: *scenario, Preset: *preset, SaveAs: *saveAsFlag, Origins: &access.OriginsRef{Category: *category}}
		if *preset == "" && req.Mode == "" {
			req.Mode = "walk"
		}
		if *preset == "" && *minutes == "" {
			*minutes = "15"
		}
		for _, m := range strings.Split(*minutes, ",") {
			if *minutes == "" {
				break
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(m), 64)
			if err != nil {
				return fmt.Errorf("%w: --minutes: %q is not a number", errUsage, m)
			}
			req.Minutes = append(req.Minutes, v)
		}
		switch {
		case *points != "":
			for _, p := range strings.Split(*points, ";") {
				lon, lat, ok := strings.Cut(p, ",")
				x, err1 := strconv.ParseFloat(strings.TrimSpace(lon), 64)
				y, err2 := strconv.ParseFloat(strings.TrimSpace(lat), 64)
				if !ok || err1 != nil || err2 != nil {
					return fmt.Errorf("%w: --points: %q is not lon,lat", errUsage, p)
				}
				req.Origins.Points = append(req.Origins.Points, []float64{x, y})
			}
		case *originsLayer != "":
			req.Origins.Layer = *originsLayer
			if req.Origins.Where, err = whereFlags(originsWhere.values); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: give --origins LAYER, --points or --request", errUsage)
		}
		if *compare != "" {
			req.Compare = &access.CompareRef{Scenario: *compare}
		}
		if *demandLayer != "" {
			req.Demand = &access.DemandRef{LayerRef: access.LayerRef{Layer: *demandLayer}, Weight: *weight}
			if req.Demand.Where, err = whereFlags(demandWhere.values); err != nil {
				return err
			}
		}
	}
	saveAs := req.SaveAs
	req.SaveAs = ""
	res, err := env.access.Catchments(ctx, req, true)
	if err != nil {
		return err
	}
	if saveAs != "" {
		rep, err := env.access.Save(ctx, saveAs, "gusu report coverage", req, res)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "saved as layer %s, version %d (%d features)\n", saveAs, rep.LayerVersion, rep.FeaturesWritten)
	}
	w := stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	switch *format {
	case "csv":
		return res.WriteCSV(w)
	case "xlsx":
		return res.WriteXLSX(w)
	case "json":
		return res.WriteGeoJSON(w)
	}
	fmt.Fprintf(w, "network: %v\n%v\n", res.Meta["network"], res.Meta["note"])
	if d, ok := res.Meta["demand"].(map[string]any); ok {
		fmt.Fprintf(w, "demand: %v (weight %v, %v features): %v\n", d["layer"], d["weight"], d["features"], d["note"])
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "band\tunit\tcovered\ttotal\tshare")
	table := func(label string, cov []access.BandCoverage) {
		for _, b := range cov {
			fmt.Fprintf(tw, "%s≤ %g min\tall\t%.0f\t%.0f\t%.1f%%\n", label, b.Minutes, b.Covered, b.Total, 100*b.Share)
			for _, u := range b.Units {
				fmt.Fprintf(tw, "\t%s\t%.0f\t%.0f\t%.1f%%\n", strings.TrimSpace(u.Name+" "+u.Code), u.Covered, u.Total, 100*u.Share)
			}
		}
	}
	table("", res.Coverage)
	for _, c := range res.Categories {
		if len(c.Coverage) == 0 {
			fmt.Fprintf(tw, "%s %s\t%s\t\t\t\n", c.Category, c.NameZh, c.Note)
		}
		table(c.Category+" "+c.NameZh+" ", c.Coverage)
	}
	if c := res.Comparison; c != nil {
		if c.Note != "" {
			fmt.Fprintf(tw, "\n%s\n", c.Note)
		}
		fmt.Fprintf(tw, "\n%s → %s\tunit\tcovered\tcompared\tdifference\tgained km²\n", c.Scenario, c.Against)
		for _, b := range c.Bands {
			fmt.Fprintf(tw, "≤ %g min\tall\t%.0f\t%.0f\t%+.0f\t%.2f\n", b.Minutes, b.Covered, b.Compared, b.Difference, b.GainedKm2)
			for _, u := range b.Units {
				fmt.Fprintf(tw, "\t%s\t%.0f\t%.0f\t%+.0f\t\n", strings.TrimSpace(u.Name+" "+u.Code), u.Covered, u.Compared, u.Difference)
			}
		}
	}
	return tw.Flush()
}

// whereFlags turns ATTR=VALUE flags into a where object (v1|v2: any of).
func whereFlags(values []string) (map[string]json.RawMessage, error) {
	if len(values) == 0 {
		return nil, nil
	}
	out := map[string]json.RawMessage{}
	for _, v := range values {
		attr, val, ok := strings.Cut(v, "=")
		if !ok || attr == "" {
			return nil, fmt.Errorf("%w: a filter is ATTR=VALUE, got %q", errUsage, v)
		}
		b, _ := json.Marshal(strings.Split(val, "|"))
		out[attr] = b
	}
	return out, nil
}

// readRequest decodes an API body for a report from a file (- for stdin),
// strictly, as the API does.
func readRequest(path string, v any) error {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: --request: %v", errUsage, err)
	}
	return nil
}
