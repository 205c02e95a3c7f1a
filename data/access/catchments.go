package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
	"github.com/paulmach/orb/geojson"

	"github.com/gusu-gis/gusu/data/httpapi"
	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/data/sqlkit"
	"github.com/gusu-gis/gusu/geo/isochrone"
)

// Limits of one catchment request: a facility layer larger than this must
// be filtered (where); demand is read whole into memory.
const (
	MaxCatchmentOrigins = 10_000
	MaxDemandFeatures   = 1_000_000
	maxUncovered        = 5_000
)

// LayerRef names a layer and filters its features by attribute: each value
// is compared as text; a list means any of its values.
type LayerRef struct {
	Layer string                     `json:"layer"`
	Where map[string]json.RawMessage `json:"where,omitempty"`
}

// OriginsRef is where a catchment's origins come from: a layer or points.
type OriginsRef struct {
	LayerRef
	Points [][]float64 `json:"points,omitempty"`
	// Category is the attribute naming each facility's kind: with a preset,
	// one catchment per preset category at its own band.
	Category string `json:"category,omitempty"`
}

// DemandRef is the demand layer and its weight attribute.
type DemandRef struct {
	LayerRef
	Weight string `json:"weight"`
}

// CatchmentRequest is POST /api/catchments (and `gusu report coverage`).
type CatchmentRequest struct {
	Origins  *OriginsRef `json:"origins"`
	Mode     string      `json:"mode"`
	Minutes  []float64   `json:"minutes"`
	Split    string      `json:"split,omitempty"`
	Demand   *DemandRef  `json:"demand,omitempty"`
	GroupBy  string      `json:"group_by,omitempty"`
	Scenario string      `json:"scenario,omitempty"`
	// Departure (with Window and Percentile) runs transit on the imported
	// GTFS timetable instead of the headway model.
	Departure  string   `json:"departure,omitempty"`
	Window     int      `json:"window,omitempty"`
	Percentile *float64 `json:"percentile,omitempty"`
	SaveAs     string   `json:"save_as,omitempty"`
	// Preset names a life circle (lifecircles.json): it fills mode and
	// minutes left out, and with origins.category reports per category.
	Preset string `json:"preset,omitempty"`
	// Compare measures the same request in a second scenario as well.
	Compare *CompareRef `json:"compare,omitempty"`
}

// UnitCoverage is the demand of one administrative unit within a band.
type UnitCoverage struct {
	ID      int64   `json:"id"`
	Code    string  `json:"code,omitempty"`
	Name    string  `json:"name,omitempty"`
	Covered float64 `json:"covered"`
	Total   float64 `json:"total"`
	Share   float64 `json:"share"`
}

// BandCoverage is the demand within one band.
type BandCoverage struct {
	Minutes float64        `json:"minutes"`
	Covered float64        `json:"covered"`
	Total   float64        `json:"total"`
	Share   float64        `json:"share"`
	Units   []UnitCoverage `json:"units,omitempty"`
}

// CatchmentResult is a catchment run: GeoJSON features plus the coverage
// table and what the answer rests on.
type CatchmentResult struct {
	Features   *geojson.FeatureCollection
	Coverage   []BandCoverage
	Uncovered  *geojson.FeatureCollection
	Categories []CategoryResult
	Comparison *Comparison
	Meta       map[string]any
}

// origin is one catchment origin.
type origin struct {
	ID   int64
	Name string
	At   orb.Point
}

// demandItem is one demand feature.
type demandItem struct {
	ID     int64
	Geom   orb.Geometry
	Weight float64
	foot   isochrone.Footprint
}

// whereValues turns a where object into text values per column, checking
// the columns exist (404 otherwise).
func whereValues(l *layers.Layer, where map[string]json.RawMessage) (map[string][]string, error) {
	out := map[string][]string{}
	for col, raw := range where {
		if _, ok := l.Column(col); !ok || col == "geom" {
			return nil, &httpapi.Error{Status: http.StatusNotFound, Message: fmt.Sprintf("layer %q has no attribute %q", l.Name, col)}
		}
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			list = []json.RawMessage{raw}
		}
		if len(list) == 0 {
			return nil, bad("where.%s: an empty list matches nothing", col)
		}
		for _, v := range list {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				var x any
				if json.Unmarshal(v, &x) != nil {
					return nil, bad("where.%s: %s is not a JSON value", col, v)
				}
				switch x.(type) {
				case float64, bool:
					s = strings.TrimSpace(string(v))
				default:
					return nil, bad("where.%s: give a string, number, boolean or a list of them, not %s", col, v)
				}
			}
			out[col] = append(out[col], s)
		}
	}
	return out, nil
}

// whereSQL is the filter of a LayerRef on alias t, its values bound to args.
func whereSQL(where map[string][]string, args *sqlkit.Args) []string {
	cols := make([]string, 0, len(where))
	for c := range where {
		cols = append(cols, c)
	}
	sort.Strings(cols)
	var out []string
	for _, c := range cols {
		out = append(out, "t."+sqlkit.Ident(c)+"::text = ANY("+args.Add(where[c])+"::text[])")
	}
	return out
}

