package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/gusu-gis/gusu/data/httpapi"
	"github.com/gusu-gis/gusu/geo/isochrone"
)

// Query is a parsed isochrone request.
type Query struct {
	Origins []orb.Point
	From    []string // what the origins were named as, for the response
	Mode    isochrone.Mode
	Minutes []float64
	Planned bool
	// Departure (YYYY-MM-DDTHH:MM), Window (minutes) and Percentile run
	// transit on the imported timetable instead of the headway model.
	Departure  string
	Window     int
	Percentile float64
	// Percentiles are all the percentiles asked for, ascending (isochrones
	// draw bands for each; Percentile is the first).
	Percentiles []float64
	// Hidden are input layers that are private to a client without access:
	// the answer must not reveal them.
	Hidden map[string]bool
}

// MaxOrigins bounds the origins of one isochrone request, GET or POST.
const MaxOrigins = 100

func bad(format string, args ...any) error {
	return httpapi.BadRequest(fmt.Sprintf(format, args...), nil)
}

// Routes registers the service's routes on r.
func (s *Service) Routes(r *mux.Router, log *slog.Logger) {
	r.Handle("/api/isochrones", httpapi.Handler(log, s.Slots.Wrap(s.isochronesGET))).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/api/isochrones", httpapi.Handler(log, s.Slots.Wrap(s.isochronesPOST))).Methods(http.MethodPost)
	r.Handle("/isochrone/v1/{profile}/{coords}", httpapi.Handler(log, s.Slots.Wrap(s.mapbox))).Methods(http.MethodGet, http.MethodHead)
	heavy := s.HeavySlots
	if heavy == nil {
		heavy = s.Slots
	}
	r.Handle("/api/catchments", httpapi.Handler(log, heavy.Wrap(s.catchmentsPOST))).Methods(http.MethodPost)
	r.Handle("/api/traveltimes", httpapi.Handler(log, heavy.Wrap(s.traveltimesPOST))).Methods(http.MethodPost)
	r.Handle("/api/accessibility/opportunities", httpapi.Handler(log, heavy.Wrap(s.opportunitiesPOST))).Methods(http.MethodPost)
	r.Handle("/api/catchments/presets", httpapi.Handler(log, s.presetsGET)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/api/catchments/saved", httpapi.Handler(log, s.savedGET)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/api/catchments/saved/{name}/recompute", httpapi.Handler(log, heavy.Wrap(s.recomputePOST))).Methods(http.MethodPost)
	r.Handle("/api/accessibility/towns", httpapi.Handler(log, s.Slots.Wrap(s.towns))).Methods(http.MethodGet, http.MethodHead)
}

func (s *Service) parseMinutes(v string) ([]float64, error) {
	if v == "" {
		return []float64{15, 30, 45}, nil
	}
	var out []float64
	for _, p := range strings.Split(v, ",") {
		m, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(m) || m <= 0 {
			return nil, bad("minutes must be positive numbers separated by commas, got %q", p)
		}
		if m > s.params.MaxMinutes {
			return nil, bad("a band of %g minutes is over the maximum of %g", m, s.params.MaxMinutes)
		}
		out = append(out, m)
	}
	if len(out) > 10 {
		return nil, bad("at most 10 bands, got %d", len(out))
	}
	return out, nil
}

func parseMode(v string) (isochrone.Mode, error) {
	if v == "" {
		return isochrone.Transit, nil
	}
	for _, m := range isochrone.Modes {
		if string(m) == v {
			return m, nil
		}
	}
	return "", bad("unknown mode %q; known: walk, bike, drive, transit", v)
}

func parseScenario(v string) (bool, error) {
	switch v {
	case "", "existing":
		return false, nil
	case "planned":
		return true, nil
	}
	return false, bad("scenario must be existing or planned, not %q", v)
}

func parseLonLat(lon, lat string) (orb.Point, error) {
	x, err1 := strconv.ParseFloat(lon, 64)
	y, err2 := strconv.ParseFloat(lat, 64)
	if err1 != nil || err2 != nil || math.IsNaN(x) || math.IsNaN(y) || x < -180 || x > 180 || y < -90 || y > 90 {
		return orb.Point{}, bad("lon=%q lat=%q is not a longitude/latitude pair", lon, lat)
	}
	return orb.Point{x, y}, nil
}

