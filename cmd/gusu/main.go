// Command gusu is the spatial-planning GIS server for Suzhou's New
// Urbanization Plan: PostGIS layers, vector tiles and a web viewer.
//
// This package only parses flags, builds the configuration and wires the
// packages together; the work is done in data/, tiles/, geo/ and frontend/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `gusu — spatial-planning GIS server for Suzhou

Usage:
  gusu serve     [flags]   run the server (manages a local PostGIS unless --database-url)
  gusu migrate   [flags]   apply database migrations and exit
  gusu data build [--raw DIR] [--out DIR]
                           rebuild data/suzhou from shared/data/raw
  gusu token create --name NAME --role viewer|editor|reviewer|admin [flags]
                           create an access token (printed once, alone, on stdout)
  gusu token revoke --name NAME [flags]
  gusu import osm [--bbox minx,miny,maxx,maxy] [--snap M] [flags] FILE.osm.pbf|FILE.geojson
                           import a road network from an OpenStreetMap extract
                           or GeoJSON road lines with OSM highway tags
  gusu import gtfs [flags] FEED.zip…
                           import GTFS feeds: the layers transit_stops and transit_routes
                           and the timetables, validated, in one transaction
  gusu report accessibility [--from station:苏州] [--format table|json] [flags]
                           which towns lie within 15/30/45 minutes, by mode
  gusu report coverage --origins LAYER [--where A=V] | --points lon,lat;… | --request FILE.json
                       [--mode walk] [--minutes 5,10,15] [--demand LAYER --weight ATTR] [--group-by LAYER]
                       [--split none|nearest] [--scenario existing|planned] [--format table|json|csv|xlsx] [--out FILE]
                           who and what lies within the bands of the origins (POST /api/catchments)
  gusu report traveltimes --request BODY.json [--format csv|json] [--out FILE]
                           a travel-time matrix (POST /api/traveltimes)
  gusu report indicators [--format table|json] [flags]
                           the plan's spatial indicators against its targets
  gusu export pmtiles --layers a,b [--minzoom 0] [--maxzoom 14] [--bbox …] [--format pmtiles|mbtiles] OUT
                           write the layers' tiles to a PMTiles (or MBTiles) file
  gusu export map [--layers a,b] [--bbox …] [--paper A3 | --width-mm N] [--orientation landscape]
                  [--dpi 300] [--title T] [--lang zh|en] OUT.pdf|OUT.png
                           a map for a report: title, legend, scale bar, north arrow, credits
  gusu bench tiles [--parcels N] [--concurrency N] [flags]
                           benchmark tiles against the pg_tileserv baseline
  gusu version

Run 'gusu <command> -h' for the flags of a command.
`

// errUsage marks errors that are the caller's fault: exit code 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "gusu:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "gusu:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], stderr)
	case "migrate":
		return cmdMigrate(ctx, args[1:], stderr)
	case "data":
		switch {
		case len(args) >= 2 && args[1] == "build":
			return cmdDataBuild(args[2:], stdout, stderr)
		case len(args) >= 2 && args[1] == "glyphs":
			return cmdDataGlyphs(args[2:], stdout, stderr)
		}
		return fmt.Errorf("%w: 'gusu data' takes the subcommand 'build' or 'glyphs'", errUsage)
	case "import":
		return cmdImport(ctx, args[1:], stdout, stderr)
	case "report":
		return cmdReport(ctx, args[1:], stdout, stderr)
	case "token":
		return cmdToken(ctx, args[1:], stdout, stderr)
	case "bench":
		return cmdBench(ctx, args[1:], stdout, stderr)
	case "export":
		return cmdExport(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "gusu", version)
		return nil
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"