// nameColumn is the column a layer's features are named by, if any.
func nameColumn(l *layers.Layer) string {
	for _, c := range []string{"name_zh", "name", "title", "name_en", "station_id", "code"} {
		if _, ok := l.Column(c); ok {
			return c
		}
	}
	return ""
}

// OriginsQuery selects a layer's features as origins (id, name, lon, lat):
// points as they are, other shapes at a point on their surface.
func OriginsQuery(l *layers.Layer, where map[string][]string, limit int) sqlkit.Query {
	var args sqlkit.Args
	name := "NULL::text"
	if c := nameColumn(l); c != "" {
		name = "t." + sqlkit.Ident(c) + "::text"
	}
	cond := append([]string{"t.geom IS NOT NULL", "NOT ST_IsEmpty(t.geom)"}, whereSQL(where, &args)...)
	sql := fmt.Sprintf(`SELECT id, name, ST_X(p), ST_Y(p) FROM (SELECT t.id, %s AS name,
		CASE WHEN GeometryType(t.geom) = 'POINT' THEN t.geom ELSE ST_PointOnSurface(t.geom) END AS p
		FROM %s AS t WHERE %s) AS o ORDER BY id LIMIT %s`, name, sqlkit.Ident(l.Table), strings.Join(cond, " AND "), args.Add(limit))
	return sqlkit.Query{SQL: sql, Args: args}
}

// DemandQuery selects a layer's features with their weight (id, WKB,
// weight). In a layer of points and polygons (the town system: towns in
// districts), a point inside a weighted polygon of the same layer is a
// nested unit the polygon's weight already counts, and is left out.
func DemandQuery(l *layers.Layer, weight string, where map[string][]string, limit int) sqlkit.Query {
	var args sqlkit.Args
	w := sqlkit.Ident(weight)
	cond := append([]string{"t.geom IS NOT NULL", "NOT ST_IsEmpty(t.geom)", "t." + w + " IS NOT NULL"}, whereSQL(where, &args)...)
	if l.GeometryType == "mixed" {
		cond = append(cond, fmt.Sprintf(`NOT (GeometryType(t.geom) = 'POINT' AND EXISTS (SELECT FROM %s AS p
			WHERE GeometryType(p.geom) IN ('POLYGON', 'MULTIPOLYGON') AND p.%s IS NOT NULL AND ST_Intersects(p.geom, t.geom)))`, sqlkit.Ident(l.Table), w))
	}
	sql := fmt.Sprintf(`SELECT t.id, ST_AsBinary(t.geom), t.%s::float8 FROM %s AS t WHERE %s ORDER BY t.id LIMIT %s`,
		sqlkit.Ident(weight), sqlkit.Ident(l.Table), strings.Join(cond, " AND "), args.Add(limit))
	return sqlkit.Query{SQL: sql, Args: args}
}

// UnitsQuery selects a layer's polygons as reporting units (id, code, name, WKB).
func UnitsQuery(l *layers.Layer) sqlkit.Query {
	code, name := "NULL::text", "NULL::text"
	if _, ok := l.Column("code"); ok {
		code = "t.code::text"
	}
	if c := nameColumn(l); c != "" && c != "code" {
		name = "t." + sqlkit.Ident(c) + "::text"
	}
	return sqlkit.Query{SQL: fmt.Sprintf(`SELECT t.id, %s, %s, ST_AsBinary(t.geom) FROM %s AS t
		WHERE GeometryType(t.geom) IN ('POLYGON', 'MULTIPOLYGON') ORDER BY t.id`, code, name, sqlkit.Ident(l.Table))}
}

// layerFor returns a layer the request may read: unknown and hidden layers
// are both 404, so a private layer's name is not confirmed.
func (s *Service) layerFor(ctx context.Context, name, what string, hidden func(*layers.Layer) bool) (*layers.Layer, error) {
	if name == "" {
		return nil, bad("%s.layer is required", what)
	}
	l, err := s.reg.Get(ctx, name)
	if err != nil || hidden(l) {
		return nil, &httpapi.Error{Status: http.StatusNotFound, Message: fmt.Sprintf("%s: no layer named %q", what, name)}
	}
	return l, nil
}

// parseCatchmentMode accepts the isochrone modes and "cycle" for bike.
func parseCatchmentMode(v string) (isochrone.Mode, error) {
	if v == "cycle" {
		return isochrone.Bike, nil
	}
	if v == "" {
		return "", bad("mode is required: walk, cycle, drive or transit")
	}
	m, err := parseMode(v)
	if err != nil {
		return "", bad("unknown mode %q; known: walk, cycle, drive, transit", v)
	}
	return m, nil
}

// errNoOrigins is a filter that matches no feature of the origin layer.
var errNoOrigins = errors.New("no origin matches")