// resolve turns "town:<code>" or "station:<id or name>" into a point.
func (b *built) resolve(from string, hidden map[string]bool) (orb.Point, error) {
	kind, key, ok := strings.Cut(from, ":")
	switch {
	case ok && kind == "town" && hidden["town_system"], ok && kind == "station" && hidden["rail_stations"]:
		return orb.Point{}, bad("from=%s: origins of that kind are not available to this client", kind)
	case ok && kind == "town":
		for _, u := range b.units {
			if u.Code == key || (u.Code == "" && u.Name == key) {
				return u.At, nil
			}
		}
		return orb.Point{}, &httpapi.Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("no town-system unit with code %q", key)}
	case ok && kind == "station":
		if i, ok := b.stations[key]; ok {
			return b.net.Stations()[i].At, nil
		}
		for _, st := range b.net.Stations() {
			if st.Name == key {
				return st.At, nil
			}
		}
		return orb.Point{}, &httpapi.Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("no station with id or name %q", key)}
	}
	return orb.Point{}, bad("from must be town:<code> or station:<id>, got %q", from)
}

func (s *Service) parseGET(r *http.Request, b *built) (Query, error) {
	q := r.URL.Query()
	out := Query{Hidden: s.hidden(r)}
	for k := range q {
		switch k {
		case "lon", "lat", "from", "minutes", "mode", "scenario", "token", "departure", "window", "percentile":
		default:
			return Query{}, bad("unknown parameter %q; known: lon, lat, from, minutes, mode, scenario, departure, window, percentile", k)
		}
	}
	if err := out.timeOfDay(q.Get("departure"), q.Get("window"), q.Get("percentile")); err != nil {
		return out, err
	}
	var err error
	if out.Minutes, err = s.parseMinutes(q.Get("minutes")); err != nil {
		return out, err
	}
	if out.Mode, err = parseMode(q.Get("mode")); err != nil {
		return out, err
	}
	if out.Planned, err = parseScenario(q.Get("scenario")); err != nil {
		return out, err
	}
	switch {
	case q.Has("from"):
		from := strings.Split(q.Get("from"), ",")
		if len(from) > MaxOrigins {
			return out, bad("at most %d origins, got %d", MaxOrigins, len(from))
		}
		for _, f := range from {
			p, err := b.resolve(strings.TrimSpace(f), out.Hidden)
			if err != nil {
				return out, err
			}
			out.Origins, out.From = append(out.Origins, p), append(out.From, f)
		}
	case q.Has("lon") || q.Has("lat"):
		p, err := parseLonLat(q.Get("lon"), q.Get("lat"))
		if err != nil {
			return out, err
		}
		out.Origins, out.From = []orb.Point{p}, []string{fmt.Sprintf("%g,%g", p[0], p[1])}
	default:
		return out, bad("give an origin: lon=&lat=, or from=town:<code> or from=station:<id>")
	}
	return out, nil
}

// postBody is POST /api/isochrones: several origins and options.
type postBody struct {
	Origins    [][]float64 `json:"origins"`
	From       []string    `json:"from"`
	Minutes    []float64   `json:"minutes"`
	Mode       string      `json:"mode"`
	Scenario   string      `json:"scenario"`
	Departure  string      `json:"departure"`
	Window     int         `json:"window"`
	Percentile percentiles `json:"percentile"`
}

// percentiles is "percentile" in a JSON body: a number or a list.
type percentiles []float64

func (p *percentiles) UnmarshalJSON(b []byte) error {
	var one float64
	if err := json.Unmarshal(b, &one); err == nil {
		*p = percentiles{one}
		return nil
	}
	var many []float64
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("percentile must be a number or a list of numbers")
	}
	*p = many
	return nil
}

