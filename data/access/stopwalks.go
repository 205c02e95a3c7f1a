package access

import (
	"math"

	"github.com/paulmach/orb"

	"github.com/gusu-gis/gusu/geo/isochrone"
	"github.com/gusu-gis/gusu/geo/raptor"
)

// stopWalks are the walks between places and a timetable's stops: along
// the imported streets where they reach the place (the stop joined to its
// nearest street node, the last stretch off the street on foot), else
// straight lines × the detour factor. Walking runs both ways on every
// street, so one search from a place serves as its access and its egress.
type stopWalks struct {
	at       []orb.Point                         // the stops
	near     func(p orb.Point) []raptor.Footpath // straight-line walks, off the streets
	roads    *isochrone.RoadNetwork              // nil: no streets imported
	node     []int32                             // per stop, its street node (-1: none within reach)
	o        raptor.Options
	platform int32
	limit    float32 // the longest walk to or from a stop, seconds
	// Places walked on the streets and in straight lines, for the metadata.
	onStreets, straight int
	// snapped remembers places' street nodes: a matrix asks for each
	// destination once per origin.
	snapped map[orb.Point]int
}

func newStopWalks(tt *raptor.Timetable, roads *isochrone.RoadNetwork, o raptor.Options, platform int32) *stopWalks {
	return walksAmong(tt.StopAt, func(p orb.Point) []raptor.Footpath { return tt.Near(p, accessMetres, o) }, roads, o, platform, accessMetres)
}

// walksAmong are walks to stops at, of at most metres as the crow flies ×
// the detour factor (in time), along the streets where they reach.
func walksAmong(at []orb.Point, near func(orb.Point) []raptor.Footpath, roads *isochrone.RoadNetwork, o raptor.Options, platform int32, metres float64) *stopWalks {
	w := &stopWalks{at: at, near: near, roads: roads, o: o, platform: platform,
		limit: float32(metres * o.Detour / (o.WalkKmh / 3.6))}
	if roads != nil {
		w.node = make([]int32, len(at))
		for s, p := range at {
			w.node[s] = int32(roads.Snap(p, isochrone.Walk))
		}
	}
	return w
}

// streetFootpaths are the walks between stops after a ride (raptor's
// footpaths) along the streets: from each stop the stops within the
// transfer limit in time; stops off the streets keep straight lines.
func streetFootpaths(roads *isochrone.RoadNetwork, o raptor.Options) func([]orb.Point) [][]raptor.Footpath {
	return func(at []orb.Point) [][]raptor.Footpath {
		straight := raptor.StraightFootpaths(at, o)
		w := walksAmong(at, nil, roads, o, 0, o.TransferMetres)
		out := make([][]raptor.Footpath, len(at))
		for s, p := range at {
			if w.node[s] < 0 {
				out[s] = straight[s]
				continue
			}
			for _, f := range w.from(p).stops {
				if f.Stop != s {
					out[s] = append(out[s], f)
				}
			}
		}
		return out
	}
}

// placeWalk is what one search from a place found.
type placeWalk struct {
	stops []raptor.Footpath
	// times are street-node seconds from the place (nil: straight lines).
	times []float32
}

// from finds the stops within the walking limit of p, with the platform
// time added.
func (w *stopWalks) from(p orb.Point) placeWalk {
	if w.roads != nil && w.roads.Covers(p) {
		times, err := w.roads.NodeTimes([]orb.Point{p}, isochrone.Walk, float64(w.limit)/60)
		if err == nil {
			w.onStreets++
			out := placeWalk{times: times}
			for s, n := range w.node {
				secs := float32(math.Inf(1))
				if n >= 0 && !math.IsInf(float64(times[n]), 1) {
					secs = times[n] + w.roads.OffRoadSecs(w.at[s], int(n))
				}
				secs = min(secs, w.direct(p, w.at[s]))
				if secs <= w.limit {
					out.stops = append(out.stops, raptor.Footpath{Stop: s, Secs: int32(math.Ceil(float64(secs))) + w.platform})
				}
			}
			return out
		}
	}
	w.straight++
	fs := w.near(p)
	for i := range fs {
		fs[i].Secs += w.platform
	}
	return placeWalk{stops: fs}
}

// directMetres: places this close are also walked between directly.
// Streets are joined at their nodes, not along their edges, so two points
// beside each other would otherwise go by way of a node and back.
const directMetres = 150

// direct is the straight walk between a and b when they are within
// directMetres, else +Inf.
func (w *stopWalks) direct(a, b orb.Point) float32 {
	if d := isochrone.Metres(a, b); d <= directMetres {
		return float32(d * w.o.Detour / (w.o.WalkKmh / 3.6))
	}
	return float32(math.Inf(1))
}

// whole is the walk the whole way from the place a search was made from to
// q: along the streets when both are on them and q is within the walking
// limit, else a straight line × the detour factor.
func (w *stopWalks) whole(pw placeWalk, from, q orb.Point) float64 {
	if pw.times != nil {
		n, ok := w.snapped[q]
		if !ok {
			if w.snapped == nil {
				w.snapped = map[orb.Point]int{}
			}
			n = w.roads.Snap(q, isochrone.Walk)
			w.snapped[q] = n
		}
		if n >= 0 && !math.IsInf(float64(pw.times[n]), 1) {
			return float64(min(pw.times[n]+w.roads.OffRoadSecs(q, n), w.direct(from, q)))
		}
	}
	return isochrone.Metres(from, q) / (w.o.WalkKmh / 3.6 / w.o.Detour)
}

// walksNote says how the walks of an answer were made.
func (w *stopWalks) walksNote() string {
	switch {
	case w.onStreets > 0 && w.straight == 0:
		return "walks to and from stops (within 1 km as the crow flies × 1.3) and between stops after a ride (400 m) run along the imported streets, stops joined to their nearest street node (or straight within 150 m), at 4.8 km/h"
	case w.onStreets > 0:
		return "walks to and from stops run along the imported streets where they reach the place, elsewhere straight lines × 1.3 at 4.8 km/h (within 1 km); between stops after a ride (400 m) along the streets for stops on them"
	}
	return "walks to and from stops within 1 km and between stops within 400 m are straight lines × 1.3 at 4.8 km/h (not on streets)"
}

// walksMeta records where the walks ran.
func (w *stopWalks) walksMeta(m map[string]any) {
	m["walks"] = map[string]any{"on_streets": w.onStreets, "straight_lines": w.straight}
}
