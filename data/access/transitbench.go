package access

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"

	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/data/roads"
	"github.com/gusu-gis/gusu/data/transit"
	"github.com/gusu-gis/gusu/geo/isochrone"
	"github.com/gusu-gis/gusu/geo/osmroads"
)

// TransitBenchConfig sets up `gusu bench transit`.
type TransitBenchConfig struct {
	Pool *pgxpool.Pool
	// Feeds are the GTFS files imported first (one version).
	Feeds []string
	// OSM, if set, is a street network imported first (walks to and from
	// stops then run along it where it reaches).
	OSM string
	// Departure is a time the feeds run (YYYY-MM-DDTHH:MM).
	Departure string
	Runs      int
	// MatrixSize is the side of the square matrix (stops as points).
	MatrixSize int
	Out        io.Writer
}

// BenchTransit measures the timetable engine as the issue sets its
// targets: the import, one 45-minute transit isochrone at one departure,
// a 120-minute window at one-minute steps (an isochrone, and one origin to
// MatrixSize destinations), and a MatrixSize² matrix at one departure;
// medians of Runs runs, each from other random stops. Timetables are built
// once per day and cached, as the server does: the first request's build
// is reported on its own.
func BenchTransit(ctx context.Context, cfg TransitBenchConfig) error {
	out := cfg.Out
	start := time.Now()
	res, err := transit.Import(ctx, cfg.Pool, cfg.Feeds, "gusu bench transit")
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	importTook := time.Since(start)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	stops, trips, stopTimes := 0, 0, 0
	for _, f := range res.Feeds {
		stops, trips, stopTimes = stops+f.Stops, trips+f.Trips, stopTimes+f.StopTimes
	}
	fmt.Fprintf(out, "import of %d feed(s): %v (%d stops, %d trips, %d stop times); peak RSS of this process so far %.0f MB (targets: 30 s, 500 MB)\n",
		len(cfg.Feeds), importTook.Round(time.Millisecond), stops, trips, stopTimes, float64(ru.Maxrss)/1024)

	if cfg.OSM != "" {
		start := time.Now()
		r, err := roads.Import(ctx, cfg.Pool, cfg.OSM, osmroads.Options{}, filepath.Base(cfg.OSM))
		if err != nil {
			return fmt.Errorf("import streets: %w", err)
		}
		fmt.Fprintf(out, "streets imported in %v (%d edges): walks to and from stops run along them where they reach\n", time.Since(start).Round(time.Millisecond), r.Edges)
	}
	reg := layers.NewRegistry(cfg.Pool, nil)
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	reg.Listening(lctx)
	svc := NewService(cfg.Pool, reg, nil, isochrone.DefaultParams())
	if err := svc.Rebuild(ctx); err != nil {
		return err
	}
	dep, err := time.Parse("2006-01-02T15:04", cfg.Departure)
	if err != nil {
		return fmt.Errorf("departure %q: %w", cfg.Departure, err)
	}
	start = time.Now()
	tt, _, err := svc.timetable(ctx, time.Date(dep.Year(), dep.Month(), dep.Day(), 0, 0, 0, 0, time.UTC), false)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "timetable of %s built in %v (%d stops, %d trips that day; the first request of a day pays this once)\n\n",
		dep.Format("2006-01-02"), time.Since(start).Round(time.Millisecond), len(tt.StopIDs), tt.Trips)

	rng := rand.New(rand.NewPCG(45, 120))
	stopAt := func() orb.Point { return tt.StopAt[rng.IntN(len(tt.StopIDs))] }
	points := func(n int) [][]float64 {
		ps := make([][]float64, n)
		for i := range ps {
			p := stopAt()
			ps[i] = []float64{p[0], p[1]}
		}
		return ps
	}
	type row struct {
		name, target string
		times        []time.Duration
	}
	var rows []row
	measure := func(name, target string, runs int, fn func() error) error {
		r := row{name: name, target: target}
		for i := 0; i < runs; i++ {
			t0 := time.Now()
			if err := fn(); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			r.times = append(r.times, time.Since(t0))
		}
		rows = append(rows, r)
		return nil
	}
	iso := func(window int) func() error {
		return func() error {
			_, _, _, err := svc.timetableBands(Query{Origins: []orb.Point{stopAt()}, Mode: isochrone.Transit, Minutes: []float64{15, 30, 45},
				Departure: cfg.Departure, Window: window, Percentile: 50})
			return err
		}
	}
	matrix := func(origins, dests, window int) func() error {
		return func() error {
			_, err := svc.TravelTimesFor(ctx, TravelTimesRequest{Origins: &OriginsRef{Points: points(origins)}, Destinations: &OriginsRef{Points: points(dests)},
				Mode: "transit", Departure: cfg.Departure, Window: window, MaxMinutes: 90}, true)
			return err
		}
	}
	n := cfg.MatrixSize
	for _, m := range []struct {
		name, target string
		runs         int
		fn           func() error
	}{
		{"isochrone 15/30/45 min, one departure", "< 100 ms", cfg.Runs, iso(0)},
		{"isochrone 15/30/45 min, 120-min window (121 departures)", "< 2 s", cfg.Runs, iso(120)},
		{fmt.Sprintf("1 × %d matrix, 120-min window (121 departures)", n), "< 2 s", cfg.Runs, matrix(1, n, 120)},
		{fmt.Sprintf("%d × %d matrix, one departure", n, n), "< 10 s", max(1, cfg.Runs/3), matrix(n, n, 0)},
	} {
		if err := measure(m.name, m.target, m.runs, m.fn); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(out, 2, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "measure\truns\tmedian ms\tmin ms\tmax ms\ttarget\n")
	for _, r := range rows {
		lo, hi := r.times[0], r.times[0]
		for _, d := range r.times {
			lo, hi = min(lo, d), max(hi, d)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%s\n", r.name, len(r.times), ms(percentile(r.times, 0.5)), ms(lo), ms(hi), r.target)
	}
	tw.Flush()
	walks := "straight lines × 1.3"
	if svc.RoadNetwork() != nil {
		walks = "along the imported streets where they reach the place, else straight lines × 1.3"
	}
	fmt.Fprintf(out, "\ndeparture %s; origins and destinations are random stops of the feeds; walks to and from stops %s; RAPTOR, at most 8 vehicles; one core per request\n", cfg.Departure, walks)
	return nil
}
