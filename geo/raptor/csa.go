package raptor

import (
	"slices"
	"sort"
)

// ScanConnections is a second earliest-arrival algorithm, the oracle
// RAPTOR is tested against: the connection scan algorithm (Dibbelt et
// al.) over the same trips and footpaths: connections in order of
// departure, a connection usable when its trip was boarded earlier or its
// stop reached in time, one walk after each arrival that improves a stop.
func ScanConnections(tt *Timetable, sources []Footpath, limit int32) []int32 {
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
