package access

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paulmach/orb"

	"github.com/gusu-gis/gusu/data/httpapi"
	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/data/transit"
	"github.com/gusu-gis/gusu/geo/gtfs"
	"github.com/gusu-gis/gusu/geo/isochrone"
	"github.com/gusu-gis/gusu/geo/raptor"
)

// TravelTimesRequest is POST /api/traveltimes.
type TravelTimesRequest struct {
	Origins      *OriginsRef `json:"origins"`
	Destinations *OriginsRef `json:"destinations"`
	Mode         string      `json:"mode"`
	Departure    string      `json:"departure"`
	Window       int         `json:"window"`
	Percentile   *float64    `json:"percentile"`
	MaxMinutes   float64     `json:"max_minutes"`
}

// TravelTimes is a travel-time matrix: minutes per origin (row) and
// destination (column), nil when not reached within MaxMinutes.
type TravelTimes struct {
	Minutes      [][]*float64   `json:"minutes"`
	Origins      []int64        `json:"origin_ids"`
	Destinations []int64        `json:"destination_ids"`
	Network      string         `json:"network"`
	Note         string         `json:"note"`
	Meta         map[string]any `json:"metadata"`
}

// Limits of one matrix.
const (
	MaxMatrixCells   = 1_000_000
	MaxWindowMinutes = 240
	// accessMetres is the longest walk from a point to a stop, and from a
	// stop to a point.
	accessMetres = 1000
)

// timetables caches built timetables per (source, date).
type timetables struct {
	mu    sync.Mutex
	built map[string]*raptor.Timetable
}

// timetableSource says which timetable answered: the imported GTFS feeds
// (their version), or, with none imported, the rail model written as
// frequency-based service (railfeed.go).
type timetableSource struct {
	Version int64
	Model   bool
	Planned bool
	// streets: a surface walked on along the imported streets.
	streets bool
	// noStops: no stop of the timetable is within walking reach of the
	// origins (a feed of another city), so the surface is a walk only.
	noStops bool
}

// timetable returns the timetable of date: the imported feeds', or the rail
// model's (planned lines included when planned is set) where none is
// imported.
func (s *Service) timetable(ctx context.Context, date time.Time, planned bool) (*raptor.Timetable, timetableSource, error) {
	// One network for the whole build: the rail model and the streets the
	// footpaths follow come from it.
	b, err := s.current()
	if err != nil {
		return nil, timetableSource{}, err
	}
	_, version, err := transit.Current(ctx, s.pool)
	src := timetableSource{Version: version}
	var key string
	switch {
	case errors.Is(err, transit.ErrNoFeed):
		src = timetableSource{Model: true, Planned: planned}
		key = fmt.Sprintf("model/%d/%d/%v/%s", b.versions["rail_lines"], b.versions["rail_stations"], planned, date.Format("2006-01-02"))
	case err != nil:
		return nil, src, err
	default:
		key = fmt.Sprintf("%d/%s", version, date.Format("2006-01-02"))
	}
	key += fmt.Sprintf("/roads@%d", b.versions[roadsLayer])
	o := raptor.DefaultOptions()
	if b.roads != nil {
		o.Footpaths = streetFootpaths(b.roads, o)
	}
	s.tt.mu.Lock()
	defer s.tt.mu.Unlock()
	if tt, ok := s.tt.built[key]; ok {
		return tt, src, nil
	}
	var feed *gtfs.Feed
	if src.Model {
		feed, err = b.rail.feed(s.params, planned)
	} else {
		feed, err = transit.Load(ctx, s.pool)
	}
	if err != nil {
		return nil, src, err
	}
	tt, err := raptor.Build(feed, date, o)
	if err != nil {
		return nil, src, err
	}
	if s.tt.built == nil || len(s.tt.built) > 8 {
		s.tt.built = map[string]*raptor.Timetable{}
	}
	s.tt.built[key] = tt
	return tt, src, nil
}

// note says how a timetable answer was made.
func (src timetableSource) note(p isochrone.Params, what string) string {
	if !src.Model {
		return "Timetabled transit on the imported GTFS feeds (RAPTOR, at most 8 vehicles)" + what
	}
	scenario := "existing lines"
	if src.Planned {
		scenario = "existing and planned lines"
	}
	return fmt.Sprintf("No GTFS feed is imported: the city's rail model (%s) runs as frequency-based service through the same timetable engine "+
		"(RAPTOR, at most 8 vehicles): every line at its headway all day (the model has no service hours; the rail layer's headway_min, else by kind: %s) "+
		"at its average speed, dwell included (avg_speed_kmh, else by kind: %s), %.0f minutes to change lines; no buses. An approximate model, not a timetable",
		scenario, kindFigures(p.HeadwayMin, "min"), kindFigures(p.RailKmh, "km/h"), p.TransferMin) + what
}

