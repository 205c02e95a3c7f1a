// Package raptor answers earliest-arrival questions over a timetable with
// RAPTOR (round-based public transit routing, Delling, Pajor and Werneck
// 2012): each round rides one more vehicle, then walks once between
// nearby stops. A Timetable is one service day of a GTFS feed: the trips
// that run that day, frequency-based trips expanded into departures, the
// times of untimed stops interpolated, trips grouped into patterns (same
// stops in the same order).
package raptor

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/paulmach/orb"

	"github.com/gusu-gis/gusu/geo/gtfs"
)

// Unreached is the arrival time of a stop not reached.
const Unreached = math.MaxInt32

// Options set how a timetable is built.
type Options struct {
	// WalkKmh and Detour make the footpaths between stops: straight-line
	// distance × Detour at WalkKmh.
	WalkKmh, Detour float64
	// TransferMetres is the longest footpath between two stops.
	TransferMetres float64
	// Footpaths, if set, makes the footpaths between the stops at the
	// given places instead of straight lines (e.g. along streets); the
	// feed's transfer rules apply on top.
	Footpaths func(at []orb.Point) [][]Footpath
}

// DefaultOptions are gusu's walking defaults (as the isochrones use).
func DefaultOptions() Options { return Options{WalkKmh: 4.8, Detour: 1.3, TransferMetres: 400} }

type footpath struct {
	to   int32
	secs int32
}

type pattern struct {
	stops []int32
	// times[trip][k]: arrival and departure at the pattern's k-th stop,
	// trips sorted by their departure from the first stop.
	arr, dep [][]int32
	route    string
}

// Timetable is one service day of a feed.
type Timetable struct {
	Date     time.Time
	StopIDs  []string
	StopAt   []orb.Point
	index    map[string]int32
	patterns []pattern
	// byStop lists the (pattern, position) pairs serving each stop.
	byStop [][][2]int32
	walk   [][]footpath
	// Trips counts the trips (departures) running that day.
	Trips int
}

// Runs reports whether service runs on date (calendar and exceptions).
func Runs(f *gtfs.Feed, date time.Time) map[string]bool {
	on := map[string]bool{}
	wd := (int(date.Weekday()) + 6) % 7 // Monday first
	for _, c := range f.Calendars {
		if !date.Before(c.Start) && !date.After(c.End) && c.Days[wd] {
			on[c.Service] = true
		}
	}
	for _, d := range f.CalendarDates {
		if d.Date.Equal(date) {
			on[d.Service] = d.Exception == 1
		}
	}
	return on
}

