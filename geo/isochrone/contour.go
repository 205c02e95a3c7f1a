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
	return g.contourSmooth(w, inside, nil, 0)
}

// contourSmooth is contourWindow that, given the field inside was derived
// from (inside ⇔ field ≤ level), moves every boundary edge to where the
// field crosses level on the line between the two cells' centres — the
// marching-squares polyline, with the raster's topology (so rings stay
// valid and bands nested), instead of the cells' staircase. Where the
// outer cell has no value (water, unreached) the edge stays put.
func (g *Grid) contourSmooth(w window, inside func(cell int) bool, field []float32, level float32) orb.MultiPolygon {
	in := func(x, y int) bool {
		return x >= 0 && y >= 0 && x < g.W && y < g.H && inside(y*g.W+x)
	}
	// Directed boundary edges with the inside on their left, as a bit set of
	// directions per start vertex on the window's vertex lattice
	// (x0..x1 × y0..y1); flat arrays, not maps, since a city-wide band has
	// hundreds of thousands of edges.
	type dir struct{ dx, dy int }
	dirs := [4]dir{{1, 0}, {0, 1}, {-1, 0}, {0, -1}}
	bit := func(d dir) uint8 {
		for i, e := range dirs {
			if e == d {
				return 1 << i
			}
		}
		return 0
	}
	vw := w.x1 - w.x0 + 1
	vertex := func(x, y int) int { return (y-w.y0)*vw + (x - w.x0) }
	out := make([]uint8, vw*(w.y1-w.y0+1))
	for y := w.y0; y < w.y1; y++ {
		for x := w.x0; x < w.x1; x++ {
			if !inside(y*g.W + x) {
				continue
			}
			if !in(x, y-1) {
				out[vertex(x, y)] |= 1 // east
			}
			if !in(x+1, y) {
				out[vertex(x+1, y)] |= 2 // north
			}
			if !in(x, y+1) {
				out[vertex(x+1, y+1)] |= 4 // west
			}
			if !in(x-1, y) {
				out[vertex(x, y+1)] |= 8 // south
			}
		}
	}
	take := func(v [2]int, incoming dir) (dir, bool) {
		i := vertex(v[0], v[1])
		m := out[i]
		if m == 0 {
			return dir{}, false
		}
		// At a saddle keep turning left: hugging the current inside cell
		// keeps diagonal neighbours apart.
		b := bit(dir{-incoming.dy, incoming.dx})
		if m&b == 0 || m&(m-1) == 0 {
			b = m & -m // the only (or lowest) one
		}
		out[i] &^= b
		for k := range dirs {
			if b == 1<<k {
				return dirs[k], true
			}
		}
		return dir{}, false
	}
	seen := make([]int32, len(out)) // position in the current path + 1; 0: not on it
	var rings [][][2]int
	for si := range out {
		start := [2]int{w.x0 + si%vw, w.y0 + si/vw}
		for out[si] != 0 {
			b := out[si] & -out[si]
			out[si] &^= b
			var d0 dir
			for k := range dirs {
				if b == 1<<k {
					d0 = dirs[k]
				}
			}
			path := [][2]int{start}
			seen[si] = 1
			v := [2]int{start[0] + d0.dx, start[1] + d0.dy}
			d := d0
			for {
				if i := seen[vertex(v[0], v[1])]; i > 0 {
					// Closed a loop: cut it out as a ring of its own.
					loop := append(append([][2]int{}, path[i-1:]...), v)
					rings = append(rings, loop)
					for _, p := range path[i:] {
						seen[vertex(p[0], p[1])] = 0
					}
					path = path[:i]
					if v == start && len(path) == 1 {
						break
					}
				} else {
					path = append(path, v)
					seen[vertex(v[0], v[1])] = int32(len(path))
				}
				next, ok := take(v, d)
				if !ok {
					break
				}
				d = next
				v = [2]int{v[0] + d.dx, v[1] + d.dy}
			}
			for _, p := range path {
				seen[vertex(p[0], p[1])] = 0
			}
		}
	}
	var shells []orb.Polygon
	var holes []orb.Ring
	var shellPaths, holePaths [][][2]int
	for _, r := range rings {
		ring := g.toRing(r)
		if len(ring) < 4 {
			continue
		}
		if ring.Orientation() == orb.CCW {
			shells, shellPaths = append(shells, orb.Polygon{ring}), append(shellPaths, r)
		} else {
			holes, holePaths = append(holes, ring), append(holePaths, r)
		}
	}
	owner := make([]int, len(holes))
	// Each hole goes to the smallest shell around it; shells' areas and
	// bounds are computed once, and a bound test comes before the ring test.
	areas := make([]float64, len(shells))
	bounds := make([]orb.Bound, len(shells))
	for i, s := range shells {
		areas[i], bounds[i] = math.Abs(planar.Area(s[0])), s[0].Bound()
	}
	for hi, h := range holes {
		// A point just beside the hole's first edge, on the reachable side
		// (left of a boundary edge), lies in the shell that owns the hole.
		a, b := h[0], h[1]
		mid := orb.Point{(a[0] + b[0]) / 2, (a[1] + b[1]) / 2}
		dx, dy := b[0]-a[0], b[1]-a[1]
		n := math.Hypot(dx/g.DLon, dy/g.DLat)
		probe := orb.Point{mid[0] - dy/g.DLat*g.DLon/n*0.25, mid[1] + dx/g.DLon*g.DLat/n*0.25}
		best, bestArea := -1, math.Inf(1)
		for i, s := range shells {
			if areas[i] < bestArea && bounds[i].Contains(probe) && planar.RingContains(s[0], probe) {
				best, bestArea = i, areas[i]
			}
		}
		owner[hi] = best
		if best >= 0 && field == nil {
			shells[best] = append(shells[best], h)
		}
	}
	if field == nil {
		return orb.MultiPolygon(shells)
	}
	// Holes were matched on the exact lattice rings; now the smooth ones.
	smooth := make(orb.MultiPolygon, len(shells))
	for i := range shells {
		smooth[i] = orb.Polygon{g.smoothRing(shellPaths[i], field, level)}
	}
	for hi := range holes {
		if owner[hi] >= 0 {
			smooth[owner[hi]] = append(smooth[owner[hi]], g.smoothRing(holePaths[hi], field, level))
		}
	}
	return smooth
}