// kindFigures lists a per-kind default, e.g. "metro 6 min, tram 10 min".
func kindFigures(m map[string]float64, unit string) string {
	kinds := make([]string, 0, len(m))
	for k := range m {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %g %s", k, m[k], unit))
	}
	return strings.Join(parts, ", ")
}

// platformSecs is the walk between street and platform, each way, on top
// of the walk to the stop: the rail model's station access (as the headway
// model counts it); none for an imported feed, whose stops are where
// vehicles are boarded.
func (src timetableSource) platformSecs(p isochrone.Params) int32 {
	if src.Model {
		return int32(p.StationAccessMin * 60 / 2)
	}
	return 0
}

// surfaceNote says how a timetable surface (isochrone, catchment) walks.
func (src timetableSource) surfaceNote(p isochrone.Params) string {
	if src.noStops {
		return src.note(p, ": no stop of the timetable is within 1 km of the origin(s), so these bands are a walk only (is the feed for another area?).")
	}
	if src.streets {
		return src.note(p, " from the departure; walks to stops (within 1 km as the crow flies × 1.3) and on from every reached stop run along the "+
			"imported streets (stops joined to their nearest street), as do walks between stops after a ride (400 m), at 4.8 km/h. Over a window, "+
			"each stop's travel time is the percentile of the departures', then the walk from it (approximate: the percentile is taken per stop, not per place).")
	}
	return src.note(p, timetableNote)
}

// meta records which timetable answered.
func (src timetableSource) meta(m map[string]any) {
	if src.Model {
		m["timetable"] = "rail model (frequency-based, generated)"
	} else {
		m["timetable"], m["timetable_version"] = "imported GTFS", src.Version
	}
}

// departureTimes are n departures a minute apart from first.
func departureTimes(first int32, n int) []int32 {
	out := make([]int32, n)
	for k := range out {
		out[k] = first + int32(k*60)
	}
	return out
}

// percentileOf is the p-th percentile (nearest rank) of times, where
// unreached counts as later than any time; nil when that rank is unreached.
func percentileOf(times []float64, p float64) *float64 {
	sort.Float64s(times)
	rank := int(math.Ceil(p/100*float64(len(times)))) - 1
	rank = max(0, min(rank, len(times)-1))
	if math.IsInf(times[rank], 1) {
		return nil
	}
	v := math.Round(times[rank]*10) / 10
	return &v
}