// Build makes the timetable of date. It fails when no service runs that
// day, naming the dates the feed covers.
func Build(f *gtfs.Feed, date time.Time, o Options) (*Timetable, error) {
	date = time.Date(date.Year(), date.Month(), date.Day(), 0, 0, 0, 0, time.UTC)
	on := Runs(f, date)
	tt := &Timetable{Date: date, index: map[string]int32{}}
	for _, s := range f.Stops {
		if s.LocationType != 0 {
			continue // stations and entrances: vehicles stop at their platforms
		}
		tt.index[s.ID] = int32(len(tt.StopIDs))
		tt.StopIDs = append(tt.StopIDs, s.ID)
		tt.StopAt = append(tt.StopAt, orb.Point{s.Lon, s.Lat})
	}
	route := map[string]string{}
	for _, t := range f.Trips {
		if on[t.Service] {
			route[t.ID] = t.Route
		}
	}
	if len(route) == 0 {
		return nil, &NoServiceError{Date: date, From: f.From, To: f.To}
	}
	freq := map[string][]gtfs.Frequency{}
	for _, q := range f.Frequencies {
		freq[q.Trip] = append(freq[q.Trip], q)
	}
	// stop_times are sorted by trip and sequence (gtfs.Read).
	type run struct {
		stops    []int32
		arr, dep []int32
		route    string
	}
	var runs []run
	flush := func(trip string, sts []gtfs.StopTime) {
		r, ok := route[trip]
		if !ok || len(sts) < 2 {
			return
		}
		stops := make([]int32, 0, len(sts))
		arr := make([]int32, 0, len(sts))
		dep := make([]int32, 0, len(sts))
		for _, st := range sts {
			i, ok := tt.index[st.Stop]
			if !ok {
				return // a trip calling at a station, not a platform: left out
			}
			stops = append(stops, i)
			arr, dep = append(arr, int32(st.Arrival)), append(dep, int32(st.Departure))
		}
		if !interpolate(arr, dep, tt.StopAt, stops) {
			return
		}
		if qs := freq[trip]; len(qs) > 0 {
			// The trip's times are a pattern repeated every headway.
			first := dep[0]
			for _, q := range qs {
				for d := int32(q.Start); d < int32(q.End); d += int32(q.Headway) {
					shift := d - first
					a2, d2 := make([]int32, len(arr)), make([]int32, len(dep))
					for k := range arr {
						a2[k], d2[k] = arr[k]+shift, dep[k]+shift
					}
					runs = append(runs, run{stops, a2, d2, r})
				}
			}
			return
		}
		runs = append(runs, run{stops, arr, dep, r})
	}
	start := 0
	for i := 1; i <= len(f.StopTimes); i++ {
		if i == len(f.StopTimes) || f.StopTimes[i].Trip != f.StopTimes[start].Trip {
			flush(f.StopTimes[start].Trip, f.StopTimes[start:i])
			start = i
		}
	}
	tt.Trips = len(runs)
	// Patterns: same route and same stops in the same order.
	key := func(r run) string { return fmt.Sprint(r.route, r.stops) }
	byKey := map[string]int{}
	for _, r := range runs {
		k := key(r)
		p, ok := byKey[k]
		if !ok {
			p = len(tt.patterns)
			byKey[k] = p
			tt.patterns = append(tt.patterns, pattern{stops: r.stops, route: r.route})
		}
		tt.patterns[p].arr = append(tt.patterns[p].arr, r.arr)
		tt.patterns[p].dep = append(tt.patterns[p].dep, r.dep)
	}
	tt.byStop = make([][][2]int32, len(tt.StopIDs))
	for pi := range tt.patterns {
		p := &tt.patterns[pi]
		order := make([]int, len(p.dep))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return p.dep[order[a]][0] < p.dep[order[b]][0] })
		arr, dep := make([][]int32, len(order)), make([][]int32, len(order))
		for i, o := range order {
			arr[i], dep[i] = p.arr[o], p.dep[o]
		}
		p.arr, p.dep = arr, dep
	}
	// RAPTOR's binary search needs trips that never overtake one another
	// along a pattern: a pattern whose trips do is split into ones that don't.
	var fifo []pattern
	for _, p := range tt.patterns {
		var chains []pattern
	trips:
		for i := range p.dep {
			for c := range chains {
				last := len(chains[c].dep) - 1
				ok := true
				for k := range p.stops {
					if p.dep[i][k] < chains[c].dep[last][k] || p.arr[i][k] < chains[c].arr[last][k] {
						ok = false
						break
					}
				}
				if ok {
					chains[c].arr, chains[c].dep = append(chains[c].arr, p.arr[i]), append(chains[c].dep, p.dep[i])
					continue trips
				}
			}
			chains = append(chains, pattern{stops: p.stops, route: p.route, arr: [][]int32{p.arr[i]}, dep: [][]int32{p.dep[i]}})
		}
		fifo = append(fifo, chains...)
	}
	tt.patterns = fifo
	for pi := range tt.patterns {
		for k, s := range tt.patterns[pi].stops {
			tt.byStop[s] = append(tt.byStop[s], [2]int32{int32(pi), int32(k)})
		}
	}
	if o.Footpaths != nil {
		tt.walk = make([][]footpath, len(tt.StopAt))
		for s, fs := range o.Footpaths(tt.StopAt) {
			for _, f := range fs {
				tt.walk[s] = append(tt.walk[s], footpath{to: int32(f.Stop), secs: f.Secs})
			}
		}
	} else {
		tt.walk = footpaths(tt.StopAt, o)
	}
	tt.applyTransfers(f.Transfers)
	return tt, nil
}

