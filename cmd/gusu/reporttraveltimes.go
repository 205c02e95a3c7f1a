package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/gusu-gis/gusu/data/access"
)

// cmdReportTravelTimes is `gusu report traveltimes --request body.json`:
// POST /api/traveltimes from the command line, as CSV (origin, destination,
// minutes) or JSON.
func cmdReportTravelTimes(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report traveltimes", flag.ContinueOnError)
	requestFile := fs.String("request", "", "a JSON file with the body of POST /api/traveltimes (- for stdin)")
	out := fs.String("out", "", "write to this file instead of stdout")
	env, format, err := openReport(ctx, "report traveltimes", args, stderr, fs, "csv", "json")
	if err != nil {
		return err
	}
	defer env.close()
	if *requestFile == "" {
		return fmt.Errorf("%w: --request FILE.json is required (the body of POST /api/traveltimes)", errUsage)
	}
	var req access.TravelTimesRequest
	if err := readRequest(*requestFile, &req); err != nil {
		return err
	}
	res, err := env.access.TravelTimesFor(ctx, req, true)
	if err != nil {
		return err
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
	if *format == "json" {
		return json.NewEncoder(w).Encode(res)
	}
	return res.WriteCSV(w)
}
