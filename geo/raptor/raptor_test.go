package raptor

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/gusu-gis/gusu/geo/gtfs"
)

func readFeed(t *testing.T, name string) *gtfs.Feed {
	t.Helper()
	b, err := os.ReadFile("../../../shared/data/raw/r5r-porto-alegre-gtfs-osm/" + name)
	if err != nil {
		t.Fatal(err)
	}
	f, err := gtfs.Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// RAPTOR's earliest arrivals equal the connection scan's at every stop, on
// both Porto Alegre feeds, from random stops at random times of the
// service window (the bus feed runs 12:00–17:00).
func TestRaptorAgreesWithConnectionScan(t *testing.T) {
	date := time.Date(2019, 5, 15, 0, 0, 0, 0, time.UTC) // a Wednesday in both feeds' calendars
	for _, name := range []string{"poa_eptc.zip", "poa_trensurb.zip"} {
		f := readFeed(t, name)
		start := time.Now()
		tt, err := Build(f, date, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d stops, %d patterns, %d trips on %s; built in %v", name, len(tt.StopIDs), len(tt.patterns), tt.Trips, date.Format("2006-01-02"), time.Since(start))
		rng := rand.New(rand.NewPCG(12, 17))
		reached, compared := 0, 0
		var raptorTime time.Duration
		for i := 0; i < 25; i++ {
			src := []Footpath{{Stop: rng.IntN(len(tt.StopIDs)), Secs: int32(12*3600 + rng.IntN(4*3600))}}
			limit := src[0].Secs + 3*3600
			t0 := time.Now()
			got := tt.EarliestArrival(src, 20, limit)
			raptorTime += time.Since(t0)
			want := ScanConnections(tt, src, limit)
			for s := range want {
				compared++
				if got[s] != want[s] {
					t.Fatalf("%s from stop %s at %d: stop %s RAPTOR %d, connection scan %d", name, tt.StopIDs[src[0].Stop], src[0].Secs, tt.StopIDs[s], got[s], want[s])
				}
				if got[s] != Unreached {
					reached++
				}
			}
		}
		if reached < 25*2 {
			t.Fatalf("%s: only %d stop arrivals reached", name, reached)
		}
		t.Logf("%s: %d of %d stop arrivals reached, all equal; RAPTOR %v per query", name, reached, compared, raptorTime/25)
	}
}

// Fewer rounds never arrive earlier, and one round rides one vehicle: the
// 1-round arrivals are those of the direct trips from the origin.
func TestRoundsBoundTransfers(t *testing.T) {
	f := readFeed(t, "poa_eptc.zip")
	tt, err := Build(f, time.Date(2019, 5, 15, 0, 0, 0, 0, time.UTC), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	src := []Footpath{{Stop: 10, Secs: 13 * 3600}}
	limit := int32(16 * 3600)
	one, two, many := tt.EarliestArrival(src, 1, limit), tt.EarliestArrival(src, 2, limit), tt.EarliestArrival(src, 20, limit)
	n1, n2, nm := 0, 0, 0
	for s := range one {
		if one[s] < two[s] || two[s] < many[s] {
			t.Fatalf("stop %d: 1 round %d, 2 rounds %d, 20 rounds %d", s, one[s], two[s], many[s])
		}
		for _, x := range []struct {
			v int32
			n *int
		}{{one[s], &n1}, {two[s], &n2}, {many[s], &nm}} {
			if x.v != Unreached {
				*x.n++
			}
		}
	}
	if !(n1 < n2 && n2 <= nm) {
		t.Fatalf("stops reached: %d with 1 round, %d with 2, %d with 20", n1, n2, nm)
	}
}

// A date the feed does not cover is refused, saying which dates it does.
func TestNoServiceNamesTheFeedsDates(t *testing.T) {
	f := readFeed(t, "poa_eptc.zip")
	_, err := Build(f, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), DefaultOptions())
	var ns *NoServiceError
	if !errors.As(err, &ns) || ns.From.Format("2006-01-02") != "2019-04-15" || ns.To.Format("2006-01-02") != "2019-07-15" {
		t.Fatalf("%v", err)
	}
	// Sunday: EPTC's weekday-only services do not run.
	if _, err := Build(f, time.Date(2019, 5, 19, 0, 0, 0, 0, time.UTC), DefaultOptions()); err == nil {
		t.Log("EPTC runs on Sundays too")
	}
}

// transfers.txt: a minimum transfer time between two platforms makes a
// traveller miss a connection a plain footpath would catch, and "not
// possible" removes the transfer; RAPTOR and the connection scan agree on
// each.
func TestTransferRules(t *testing.T) {
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	feed := func(rules ...gtfs.Transfer) *gtfs.Feed {
		f := &gtfs.Feed{
			Stops: []gtfs.Stop{
				{ID: "a", Lat: 31.30, Lon: 120.60}, {ID: "x1", Lat: 31.30, Lon: 120.62},
				{ID: "x2", Lat: 31.30, Lon: 120.62}, {ID: "b", Lat: 31.30, Lon: 120.64},
			},
			Trips:     []gtfs.Trip{{ID: "t1", Route: "r1", Service: "s"}, {ID: "t2", Route: "r2", Service: "s"}, {ID: "t3", Route: "r2", Service: "s"}},
			Calendars: []gtfs.Calendar{{Service: "s", Days: [7]bool{true, true, true, true, true, true, true}, Start: day, End: day}},
			StopTimes: []gtfs.StopTime{
				{Trip: "t1", Stop: "a", Sequence: 1, Arrival: 28800, Departure: 28800},
				{Trip: "t1", Stop: "x1", Sequence: 2, Arrival: 29100, Departure: 29100},
				// t2 leaves x2 a minute after t1 arrives at x1; t3 ten minutes later.
				{Trip: "t2", Stop: "x2", Sequence: 1, Arrival: 29160, Departure: 29160},
				{Trip: "t2", Stop: "b", Sequence: 2, Arrival: 29400, Departure: 29400},
				{Trip: "t3", Stop: "x2", Sequence: 1, Arrival: 29760, Departure: 29760},
				{Trip: "t3", Stop: "b", Sequence: 2, Arrival: 30000, Departure: 30000},
			},
			Transfers: rules,
		}
		return f
	}
	for _, c := range []struct {
		name  string
		rules []gtfs.Transfer
		want  int32
	}{
		{"footpath only", nil, 29400},
		{"3 minutes to change", []gtfs.Transfer{{From: "x1", To: "x2", Type: 2, MinTime: 180}}, 30000},
		{"no change possible", []gtfs.Transfer{{From: "x1", To: "x2", Type: 3, MinTime: -1}}, Unreached},
	} {
		tt, err := Build(feed(c.rules...), day, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		a, _ := tt.Stop("a")
		b, _ := tt.Stop("b")
		src := []Footpath{{Stop: a, Secs: 28000}}
		got, oracle := tt.EarliestArrival(src, 4, 40000)[b], ScanConnections(tt, src, 40000)[b]
		if got != c.want || oracle != c.want {
			t.Fatalf("%s: RAPTOR %d, connection scan %d, want %d", c.name, got, oracle, c.want)
		}
	}
}

// Range RAPTOR over a window gives, for every departure, the arrivals a
// search from that departure alone gives (within its limit), from random
// stops and windows on the EPTC buses.
func TestRangeEqualsOneSearchPerDeparture(t *testing.T) {
	f := readFeed(t, "poa_eptc.zip")
	tt, err := Build(f, time.Date(2019, 5, 15, 0, 0, 0, 0, time.UTC), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(120, 1))
	var rangeTime, singleTime time.Duration
	compared := 0
	for i := 0; i < 6; i++ {
		access := []Footpath{{Stop: rng.IntN(len(tt.StopIDs)), Secs: 0}, {Stop: rng.IntN(len(tt.StopIDs)), Secs: int32(rng.IntN(600))}}
		first := int32(12*3600 + rng.IntN(3*3600))
		var deps []int32
		for k := 0; k <= 60; k++ {
			deps = append(deps, first+int32(k*60))
		}
		const maxSecs = 90 * 60
		got := make([][]int32, len(deps))
		t0 := time.Now()
		tt.Range(access, deps, 20, maxSecs, func(k int, arr []int32) { got[k] = slices.Clone(arr) })
		rangeTime += time.Since(t0)
		for k, d := range deps {
			src := make([]Footpath, len(access))
			for j, a := range access {
				src[j] = Footpath{Stop: a.Stop, Secs: d + a.Secs}
			}
			t1 := time.Now()
			want := tt.EarliestArrival(src, 20, d+maxSecs)
			singleTime += time.Since(t1)
			for s := range want {
				g := got[k][s]
				if g > d+maxSecs {
					g = Unreached
				}
				if g != want[s] {
					t.Fatalf("window %d, departure %d, stop %s: range %d, one search %d", i, d, tt.StopIDs[s], g, want[s])
				}
				compared++
			}
		}
	}
	t.Logf("%d arrivals equal; range RAPTOR %v for 6 windows of 61 departures, one search per departure %v", compared, rangeTime.Round(time.Millisecond), singleTime.Round(time.Millisecond))
}