func (s *Service) parsePOST(r *http.Request, b *built) (Query, error) {
	var body postBody
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return Query{}, bad("the body must be JSON {origins: [[lon, lat], ...], from: [\"town:<code>\"], minutes: [15, 30, 45], mode, scenario}: %v", err)
	}
	out := Query{Hidden: s.hidden(r)}
	var err error
	mins := make([]string, len(body.Minutes))
	for i, m := range body.Minutes {
		mins[i] = strconv.FormatFloat(m, 'f', -1, 64)
	}
	if out.Minutes, err = s.parseMinutes(strings.Join(mins, ",")); err != nil {
		return out, err
	}
	if out.Mode, err = parseMode(body.Mode); err != nil {
		return out, err
	}
	if out.Planned, err = parseScenario(body.Scenario); err != nil {
		return out, err
	}
	pcts := make([]string, len(body.Percentile))
	for i, v := range body.Percentile {
		pcts[i] = strconv.FormatFloat(v, 'f', -1, 64)
	}
	if err := out.timeOfDay(body.Departure, strconv.Itoa(body.Window), strings.Join(pcts, ",")); err != nil {
		return out, err
	}
	for _, o := range body.Origins {
		if len(o) != 2 {
			return out, bad("each origin is [lon, lat], got %v", o)
		}
		p, err := parseLonLat(strconv.FormatFloat(o[0], 'f', -1, 64), strconv.FormatFloat(o[1], 'f', -1, 64))
		if err != nil {
			return out, err
		}
		out.Origins, out.From = append(out.Origins, p), append(out.From, fmt.Sprintf("%g,%g", p[0], p[1]))
	}
	for _, f := range body.From {
		p, err := b.resolve(f, out.Hidden)
		if err != nil {
			return out, err
		}
		out.Origins, out.From = append(out.Origins, p), append(out.From, f)
	}
	if len(out.Origins) == 0 {
		return out, bad("no origin: give origins or from")
	}
	if len(out.Origins) > MaxOrigins {
		return out, bad("at most %d origins, got %d", MaxOrigins, len(out.Origins))
	}
	return out, nil
}

// maxPercentiles bounds the percentiles of one isochrone request.
const maxPercentiles = 5

// timeOfDay reads departure, window and percentile (one, or several
// comma-separated).
func (q *Query) timeOfDay(departure, window, percentile string) error {
	q.Departure, q.Percentile = departure, 50
	if window != "" && window != "0" {
		w, err := strconv.Atoi(window)
		if err != nil || w < 0 || w > MaxWindowMinutes {
			return bad("window must be whole minutes from 0 to %d", MaxWindowMinutes)
		}
		q.Window = w
	}
	q.Percentiles = []float64{q.Percentile}
	if percentile != "" {
		q.Percentiles = nil
		for _, v := range strings.Split(percentile, ",") {
			p, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || p <= 0 || p > 100 || math.IsNaN(p) {
				return bad("percentile must be above 0 and at most 100 (or several, comma-separated), got %q", v)
			}
			if !slices.Contains(q.Percentiles, p) {
				q.Percentiles = append(q.Percentiles, p)
			}
		}
		if len(q.Percentiles) > maxPercentiles {
			return bad("at most %d percentiles, got %d", maxPercentiles, len(q.Percentiles))
		}
		slices.Sort(q.Percentiles)
		q.Percentile = q.Percentiles[0]
	}
	if departure == "" && (q.Window > 0 || percentile != "") {
		return bad("window and percentile go with departure (YYYY-MM-DDTHH:MM)")
	}
	return nil
}

func (s *Service) network(r *http.Request) (*built, error) {
	b, err := s.current()
	if errors.Is(err, ErrNotReady) {
		return nil, &httpapi.Error{Status: http.StatusServiceUnavailable, Message: err.Error()}
	}
	return b, err
}

// Reached is a town-system unit within a band.
type Reached struct {
	Code    string  `json:"code,omitempty"`
	Name    string  `json:"name"`
	NameEn  string  `json:"name_en,omitempty"`
	Level   string  `json:"level"`
	Minutes float64 `json:"minutes"`
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }

