// Package osmroads turns an OpenStreetMap extract (PBF, or GeoJSON lines with
// OSM tags) into a routable road
// network: ways split at junctions into edges, with their class, one-way
// rule, speed (from maxspeed, else a default per highway class) and which
// modes may use them.
//
// The file is streamed three times (road ways, their nodes, the ways again),
// so memory holds the road nodes' ids and coordinates, never the file.
package osmroads

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/osm"
	"github.com/paulmach/osm/osmpbf"
)

// Class is how a highway class is used by default.
type Class struct {
	KmH             float64 // default speed for driving
	Walk, Bike, Car bool
	Oneway          bool // implied one-way (motorways)
}

// Classes are the routable highway classes and their documented defaults.
var Classes = map[string]Class{
	"motorway": {100, false, false, true, true}, "motorway_link": {60, false, false, true, true},
	"trunk": {80, true, true, true, false}, "trunk_link": {50, true, true, true, false},
	"primary": {60, true, true, true, false}, "primary_link": {40, true, true, true, false},
	"secondary": {50, true, true, true, false}, "secondary_link": {40, true, true, true, false},
	"tertiary": {40, true, true, true, false}, "tertiary_link": {30, true, true, true, false},
	"unclassified": {30, true, true, true, false}, "residential": {30, true, true, true, false},
	"living_street": {10, true, true, true, false}, "service": {15, true, true, true, false},
	"road": {30, true, true, true, false}, "track": {15, true, true, false, false},
	"pedestrian": {5, true, false, false, false}, "footway": {5, true, false, false, false},
	"path": {5, true, true, false, false}, "cycleway": {15, true, true, false, false},
	"steps": {3, true, false, false, false}, "bridleway": {5, true, false, false, false},
}

// Edge is a stretch of road between two junctions (or ends).
type Edge struct {
	WayID          int64
	Source, Target int64 // OSM node ids
	Geometry       orb.LineString
	Metres         float64
	Class          string
	Name           string
	KmH            float64
	// Forward/Backward: driving allowed along/against the geometry's direction.
	Forward, Backward bool
	Walk, Bike        bool
	// BikeBackward: cycling allowed against the direction (one-way roads).
	BikeBackward bool
}

// Options tune Read.
type Options struct {
	// Bound keeps only nodes inside it (zero: everything).
	Bound orb.Bound
	// SnapMetres: ReadLines joins a loose line end to the network when a
	// vertex of another piece lies this close (0: never). Read ignores it:
	// a PBF's ways share nodes.
	SnapMetres float64
	// Progress, if set, is told what is happening now and then.
	Progress func(stage string, done int64)
}

// Stats count what Read saw.
type Stats struct {
	Ways, Nodes, Edges int64
	Connectors         int64 // edges ReadLines added to join loose ends
}

type wayInfo struct {
	class Class
	name  string
	tags  osm.Tags
}