// applyTransfers applies transfers.txt between two stops: a minimum
// transfer time (type 2) lengthens the footpath, or makes one where the
// stops are farther apart than footpaths reach; "not possible" (type 3)
// removes it. Rules for one stop to itself, or naming a station rather
// than its platforms, are not applied (a stop's own label is boarded at
// once).
func (tt *Timetable) applyTransfers(rules []gtfs.Transfer) {
	for _, r := range rules {
		from, ok1 := tt.index[r.From]
		to, ok2 := tt.index[r.To]
		if !ok1 || !ok2 || from == to || (r.Type != 2 && r.Type != 3) {
			continue
		}
		paths := tt.walk[from]
		i := slices.IndexFunc(paths, func(f footpath) bool { return f.to == to })
		switch {
		case r.Type == 3 && i >= 0:
			tt.walk[from] = slices.Delete(paths, i, i+1)
		case r.Type == 2 && r.MinTime >= 0 && i >= 0:
			paths[i].secs = max(paths[i].secs, int32(r.MinTime))
		case r.Type == 2 && r.MinTime >= 0:
			tt.walk[from] = append(paths, footpath{to: to, secs: int32(r.MinTime)})
		}
	}
}

// NoServiceError is a date on which no trip of the feed runs.
type NoServiceError struct {
	Date, From, To time.Time
}

func (e *NoServiceError) Error() string {
	return fmt.Sprintf("no service runs on %s: the feed covers %s to %s", e.Date.Format("2006-01-02"), e.From.Format("2006-01-02"), e.To.Format("2006-01-02"))
}

// interpolate fills untimed stops (−1) linearly by distance between the
// timed ones around them; false when the first or last stop is untimed.
func interpolate(arr, dep []int32, at []orb.Point, stops []int32) bool {
	n := len(arr)
	if arr[0] < 0 || dep[n-1] < 0 {
		return false
	}
	prev := 0
	for k := 1; k < n; k++ {
		if arr[k] < 0 {
			continue
		}
		if k > prev+1 {
			total := 0.0
			dist := make([]float64, k-prev+1)
			for j := prev + 1; j <= k; j++ {
				total += metres(at[stops[j-1]], at[stops[j]])
				dist[j-prev] = total
			}
			span := float64(arr[k] - dep[prev])
			for j := prev + 1; j < k; j++ {
				f := 0.0
				if total > 0 {
					f = dist[j-prev] / total
				} else {
					f = float64(j-prev) / float64(k-prev)
				}
				t := dep[prev] + int32(math.Round(f*span))
				arr[j], dep[j] = t, t
			}
		}
		prev = k
	}
	return true
}

func metres(a, b orb.Point) float64 {
	lat := (a[1] + b[1]) / 2 * math.Pi / 180
	dx := (b[0] - a[0]) * 111_132 * math.Cos(lat)
	dy := (b[1] - a[1]) * 111_132
	return math.Hypot(dx, dy)
}

// StraightFootpaths are the default footpaths: every stop to the stops
// within o.TransferMetres, straight lines × o.Detour at o.WalkKmh.
func StraightFootpaths(at []orb.Point, o Options) [][]Footpath {
	fs := footpaths(at, o)
	out := make([][]Footpath, len(fs))
	for s, paths := range fs {
		for _, f := range paths {
			out[s] = append(out[s], Footpath{Stop: int(f.to), Secs: f.secs})
		}
	}
	return out
}

