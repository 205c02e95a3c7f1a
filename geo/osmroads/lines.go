package osmroads

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/osm"
)

// ConnectorClass is the class of the short walking links ReadLines adds to
// join a loose end to the network; they are not in the source.
const ConnectorClass = "connector"

// MaxLinesBytes caps a GeoJSON road file, which is decoded whole.
const MaxLinesBytes = 512 << 20

// ReadLines turns GeoJSON road lines — a FeatureCollection of LineStrings or
// MultiLineStrings in WGS84 with OSM tags as properties (`highway`, and
// optionally `name`, `oneway`, `maxspeed`, `access`, `foot`, `bicycle`) —
// into edges, as Read does for a PBF. Lines meet where they share a vertex
// (to OSM's 1e-7°). A line end that meets nothing is joined to the nearest
// vertex of another piece of the network within opts.SnapMetres by a
// straight ConnectorClass edge for walking and cycling, since exports that
// leave out some ways (e.g. elevated roads) strand the lanes beside them.
func ReadLines(ctx context.Context, r io.Reader, opts Options, emit func(Edge) error) (Stats, error) {
	var st Stats
	b, err := io.ReadAll(io.LimitReader(r, MaxLinesBytes+1))
	if err != nil {
		return st, fmt.Errorf("read road lines: %w", err)
	}
	if len(b) > MaxLinesBytes {
		return st, fmt.Errorf("road lines: file larger than %d MiB", MaxLinesBytes>>20)
	}
	fc, err := geojson.UnmarshalFeatureCollection(b)
	if err != nil {
		return st, fmt.Errorf("road lines: not a GeoJSON FeatureCollection: %w", err)
	}
	type line struct {
		way  *osm.Way
		cls  Class
		pts  orb.LineString
		keys []int64 // node id per vertex
	}
	ids := map[[2]int64]int64{}
	var coords []orb.Point // by node id - 1
	degree := []int32{}    // line-vertex occurrences per node
	nodeOf := func(p orb.Point) int64 {
		k := [2]int64{int64(math.Round(p[0] * 1e7)), int64(math.Round(p[1] * 1e7))}
		id, ok := ids[k]
		if !ok {
			coords = append(coords, p)
			degree = append(degree, 0)
			id = int64(len(coords))
			ids[k] = id
		}
		return id
	}
	bounded := !opts.Bound.IsZero()
	var lines []*line
	add := func(w *osm.Way, c Class, ls orb.LineString) {
		var cur orb.LineString
		flush := func() {
			if len(cur) >= 2 {
				lines = append(lines, &line{way: w, cls: c, pts: cur})
			}
			cur = nil
		}
		for _, p := range ls {
			if !valid(p) || (bounded && !opts.Bound.Contains(p)) {
				flush() // cut where the line leaves the bound
				continue
			}
			cur = append(cur, p)
		}
		flush()
	}
	for i, f := range fc.Features {
		if i%1000 == 0 {
			if err := ctx.Err(); err != nil {
				return st, err
			}
		}
		tags := osm.Tags{}
		for k, v := range f.Properties {
			switch v := v.(type) {
			case string:
				tags = append(tags, osm.Tag{Key: k, Value: v})
			case float64: // e.g. "maxspeed": 50 from a converter that typed it
				tags = append(tags, osm.Tag{Key: k, Value: strconv.FormatFloat(v, 'f', -1, 64)})
			}
		}
		c, ok := routable(tags)
		if !ok {
			continue
		}
		w := &osm.Way{ID: osm.WayID(i + 1), Tags: tags}
		switch g := f.Geometry.(type) {
		case orb.LineString:
			add(w, c, g)
		case orb.MultiLineString:
			for _, ls := range g {
				add(w, c, ls)
			}
		default:
			continue
		}
		st.Ways++
	}
	if len(lines) == 0 {
		return st, nil
	}
	// Nodes, and the pieces the shared vertices join (union-find).
	parent := []int64{0}
	find := func(x int64) int64 {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	for _, l := range lines {
		l.keys = make([]int64, len(l.pts))
		for i, p := range l.pts {
			id := nodeOf(p)
			l.keys[i] = id
			for int64(len(parent)) <= id {
				parent = append(parent, int64(len(parent)))
			}
			degree[id-1]++
			if i > 0 {
				if a, b := find(l.keys[i-1]), find(id); a != b {
					parent[a] = b
				}
			}
		}
	}
	st.Nodes = int64(len(coords))
	junction := make([]bool, len(coords)+1)
	var ends []int64
	for _, l := range lines {
		for _, k := range []int64{l.keys[0], l.keys[len(l.keys)-1]} {
			junction[k] = true
			if degree[k-1] == 1 {
				ends = append(ends, k)
			}
		}
	}
	for id := range degree {
		if degree[id] >= 2 {
			junction[id+1] = true
		}
	}
	// Snap loose ends to the nearest vertex of another piece.
	var connectors []Edge
	if opts.SnapMetres > 0 {
		cellDeg := opts.SnapMetres / 111320 // a cell is the radius in latitude; more cells are searched east-west
		cell := func(p orb.Point) [2]int64 {
			return [2]int64{int64(math.Floor(p[0] / cellDeg)), int64(math.Floor(p[1] / cellDeg))}
		}
		grid := map[[2]int64][]int64{}
		for i, p := range coords {
			c := cell(p)
			grid[c] = append(grid[c], int64(i+1))
		}
		sort.Slice(ends, func(i, j int) bool { return ends[i] < ends[j] })
		for _, e := range ends {
			p := coords[e-1]
			c := cell(p)
			var best int64
			bestD := opts.SnapMetres
			nx := int64(math.Ceil(1/math.Max(math.Cos(p[1]*math.Pi/180), 0.01))) + 1
			for dx := -nx; dx <= nx; dx++ {
				for dy := int64(-1); dy <= 1; dy++ {
					for _, v := range grid[[2]int64{c[0] + dx, c[1] + dy}] {
						if find(v) == find(e) {
							continue
						}
						if d := length(orb.LineString{p, coords[v-1]}); d <= bestD && (best == 0 || d < bestD || v < best) {
							best, bestD = v, d
						}
					}
				}
			}
			if best == 0 {
				continue
			}
			parent[find(e)] = find(best)
			junction[best] = true
			cls := Classes["footway"]
			connectors = append(connectors, Edge{WayID: 0, Source: e, Target: best, Geometry: orb.LineString{p, coords[best-1]},
				Metres: bestD, Class: ConnectorClass, KmH: cls.KmH, Walk: true, Bike: true, BikeBackward: true})
		}
	}
	for i, l := range lines {
		if i%1000 == 0 {
			if err := ctx.Err(); err != nil {
				return st, err
			}
		}
		base := edgeTemplate(l.way, l.cls)
		start := 0
		for j := 1; j < len(l.pts); j++ {
			if !junction[l.keys[j]] && j < len(l.pts)-1 {
				continue
			}
			e := base
			e.Source, e.Target = l.keys[start], l.keys[j]
			e.Geometry = append(orb.LineString(nil), l.pts[start:j+1]...)
			e.Metres = length(e.Geometry)
			start = j
			if e.Metres == 0 {
				continue // a repeated vertex
			}
			st.Edges++
			if err := emit(e); err != nil {
				return st, err
			}
		}
	}
	for _, e := range connectors { // never 0 m: distinct nodes have distinct coordinates
		st.Edges++
		st.Connectors++
		if err := emit(e); err != nil {
			return st, err
		}
	}
	if opts.Progress != nil {
		opts.Progress("edges", st.Edges)
	}
	return st, nil
}

func valid(p orb.Point) bool {
	return p[0] >= -180 && p[0] <= 180 && p[1] >= -90 && p[1] <= 90 && !math.IsNaN(p[0]) && !math.IsNaN(p[1])
}