// TravelTimesFor computes a matrix. seePrivate says whether the caller may
// read private layers.
func (s *Service) TravelTimesFor(ctx context.Context, req TravelTimesRequest, seePrivate bool) (*TravelTimes, error) {
	start := time.Now()
	hidden := func(l *layers.Layer) bool { return l.Private && !seePrivate }
	if req.Origins == nil || req.Destinations == nil {
		return nil, bad(`origins and destinations are required: {"points": [[lon, lat], …]} or {"layer": NAME}`)
	}
	if req.MaxMinutes == 0 {
		req.MaxMinutes = 90
	}
	if req.MaxMinutes < 0 || req.MaxMinutes > s.params.MaxMinutes || math.IsNaN(req.MaxMinutes) {
		return nil, bad("max_minutes must be from 1 to %g", s.params.MaxMinutes)
	}
	mode, pct, err := matrixOptions(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	orig, _, err := s.loadOrigins(ctx, req.Origins, hidden, 0)
	if err != nil {
		return nil, err
	}
	dest, _, err := s.loadOrigins(ctx, req.Destinations, hidden, 0)
	if err != nil {
		return nil, err
	}
	if len(orig)*len(dest) > MaxMatrixCells {
		return nil, bad("%d × %d is over %d cells: split the matrix", len(orig), len(dest), MaxMatrixCells)
	}
	out := &TravelTimes{Minutes: make([][]*float64, len(orig)), Meta: map[string]any{"mode": mode, "max_minutes": req.MaxMinutes}}
	for _, o := range orig {
		out.Origins = append(out.Origins, o.ID)
	}
	for _, d := range dest {
		out.Destinations = append(out.Destinations, d.ID)
	}
	err = s.rows(ctx, req, mode, pct, orig, dest, out, func(i int, row []*float64) { out.Minutes[i] = row })
	out.Meta["compute_ms"] = time.Since(start).Milliseconds()
	return out, err
}

// matrixOptions checks a matrix request's mode, window and percentile (the
// percentile defaults to 50).
func matrixOptions(req TravelTimesRequest) (isochrone.Mode, float64, error) {
	mode, err := parseCatchmentMode(req.Mode)
	if err != nil {
		return "", 0, err
	}
	if req.Window < 0 || req.Window > MaxWindowMinutes {
		return "", 0, bad("window must be from 0 to %d minutes", MaxWindowMinutes)
	}
	pct := 50.0
	if req.Percentile != nil {
		if pct = *req.Percentile; pct <= 0 || pct > 100 || math.IsNaN(pct) {
			return "", 0, bad("percentile must be above 0 and at most 100")
		}
	}
	return mode, pct, nil
}

// rows computes a matrix a row at a time, handing each to emit: transit
// with a departure on the imported timetable (as isochrones and
// catchments do), everything else on the isochrone networks.
func (s *Service) rows(ctx context.Context, req TravelTimesRequest, mode isochrone.Mode, pct float64, orig, dest []origin, out *TravelTimes, emit func(int, []*float64)) error {
	if req.Departure != "" && mode == isochrone.Transit {
		return s.transitRows(ctx, req, pct, orig, dest, out, emit)
	}
	if req.Window > 0 || req.Departure != "" {
		out.Meta["departure_note"] = "departure and window apply to transit (on a timetable) only; this network has no times of day"
	}
	return s.networkRows(ctx, mode, req.MaxMinutes, orig, dest, out, emit)
}

// networkRows answers walk, cycle and drive (and transit without a
// timetable) on the current network, one search per origin, a row at a
// time.
func (s *Service) networkRows(ctx context.Context, mode isochrone.Mode, maxMin float64, orig, dest []origin, out *TravelTimes, emit func(int, []*float64)) error {
	b, err := s.current()
	if err != nil {
		return &httpapi.Error{Status: http.StatusServiceUnavailable, Message: err.Error()}
	}
	q := Query{Mode: mode, Origins: make([]orb.Point, 0, len(orig)+len(dest))}
	for _, o := range orig {
		q.Origins = append(q.Origins, o.At)
	}
	for _, d := range dest {
		q.Origins = append(q.Origins, d.At) // the roads must cover the destinations too
	}
	roads := b.useRoads(q)
	meta := s.metadata(b, roads, q, 0)
	out.Network, out.Note = meta["network"].(string), meta["note"].(string)
	for i, o := range orig {
		if err := ctx.Err(); err != nil {
			return err
		}
		var times surface
		release := func() {}
		if roads {
			res, err := b.roads.Surface([]orb.Point{o.At}, mode, maxMin)
			if err != nil {
				return originError(err)
			}
			times = res
		} else {
			res, err := b.net.Run([]orb.Point{o.At}, mode, maxMin, false)
			if err != nil {
				return originError(err)
			}
			times, release = res, res.Release
		}
		row := make([]*float64, len(dest))
		for j, d := range dest {
			if t := times.At(d.At); t <= maxMin*60 {
				v := math.Round(t/6) / 10
				row[j] = &v
			}
		}
		release() // the search buffers go back to the pool before the next origin
		emit(i, row)
	}
	return nil
}

// transitRows answers transit on the imported timetables: for each
// origin and departure, a walk to the stops within 1 km, RAPTOR, and a
// walk from the stops within 1 km of each destination (or the whole way on
// foot, if that is quicker); over a window, the percentile of the
// departures' travel times.
func (s *Service) transitRows(ctx context.Context, req TravelTimesRequest, pct float64, orig, dest []origin, out *TravelTimes, emit func(int, []*float64)) error {
	dep, err := time.Parse("2006-01-02T15:04", req.Departure)
	if err != nil {
		return bad("departure must be YYYY-MM-DDTHH:MM (the feed's local time), got %q", req.Departure)
	}
	date := time.Date(dep.Year(), dep.Month(), dep.Day(), 0, 0, 0, 0, time.UTC)
	tt, src, err := s.timetable(ctx, date, false)
	var ns *raptor.NoServiceError
	if errors.As(err, &ns) {
		return &httpapi.Error{Status: http.StatusUnprocessableEntity, Message: ns.Error(), Detail: map[string]any{
			"feed_from": ns.From.Format("2006-01-02"), "feed_to": ns.To.Format("2006-01-02")}}
	}
	if err != nil {
		return err
	}
	o := raptor.DefaultOptions()
	walks := newStopWalks(tt, s.RoadNetwork(), o, src.platformSecs(s.params))
	egress := make([][]raptor.Footpath, len(dest))
	for j, d := range dest {
		egress[j] = walks.from(d.At).stops
	}
	first := int32(dep.Hour()*3600 + dep.Minute()*60)
	maxSecs := int32(req.MaxMinutes * 60)
	departures := req.Window + 1
	noStops := 0 // origins with no stop within walking reach
	for i, org := range orig {
		if err := ctx.Err(); err != nil {
			return err
		}
		walk := walks.from(org.At)
		access := walk.stops
		if len(access) == 0 {
			noStops++
		}
		whole := make([]float64, len(dest))
		for j, d := range dest {
			whole[j] = walks.whole(walk, org.At, d.At)
		}
		samples := make([][]float64, len(dest))
		for j := range samples {
			samples[j] = make([]float64, departures)
		}
		// Range RAPTOR: the window's departures, latest first, sharing labels.
		tt.Range(access, departureTimes(first, departures), 8, maxSecs, func(k int, arr []int32) {
			t0 := first + int32(k*60)
			for j := range dest {
				best := math.Inf(1)
				if w := whole[j]; w <= float64(maxSecs) {
					best = w
				}
				for _, e := range egress[j] {
					if a := arr[e.Stop]; a != raptor.Unreached {
						if v := float64(a + e.Secs - t0); v < best && v <= float64(maxSecs) {
							best = v
						}
					}
				}
				samples[j][k] = best / 60
			}
		})
		row := make([]*float64, len(dest))
		for j := range dest {
			row[j] = percentileOf(samples[j], pct)
		}
		emit(i, row)
	}
	out.Network = "timetable"
	out.Note = src.note(s.params, ": "+walks.walksNote()+"; a trip may also walk the whole way.")
	walks.walksMeta(out.Meta)
	if noStops > 0 {
		out.Meta["origins_without_stops"] = noStops
		out.Note += fmt.Sprintf(" %d of %d origins have no stop of the timetable within 1 km: their rows are walks only.", noStops, len(orig))
	}
	out.Meta["departure"], out.Meta["window"], out.Meta["percentile"] = req.Departure, req.Window, pct
	out.Meta["departures"], out.Meta["trips_that_day"] = departures, tt.Trips
	src.meta(out.Meta)
	return nil
}

// traveltimesPOST is POST /api/traveltimes (?format=csv for rows).
func (s *Service) traveltimesPOST(w http.ResponseWriter, r *http.Request) error {
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "csv" {
		return bad("format must be json or csv, not %q", format)
	}
	var req TravelTimesRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 16<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return bad(`the body must be JSON {"origins": {...}, "destinations": {...}, "mode": "walk|cycle|drive|transit", "departure": "2026-12-01T07:30", "window": 0, "percentile": 50, "max_minutes": 90}: %v`, err)
	}
	res, err := s.TravelTimesFor(r.Context(), req, s.CanSeePrivate == nil || s.CanSeePrivate(r))
	if err != nil {
		return err
	}
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		return res.WriteCSV(w)
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(res)
}

