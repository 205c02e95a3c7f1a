package isochrone

import (
	"fmt"
	"math"
	"slices"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
	"github.com/paulmach/orb/planar"
)

// Catchment is one multi-source search: per grid cell, the travel time from
// the nearest origin and which origin that is. One search serves any number
// of origins, so 1,000 facilities cost about what one does.
type Catchment struct {
	Grid *Grid
	// Secs is the travel time per cell in seconds (+Inf: not reached).
	Secs []float32
	// Owner is per cell the index of the origin that reaches it first (-1:
	// not reached).
	Owner []int32
	// Unplaced are the indexes of the origins that are not on the network
	// (in water, outside the region, or too far from a road); the search
	// ran from the others.
	Unplaced []int
}

// Catchment searches from all origins at once up to maxMinutes. Origins off
// the network are listed in Unplaced rather than failing the search; it
// fails only when none is on it.
func (n *Network) Catchment(origins []orb.Point, mode Mode, maxMinutes float64, planned bool) (*Catchment, error) {
	var placed []orb.Point
	var index []int32 // placed → origins
	c := &Catchment{Grid: n.Grid}
	for i, o := range origins {
		if n.nearestPassable(o, 2*n.Grid.CellMetres+500) < 0 {
			c.Unplaced = append(c.Unplaced, i)
			continue
		}
		placed, index = append(placed, o), append(index, int32(i))
	}
	if len(placed) == 0 {
		return nil, &OriginError{fmt.Sprintf("none of the %d origins is on land in the region (outside it, or in a lake or the Yangtze)", len(origins))}
	}
	own := make([]int32, n.nodes)
	for i := range own {
		own[i] = -1
	}
	times, err := n.run(placed, mode, maxMinutes, planned, own)
	if err != nil {
		return nil, err
	}
	defer times.Release()
	c.Secs = append([]float32(nil), times.t[:n.cells]...)
	c.Owner = own[:n.cells]
	for i, o := range c.Owner {
		if o >= 0 {
			c.Owner[i] = index[o]
		}
	}
	return c, nil
}

// Catchment is the road network's multi-source search (see
// Network.Catchment); origins further than MaxSnapMetres from a road
// usable by the mode are Unplaced.
func (r *RoadNetwork) Catchment(origins []orb.Point, mode Mode, maxMinutes float64) (*Catchment, error) {
	if _, ok := r.adj[mode]; !ok {
		return nil, fmt.Errorf("the road network has no mode %q (walk, bike or drive)", mode)
	}
	var placed []orb.Point
	var index []int32
	c := &Catchment{Grid: r.Grid}
	for i, o := range origins {
		if r.Snap(o, mode) < 0 {
			c.Unplaced = append(c.Unplaced, i)
			continue
		}
		placed, index = append(placed, o), append(index, int32(i))
	}
	if len(placed) == 0 {
		return nil, &OriginError{fmt.Sprintf("none of the %d origins is within %d m of a road usable by %s", len(origins), MaxSnapMetres, mode)}
	}
	res, err := r.surface(seedsAt(placed), mode, maxMinutes, true, false)
	if err != nil {
		return nil, err
	}
	c.Secs, c.Owner = res.surface, res.owner
	for i, o := range c.Owner {
		if o >= 0 {
			c.Owner[i] = index[o]
		}
	}
	return c, nil
}

// At returns the travel time to p in seconds (+Inf: not reached) and the
// origin that reaches it first (-1: none).
func (c *Catchment) At(p orb.Point) (float64, int) {
	i := c.Grid.Cell(p)
	if i < 0 {
		return math.Inf(1), -1
	}
	if c.Owner == nil {
		return float64(c.Secs[i]), -1
	}
	return float64(c.Secs[i]), int(c.Owner[i])
}

// Bands contours the union of all origins' catchments once per limit,
// largest first.
func (c *Catchment) Bands(minutes []float64) ([]Band, error) {
	mins, err := bandMinutes(minutes)
	if err != nil {
		return nil, err
	}
	return c.Grid.bands(mins, c.Secs, false), nil
}

// OriginBand is one origin's own service area within a band: the places
// it reaches first (each place belongs to exactly one origin).
type OriginBand struct {
	Origin int
	Band
}