// Catchments runs one catchment request. seePrivate says whether the caller
// may read private layers.
func (s *Service) Catchments(ctx context.Context, req CatchmentRequest, seePrivate bool) (*CatchmentResult, error) {
	if req.Preset == "" {
		if req.Origins != nil && req.Origins.Category != "" {
			return nil, bad("origins.category reports per category of a preset: give preset too")
		}
		return s.catchments(ctx, req, seePrivate)
	}
	p, err := applyPreset(&req)
	if err != nil {
		return nil, err
	}
	res, err := s.catchments(ctx, req, seePrivate)
	if err != nil {
		return nil, err
	}
	res.Meta["preset"] = map[string]any{"id": p.ID, "name_zh": p.NameZh, "name_en": p.NameEn, "source": p.Source, "note": p.DistanceNote}
	if req.Origins.Category == "" {
		return res, nil
	}
	if req.Origins.Layer == "" {
		return nil, bad("origins.category needs origins.layer")
	}
	l, err := s.reg.Get(ctx, req.Origins.Layer)
	if err != nil {
		return nil, err
	}
	if _, ok := l.Column(req.Origins.Category); !ok {
		return nil, &httpapi.Error{Status: http.StatusNotFound, Message: fmt.Sprintf("origins.category: layer %q has no attribute %q", l.Name, req.Origins.Category)}
	}
	cats, feats, err := s.byCategory(ctx, req, p, seePrivate)
	if err != nil {
		return nil, err
	}
	res.Categories = cats
	res.Features.Features = append(res.Features.Features, feats...)
	return res, nil
}