// footpaths joins every stop to the stops within o.TransferMetres.
func footpaths(at []orb.Point, o Options) [][]footpath {
	out := make([][]footpath, len(at))
	if o.TransferMetres <= 0 {
		return out
	}
	speed := o.WalkKmh / 3.6 / o.Detour
	// A grid of cells TransferMetres across, so each stop looks at 9 cells.
	cellLat := o.TransferMetres / 111_132
	grid := map[[2]int][]int32{}
	cellOf := func(p orb.Point) [2]int {
		cellLon := cellLat / math.Max(0.1, math.Cos(p[1]*math.Pi/180))
		return [2]int{int(math.Floor(p[0] / cellLon)), int(math.Floor(p[1] / cellLat))}
	}
	for i, p := range at {
		c := cellOf(p)
		grid[c] = append(grid[c], int32(i))
	}
	for i, p := range at {
		c := cellOf(p)
		for dx := -1; dx <= 1; dx++ {
			for dy := -1; dy <= 1; dy++ {
				for _, j := range grid[[2]int{c[0] + dx, c[1] + dy}] {
					if int(j) == i {
						continue
					}
					if d := metres(p, at[j]); d <= o.TransferMetres {
						out[i] = append(out[i], footpath{to: j, secs: int32(math.Ceil(d / speed))})
					}
				}
			}
		}
	}
	return out
}

// Trip is one run of a vehicle: its stops and times, for checks and exports.
type Trip struct {
	Stops    []int32
	Arr, Dep []int32
}

// AllTrips returns every trip of the day.
func (tt *Timetable) AllTrips() []Trip {
	var out []Trip
	for _, p := range tt.patterns {
		for i := range p.dep {
			out = append(out, Trip{Stops: p.stops, Arr: p.arr[i], Dep: p.dep[i]})
		}
	}
	return out
}

// Walks returns the footpaths from stop s (to, seconds).
func (tt *Timetable) Walks(s int) []Footpath {
	out := make([]Footpath, len(tt.walk[s]))
	for i, f := range tt.walk[s] {
		out[i] = Footpath{Stop: int(f.to), Secs: f.secs}
	}
	return out
}

// Near lists the stops within metres of p, with the walk to each (the
// footpaths' speed and detour): how a trip from a point reaches the
// network, and how it leaves it.
func (tt *Timetable) Near(p orb.Point, metresMax float64, o Options) []Footpath {
	speed := o.WalkKmh / 3.6 / o.Detour
	var out []Footpath
	for i, at := range tt.StopAt {
		if d := metres(p, at); d <= metresMax {
			out = append(out, Footpath{Stop: i, Secs: int32(math.Ceil(d / speed))})
		}
	}
	return out
}

// Stop returns the index of a stop id (false: not a platform of the feed).
func (tt *Timetable) Stop(id string) (int, bool) {
	i, ok := tt.index[id]
	return int(i), ok
}

// Footpath is one walk to a stop, for seeding a search from a point.
type Footpath struct {
	Stop int
	Secs int32
}

// EarliestArrival runs RAPTOR from sources (stop → the time the traveller
// is there, seconds after midnight of the service day) with at most
// rounds vehicles, up to limit; it returns the arrival time at every stop
// (Unreached where none). After each ride comes at most one footpath, and
// footpaths are not closed transitively, so a stop keeps two labels: its
// earliest arrival by any means (where vehicles are boarded) and its
// earliest arrival by vehicle (where walks start).
func (tt *Timetable) EarliestArrival(sources []Footpath, rounds int, limit int32) []int32 {
	sr := tt.newSearch()
	sr.run(sources, rounds, limit)
	return sr.best
}