// OriginBands contours each origin's own service area per limit, largest
// first within an origin; origins that reach nothing are left out. Each
// origin is contoured over the cells it owns only.
func (c *Catchment) OriginBands(minutes []float64) ([]OriginBand, error) {
	mins, err := bandMinutes(minutes)
	if err != nil {
		return nil, err
	}
	g := c.Grid
	limit := float32(mins[0] * 60)
	boxes := map[int32]*window{}
	var order []int32
	for i, o := range c.Owner {
		if o < 0 || c.Secs[i] > limit {
			continue
		}
		x, y := i%g.W, i/g.W
		w := boxes[o]
		if w == nil {
			w = &window{x, y, x + 1, y + 1}
			boxes[o] = w
			order = append(order, o)
			continue
		}
		w.x0, w.y0, w.x1, w.y1 = min(w.x0, x), min(w.y0, y), max(w.x1, x+1), max(w.y1, y+1)
	}
	slices.Sort(order)
	var out []OriginBand
	for _, o := range order {
		w := *boxes[o]
		for _, m := range mins {
			lim := float32(m * 60)
			mp := g.contourWindow(w, func(i int) bool {
				x, y := i%g.W, i/g.W
				return x >= w.x0 && x < w.x1 && y >= w.y0 && y < w.y1 && c.Owner[i] == o && c.Secs[i] <= lim
			})
			if len(mp) == 0 {
				continue
			}
			area := 0.0
			for _, p := range mp {
				area += geo.Area(p)
			}
			out = append(out, OriginBand{Origin: int(o), Band: Band{Minutes: m, Geometry: mp, AreaKm2: area / 1e6}})
		}
	}
	return out, nil
}

// Footprint is where a demand feature lies on the grid: the cells it
// covers, each with the share of the feature's weight it carries.
type Footprint struct {
	Cells  []int32
	Shares []float32
}

// FootprintOf places a geometry on the grid. A point is its cell; a polygon
// is the cells whose centres it contains, weighted equally (its weight is
// apportioned by area, measured on the grid), or its centroid's cell when it
// is smaller than a cell; a line is the cells of its vertices. Outside the
// grid: no cells.
func (g *Grid) FootprintOf(geom orb.Geometry) Footprint {
	var f Footprint
	one := func(p orb.Point) {
		if c := g.Cell(p); c >= 0 {
			f.Cells, f.Shares = append(f.Cells, int32(c)), append(f.Shares, 1)
		}
	}
	var mp orb.MultiPolygon
	switch v := geom.(type) {
	case orb.Point:
		one(v)
		return f
	case orb.MultiPoint:
		for _, p := range v {
			one(p)
		}
	case orb.Polygon:
		mp = orb.MultiPolygon{v}
	case orb.MultiPolygon:
		mp = v
	case orb.LineString:
		for _, p := range v {
			one(p)
		}
	case orb.MultiLineString:
		for _, l := range v {
			for _, p := range l {
				one(p)
			}
		}
	case orb.Collection:
		var parts []Footprint
		for _, x := range v {
			parts = append(parts, g.FootprintOf(x))
		}
		for _, p := range parts {
			f.Cells = append(f.Cells, p.Cells...)
			f.Shares = append(f.Shares, p.Shares...)
		}
	}
	if mp != nil {
		g.Rasterize(mp, func(c int) {
			f.Cells, f.Shares = append(f.Cells, int32(c)), append(f.Shares, 1)
		})
		if len(f.Cells) == 0 {
			if c, _ := planar.CentroidArea(mp); !math.IsNaN(c[0]) {
				one(c)
			}
		}
	}
	if n := len(f.Shares); n > 1 {
		for i := range f.Shares {
			f.Shares[i] = 1 / float32(n)
		}
	}
	return f
}

// Covered is the share of a footprint reached within limit seconds, and
// calls each (if not nil) with each reached cell's origin and share.
func (c *Catchment) Covered(f Footprint, limit float32, each func(origin int32, share float32)) float64 {
	var s float64
	for i, cell := range f.Cells {
		if c.Secs[cell] <= limit {
			s += float64(f.Shares[i])
			if each != nil {
				owner := int32(-1)
				if c.Owner != nil {
					owner = c.Owner[cell]
				}
				each(owner, f.Shares[i])
			}
		}
	}
	return math.Min(s, 1)
}