func (s *Service) catchments(ctx context.Context, req CatchmentRequest, seePrivate bool) (*CatchmentResult, error) {
	start := time.Now()
	timings := map[string]float64{}
	lap := start
	mark := func(phase string) {
		now := time.Now()
		timings[phase] = math.Round(float64(now.Sub(lap).Microseconds())/100) / 10
		lap = now
	}
	b, err := s.current()
	if errors.Is(err, ErrNotReady) {
		return nil, &httpapi.Error{Status: http.StatusServiceUnavailable, Message: err.Error()}
	} else if err != nil {
		return nil, err
	}
	hidden := func(l *layers.Layer) bool { return l.Private && !seePrivate }
	q := Query{Hidden: map[string]bool{}}
	for _, name := range inputs {
		if l, err := s.reg.Get(ctx, name); err == nil && hidden(l) {
			q.Hidden[name] = true
		}
	}
	if req.Origins == nil {
		return nil, bad("origins is required: {\"layer\": NAME, \"where\": {...}} or {\"points\": [[lon, lat], ...]}")
	}
	if q.Mode, err = parseCatchmentMode(req.Mode); err != nil {
		return nil, err
	}
	if len(req.Minutes) == 0 {
		return nil, bad("minutes is required: one or more bands, e.g. [15, 30]")
	}
	mins := make([]string, len(req.Minutes))
	for i, m := range req.Minutes {
		mins[i] = strconv.FormatFloat(m, 'f', -1, 64)
	}
	if q.Minutes, err = s.parseMinutes(strings.Join(mins, ",")); err != nil {
		return nil, err
	}
	if q.Planned, err = parseScenario(req.Scenario); err != nil {
		return nil, err
	}
	switch req.Split {
	case "", "none", "nearest":
	default:
		return nil, bad("split must be none or nearest, not %q", req.Split)
	}
	if req.SaveAs != "" {
		return nil, bad("save_as is handled by the caller (Save), not by the run")
	}
	if q.Mode == isochrone.Transit && (q.Hidden["rail_lines"] || q.Hidden["rail_stations"]) {
		return nil, errHiddenRail
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()

	origins, originDesc, err := s.loadOrigins(ctx, req.Origins, hidden, 0)
	if err != nil {
		return nil, err
	}

	mark("read_origins_ms")
	// Demand: the town system's county-level units by default.
	demand, demandDesc, err := s.loadDemand(ctx, req.Demand, hidden, 0)
	if err != nil {
		return nil, err
	}
	// Units to report by.
	var unitLayer *layers.Layer
	if req.GroupBy != "" {
		if unitLayer, err = s.layerFor(ctx, req.GroupBy, "group_by", hidden); err != nil {
			return nil, err
		}
	}

	mark("read_demand_ms")
	// One search from all origins.
	q.Origins = make([]orb.Point, len(origins))
	for i, o := range origins {
		q.Origins[i] = o.At
	}
	roads := b.useRoads(q)
	maxMin := slices.Max(q.Minutes)
	var c *isochrone.Catchment
	var ttSource timetableSource
	timetable := req.Departure != ""
	switch {
	case timetable:
		pct := ""
		if req.Percentile != nil {
			pct = strconv.FormatFloat(*req.Percentile, 'f', -1, 64)
		}
		if err := q.timeOfDay(req.Departure, strconv.Itoa(req.Window), pct); err != nil {
			return nil, err
		}
		switch {
		case q.Mode != isochrone.Transit:
			return nil, bad("departure, window and percentile apply to mode transit (the timetable)")
		case req.Split == "nearest":
			return nil, bad("split=nearest is not available on a timetable yet: use split=none")
		case req.Compare != nil:
			return nil, bad("compare is not available on a timetable yet")
		}
		roads = false
		c, ttSource, err = s.timetableSurface(ctx, q)
	case roads:
		c, err = b.roads.Catchment(q.Origins, q.Mode, maxMin)
	default:
		c, err = b.net.Catchment(q.Origins, q.Mode, maxMin, q.Planned)
	}
	if err != nil {
		return nil, originError(err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	mark("search_ms")
	g := c.Grid
	demandDesc["grid_cell_m"] = g.CellMetres
	for i := range demand {
		demand[i].foot = g.FootprintOf(demand[i].Geom)
	}
	var units []UnitCoverage
	var unitOf []int32
	if unitLayer != nil {
		if units, unitOf, err = s.loadUnitGrid(ctx, unitLayer, g); err != nil {
			return nil, err
		}
	}

	mark("place_demand_ms")
	res := &CatchmentResult{Features: geojson.NewFeatureCollection()}
	sorted := slices.Clone(q.Minutes)
	sort.Float64s(sorted)
	total := 0.0
	for _, d := range demand {
		total += d.Weight
	}
	var ownerCovered map[[2]int]float64
	var itemShare [][]float64
	res.Coverage, ownerCovered, itemShare = coverage(c, demand, sorted, total, units, unitOf)
	if req.Compare != nil {
		if err := s.compare(ctx, b, q, roads, req, hidden, c, demand, sorted, total, units, unitOf, res); err != nil {
			return nil, err
		}
	}
	bandIndex := func(m float64) int { return slices.Index(sorted, m) }
	withDemand := demand != nil || req.Demand != nil
	mark("coverage_ms")
	if req.Split == "nearest" {
		own, err := c.OriginBands(q.Minutes)
		if err != nil {
			return nil, err
		}
		for _, ob := range own {
			o := origins[ob.Origin]
			f := geojson.NewFeature(ob.Geometry)
			f.Properties = geojson.Properties{"origin_id": o.ID, "minutes": ob.Minutes, "area_km2": round2(ob.AreaKm2)}
			if o.Name != "" {
				f.Properties["origin_name"] = o.Name
			}
			if withDemand {
				f.Properties["demand_covered"] = round2(ownerCovered[[2]int{ob.Origin, bandIndex(ob.Minutes)}])
			}
			res.Features.Append(f)
		}
	} else {
		bands, err := c.Bands(q.Minutes)
		if err != nil {
			return nil, err
		}
		for _, band := range bands {
			f := geojson.NewFeature(band.Geometry)
			f.Properties = geojson.Properties{"minutes": band.Minutes, "area_km2": round2(band.AreaKm2)}
			if withDemand {
				bc := res.Coverage[bandIndex(band.Minutes)]
				f.Properties["demand_total"], f.Properties["demand_covered"], f.Properties["demand_share"] = bc.Total, bc.Covered, bc.Share
			}
			res.Features.Append(f)
		}
	}
	mark("contour_ms")
	// Demand not wholly within the smallest band: where the service is short.
	res.Uncovered = geojson.NewFeatureCollection()
	uncovered, truncated := 0, false
	for i, d := range demand {
		if itemShare[i][0] >= 1-1e-9 {
			continue
		}
		uncovered++
		if len(res.Uncovered.Features) >= maxUncovered {
			truncated = true
			continue
		}
		f := geojson.NewFeature(d.Geom)
		shares := map[string]float64{}
		for bi, m := range sorted {
			shares[strconv.FormatFloat(m, 'f', -1, 64)] = math.Round(itemShare[i][bi]*1e4) / 1e4
		}
		f.Properties = geojson.Properties{"id": d.ID, "weight": d.Weight, "covered_share": shares}
		res.Uncovered.Append(f)
	}

	var unplaced []map[string]any
	for _, i := range c.Unplaced {
		u := map[string]any{"id": origins[i].ID, "lon": origins[i].At[0], "lat": origins[i].At[1]}
		if origins[i].Name != "" {
			u["name"] = origins[i].Name
		}
		unplaced = append(unplaced, u)
	}
	originDesc["count"], originDesc["placed"] = len(origins), len(origins)-len(c.Unplaced)
	if len(unplaced) > 0 {
		originDesc["unplaced"] = unplaced
		originDesc["unplaced_note"] = "not on the network (in water, outside the region, or too far from a road usable by the mode): the search ran from the others"
	}
	mark("uncovered_ms")
	meta := s.metadata(b, roads, q, time.Since(start))
	meta["timings"] = timings
	if timetable {
		meta["network"], meta["note"] = "timetable", ttSource.surfaceNote(s.params)
		meta["departure"], meta["window"], meta["percentile"] = q.Departure, q.Window, q.Percentile
		ttSource.meta(meta)
	}
	delete(meta, "origins")
	meta["origins"] = originDesc
	meta["split"] = cmpOr(req.Split, "none")
	meta["demand"] = demandDesc
	meta["uncovered"] = map[string]any{"minutes": sorted[0], "features": uncovered, "truncated": truncated, "limit": maxUncovered}
	if unitLayer != nil {
		meta["group_by"] = map[string]any{"layer": unitLayer.Name, "version": unitLayer.Version,
			"note": "demand is assigned to the unit polygon under each of its grid cells; features of the layer that are not polygons (e.g. towns as points) are not units"}
	}
	res.Meta = meta
	return res, nil
}

// coverage measures demand against a catchment per band (sorted minutes):
// per band and unit, per (origin, band), and each item's covered share.
func coverage(c *isochrone.Catchment, demand []demandItem, sorted []float64, total float64, units []UnitCoverage, unitOf []int32) ([]BandCoverage, map[[2]int]float64, [][]float64) {
	var out []BandCoverage
	ownerCovered := map[[2]int]float64{} // (origin, band) → weight
	itemShare := make([][]float64, len(demand))
	for bi, m := range sorted {
		limit := float32(m * 60)
		bc := BandCoverage{Minutes: m, Total: total}
		var perUnit []UnitCoverage
		if unitOf != nil {
			perUnit = slices.Clone(units)
		}
		for i, d := range demand {
			share := c.Covered(d.foot, limit, func(o int32, sh float32) {
				ownerCovered[[2]int{int(o), bi}] += d.Weight * float64(sh)
			})
			itemShare[i] = append(itemShare[i], share)
			bc.Covered += d.Weight * share
			if unitOf != nil {
				for k, cell := range d.foot.Cells {
					if u := unitOf[cell]; u >= 0 {
						w := d.Weight * float64(d.foot.Shares[k])
						perUnit[u].Total += w
						if c.Secs[cell] <= limit {
							perUnit[u].Covered += w
						}
					}
				}
			}
		}
		bc.Covered, bc.Share = round2(bc.Covered), shareOf(bc.Covered, total)
		for k := range perUnit {
			perUnit[k].Covered, perUnit[k].Total = round2(perUnit[k].Covered), round2(perUnit[k].Total)
			perUnit[k].Share = shareOf(perUnit[k].Covered, perUnit[k].Total)
		}
		bc.Units = perUnit
		bc.Total = round2(total)
		out = append(out, bc)
	}
	return out, ownerCovered, itemShare
}

// CompareRef is a second scenario to measure the same request against.
type CompareRef struct {
	Scenario string `json:"scenario,omitempty"`
	// OriginsVersion and DemandVersion compare against the origin or demand
	// layer as it was at that version (e.g. facilities before an upload).
	OriginsVersion int64 `json:"origins_version,omitempty"`
	DemandVersion  int64 `json:"demand_version,omitempty"`
}

// UnitChange is a unit's coverage in both scenarios.
type UnitChange struct {
	ID         int64   `json:"id"`
	Code       string  `json:"code,omitempty"`
	Name       string  `json:"name,omitempty"`
	Covered    float64 `json:"covered"`
	Compared   float64 `json:"covered_compared"`
	Difference float64 `json:"difference"`
}

// BandChange is one band's coverage in both scenarios and the areas the
// compared scenario gains and loses.
type BandChange struct {
	Minutes    float64 `json:"minutes"`
	Covered    float64 `json:"covered"`
	Compared   float64 `json:"covered_compared"`
	Difference float64 `json:"difference"`
	// Total and TotalCompared differ when the demand's version does.
	Total         float64      `json:"total"`
	TotalCompared float64      `json:"total_compared"`
	GainedKm2     float64      `json:"gained_km2"`
	LostKm2       float64      `json:"lost_km2"`
	Units         []UnitChange `json:"units,omitempty"`
}

// Comparison is a request measured in two scenarios.
type Comparison struct {
	Scenario string       `json:"scenario"`
	Against  string       `json:"compared_scenario"`
	Bands    []BandChange `json:"bands"`
	// Gained holds per band the area reached in the compared scenario only.
	Gained *geojson.FeatureCollection `json:"gained"`
	// Note says why the scenarios may not differ (e.g. no planned line has
	// stations on it).
	Note string `json:"note,omitempty"`
}

// compare runs the same search in the compared scenario (on the same
// network and grid) and reports both coverages, their difference per band
// and unit, and the areas gained and lost.
func (s *Service) compare(ctx context.Context, b *built, q Query, roads bool, req CatchmentRequest, hidden func(*layers.Layer) bool, c *isochrone.Catchment, demand []demandItem, sorted []float64, total float64, units []UnitCoverage, unitOf []int32, res *CatchmentResult) error {
	ref := req.Compare
	planned := q.Planned
	if ref.Scenario != "" {
		var err error
		if planned, err = parseScenario(ref.Scenario); err != nil {
			return bad("compare.scenario must be existing or planned, not %q", ref.Scenario)
		}
	}
	if planned == q.Planned && ref.OriginsVersion == 0 && ref.DemandVersion == 0 {
		return bad("compare needs something that differs: scenario (existing or planned), origins_version or demand_version")
	}
	name := func(p bool) string {
		if p {
			return "planned"
		}
		return "existing"
	}
	against := []string{name(planned)}
	// The compared origins: the same, or the origin layer at another version.
	origins2 := q.Origins
	if ref.OriginsVersion > 0 {
		if req.Origins.Layer == "" {
			return bad("compare.origins_version needs origins from a layer")
		}
		o, _, err := s.loadOrigins(ctx, req.Origins, hidden, ref.OriginsVersion)
		if err != nil {
			return err
		}
		origins2 = make([]orb.Point, len(o))
		for i := range o {
			origins2[i] = o[i].At
		}
		against = append(against, fmt.Sprintf("origins %s version %d", req.Origins.Layer, ref.OriginsVersion))
	}
	c2 := c
	var err error
	switch {
	case roads && ref.OriginsVersion > 0:
		// The road network has no planned rail: only the origins differ.
		c2, err = b.roads.Catchment(origins2, q.Mode, slices.Max(sorted))
	case !roads && (planned != q.Planned || ref.OriginsVersion > 0):
		c2, err = b.net.Catchment(origins2, q.Mode, slices.Max(sorted), planned)
	}
	if err != nil {
		return originError(err)
	}
	// The compared demand: the same, or the demand layer at another version.
	demand2, total2 := demand, total
	if ref.DemandVersion > 0 {
		if req.Demand == nil {
			return bad("compare.demand_version needs a demand layer")
		}
		if demand2, _, err = s.loadDemand(ctx, req.Demand, hidden, ref.DemandVersion); err != nil {
			return err
		}
		total2 = 0
		for i := range demand2 {
			demand2[i].foot = c.Grid.FootprintOf(demand2[i].Geom)
			total2 += demand2[i].Weight
		}
		against = append(against, fmt.Sprintf("demand %s version %d", req.Demand.Layer, ref.DemandVersion))
	}
	cov2, _, _ := coverage(c2, demand2, sorted, total2, units, unitOf)
	cmp := &Comparison{Scenario: name(q.Planned), Against: strings.Join(against, ", "), Gained: geojson.NewFeatureCollection()}
	g := c.Grid
	for bi, m := range sorted {
		lim := float32(m * 60)
		bc := BandChange{Minutes: m, Covered: res.Coverage[bi].Covered, Compared: cov2[bi].Covered, Difference: round2(cov2[bi].Covered - res.Coverage[bi].Covered),
			Total: res.Coverage[bi].Total, TotalCompared: cov2[bi].Total}
		for k, u := range res.Coverage[bi].Units {
			v := cov2[bi].Units[k]
			bc.Units = append(bc.Units, UnitChange{ID: u.ID, Code: u.Code, Name: u.Name, Covered: u.Covered, Compared: v.Covered, Difference: round2(v.Covered - u.Covered)})
		}
		gained := g.Contour(func(i int) bool { return c2.Secs[i] <= lim && c.Secs[i] > lim })
		lost := g.Contour(func(i int) bool { return c.Secs[i] <= lim && c2.Secs[i] > lim })
		bc.GainedKm2, bc.LostKm2 = round2(areaKm2(gained)), round2(areaKm2(lost))
		if len(gained) > 0 {
			f := geojson.NewFeature(gained)
			f.Properties = geojson.Properties{"minutes": m, "area_km2": bc.GainedKm2, "scenario": cmp.Against}
			cmp.Gained.Append(f)
		}
		cmp.Bands = append(cmp.Bands, bc)
	}
	if planned != q.Planned {
		n := 0
		for _, l := range b.net.Lines() {
			if l.Planned {
				n++
			}
		}
		switch {
		case roads:
			cmp.Note = "answered on the road network, which has no rail: the planned scenario cannot differ here"
		case n == 0:
			cmp.Note = "no planned rail line in rail_lines has two or more stations on it (within 300 m), so the planned scenario equals the existing one: add the planned stations (status=planned) to rail_stations"
		default:
			cmp.Note = fmt.Sprintf("%d planned line sections with stations are in the network", n)
		}
	}
	res.Comparison = cmp
	return ctx.Err()
}

func areaKm2(mp orb.MultiPolygon) float64 {
	a := 0.0
	for _, p := range mp {
		a += geo.Area(p)
	}
	return a / 1e6
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func whereText(where map[string]json.RawMessage) string {
	if len(where) == 0 {
		return "(no filter)"
	}
	b, _ := json.Marshal(where)
	return string(b)
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

func shareOf(covered, total float64) float64 {
	if total <= 0 {
		return 0
	}
	return math.Round(covered/total*1e4) / 1e4
}

// loadOrigins reads the origins: points, or a layer's features (at an
// earlier version when version > 0).
func (s *Service) loadOrigins(ctx context.Context, ref *OriginsRef, hidden func(*layers.Layer) bool, version int64) ([]origin, map[string]any, error) {
	var origins []origin
	originDesc := map[string]any{}
	switch {
	case ref.Layer != "" && ref.Points != nil:
		return nil, nil, bad("origins: give layer or points, not both")
	case ref.Points != nil:
		if ref.Where != nil {
			return nil, nil, bad("origins.where filters a layer; points take none")
		}
		if len(ref.Points) > MaxCatchmentOrigins {
			return nil, nil, bad("at most %d origin points, got %d", MaxCatchmentOrigins, len(ref.Points))
		}
		for i, p := range ref.Points {
			if len(p) != 2 {
				return nil, nil, bad("origins.points[%d] must be [lon, lat], got %v", i, p)
			}
			at, err := parseLonLat(strconv.FormatFloat(p[0], 'f', -1, 64), strconv.FormatFloat(p[1], 'f', -1, 64))
			if err != nil {
				return nil, nil, bad("origins.points[%d]: %v", i, err)
			}
			origins = append(origins, origin{ID: int64(i), At: at})
		}
		originDesc["points"] = len(origins)
	default:
		l, err := s.layerFor(ctx, ref.Layer, "origins", hidden)
		if err != nil {
			return nil, nil, err
		}
		if version > 0 && version != l.Version {
			if l, err = s.versionOf(ctx, l, version); err != nil {
				return nil, nil, err
			}
		}
		where, err := whereValues(l, ref.Where)
		if err != nil {
			return nil, nil, err
		}
		oq := OriginsQuery(l, where, MaxCatchmentOrigins+1)
		rows, err := s.pool.Query(ctx, oq.SQL, oq.Args...)
		if err != nil {
			return nil, nil, s.dbError(ctx, "read the origins", err)
		}
		var o origin
		var name *string
		if _, err := pgx.ForEachRow(rows, []any{&o.ID, &name, &o.At[0], &o.At[1]}, func() error {
			o.Name = ""
			if name != nil {
				o.Name = *name
			}
			origins = append(origins, o)
			return nil
		}); err != nil {
			return nil, nil, s.dbError(ctx, "read the origins", err)
		}
		if len(origins) > MaxCatchmentOrigins {
			return nil, nil, bad("origins: layer %q has more than %d matching features; narrow it with where", l.Name, MaxCatchmentOrigins)
		}
		if len(origins) == 0 {
			return nil, nil, &httpapi.Error{Status: http.StatusBadRequest, Err: errNoOrigins,
				Message: fmt.Sprintf("origins: no feature of layer %q matches %s", l.Name, whereText(ref.Where))}
		}
		originDesc["layer"], originDesc["version"] = l.Name, l.Version
		if len(ref.Where) > 0 {
			originDesc["where"] = ref.Where
		}
		if l.GeometryType != "Point" && l.GeometryType != "MultiPoint" {
			originDesc["note"] = "features that are not points start from a point on their surface (ST_PointOnSurface)"
		}
	}
	if len(origins) == 0 {
		return nil, nil, bad("origins: no origin given")
	}

	return origins, originDesc, nil
}

// versionOf is layer l at an earlier version (404 when that version's
// table is not kept).
func (s *Service) versionOf(ctx context.Context, l *layers.Layer, version int64) (*layers.Layer, error) {
	at, err := s.reg.AtVersion(ctx, l.Name, version)
	if errors.Is(err, layers.ErrNoVersion) {
		return nil, &httpapi.Error{Status: http.StatusNotFound, Message: fmt.Sprintf("layer %q has no version %d kept (see GET /api/layers/%s/versions)", l.Name, version, l.Name)}
	}
	return at, err
}

// defaultDemand is the town system's county-level units and their 2020
// census populations.
var defaultDemand = DemandRef{LayerRef: LayerRef{Layer: "town_system"}, Weight: "population"}

// loadDemand reads the demand layer's features and weights.
func (s *Service) loadDemand(ctx context.Context, ref *DemandRef, hidden func(*layers.Layer) bool, version int64) ([]demandItem, map[string]any, error) {
	byDefault := ref == nil
	if byDefault {
		ref = &defaultDemand
		if l, err := s.reg.Get(ctx, ref.Layer); err != nil || hidden(l) {
			return nil, map[string]any{"note": "no demand: the town system is not available to this client"}, nil
		}
	}
	l, err := s.layerFor(ctx, ref.Layer, "demand", hidden)
	if err != nil {
		return nil, nil, err
	}
	if version > 0 && version != l.Version {
		if l, err = s.versionOf(ctx, l, version); err != nil {
			return nil, nil, err
		}
	}
	if ref.Weight == "" {
		return nil, nil, bad("demand.weight is required: a numeric attribute such as population")
	}
	col, ok := l.Column(ref.Weight)
	if !ok {
		return nil, nil, &httpapi.Error{Status: http.StatusNotFound, Message: fmt.Sprintf("demand: layer %q has no attribute %q", l.Name, ref.Weight)}
	}
	if col.JSONType() != "Number" {
		return nil, nil, bad("demand.weight: attribute %q of layer %q is %s, not a number", ref.Weight, l.Name, col.PGType)
	}
	where, err := whereValues(l, ref.Where)
	if err != nil {
		return nil, nil, err
	}
	dq := DemandQuery(l, ref.Weight, where, MaxDemandFeatures+1)
	rows, err := s.pool.Query(ctx, dq.SQL, dq.Args...)
	if err != nil {
		return nil, nil, s.dbError(ctx, "read the demand", err)
	}
	var items []demandItem
	var d demandItem
	var g []byte
	points, polygons, negative := 0, 0, 0
	if _, err := pgx.ForEachRow(rows, []any{&d.ID, &g, &d.Weight}, func() error {
		geom, err := geometryOf(g)
		if err != nil {
			return fmt.Errorf("decode demand feature %d: %w", d.ID, err)
		}
		if math.IsNaN(d.Weight) || math.IsInf(d.Weight, 0) || d.Weight < 0 {
			negative++
			return nil
		}
		switch geom.(type) {
		case orb.Polygon, orb.MultiPolygon:
			polygons++
		default:
			points++
		}
		items = append(items, demandItem{ID: d.ID, Geom: geom, Weight: d.Weight})
		return nil
	}); err != nil {
		return nil, nil, s.dbError(ctx, "read the demand", err)
	}
	if len(items) > MaxDemandFeatures {
		return nil, nil, bad("demand: layer %q has more than %d features with a weight; filter it with where", l.Name, MaxDemandFeatures)
	}
	desc := map[string]any{"layer": l.Name, "version": l.Version, "weight": ref.Weight, "features": len(items)}
	if len(ref.Where) > 0 {
		desc["where"] = ref.Where
	}
	if negative > 0 {
		desc["skipped_invalid_weight"] = negative
	}
	var notes []string
	if byDefault {
		notes = append(notes, "default demand: the town system's 2020 census populations (county-level units)")
	}
	if l.GeometryType == "mixed" {
		notes = append(notes, "points inside a weighted polygon of the same layer (towns in their district) are not counted again")
	}
	if polygons > 0 {
		notes = append(notes, "polygon demand is apportioned by the share of its area inside each band, measured on the grid the bands are drawn on (grid_cell_m); a polygon smaller than a cell counts at its centroid")
	}
	if points > 0 {
		notes = append(notes, "point (and line) demand counts where its points lie")
	}
	notes = append(notes, "features whose weight is empty are left out")
	desc["note"] = strings.Join(notes, "; ")
	return items, desc, nil
}

// loadUnitGrid reads the group_by layer's polygons and marks each grid cell
// with the unit it lies in (the first, if units overlap).
func (s *Service) loadUnitGrid(ctx context.Context, l *layers.Layer, g *isochrone.Grid) ([]UnitCoverage, []int32, error) {
	uq := UnitsQuery(l)
	rows, err := s.pool.Query(ctx, uq.SQL, uq.Args...)
	if err != nil {
		return nil, nil, s.dbError(ctx, "read the units", err)
	}
	var units []UnitCoverage
	var shapes []orb.MultiPolygon
	var u UnitCoverage
	var code, name *string
	var wkbBytes []byte
	if _, err := pgx.ForEachRow(rows, []any{&u.ID, &code, &name, &wkbBytes}, func() error {
		geom, err := geometryOf(wkbBytes)
		if err != nil {
			return err
		}
		v := UnitCoverage{ID: u.ID}
		if code != nil {
			v.Code = *code
		}
		if name != nil {
			v.Name = *name
		}
		units, shapes = append(units, v), append(shapes, asMulti(geom))
		return nil
	}); err != nil {
		return nil, nil, s.dbError(ctx, "read the units", err)
	}
	if len(units) == 0 {
		return nil, nil, bad("group_by: layer %q has no polygons to report by", l.Name)
	}
	unitOf := make([]int32, g.W*g.H)
	for i := range unitOf {
		unitOf[i] = -1
	}
	for k, mp := range shapes {
		g.Rasterize(mp, func(c int) {
			if unitOf[c] < 0 {
				unitOf[c] = int32(k)
			}
		})
	}
	return units, unitOf, nil
}

// withTimeout bounds a request's database reads and computation.
func (s *Service) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.Timeout > 0 {
		return context.WithTimeout(ctx, s.Timeout)
	}
	return context.WithCancel(ctx)
}

// dbError reports a read that ran out of time as 504.
func (s *Service) dbError(ctx context.Context, what string, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &httpapi.Error{Status: http.StatusGatewayTimeout, Message: fmt.Sprintf("%s: took longer than %v", what, s.Timeout)}
	}
	return fmt.Errorf("%s: %w", what, err)
}
