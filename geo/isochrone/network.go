// Package isochrone computes travel times and isochrone polygons over
// gusu's accessibility network: a surface of grid cells (the off-network
// model: any passable point to any other at the mode's speed divided by a
// detour factor; lakes and the Yangtze impassable) joined to the rail
// network (station-to-station run times, boarding waits of half the
// headway, transfer penalties). Everything lives in compact arrays built
// once per network version; a query is a bounded Dijkstra.
package isochrone

import (
	"fmt"
	"math"
	"sort"

	"github.com/paulmach/orb"
)

// Mode is how people move.
type Mode string

// Modes.
const (
	Walk    Mode = "walk"
	Bike    Mode = "bike"
	Drive   Mode = "drive"
	Transit Mode = "transit" // walk + rail
)

// Modes lists the modes, for messages.
var Modes = []Mode{Walk, Bike, Drive, Transit}

// Params are the model's documented defaults; every response states them.
type Params struct {
	WalkKmh  float64 `json:"walk_kmh"`
	BikeKmh  float64 `json:"bike_kmh"`
	DriveKmh float64 `json:"drive_kmh"`
	// Detour divides straight-line speed: real paths are longer than crow flight.
	Detour float64 `json:"detour_factor"`
	// CellMetres is the grid's cell size.
	CellMetres float64 `json:"cell_m"`
	// TransferMin is the walk between platforms when changing lines (the
	// next line's half-headway wait comes on top).
	TransferMin float64 `json:"transfer_min"`
	// StationAccessMin is street to platform plus platform to street, per trip.
	StationAccessMin float64 `json:"station_access_min"`
	// Kind defaults: average speed between stations (dwell included) and headway.
	RailKmh    map[string]float64 `json:"rail_kmh"`
	HeadwayMin map[string]float64 `json:"headway_min"`
	MaxMinutes float64            `json:"max_minutes"`
}

// DefaultParams are gusu's documented defaults.
func DefaultParams() Params {
	return Params{
		WalkKmh: 4.8, BikeKmh: 15, DriveKmh: 30, Detour: 1.3, CellMetres: 200,
		TransferMin: 3, StationAccessMin: 2,
		RailKmh:    map[string]float64{"metro": 35, "tram": 18, "intercity": 110, "conventional": 70, "high_speed": 180},
		HeadwayMin: map[string]float64{"metro": 6, "tram": 10, "intercity": 20, "conventional": 60, "high_speed": 15},
		MaxMinutes: 120,
	}
}

func (p Params) speed(m Mode) float64 {
	switch m {
	case Bike:
		return p.BikeKmh
	case Drive:
		return p.DriveKmh
	}
	return p.WalkKmh
}

// Station is a rail station.
type Station struct {
	ID   string
	Name string
	At   orb.Point
}

// Line is a rail line: its stations in order along it.
type Line struct {
	ID, Name, Kind string
	Planned        bool
	Stations       []int     // indexes into the stations
	Metres         []float64 // along-line distance between consecutive stations
	SpeedKmh       float64   // 0: the kind's default
	HeadwayMin     float64   // 0: the kind's default
}

// Input is what a network is built from.
type Input struct {
	Bound orb.Bound
	// Land is where people can be: the region minus water.
	Land     orb.MultiPolygon
	Water    orb.MultiPolygon
	Stations []Station
	Lines    []Line
	Params   Params
}

// Network is a built accessibility network.
type Network struct {
	Grid     *Grid
	Params   Params
	passable []bool
	stations []Station
	lines    []Line
	// Node numbering: cells [0, cells), then one node per station, then one
	// platform node per (line, stop).
	cells, stationBase, platformBase, nodes int
	// Explicit edges of station and platform nodes (CSR), and for cells
	// that hold a station, their access edge.
	first       []int32
	to          []int32
	cost        []float32 // seconds
	planned     []bool    // edge belongs to a planned line
	cellStation map[int32][]int32
	poolState
}