// Range answers a window of departures from the same place (range RAPTOR):
// for each of departures (seconds after midnight, ascending) it calls each
// with the arrival times of a search whose sources are access shifted to
// that departure, as EarliestArrival would return them (each must not keep
// the slice). Departures are searched latest first and labels are kept:
// what a later departure reaches, an earlier one reaches no later (it can
// wait), so each search only follows what its own departure improves.
// Arrivals beyond the departure's limit may be ones carried from a later
// departure; callers compare with their own limit.
func (tt *Timetable) Range(access []Footpath, departures []int32, rounds int, maxSecs int32, each func(k int, arrivals []int32)) {
	sr := tt.newSearch()
	src := make([]Footpath, len(access))
	for k := len(departures) - 1; k >= 0; k-- {
		for i, a := range access {
			src[i] = Footpath{Stop: a.Stop, Secs: departures[k] + a.Secs}
		}
		sr.run(src, rounds, departures[k]+maxSecs)
		each(k, sr.best)
	}
}

// search holds the labels of RAPTOR runs over one timetable.
type search struct {
	tt         *Timetable
	best, ride []int32 // by any means; by vehicle
	prev       []int32 // arrivals after the previous round
	board      []bool  // improved: board from here next round
	walk       []bool  // reached by vehicle: walk from here
	queue      map[int32]int32
}

func (tt *Timetable) newSearch() *search {
	n := len(tt.StopIDs)
	sr := &search{tt: tt, best: make([]int32, n), ride: make([]int32, n), prev: make([]int32, n),
		board: make([]bool, n), walk: make([]bool, n), queue: map[int32]int32{}}
	for i := range sr.best {
		sr.best[i], sr.ride[i] = Unreached, Unreached
	}
	return sr
}

// run improves the labels from sources (stop → the time the traveller is
// there) with at most rounds vehicles, up to limit. After each ride comes
// at most one footpath, and footpaths are not closed transitively, so a
// stop keeps two labels: its earliest arrival by any means (where vehicles
// are boarded) and its earliest arrival by vehicle (where walks start).
func (sr *search) run(sources []Footpath, rounds int, limit int32) {
	tt, best, ride, prev, board, walk, queue := sr.tt, sr.best, sr.ride, sr.prev, sr.board, sr.walk, sr.queue
	for _, s := range sources {
		if s.Secs < best[s.Stop] {
			best[s.Stop] = s.Secs
			board[s.Stop] = true
		}
	}
	// The walk from the sources to nearby stops (from a copy: walks do not chain).
	tt.relax(slices.Clone(best), best, slices.Clone(board), board, limit)
	for round := 0; round < rounds; round++ {
		copy(prev, best)
		clear(queue)
		any := false
		for s, m := range board {
			if !m {
				continue
			}
			board[s] = false
			any = true
			for _, ps := range tt.byStop[s] {
				if k, ok := queue[ps[0]]; !ok || ps[1] < k {
					queue[ps[0]] = ps[1]
				}
			}
		}
		if !any {
			break
		}
		for pi, from := range queue {
			p := &tt.patterns[pi]
			trip := -1
			for k := int(from); k < len(p.stops); k++ {
				s := p.stops[k]
				if trip >= 0 {
					if a := p.arr[trip][k]; a < ride[s] && a <= limit {
						ride[s] = a
						walk[s] = true
						if a < best[s] {
							best[s] = a
							board[s] = true
						}
					}
				}
				// Board (or change to) the earliest trip leaving after we are here.
				if t := prev[s]; t != Unreached && (trip < 0 || t <= p.dep[trip][k]) {
					j := sort.Search(len(p.dep), func(i int) bool { return p.dep[i][k] >= t })
					if j < len(p.dep) && (trip < 0 || j < trip) {
						trip = j
					}
				}
			}
		}
		tt.relax(ride, best, walk, board, limit)
		clear(walk)
	}
	clear(board)
}

// relax walks once from each stop in from (at its time in at), improving
// best and marking the stops it improves in board.
func (tt *Timetable) relax(at, best []int32, from, board []bool, limit int32) {
	for s, m := range from {
		if !m || at[s] == Unreached {
			continue
		}
		for _, f := range tt.walk[s] {
			if t := at[s] + f.secs; t < best[f.to] && t <= limit {
				best[f.to] = t
				board[f.to] = true
			}
		}
	}
}