// useRoads reports whether q is answered on the imported road network:
// it covers every origin and the mode moves on roads (transit stays on
// the surface model, whose stations the roads do not join yet).
func (b *built) useRoads(q Query) bool {
	if b.roads == nil || q.Mode == isochrone.Transit {
		return false
	}
	for _, o := range q.Origins {
		if !b.roads.Covers(o) {
			return false
		}
	}
	return true
}

// surface is what band membership and travel times are read from.
type surface interface{ At(orb.Point) float64 }

// hidden lists the network's input layers that are private, when the
// request may not see private layers.
func (s *Service) hidden(r *http.Request) map[string]bool {
	if s.CanSeePrivate == nil || s.CanSeePrivate(r) {
		return nil
	}
	out := map[string]bool{}
	for _, name := range inputs {
		if l, err := s.reg.Get(r.Context(), name); err == nil && l.Private {
			out[name] = true
		}
	}
	return out
}

// errHiddenRail refuses transit to a client that may not see the rail.
var errHiddenRail = &httpapi.Error{Status: http.StatusNotFound, Message: "transit travel times are not available to this client (the rail layers are private): use mode walk, bike or drive, or send a token"}

func (s *Service) compute(b *built, q Query) (*geojson.FeatureCollection, error) {
	start := time.Now()
	if q.Mode == isochrone.Transit && (q.Hidden["rail_lines"] || q.Hidden["rail_stations"]) {
		return nil, errHiddenRail
	}
	req := isochrone.Request{Origins: q.Origins, Mode: q.Mode, Minutes: q.Minutes, Planned: q.Planned}
	var bands []isochrone.Band
	var times surface
	roads := b.useRoads(q)
	timetable := q.Departure != ""
	var ttSource timetableSource
	if timetable {
		if q.Mode != isochrone.Transit {
			return nil, bad("departure, window and percentile apply to mode transit (the timetable)")
		}
		if len(q.Percentiles) > 1 {
			return s.percentileBands(b, q, start)
		}
		var err error
		if bands, times, ttSource, err = s.timetableBands(q); err != nil {
			return nil, err
		}
	} else if roads {
		res, err := b.roads.Isochrones(req)
		if err != nil {
			return nil, originError(err)
		}
		bands, times = res.Bands, res
	} else {
		res, err := b.net.Isochrones(req)
		if err != nil {
			return nil, originError(err)
		}
		defer res.Times.Release()
		bands, times = res.Bands, res.Times
	}
	fc := geojson.NewFeatureCollection()
	s.appendBands(fc, b, q, bands, times)
	meta := s.metadata(b, roads, q, time.Since(start))
	if timetable {
		meta["network"], meta["note"] = "timetable", ttSource.surfaceNote(s.params)
		meta["departure"], meta["window"], meta["percentile"] = q.Departure, q.Window, q.Percentile
		ttSource.meta(meta)
	}
	fc.ExtraMembers = geojson.Properties{"metadata": meta}
	return fc, nil
}

// percentileBands answers a timetable isochrone with several percentiles:
// the bands of each, largest percentile (slowest) first, each feature
// naming its percentile; one set of RAPTOR runs serves them all.
func (s *Service) percentileBands(b *built, q Query, start time.Time) (*geojson.FeatureCollection, error) {
	// Computed without a request context, as single isochrones are.
	surfaces, src, err := s.timetableSurfaces(context.Background(), q)
	if err != nil {
		return nil, err
	}
	fc := geojson.NewFeatureCollection()
	for i := len(q.Percentiles) - 1; i >= 0; i-- {
		bands, err := surfaces[i].SmoothBands(q.Minutes)
		if err != nil {
			return nil, err
		}
		from := len(fc.Features)
		s.appendBands(fc, b, q, bands, pointTimes{surfaces[i]})
		for _, f := range fc.Features[from:] {
			f.Properties["percentile"] = q.Percentiles[i]
		}
	}
	meta := s.metadata(b, false, q, time.Since(start))
	meta["network"], meta["note"] = "timetable", src.surfaceNote(s.params)
	meta["departure"], meta["window"], meta["percentile"] = q.Departure, q.Window, q.Percentiles
	src.meta(meta)
	fc.ExtraMembers = geojson.Properties{"metadata": meta}
	return fc, nil
}