// Build makes the network.
func Build(in Input) (*Network, error) {
	p := in.Params
	if p.CellMetres <= 0 {
		return nil, fmt.Errorf("cell size must be positive")
	}
	g := NewGrid(in.Bound, p.CellMetres)
	if g.W*g.H > 20_000_000 {
		return nil, fmt.Errorf("grid of %d×%d cells is too large; use a larger cell size", g.W, g.H)
	}
	n := &Network{Grid: g, Params: p, stations: in.Stations, lines: in.Lines, cellStation: map[int32][]int32{}}
	n.passable = make([]bool, g.W*g.H)
	g.Rasterize(in.Land, func(c int) { n.passable[c] = true })
	g.Rasterize(in.Water, func(c int) { n.passable[c] = false })
	n.cells = g.W * g.H
	n.stationBase = n.cells
	n.platformBase = n.stationBase + len(in.Stations)
	stops := 0
	for _, l := range in.Lines {
		stops += len(l.Stations)
	}
	n.nodes = n.platformBase + stops

	type edge struct {
		from, to int32
		cost     float32
		planned  bool
	}
	var edges []edge
	add := func(a, b int, secs float64, planned bool) {
		edges = append(edges, edge{int32(a), int32(b), float32(secs), planned})
	}
	// Stations join the surface at their cell (or the nearest passable one).
	for i, s := range in.Stations {
		c := n.nearestPassable(s.At, 1000)
		if c < 0 {
			continue
		}
		n.cellStation[int32(c)] = append(n.cellStation[int32(c)], int32(n.stationBase+i))
		add(n.stationBase+i, c, 0, false)
	}
	platform := n.platformBase
	// Platforms at each station, with their line's headway, for transfers.
	type stop struct {
		node    int
		headway float64
		planned bool
	}
	atStation := map[int][]stop{}
	for _, l := range in.Lines {
		speed := l.SpeedKmh
		if speed <= 0 {
			speed = p.RailKmh[l.Kind]
		}
		headway := l.HeadwayMin
		if headway <= 0 {
			headway = p.HeadwayMin[l.Kind]
		}
		if speed <= 0 || headway <= 0 {
			return nil, fmt.Errorf("line %s: no speed or headway for kind %q", l.Name, l.Kind)
		}
		for k, st := range l.Stations {
			node := platform + k
			atStation[st] = append(atStation[st], stop{node, headway, l.Planned})
			// Boarding from the street: station access, then on average half a headway's wait.
			add(n.stationBase+st, node, (p.StationAccessMin/2+headway/2)*60, l.Planned)
			// Alighting to the street.
			add(node, n.stationBase+st, p.StationAccessMin/2*60, l.Planned)
			if k > 0 {
				secs := l.Metres[k-1] / (speed / 3.6)
				add(node-1, node, secs, l.Planned)
				add(node, node-1, secs, l.Planned)
			}
		}
		platform += len(l.Stations)
	}
	// Changing lines at an interchange: the transfer walk, then half the
	// next line's headway.
	for _, ss := range atStation {
		for _, a := range ss {
			for _, b := range ss {
				if a.node != b.node {
					add(a.node, b.node, (p.TransferMin+b.headway/2)*60, a.planned || b.planned)
				}
			}
		}
	}
	sort.Slice(edges, func(i, j int) bool { return edges[i].from < edges[j].from })
	n.first = make([]int32, n.nodes-n.stationBase+1)
	n.to = make([]int32, len(edges))
	n.cost = make([]float32, len(edges))
	n.planned = make([]bool, len(edges))
	for i, e := range edges {
		n.to[i], n.cost[i], n.planned[i] = e.to, e.cost, e.planned
		n.first[int(e.from)-n.stationBase+1]++
	}
	for i := 1; i < len(n.first); i++ {
		n.first[i] += n.first[i-1]
	}
	n.initPool()
	return n, nil
}

// nearestPassable finds the passable cell nearest to p within radius metres, or -1.
func (n *Network) nearestPassable(p orb.Point, radius float64) int {
	g := n.Grid
	c := g.Cell(p)
	if c >= 0 && n.passable[c] {
		return c
	}
	x := int(math.Floor((p[0] - g.MinLon) / g.DLon))
	y := int(math.Floor((p[1] - g.MinLat) / g.DLat))
	r := int(math.Ceil(radius / g.CellMetres))
	best, bestD := -1, math.Inf(1)
	for dy := -r; dy <= r; dy++ {
		for dx := -r; dx <= r; dx++ {
			cx, cy := x+dx, y+dy
			if cx < 0 || cy < 0 || cx >= g.W || cy >= g.H || !n.passable[cy*g.W+cx] {
				continue
			}
			if d := Metres(p, g.Centre(cy*g.W+cx)); d < bestD && d <= radius {
				best, bestD = cy*g.W+cx, d
			}
		}
	}
	return best
}

// Passable reports whether cell c is land people can cross.
func (n *Network) Passable(c int) bool { return c >= 0 && c < n.cells && n.passable[c] }

// Stations returns the network's stations.
func (n *Network) Stations() []Station { return n.stations }

// Lines returns the network's rail lines.
func (n *Network) Lines() []Line { return n.lines }