// WriteCSV writes origin, destination, minutes rows (minutes empty when unreached).
func (t *TravelTimes) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"origin", "destination", "minutes"})
	for i, row := range t.Minutes {
		for j, v := range row {
			m := ""
			if v != nil {
				m = strconv.FormatFloat(*v, 'f', -1, 64)
			}
			cw.Write([]string{strconv.FormatInt(t.Origins[i], 10), strconv.FormatInt(t.Destinations[j], 10), m})
		}
	}
	cw.Flush()
	return cw.Error()
}

// timetableNote says how a timetable isochrone is made, after the source's note.
const timetableNote = " from the departure; walks to stops within 1 km, " +
	"between stops within 400 m and from every reached stop up to 1 km are straight lines × 1.3 at 4.8 km/h (not on streets). Over a window, " +
	"each stop's travel time is the percentile of the departures', then the walk from it (approximate: the percentile is taken per stop, not per place)."

// pointTimes reads a point surface as the isochrone code reads surfaces.
type pointTimes struct{ c *isochrone.Catchment }

func (p pointTimes) At(pt orb.Point) float64 {
	if p.c == nil {
		return math.Inf(1)
	}
	t, _ := p.c.At(pt)
	return t
}

// timetableBands is a transit isochrone on the imported timetable: RAPTOR
// from the origins' nearby stops at each departure of the window, each
// stop's travel time the percentile over the departures, and from the
// origins and every reached stop a walk of up to 1 km, on a 100 m grid.
func (s *Service) timetableBands(q Query) ([]isochrone.Band, surface, timetableSource, error) {
	// Isochrones are computed without a request context (compute); the
	// service's timeout bounds the timetable's load.
	c, src, err := s.timetableSurface(context.Background(), q)
	if err != nil {
		return nil, nil, src, err
	}
	bands, err := c.SmoothBands(q.Minutes)
	return bands, pointTimes{c}, src, err
}

