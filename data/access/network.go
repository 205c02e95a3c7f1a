// Package access answers the plan's travel-time questions: isochrones from
// any point, town or station (/api/isochrones, and the Mapbox Isochrone
// API's shape at /isochrone/v1), and which towns lie within 15/30/45
// minutes (/api/accessibility/towns).
//
// The network is built from the current layers — the town system's land
// (minus water bodies) as the surface, rail lines and stations — and
// rebuilt in the background whenever one of them changes; requests keep
// the previous network until the new one is ready.
package access

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"

	"github.com/gusu-gis/gusu/data/auth"
	"github.com/gusu-gis/gusu/data/httpapi"
	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/geo/isochrone"
)

// NetworkModel names the model in every response.
const (
	ModelOffNetwork = "off-network estimate"
	ModelRoads      = "roads"
)

// Unit is a town-system unit with the point its accessibility is judged at.
type Unit struct {
	Code       string    `json:"code,omitempty"`
	Name       string    `json:"name"`
	NameEn     string    `json:"name_en,omitempty"`
	Level      string    `json:"level"`
	Parent     string    `json:"parent,omitempty"`
	Population *int64    `json:"population,omitempty"`
	At         orb.Point `json:"-"`
}

// built is one network version with what requests need around it.
type built struct {
	net      *isochrone.Network
	roads    *isochrone.RoadNetwork // nil until an OSM road network is imported
	units    []Unit
	stations map[string]int // station id → index
	rail     railModel      // the rail model, for its timetable (railfeed.go)
	versions map[string]int64
	builtAt  time.Time
	took     time.Duration
}

// Service holds the current network.
type Service struct {
	pool   *pgxpool.Pool
	reg    *layers.Registry
	log    *slog.Logger
	params isochrone.Params

	cur     atomic.Pointer[built]
	wake    chan struct{}
	mu      sync.Mutex
	lastErr error

	// Slots bounds the isochrone computations that run at once (they are
	// CPU-bound); nil: no bound. Set before Routes.
	Slots *httpapi.Limiter
	// HeavySlots bounds the requests that may run for seconds (catchments,
	// matrices, opportunities, recomputes), so that they never take every
	// isochrone slot; nil: they share Slots.
	HeavySlots *httpapi.Limiter
	// CanSeePrivate reports whether a request may see private layers; nil:
	// every request may. A private input layer leaves no trace in the
	// answers to the others.
	CanSeePrivate func(*http.Request) bool
	// Reads chooses where a network build reads its layers (a replica
	// that has replayed their versions, else the primary); nil: the pool.
	Reads layers.ReadPools
	// Timeout bounds a catchment request's reads and computation (0: none).
	Timeout time.Duration
	// Auth checks that saving a run as a layer comes from an editor; nil:
	// anyone may (tests, single-user setups).
	Auth *auth.Authenticator

	tt        timetables    // built GTFS timetables
	buildMu   sync.Mutex    // one build at a time
	buildPool *pgxpool.Pool // where the running build reads
}

// roadsLayer is the imported OSM road network (optional).
const roadsLayer = "roads"

// inputs are the layers a network is built from.
var inputs = []string{"town_system", "rail_lines", "rail_stations", roadsLayer}

// NewService returns a service; call Run to build and keep the network.
func NewService(pool *pgxpool.Pool, reg *layers.Registry, log *slog.Logger, params isochrone.Params) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{pool: pool, reg: reg, log: log, params: params, wake: make(chan struct{}, 1)}
	reg.OnChange(func(layer string) {
		if layer == "" || slices.Contains(inputs, layer) {
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
	})
	return s
}