// appendBands adds a feature per band with what it reaches.
func (s *Service) appendBands(fc *geojson.FeatureCollection, b *built, q Query, bands []isochrone.Band, times surface) {
	for _, band := range bands {
		f := geojson.NewFeature(band.Geometry)
		var reached []Reached
		var reachedUnits []Unit
		for _, u := range b.units {
			if t := times.At(u.At); t <= band.Minutes*60 {
				reached = append(reached, Reached{Code: u.Code, Name: u.Name, NameEn: u.NameEn, Level: u.Level, Minutes: round1(t / 60)})
				reachedUnits = append(reachedUnits, u)
			}
		}
		pop := populationReached(reachedUnits)
		sort.Slice(reached, func(i, j int) bool { return reached[i].Minutes < reached[j].Minutes })
		if reached == nil {
			reached = []Reached{}
		}
		f.Properties = geojson.Properties{"minutes": band.Minutes, "mode": q.Mode, "area_km2": math.Round(band.AreaKm2*100) / 100,
			"towns_reached": reached, "population_reached": pop,
			"population_note": populationNote}
		if q.Hidden["town_system"] {
			delete(f.Properties, "towns_reached")
			delete(f.Properties, "population_reached")
			f.Properties["population_note"] = "towns and population are not available to this client (the town-system layer is private)"
		}
		fc.Append(f)
	}
}

// populationNote says what population_reached adds up, for the bundled data.
const populationNote = "approximate: whole-unit populations (2020 census for county-level units) of the units whose seat is reached, " +
	"plus the populations the data gives for reached towns outside them; a unit counts whole or not at all"

// populationReached adds up the populations of the reached units, counting a
// unit inside a reached unit that has a population (a town in a reached
// district) no further, since the district's total already includes it.
func populationReached(reached []Unit) int64 {
	counted := map[string]bool{}
	for _, u := range reached {
		if u.Population != nil {
			counted[u.Code] = true
		}
	}
	var pop int64
	for _, u := range reached {
		if u.Population != nil && (u.Parent == "" || !counted[u.Parent]) {
			pop += *u.Population
		}
	}
	return pop
}

func originError(err error) error {
	var oe *isochrone.OriginError
	if errors.As(err, &oe) {
		return bad("%s", oe.Msg)
	}
	return err
}

// metadata describes how q was answered; roads is what useRoads decided.
func (s *Service) metadata(b *built, roads bool, q Query, took time.Duration) map[string]any {
	scenario := "existing"
	if q.Planned {
		scenario = "planned"
	}
	why := "no road network is loaded (no open road network covers all of Suzhou)"
	if b.roads != nil && q.Mode == isochrone.Transit {
		why = "transit runs on the surface-and-rail model (stations are not joined to road networks yet)"
	} else if b.roads != nil {
		why = "the road network (bundled: the old city's OSM streets; or an imported one) has no road node within 500 m of every origin, and no open road network covers the rest of Suzhou"
	}
	network, note := ModelOffNetwork, "Off-network estimate: "+why+"; travel between any two points on land is estimated "+
		"at the mode's speed divided by the detour factor, lakes and the Yangtze impassable, plus the rail network."
	if roads {
		network, note = ModelRoads, "Travel on the imported road network (speeds from maxspeed, else per road class; GeoJSON imports may include short "+
			"walking connectors that join loose line ends); the last stretch off the road, at most 300 m, on foot."
	}
	return map[string]any{
		"network":    network,
		"note":       note,
		"parameters": s.params, "scenario": scenario, "origins": q.From, "mode": q.Mode,
		"compute_ms":       math.Round(float64(took.Microseconds())/100) / 10,
		"network_built_at": b.builtAt, "layer_versions": visibleVersions(b.versions, q.Hidden),
	}
}