// smoothRing turns a closed lattice path (boundary edges, inside on the
// left) into the ring through each edge's level crossing.
func (g *Grid) smoothRing(path [][2]int, field []float32, level float32) orb.Ring {
	value := func(x, y int) (float32, bool) {
		if x < 0 || y < 0 || x >= g.W || y >= g.H {
			return 0, false
		}
		v := field[y*g.W+x]
		return v, !math.IsInf(float64(v), 1)
	}
	ring := make(orb.Ring, 0, len(path))
	for i := 0; i+1 < len(path); i++ {
		v, n := path[i], path[i+1]
		dx, dy := n[0]-v[0], n[1]-v[1]
		// The inside cell lies left of the edge, the outside cell right of it.
		var ax, ay int
		switch {
		case dx == 1:
			ax, ay = v[0], v[1]
		case dy == 1:
			ax, ay = v[0]-1, v[1]
		case dx == -1:
			ax, ay = v[0]-1, v[1]-1
		default:
			ax, ay = v[0], v[1]-1
		}
		bx, by := ax+dy, ay-dx
		f := 0.5 // the cell edge, where the outer value is unknown
		if ta, ok := value(ax, ay); ok {
			if tb, ok := value(bx, by); ok && tb > ta {
				// Kept off the centres, so no two crossings meet.
				f = math.Max(0.05, math.Min(0.95, float64(level-ta)/float64(tb-ta)))
			}
		}
		ca := orb.Point{g.MinLon + (float64(ax)+0.5)*g.DLon, g.MinLat + (float64(ay)+0.5)*g.DLat}
		cb := orb.Point{g.MinLon + (float64(bx)+0.5)*g.DLon, g.MinLat + (float64(by)+0.5)*g.DLat}
		ring = append(ring, orb.Point{ca[0] + f*(cb[0]-ca[0]), ca[1] + f*(cb[1]-ca[1])})
	}
	return append(ring, ring[0])
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
