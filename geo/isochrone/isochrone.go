package isochrone

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
)

// Band is the area reachable within Minutes.
type Band struct {
	Minutes  float64
	Geometry orb.MultiPolygon
	AreaKm2  float64
}

// Request is one isochrone query.
type Request struct {
	Origins []orb.Point
	Mode    Mode
	Minutes []float64
	Planned bool
}

// Result holds the bands, largest first, and the travel times they came from.
type Result struct {
	Bands []Band
	Times *Times
}

// Isochrones computes the bands of req. The caller releases res.Times.
func (n *Network) Isochrones(req Request) (*Result, error) {
	if len(req.Origins) == 0 {
		return nil, fmt.Errorf("no origin")
	}
	mins, err := bandMinutes(req.Minutes)
	if err != nil {
		return nil, err
	}
	// The search goes a little past the largest band, so that its edge can
	// be placed between cells too.
	times, err := n.Run(req.Origins, req.Mode, mins[0]*smoothMargin, req.Planned)
	if err != nil {
		return nil, err
	}
	return &Result{Times: times, Bands: n.Grid.bands(mins, times.t, true)}, nil
}

// bandMinutes returns the band limits largest first, so the first bounds
// the search.
func bandMinutes(minutes []float64) ([]float64, error) {
	mins := slices.Clone(minutes)
	slices.SortFunc(mins, func(a, b float64) int { return cmp.Compare(b, a) })
	if len(mins) == 0 || mins[len(mins)-1] <= 0 {
		return nil, fmt.Errorf("band minutes must be positive")
	}
	return mins, nil
}

// smoothMargin is how far past the largest band an isochrone search runs,
// so that its edge falls between cells rather than on their staircase.
const smoothMargin = 1.2

// bands contours a travel-time surface (seconds per grid cell) once per
// limit in mins: smooth, through interpolated crossings (isochrones), or
// exactly along the cells (catchments, whose coverage counts cells).
func (g *Grid) bands(mins []float64, surface []float32, smooth bool) []Band {
	out := make([]Band, 0, len(mins))
	// Contour only the window the largest band reached.
	w := window{g.W, g.H, 0, 0}
	top := float32(slices.Max(mins) * 60)
	for c := 0; c < g.W*g.H; c++ {
		if surface[c] <= top {
			x, y := c%g.W, c/g.W
			w.x0, w.y0, w.x1, w.y1 = min(w.x0, x), min(w.y0, y), max(w.x1, x+1), max(w.y1, y+1)
		}
	}
	for _, m := range mins {
		limit := float32(m * 60)
		if w.x1 <= w.x0 {
			out = append(out, Band{Minutes: m, Geometry: orb.MultiPolygon{}})
			continue
		}
		var field []float32
		if smooth {
			field = surface
		}
		mp := g.contourSmooth(w, func(c int) bool { return surface[c] <= limit }, field, limit)
		area := 0.0
		for _, p := range mp {
			area += geo.Area(p)
		}
		out = append(out, Band{Minutes: m, Geometry: mp, AreaKm2: area / 1e6})
	}
	return out
}