func visibleVersions(all map[string]int64, hidden map[string]bool) map[string]int64 {
	if len(hidden) == 0 {
		return all
	}
	out := map[string]int64{}
	for k, v := range all {
		if !hidden[k] {
			out[k] = v
		}
	}
	return out
}

func (s *Service) isochronesGET(w http.ResponseWriter, r *http.Request) error {
	b, err := s.network(r)
	if err != nil {
		return err
	}
	q, err := s.parseGET(r, b)
	if err != nil {
		return err
	}
	return s.respond(w, b, q)
}

func (s *Service) isochronesPOST(w http.ResponseWriter, r *http.Request) error {
	b, err := s.network(r)
	if err != nil {
		return err
	}
	q, err := s.parsePOST(r, b)
	if err != nil {
		return err
	}
	return s.respond(w, b, q)
}

func (s *Service) respond(w http.ResponseWriter, b *built, q Query) error {
	fc, err := s.compute(b, q)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/geo+json")
	return json.NewEncoder(w).Encode(fc)
}

// mapboxProfiles maps the Mapbox Isochrone API's profiles to modes.
var mapboxProfiles = map[string]isochrone.Mode{"walking": isochrone.Walk, "cycling": isochrone.Bike, "driving": isochrone.Drive, "transit": isochrone.Transit,
	"mapbox/walking": isochrone.Walk, "mapbox/cycling": isochrone.Bike, "mapbox/driving": isochrone.Drive}