// timetableSurface is the travel-time surface timetableBands contours (and
// catchments measure coverage on).
func (s *Service) timetableSurface(ctx context.Context, q Query) (*isochrone.Catchment, timetableSource, error) {
	q.Percentiles = []float64{q.Percentile}
	cs, src, err := s.timetableSurfaces(ctx, q)
	if err != nil {
		return nil, src, err
	}
	return cs[0], src, nil
}

// timetableSurfaces are the surfaces of each of q.Percentiles, from one
// set of RAPTOR runs.
func (s *Service) timetableSurfaces(ctx context.Context, q Query) ([]*isochrone.Catchment, timetableSource, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	dep, err := time.Parse("2006-01-02T15:04", q.Departure)
	if err != nil {
		return nil, timetableSource{}, bad("departure must be YYYY-MM-DDTHH:MM (the feed's local time), got %q", q.Departure)
	}
	tt, src, err := s.timetable(ctx, time.Date(dep.Year(), dep.Month(), dep.Day(), 0, 0, 0, 0, time.UTC), q.Planned)
	var ns *raptor.NoServiceError
	switch {
	case errors.As(err, &ns):
		return nil, src, &httpapi.Error{Status: http.StatusUnprocessableEntity, Message: ns.Error(), Detail: map[string]any{
			"feed_from": ns.From.Format("2006-01-02"), "feed_to": ns.To.Format("2006-01-02")}}
	case err != nil:
		return nil, src, err
	}
	o := raptor.DefaultOptions()
	walk := o.WalkKmh / 3.6 / o.Detour
	maxMin := slices.Max(q.Minutes)
	maxSecs := int32(maxMin * 60 * 1.2) // past the largest band, so its edge is interpolated too
	platform := src.platformSecs(s.params)
	// On the streets when they reach every origin, as isochrones choose.
	roads := s.RoadNetwork()
	for _, p := range q.Origins {
		if roads != nil && !roads.Covers(p) {
			roads = nil
		}
	}
	walks := newStopWalks(tt, roads, o, platform)
	var access []raptor.Footpath
	for _, p := range q.Origins {
		access = append(access, walks.from(p).stops...)
	}
	src.noStops = len(access) == 0
	first := int32(dep.Hour()*3600 + dep.Minute()*60)
	samples := make([][]float64, len(tt.StopIDs))
	for st := range samples {
		samples[st] = make([]float64, q.Window+1)
	}
	tt.Range(access, departureTimes(first, q.Window+1), 8, maxSecs, func(k int, arr []int32) {
		t0 := first + int32(k*60)
		for st, a := range arr {
			v := math.Inf(1)
			if a != raptor.Unreached && a-t0 <= maxSecs {
				v = float64(a - t0)
			}
			samples[st][k] = v
		}
	})
	var out []*isochrone.Catchment
	for _, pct := range q.Percentiles {
		var seeds []isochrone.Seed
		for _, p := range q.Origins {
			seeds = append(seeds, isochrone.Seed{At: p})
		}
		for st, xs := range samples {
			if v := percentileOf(slices.Clone(xs), pct); v != nil {
				seeds = append(seeds, isochrone.Seed{At: tt.StopAt[st], Secs: float32(*v) + float32(platform)})
			}
		}
		var c *isochrone.Catchment
		if roads != nil {
			// Every seed walks on along the streets, up to the largest band.
			src.streets = true
			if c, err = roads.SeedCatchment(seeds, isochrone.Walk, float32(maxSecs)); err != nil {
				return nil, src, err
			}
		} else {
			c = isochrone.PointSurface(seeds, walk, accessMetres, s.params.CellMetres/2, float32(maxSecs))
		}
		if c == nil {
			return nil, timetableSource{}, bad("nothing is reached")
		}
		out = append(out, c)
	}
	return out, src, nil
}
