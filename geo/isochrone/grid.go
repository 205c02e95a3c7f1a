package isochrone

import (
	"math"
	"sort"

	"github.com/paulmach/orb"
)

// Grid is a regular lon/lat raster over the region: the travel-time
// surface and the off-network model both live on it. Cell (x, y) spans
// [MinLon + x·DLon, +DLon) × [MinLat + y·DLat, +DLat); y grows northwards.
type Grid struct {
	MinLon, MinLat float64
	DLon, DLat     float64
	W, H           int
	// CellMetres is the cell size the grid was made for (east-west and
	// north-south at the region's mid-latitude).
	CellMetres float64
	// dx, dy and diag are the distances between neighbouring cell centres, in metres.
	dx, dy, diag float64
}

// metresPerDegreeLat is the length of a degree of latitude (mean).
const metresPerDegreeLat = 111_132.0

// NewGrid covers bound with square cells of about cell metres.
func NewGrid(bound orb.Bound, cell float64) *Grid {
	midLat := (bound.Min[1] + bound.Max[1]) / 2
	mLon := metresPerDegreeLat * math.Cos(midLat*math.Pi/180)
	g := &Grid{MinLon: bound.Min[0], MinLat: bound.Min[1], DLon: cell / mLon, DLat: cell / metresPerDegreeLat, CellMetres: cell}
	g.W = int(math.Ceil((bound.Max[0] - bound.Min[0]) / g.DLon))
	g.H = int(math.Ceil((bound.Max[1] - bound.Min[1]) / g.DLat))
	g.dx, g.dy = cell, cell
	g.diag = math.Hypot(cell, cell)
	return g
}

// Cell returns the index of the cell containing p, or -1 outside the grid.
func (g *Grid) Cell(p orb.Point) int {
	x := int(math.Floor((p[0] - g.MinLon) / g.DLon))
	y := int(math.Floor((p[1] - g.MinLat) / g.DLat))
	if x < 0 || y < 0 || x >= g.W || y >= g.H {
		return -1
	}
	return y*g.W + x
}

// Centre is the centre of cell i.
func (g *Grid) Centre(i int) orb.Point {
	x, y := i%g.W, i/g.W
	return orb.Point{g.MinLon + (float64(x)+0.5)*g.DLon, g.MinLat + (float64(y)+0.5)*g.DLat}
}

// Metres is the ground distance between two points (equirectangular; exact
// enough within a city).
func Metres(a, b orb.Point) float64 {
	lat := (a[1] + b[1]) / 2 * math.Pi / 180
	dx := (b[0] - a[0]) * metresPerDegreeLat * math.Cos(lat)
	dy := (b[1] - a[1]) * metresPerDegreeLat
	return math.Hypot(dx, dy)
}

// Rasterize marks the cells whose centres lie inside mp (even-odd rule, so
// holes are left out), by scanlines: one sorted list of crossings per row.
func (g *Grid) Rasterize(mp orb.MultiPolygon, mark func(cell int)) {
	var rings []orb.Ring
	for _, p := range mp {
		rings = append(rings, p...)
	}
	if len(rings) == 0 {
		return
	}
	// Only the rows the polygons span: small polygons cost what they cover.
	b := mp.Bound()
	y0 := max(0, int(math.Floor((b.Min[1]-g.MinLat)/g.DLat-0.5)))
	y1 := min(g.H-1, int(math.Ceil((b.Max[1]-g.MinLat)/g.DLat-0.5)))
	xs := make([]float64, 0, 64)
	for y := y0; y <= y1; y++ {
		lat := g.MinLat + (float64(y)+0.5)*g.DLat
		xs = xs[:0]
		for _, r := range rings {
			for i := 0; i+1 < len(r); i++ {
				a, b := r[i], r[i+1]
				if (a[1] <= lat) == (b[1] <= lat) {
					continue
				}
				xs = append(xs, a[0]+(lat-a[1])*(b[0]-a[0])/(b[1]-a[1]))
			}
		}
		sort.Float64s(xs)
		for k := 0; k+1 < len(xs); k += 2 {
			x0 := int(math.Ceil((xs[k]-g.MinLon)/g.DLon - 0.5))
			x1 := int(math.Floor((xs[k+1]-g.MinLon)/g.DLon - 0.5))
			for x := max(x0, 0); x <= min(x1, g.W-1); x++ {
				mark(y*g.W + x)
			}
		}
	}
}
