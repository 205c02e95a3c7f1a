package raptor

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
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

// connectionScan is the oracle: the connection scan algorithm (Dibbelt et
// al.) over the same trips and footpaths: connections in order of
// departure, a connection usable when its trip was boarded earlier or its
// stop reached in time, one walk after each arrival that improves a stop.
func connectionScan(tt *Timetable, sources []Footpath, limit int32) []int32 {
	type conn struct {
		trip     int
		from, to int32
		dep, arr int32
	}
	var conns []conn
	for i, tr := range tt.AllTrips() {
		for k := 0; k+1 < len(tr.Stops); k++ {
			conns = append(conns, conn{i, tr.Stops[k], tr.Stops[k+1], tr.Dep[k], tr.Arr[k+1]})
		}
	}
	// By departure, then arrival: a connection that arrives at the moment
	// another leaves (untimed stops get equal times) is scanned first.
	sort.SliceStable(conns, func(a, b int) bool {
		return conns[a].dep < conns[b].dep || (conns[a].dep == conns[b].dep && conns[a].arr < conns[b].arr)
	})
	// Two labels per stop, as footpaths are not closed transitively: the
	// earliest arrival by any means (for boarding) and by vehicle (where
	// walks start).
	best, ride := make([]int32, len(tt.StopIDs)), make([]int32, len(tt.StopIDs))
	for i := range best {
		best[i], ride[i] = Unreached, Unreached
	}
	walk := func(s int32, t int32) {
		for _, f := range tt.Walks(int(s)) {
			if v := t + f.Secs; v < best[f.Stop] && v <= limit {
				best[f.Stop] = v
			}
		}
	}
	for _, s := range sources {
		best[s.Stop] = min(best[s.Stop], s.Secs)
	}
	start := slices.Clone(best)
	for _, s := range sources {
		walk(int32(s.Stop), start[s.Stop])
	}
	// Connections that depart at the moment another arrives (untimed stops
	// interpolate to equal times) may be scanned in either order, so the
	// scan repeats until nothing improves.
	for changed := true; changed; {
		changed = false
		onTrip := map[int]bool{}
		for _, c := range conns {
			if c.dep > limit {
				break
			}
			if !onTrip[c.trip] && best[c.from] > c.dep {
				continue
			}
			onTrip[c.trip] = true
			if c.arr < ride[c.to] && c.arr <= limit {
				ride[c.to] = c.arr
				best[c.to] = min(best[c.to], c.arr)
				walk(c.to, c.arr)
				changed = true
			}
		}
	}
	return best
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
			want := connectionScan(tt, src, limit)
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
