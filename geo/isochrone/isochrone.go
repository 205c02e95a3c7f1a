package isochrone

import (
	"fmt"
	"sort"

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
	mins := append([]float64(nil), req.Minutes...)
	sort.Sort(sort.Reverse(sort.Float64Slice(mins)))
	if len(mins) == 0 || mins[len(mins)-1] <= 0 {
		return nil, fmt.Errorf("band minutes must be positive")
	}
	times, err := n.Run(req.Origins, req.Mode, mins[0], req.Planned)
	if err != nil {
		return nil, err
	}
	res := &Result{Times: times}
	for _, m := range mins {
		limit := float32(m * 60)
		mp := n.Grid.Contour(func(c int) bool { return times.t[c] <= limit })
		area := 0.0
		for _, p := range mp {
			area += geo.Area(p)
		}
		res.Bands = append(res.Bands, Band{Minutes: m, Geometry: mp, AreaKm2: area / 1e6})
	}
	return res, nil
}