// Run builds the network and rebuilds it on changes until ctx ends.
func (s *Service) Run(ctx context.Context) {
	for {
		if err := s.Rebuild(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("accessibility network not rebuilt; the previous one stays in use", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
			// Let a burst of changes settle into one rebuild.
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// ErrNotReady is returned before the first network is built.
var ErrNotReady = errors.New("the accessibility network is still being built")

func (s *Service) current() (*built, error) {
	if b := s.cur.Load(); b != nil {
		return b, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastErr != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotReady, s.lastErr)
	}
	return nil, ErrNotReady
}

// reader is where a build reads: the pool Rebuild chose, or the primary
// (for loads outside a Rebuild, such as the benchmark's).
func (s *Service) reader() *pgxpool.Pool {
	if s.buildPool != nil {
		return s.buildPool
	}
	return s.pool
}

// Rebuild builds the network from the current layers, unless they have not
// changed since the last build.
func (s *Service) Rebuild(ctx context.Context) error {
	versions := map[string]int64{}
	in := map[string]*layers.Layer{}
	for _, name := range inputs {
		l, err := s.reg.Get(ctx, name)
		if err != nil {
			if name == roadsLayer {
				continue // no road network imported
			}
			return err
		}
		versions[name] = l.Version
		in[name] = l
	}
	if b := s.cur.Load(); b != nil && sameVersions(b.versions, versions) {
		return nil
	}
	s.buildMu.Lock()
	defer s.buildMu.Unlock()
	s.buildPool = s.pool
	if s.Reads != nil {
		var needs []layers.Need
		for name, v := range versions {
			needs = append(needs, layers.Need{Layer: name, Version: v})
		}
		s.buildPool = s.Reads.For(ctx, needs)
	}
	start := time.Now()
	b, err := s.build(ctx, in)
	if err != nil && s.buildPool != s.pool && layers.Unreachable(err) {
		s.Reads.Failed(s.buildPool) // a replica that stopped answering: build from the primary
		s.buildPool = s.pool
		b, err = s.build(ctx, in)
	}
	s.mu.Lock()
	s.lastErr = err
	s.mu.Unlock()
	if err != nil {
		return err
	}
	b.versions, b.builtAt, b.took = versions, time.Now(), time.Since(start)
	s.cur.Store(b)
	s.log.Info("accessibility network built", "cells", b.net.Grid.W*b.net.Grid.H, "stations", len(b.net.Stations()), "lines", len(b.net.Lines()), "took", b.took.Round(time.Millisecond))
	return nil
}

func sameVersions(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func geometryOf(b []byte) (orb.Geometry, error) {
	if len(b) == 0 {
		return nil, nil
	}
	return wkb.Unmarshal(b)
}

func asMulti(g orb.Geometry) orb.MultiPolygon {
	switch g := g.(type) {
	case orb.Polygon:
		return orb.MultiPolygon{g}
	case orb.MultiPolygon:
		return g
	}
	return nil
}

func (s *Service) build(ctx context.Context, layersIn map[string]*layers.Layer) (*built, error) {
	ident := func(t string) string { return pgx.Identifier{t}.Sanitize() }
	var landWKB, waterWKB []byte
	err := s.reader().QueryRow(ctx, fmt.Sprintf(`SELECT ST_AsBinary(ST_Union(geom)) FROM %s WHERE GeometryType(geom) IN ('POLYGON', 'MULTIPOLYGON')`, ident(layersIn["town_system"].Table))).Scan(&landWKB)
	if err != nil {
		return nil, fmt.Errorf("read the land: %w", err)
	}
	if err := s.reader().QueryRow(ctx, `SELECT ST_AsBinary(ST_Union(geom)) FROM water_bodies`).Scan(&waterWKB); err != nil {
		return nil, fmt.Errorf("read water bodies: %w", err)
	}
	landG, err := geometryOf(landWKB)
	if err != nil {
		return nil, fmt.Errorf("decode the land: %w", err)
	}
	if landG == nil {
		return nil, fmt.Errorf("the town system has no polygons to take as the region's land")
	}
	// A water geometry that fails to decode would silently make lakes
	// passable, so it is an error like the land's.
	waterG, err := geometryOf(waterWKB)
	if err != nil {
		return nil, fmt.Errorf("decode water bodies: %w", err)
	}
	in := isochrone.Input{Land: asMulti(landG), Water: asMulti(waterG), Params: s.params}
	in.Bound = landG.Bound()

	// Stations: any layer of points with a name.
	rows, err := s.reader().Query(ctx, fmt.Sprintf(`SELECT t.id::text, to_jsonb(t) - 'geom', ST_AsBinary(t.geom) FROM %s t WHERE GeometryType(t.geom) = 'POINT'`, ident(layersIn["rail_stations"].Table)))
	if err != nil {
		return nil, fmt.Errorf("read stations: %w", err)
	}
	type stationRow struct {
		isochrone.Station
		kind  string
		lines []string
	}
	var stations []stationRow
	var id string
	var props map[string]any
	var g []byte
	if _, err := pgx.ForEachRow(rows, []any{&id, &props, &g}, func() error {
		p, err := geometryOf(g)
		if err != nil {
			return err
		}
		st := stationRow{Station: isochrone.Station{ID: str(props["station_id"], id), Name: str(props["name"], id), At: p.(orb.Point)}, kind: str(props["kind"], "")}
		if ls, ok := props["lines"].([]any); ok {
			for _, l := range ls {
				st.lines = append(st.lines, fmt.Sprint(l))
			}
		}
		stations = append(stations, st)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read stations: %w", err)
	}
	for _, st := range stations {
		in.Stations = append(in.Stations, st.Station)
	}
	// Lines: each part of each line, with the stations along it in order.
	rows, err = s.reader().Query(ctx, fmt.Sprintf(`SELECT t.id::text, to_jsonb(t) - 'geom', ST_AsBinary(t.geom) FROM %s t WHERE GeometryType(t.geom) IN ('LINESTRING', 'MULTILINESTRING')`, ident(layersIn["rail_lines"].Table)))
	if err != nil {
		return nil, fmt.Errorf("read rail lines: %w", err)
	}
	if _, err := pgx.ForEachRow(rows, []any{&id, &props, &g}, func() error {
		geom, err := geometryOf(g)
		if err != nil {
			return err
		}
		kind := str(props["kind"], "conventional")
		name := str(props["name"], id)
		var parts orb.MultiLineString
		switch gg := geom.(type) {
		case orb.LineString:
			parts = orb.MultiLineString{gg}
		case orb.MultiLineString:
			parts = gg
		}
		for pi, part := range parts {
			l := isochrone.Line{ID: fmt.Sprintf("%s#%d", str(props["line_id"], id), pi), Name: name, Kind: kind, Planned: str(props["status"], "") == "planned"}
			if v, ok := props["headway_min"].(float64); ok {
				l.HeadwayMin = v
			}
			if v, ok := props["avg_speed_kmh"].(float64); ok {
				l.SpeedKmh = v
			}
			type along struct {
				idx int
				at  float64
			}
			var hits []along
			for i, st := range stations {
				metro := st.kind == "metro" || st.kind == "tram"
				if (kind == "metro" || kind == "tram") != metro {
					continue
				}
				if metro && len(st.lines) > 0 && !slices.Contains(st.lines, name) {
					continue
				}
				at, d := locate(part, st.At)
				if d <= 300 {
					hits = append(hits, along{i, at})
				}
			}
			sort.Slice(hits, func(a, b int) bool { return hits[a].at < hits[b].at })
			for k, h := range hits {
				if k > 0 && h.at-hits[k-1].at < 1 {
					continue // the same place twice
				}
				if k > 0 {
					l.Metres = append(l.Metres, h.at-hits[k-1].at)
				}
				l.Stations = append(l.Stations, h.idx)
			}
			if len(l.Stations) >= 2 {
				in.Lines = append(in.Lines, l)
			}
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read rail lines: %w", err)
	}
	net, err := isochrone.Build(in)
	if err != nil {
		return nil, err
	}
	b := &built{net: net, stations: map[string]int{}, rail: railModel{stations: in.Stations, lines: in.Lines}}
	if l, ok := layersIn[roadsLayer]; ok {
		if b.roads, _, err = s.loadRoads(ctx, l.Table); err != nil {
			return nil, err
		}
	}
	for i, st := range in.Stations {
		b.stations[st.ID] = i
	}
	if b.units, err = s.loadUnits(ctx, layersIn["town_system"]); err != nil {
		return nil, err
	}
	return b, nil
}

func str(v any, def string) string {
	if s, ok := v.(string); ok && s != "" {
		return s
	}
	return def
}

// loadUnits reads the town system: each unit judged at its seat if known,
// at its point if it is one, else at a point on its land (not in a lake:
// 吴中区's polygon holds most of Taihu).
func (s *Service) loadUnits(ctx context.Context, towns *layers.Layer) ([]Unit, error) {
	// The seat column is optional: uploaded town systems may lack it.
	seatSQL := "NULL::bytea"
	if _, ok := towns.Column("seat"); ok {
		seatSQL = "ST_AsBinary(t.seat)"
	}
	rows, err := s.reader().Query(ctx, fmt.Sprintf(`WITH w AS (SELECT coalesce(ST_Union(geom), 'SRID=4326;POLYGON EMPTY'::geometry) AS g FROM water_bodies)
		SELECT to_jsonb(t) - 'geom' - 'seat',
		ST_AsBinary(CASE WHEN GeometryType(t.geom) = 'POINT' THEN t.geom
		                 ELSE ST_PointOnSurface(coalesce(nullif(ST_CollectionExtract(ST_Difference(t.geom, w.g), 3), 'SRID=4326;MULTIPOLYGON EMPTY'::geometry), t.geom)) END),
		%s FROM %s t, w`, seatSQL, pgx.Identifier{towns.Table}.Sanitize()))
	if err != nil {
		return nil, fmt.Errorf("read the town system: %w", err)
	}
	var units []Unit
	var props map[string]any
	var g, seat []byte
	_, err = pgx.ForEachRow(rows, []any{&props, &g, &seat}, func() error {
		at, err := geometryOf(g)
		if err != nil {
			return err
		}
		if s, _ := geometryOf(seat); s != nil {
			at = s
		}
		u := Unit{Code: str(props["code"], ""), Name: str(props["name_zh"], str(props["name"], "")), NameEn: str(props["name_en"], ""),
			Level: str(props["level"], ""), Parent: str(props["parent"], ""), At: at.(orb.Point)}
		if p, ok := props["population"].(float64); ok {
			v := int64(p)
			u.Population = &v
		}
		units = append(units, u)
		return nil
	})
	return units, err
}

// locate returns how far along line the point nearest to p lies, and how
// far p is from it, in metres.
func locate(line orb.LineString, p orb.Point) (along, dist float64) {
	best, bestAlong, run := math.Inf(1), 0.0, 0.0
	for i := 0; i+1 < len(line); i++ {
		a, b := line[i], line[i+1]
		seg := isochrone.Metres(a, b)
		t := 0.0
		if seg > 0 {
			kx := math.Cos(p[1] * math.Pi / 180)
			ax, ay, bx, by, px, py := a[0]*kx, a[1], b[0]*kx, b[1], p[0]*kx, p[1]
			t = ((px-ax)*(bx-ax) + (py-ay)*(by-ay)) / ((bx-ax)*(bx-ax) + (by-ay)*(by-ay))
			t = math.Max(0, math.Min(1, t))
		}
		q := orb.Point{a[0] + t*(b[0]-a[0]), a[1] + t*(b[1]-a[1])}
		if d := isochrone.Metres(p, q); d < best {
			best, bestAlong = d, run+t*seg
		}
		run += seg
	}
	return bestAlong, best
}

// loadRoads reads an imported road network into the engine, and returns
// the node index of every OSM node id.
func (s *Service) loadRoads(ctx context.Context, edgesTable string) (*isochrone.RoadNetwork, map[int64]int32, error) {
	ident := func(t string) string { return pgx.Identifier{t}.Sanitize() }
	rows, err := s.reader().Query(ctx, fmt.Sprintf(`SELECT source, target, length_m, speed_kmh, drive_forward, drive_backward, walk, bike, bike_backward, ST_AsBinary(geom) FROM %s`, ident(edgesTable)))
	if err != nil {
		return nil, nil, fmt.Errorf("read roads: %w", err)
	}
	index := map[int64]int32{}
	var in isochrone.RoadInput
	in.Params = s.params
	node := func(id int64, p orb.Point) int32 {
		if i, ok := index[id]; ok {
			return i
		}
		i := int32(len(in.Nodes))
		index[id] = i
		in.Nodes = append(in.Nodes, p)
		return i
	}
	var src, dst int64
	var e isochrone.RoadEdge
	var g []byte
	if _, err := pgx.ForEachRow(rows, []any{&src, &dst, &e.Metres, &e.KmH, &e.Forward, &e.Backward, &e.Walk, &e.Bike, &e.BikeBackward, &g}, func() error {
		geom, err := geometryOf(g)
		if err != nil {
			return err
		}
		ls, ok := geom.(orb.LineString)
		if !ok || len(ls) < 2 {
			return nil
		}
		ed := e
		ed.Shape = ls
		ed.From, ed.To = node(src, ls[0]), node(dst, ls[len(ls)-1])
		in.Edges = append(in.Edges, ed)
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("read roads: %w", err)
	}
	if len(in.Edges) == 0 {
		return nil, nil, nil
	}
	net, err := isochrone.BuildRoads(in)
	return net, index, err
}

// BuiltVersion is the version of layer the current network was built
// from (0: none, or not built yet).
func (s *Service) BuiltVersion(layer string) int64 {
	if b := s.cur.Load(); b != nil {
		return b.versions[layer]
	}
	return 0
}

// RoadNetwork returns the current road network (nil if none), for the
// pgRouting cross-check and the benchmark.
func (s *Service) RoadNetwork() *isochrone.RoadNetwork {
	if b := s.cur.Load(); b != nil {
		return b.roads
	}
	return nil
}