// Read streams the PBF at path and calls emit for every edge.
func Read(ctx context.Context, path string, opts Options, emit func(Edge) error) (Stats, error) {
	var st Stats
	report := func(stage string, n int64) {
		if opts.Progress != nil {
			opts.Progress(stage, n)
		}
	}
	// Pass 1: how many road ways use each node (≥ 2, or a way's end: a junction).
	uses := map[osm.NodeID]uint8{}
	err := scan(ctx, path, false, true, func(o osm.Object) error {
		w := o.(*osm.Way)
		if _, ok := routable(w.Tags); !ok || len(w.Nodes) < 2 {
			return nil
		}
		st.Ways++
		for i, n := range w.Nodes {
			u := uses[n.ID]
			if i == 0 || i == len(w.Nodes)-1 {
				u++ // ends always split
			}
			if u < 250 {
				u++
			}
			uses[n.ID] = u
		}
		if st.Ways%100000 == 0 {
			report("road ways", st.Ways)
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	report("road ways", st.Ways)
	// Pass 2: the coordinates of those nodes (inside the bound).
	coords := make(map[osm.NodeID]orb.Point, len(uses))
	bounded := !opts.Bound.IsZero()
	err = scan(ctx, path, true, false, func(o osm.Object) error {
		n := o.(*osm.Node)
		if _, ok := uses[n.ID]; !ok {
			return nil
		}
		p := orb.Point{n.Lon, n.Lat}
		if bounded && !opts.Bound.Contains(p) {
			return nil
		}
		coords[n.ID] = p
		st.Nodes++
		if st.Nodes%1000000 == 0 {
			report("road nodes", st.Nodes)
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	report("road nodes", st.Nodes)
	// Pass 3: split the ways at junctions and at nodes outside the bound.
	err = scan(ctx, path, false, true, func(o osm.Object) error {
		w := o.(*osm.Way)
		class, ok := routable(w.Tags)
		if !ok || len(w.Nodes) < 2 {
			return nil
		}
		base := edgeTemplate(w, class)
		var cur orb.LineString
		var start osm.NodeID
		flush := func(end osm.NodeID) error {
			if len(cur) < 2 {
				return nil
			}
			e := base
			e.Source, e.Target = int64(start), int64(end)
			e.Geometry = cur
			e.Metres = length(cur)
			st.Edges++
			return emit(e)
		}
		for i, n := range w.Nodes {
			p, ok := coords[n.ID]
			if !ok { // outside the bound: the way is cut here
				if err := flush(w.Nodes[i-min(i, 1)].ID); err != nil {
					return err
				}
				cur = nil
				continue
			}
			if cur == nil {
				cur, start = orb.LineString{p}, n.ID
				continue
			}
			cur = append(cur, p)
			if uses[n.ID] >= 2 || i == len(w.Nodes)-1 {
				if err := flush(n.ID); err != nil {
					return err
				}
				cur, start = orb.LineString{p}, n.ID
			}
		}
		return nil
	})
	report("edges", st.Edges)
	return st, err
}

func scan(ctx context.Context, path string, nodes, ways bool, f func(osm.Object) error) error {
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer file.Close()
	s := osmpbf.New(ctx, file, 2)
	defer s.Close()
	s.SkipNodes, s.SkipWays, s.SkipRelations = !nodes, !ways, true
	for s.Scan() {
		if err := f(s.Object()); err != nil {
			return err
		}
	}
	if err := s.Err(); err != nil && err != io.EOF {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

func routable(t osm.Tags) (Class, bool) {
	c, ok := Classes[t.Find("highway")]
	if !ok || t.Find("area") == "yes" {
		return c, false
	}
	switch t.Find("access") {
	case "no", "private":
		c.Car = false
	}
	return c, c.Walk || c.Bike || c.Car
}

func yes(v string) bool {
	return v == "yes" || v == "true" || v == "1" || v == "designated" || v == "permissive"
}
func no(v string) bool { return v == "no" || v == "private" }

func edgeTemplate(w *osm.Way, c Class) Edge {
	t := w.Tags
	e := Edge{WayID: int64(w.ID), Class: t.Find("highway"), Name: t.Find("name"), KmH: c.KmH, Walk: c.Walk, Bike: c.Bike}
	if v := speedOf(t.Find("maxspeed")); v > 0 {
		e.KmH = v
	}
	car := c.Car
	if no(t.Find("motor_vehicle")) || no(t.Find("motorcar")) {
		car = false
	}
	if no(t.Find("foot")) {
		e.Walk = false
	} else if yes(t.Find("foot")) {
		e.Walk = true
	}
	if no(t.Find("bicycle")) {
		e.Bike = false
	} else if yes(t.Find("bicycle")) {
		e.Bike = true
	}
	oneway := t.Find("oneway")
	forward, backward := car, car
	switch {
	case oneway == "-1" || oneway == "reverse":
		forward = false
	case yes(oneway) || (oneway == "" && (c.Oneway || t.Find("junction") == "roundabout")):
		backward = false
	}
	e.Forward, e.Backward = forward, backward
	e.BikeBackward = e.Bike && (backward || t.Find("oneway:bicycle") == "no" || !(yes(oneway) || oneway == "-1"))
	if !e.Bike {
		e.BikeBackward = false
	}
	return e
}

var speedRe = regexp.MustCompile(`^\s*([0-9.]+)\s*(km/h|kmh|kph|mph)?\s*$`)

// speedOf parses maxspeed ("50", "50 km/h", "30 mph"); 0 if it cannot.
func speedOf(v string) float64 {
	m := speedRe.FindStringSubmatch(strings.ToLower(v))
	if m == nil {
		return 0
	}
	x, err := strconv.ParseFloat(m[1], 64)
	if err != nil || x <= 0 || x > 200 {
		return 0
	}
	if m[2] == "mph" {
		x *= 1.609344
	}
	return x
}

// length is a line's length in metres (haversine per segment).
func length(l orb.LineString) float64 {
	const r = 6371008.8
	total := 0.0
	for i := 0; i+1 < len(l); i++ {
		a, b := l[i], l[i+1]
		la1, la2 := a[1]*math.Pi/180, b[1]*math.Pi/180
		dla, dlo := la2-la1, (b[0]-a[0])*math.Pi/180
		h := math.Sin(dla/2)*math.Sin(dla/2) + math.Cos(la1)*math.Cos(la2)*math.Sin(dlo/2)*math.Sin(dlo/2)
		total += 2 * r * math.Asin(math.Sqrt(h))
	}
	return total
}