// mapbox answers in the shape of the Mapbox Isochrone API, so clients
// written for it work unchanged: contour, color, opacity and the fill
// properties, features from the largest contour down.
func (s *Service) mapbox(w http.ResponseWriter, r *http.Request) error {
	b, err := s.network(r)
	if err != nil {
		return err
	}
	v := mux.Vars(r)
	mode, ok := mapboxProfiles[v["profile"]]
	if !ok {
		return bad("unknown profile %q; known: walking, cycling, driving, transit", v["profile"])
	}
	lon, lat, ok := strings.Cut(v["coords"], ",")
	if !ok {
		return bad("coordinates must be {lon},{lat}")
	}
	p, err := parseLonLat(lon, lat)
	if err != nil {
		return err
	}
	qs := r.URL.Query()
	mins, err := s.parseMinutes(qs.Get("contours_minutes"))
	if err != nil {
		return err
	}
	if len(mins) > 4 {
		return bad("at most 4 contours")
	}
	colors, err := parseColors(qs.Get("contours_colors"), len(mins))
	if err != nil {
		return err
	}
	polygons := false
	switch qs.Get("polygons") {
	case "", "false":
	case "true":
		polygons = true
	default:
		return bad("polygons must be true or false, not %q", qs.Get("polygons"))
	}
	fc, err := s.compute(b, Query{Origins: []orb.Point{p}, From: []string{v["coords"]}, Mode: mode, Minutes: mins, Hidden: s.hidden(r)})
	if err != nil {
		return err
	}
	for _, f := range fc.Features {
		// Colours follow contours_minutes in the order given, whatever
		// order the features come in.
		color := defaultContourColors[0]
		if m, ok := f.Properties["minutes"].(float64); ok {
			if i := slices.Index(mins, m); i >= 0 {
				color = colors[i]
			}
		}
		props := geojson.Properties{"contour": f.Properties["minutes"], "metric": "time", "color": "#" + color, "opacity": 0.33}
		if polygons {
			props["fill"], props["fill-opacity"], props["fillColor"], props["fillOpacity"] = "#"+color, 0.33, "#"+color, 0.33
		} else {
			f.Geometry = outline(f.Geometry)
		}
		f.Properties = props
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(fc)
}

// defaultContourColors are the Mapbox API's defaults, by contour position.
var defaultContourColors = []string{"bf4040", "bf8040", "bfbf40", "40bf40"}

// parseColors reads contours_colors: as many hex colours (no "#") as there
// are contours, or none for the defaults.
func parseColors(v string, n int) ([]string, error) {
	if v == "" {
		out := make([]string, n)
		for i := range out {
			out[i] = defaultContourColors[i%len(defaultContourColors)]
		}
		return out, nil
	}
	out := strings.Split(v, ",")
	if len(out) != n {
		return nil, bad("contours_colors needs one colour per contour: %d contours, %d colours", n, len(out))
	}
	for i, c := range out {
		c = strings.TrimPrefix(strings.TrimSpace(c), "#")
		if len(c) != 3 && len(c) != 6 || strings.Trim(strings.ToLower(c), "0123456789abcdef") != "" {
			return nil, bad("contours_colors: %q is not a hex colour such as ff0000", out[i])
		}
		out[i] = c
	}
	return out, nil
}

// outline is the Mapbox "polygons=false" form: the outer ring of the
// largest part, as a line.
func outline(g orb.Geometry) orb.Geometry {
	mp, _ := g.(orb.MultiPolygon)
	var best orb.Ring
	for _, p := range mp {
		if len(p) > 0 && len(p[0]) > len(best) {
			best = p[0]
		}
	}
	return orb.LineString(best)
}

// UnitTime is a town-system unit's travel time from the origin.
type UnitTime struct {
	Code    string   `json:"code,omitempty"`
	Name    string   `json:"name"`
	NameEn  string   `json:"name_en,omitempty"`
	Level   string   `json:"level"`
	Parent  string   `json:"parent,omitempty"`
	Minutes *float64 `json:"minutes"`
	Band    *float64 `json:"band"`
}

// Towns computes every unit's travel time and band.
func (s *Service) Towns(q Query) ([]UnitTime, map[string]any, error) {
	b, err := s.current()
	if err != nil {
		return nil, nil, err
	}
	return s.townsWith(b, q)
}

func (s *Service) townsWith(b *built, q Query) ([]UnitTime, map[string]any, error) {
	start := time.Now()
	if q.Hidden["town_system"] {
		return nil, nil, httpapi.NotFound("the town-system layer is not available to this client", nil)
	}
	if q.Mode == isochrone.Transit && (q.Hidden["rail_lines"] || q.Hidden["rail_stations"]) {
		return nil, nil, errHiddenRail
	}
	mins := append([]float64(nil), q.Minutes...)
	sort.Float64s(mins)
	var times surface
	roads := b.useRoads(q)
	if roads {
		// Only times are read here: the surface, no band contouring.
		res, err := b.roads.Surface(q.Origins, q.Mode, mins[len(mins)-1])
		if err != nil {
			return nil, nil, originError(err)
		}
		times = res
	} else {
		t, err := b.net.Run(q.Origins, q.Mode, mins[len(mins)-1], q.Planned)
		if err != nil {
			return nil, nil, originError(err)
		}
		defer t.Release()
		times = t
	}
	out := make([]UnitTime, 0, len(b.units))
	for _, u := range b.units {
		ut := UnitTime{Code: u.Code, Name: u.Name, NameEn: u.NameEn, Level: u.Level, Parent: u.Parent}
		if t := times.At(u.At); !math.IsInf(t, 1) {
			m := round1(t / 60)
			ut.Minutes = &m
			for _, band := range mins {
				if t <= band*60 {
					bb := band
					ut.Band = &bb
					break
				}
			}
		}
		out = append(out, ut)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, c := out[i].Minutes, out[j].Minutes
		switch {
		case a == nil:
			return false
		case c == nil:
			return true
		}
		return *a < *c
	})
	return out, s.metadata(b, roads, q, time.Since(start)), nil
}

func (s *Service) towns(w http.ResponseWriter, r *http.Request) error {
	b, err := s.network(r)
	if err != nil {
		return err
	}
	q, err := s.parseGET(r, b)
	if err != nil {
		return err
	}
	units, meta, err := s.townsWith(b, q)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"origins": q.From, "mode": q.Mode, "bands": q.Minutes, "units": units, "metadata": meta})
	return nil
}

// Resolve exposes origin lookup for the CLI.
func (s *Service) Resolve(from string) (orb.Point, error) {
	b, err := s.current()
	if err != nil {
		return orb.Point{}, err
	}
	return b.resolve(from, nil) // the CLI and indicators run with full access
}
