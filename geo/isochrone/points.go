package isochrone

import (
	"math"
	"sort"

	"github.com/paulmach/orb"
)

// Seed is a place reached at Secs, from which the rest of the way is on foot.
type Seed struct {
	At   orb.Point
	Secs float32
}

// PointSurface is the travel-time surface of seeds (an origin and the stops
// a timetable reaches): from each seed the traveller walks up to radius
// metres at walkMps, on a grid of cell metres around the seeds, up to
// maxSecs. Owner is left empty.
func PointSurface(seeds []Seed, walkMps, radius, cell float64, maxSecs float32) *Catchment {
	var b orb.Bound
	first := true
	for _, s := range seeds {
		if s.Secs > maxSecs {
			continue
		}
		if first {
			b, first = orb.Bound{Min: s.At, Max: s.At}, false
		} else {
			b = b.Extend(s.At)
		}
	}
	if first {
		return nil
	}
	pad := (radius + 2*cell) / metresPerDegreeLat
	padLon := pad / math.Cos((b.Min[1]+b.Max[1])/2*math.Pi/180)
	b = orb.Bound{Min: orb.Point{b.Min[0] - padLon, b.Min[1] - pad}, Max: orb.Point{b.Max[0] + padLon, b.Max[1] + pad}}
	g := NewGrid(b, cell)
	secs := make([]float32, g.W*g.H)
	for i := range secs {
		secs[i] = float32(math.Inf(1))
	}
	offsets := g.walkOffsets(radius, walkMps)
	for _, s := range seeds {
		if s.Secs > maxSecs {
			continue
		}
		x := int(math.Floor((s.At[0] - g.MinLon) / g.DLon))
		y := int(math.Floor((s.At[1] - g.MinLat) / g.DLat))
		for _, o := range offsets {
			v := s.Secs + o.secs
			if v > maxSecs {
				break // the rest are further
			}
			cx, cy := x+o.dx, y+o.dy
			if cx < 0 || cy < 0 || cx >= g.W || cy >= g.H {
				continue
			}
			if c := cy*g.W + cx; v < secs[c] {
				secs[c] = v
			}
		}
	}
	return &Catchment{Grid: g, Secs: secs}
}

// SmoothBands contours the surface per limit as isochrones are drawn:
// through the interpolated crossings, largest first.
func (c *Catchment) SmoothBands(minutes []float64) ([]Band, error) {
	mins, err := bandMinutes(minutes)
	if err != nil {
		return nil, err
	}
	return c.Grid.bands(mins, c.Secs, true), nil
}

// offset is a cell's position relative to another and the walk to it.
type offset struct {
	dx, dy int
	secs   float32
}

// walkOffsets are the cells within radius metres of a cell, nearest first,
// with the seconds a walk at walkMps takes: computed once per surface, not
// per point walked from.
func (g *Grid) walkOffsets(radius, walkMps float64) []offset {
	reach := int(math.Ceil(radius / g.CellMetres))
	var out []offset
	for dy := -reach; dy <= reach; dy++ {
		for dx := -reach; dx <= reach; dx++ {
			if d := math.Hypot(float64(dx)*g.dx, float64(dy)*g.dy); d <= radius {
				out = append(out, offset{dx, dy, float32(d / walkMps)})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].secs < out[j].secs })
	return out
}
