package isochrone

import (
	"math"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// Contour traces the boundary of the cells for which inside is true into
// polygons, exactly along cell edges (the raster equivalent of marching
// squares). Reached areas are shells, unreachable areas inside them (a lake)
// holes; diagonal-only contact does not join areas, and rings that would
// touch themselves are split at the touching vertex, so every polygon is
// valid. Vertices on straight runs are dropped.
func (g *Grid) Contour(inside func(cell int) bool) orb.MultiPolygon {
	return g.contourWindow(window{0, 0, g.W, g.H}, inside)
}

// window is a rectangle of cells [x0, x1) × [y0, y1).
type window struct{ x0, y0, x1, y1 int }

// contourWindow is Contour for an inside that is false outside w: only w's
// cells are visited, so a small area on a large grid costs what it covers.
func (g *Grid) contourWindow(w window, inside func(cell int) bool) orb.MultiPolygon {
	in := func(x, y int) bool {
		return x >= 0 && y >= 0 && x < g.W && y < g.H && inside(y*g.W+x)
	}
	// Directed boundary edges with the inside on their left, keyed by start
	// vertex (vx, vy on the (W+1)×(H+1) vertex lattice).
	type dir struct{ dx, dy int }
	out := map[[2]int][]dir{}
	add := func(x, y int, d dir) { out[[2]int{x, y}] = append(out[[2]int{x, y}], d) }
	for y := w.y0; y < w.y1; y++ {
		for x := w.x0; x < w.x1; x++ {
			if !inside(y*g.W + x) {
				continue
			}
			if !in(x, y-1) {
				add(x, y, dir{1, 0})
			}
			if !in(x+1, y) {
				add(x+1, y, dir{0, 1})
			}
			if !in(x, y+1) {
				add(x+1, y+1, dir{-1, 0})
			}
			if !in(x-1, y) {
				add(x, y+1, dir{0, -1})
			}
		}
	}
	take := func(v [2]int, incoming dir) (dir, bool) {
		ds := out[v]
		if len(ds) == 0 {
			return dir{}, false
		}
		best := 0
		if len(ds) > 1 {
			// At a saddle keep turning left: hugging the current inside cell
			// keeps diagonal neighbours apart.
			left := dir{-incoming.dy, incoming.dx}
			for i, d := range ds {
				if d == left {
					best = i
				}
			}
		}
		d := ds[best]
		ds[best] = ds[len(ds)-1]
		out[v] = ds[:len(ds)-1]
		return d, true
	}
	var rings [][][2]int
	for start, ds := range out {
		for len(ds) > 0 {
			d0 := ds[0]
			out[start] = ds[1:]
			path := [][2]int{start}
			seen := map[[2]int]int{start: 0}
			v := [2]int{start[0] + d0.dx, start[1] + d0.dy}
			d := d0
			for {
				if i, ok := seen[v]; ok {
					// Closed a loop: cut it out as a ring of its own.
					loop := append(append([][2]int{}, path[i:]...), v)
					rings = append(rings, loop)
					for _, p := range path[i+1:] {
						delete(seen, p)
					}
					path = path[:i+1]
					if v == start && len(path) == 1 {
						break
					}
				} else {
					seen[v] = len(path)
					path = append(path, v)
				}
				next, ok := take(v, d)
				if !ok {
					break
				}
				d = next
				v = [2]int{v[0] + d.dx, v[1] + d.dy}
			}
			ds = out[start]
		}
	}
	var shells []orb.Polygon
	var holes []orb.Ring
	for _, r := range rings {
		ring := g.toRing(r)
		if len(ring) < 4 {
			continue
		}
		if ring.Orientation() == orb.CCW {
			shells = append(shells, orb.Polygon{ring})
		} else {
			holes = append(holes, ring)
		}
	}
	for _, h := range holes {
		// A point just beside the hole's first edge, on the reachable side
		// (left of a boundary edge), lies in the shell that owns the hole.
		a, b := h[0], h[1]
		mid := orb.Point{(a[0] + b[0]) / 2, (a[1] + b[1]) / 2}
		dx, dy := b[0]-a[0], b[1]-a[1]
		n := math.Hypot(dx/g.DLon, dy/g.DLat)
		probe := orb.Point{mid[0] - dy/g.DLat*g.DLon/n*0.25, mid[1] + dx/g.DLon*g.DLat/n*0.25}
		best, bestArea := -1, math.Inf(1)
		for i, s := range shells {
			if a := math.Abs(planar.Area(s[0])); a < bestArea && planar.RingContains(s[0], probe) {
				best, bestArea = i, a
			}
		}
		if best >= 0 {
			shells[best] = append(shells[best], h)
		}
	}
	return orb.MultiPolygon(shells)
}

// toRing converts lattice vertices to lon/lat, dropping collinear ones.
func (g *Grid) toRing(vs [][2]int) orb.Ring {
	n := len(vs) - 1 // closed: last == first
	keep := make([][2]int, 0, n+1)
	for i := 0; i < n; i++ {
		p, c, q := vs[(i+n-1)%n], vs[i], vs[(i+1)%n]
		if (c[0]-p[0])*(q[1]-c[1])-(c[1]-p[1])*(q[0]-c[0]) != 0 {
			keep = append(keep, c)
		}
	}
	if len(keep) < 3 {
		return nil
	}
	keep = append(keep, keep[0])
	r := make(orb.Ring, len(keep))
	for i, v := range keep {
		r[i] = orb.Point{g.MinLon + float64(v[0])*g.DLon, g.MinLat + float64(v[1])*g.DLat}
	}
	return r
}
