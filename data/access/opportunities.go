package access

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/gusu-gis/gusu/data/httpapi"
	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/data/sqlkit"
)

// OpportunitiesRequest is POST /api/accessibility/opportunities: for each
// origin, the sum of an opportunity attribute (jobs, schools, clinics)
// reachable within each band — the cumulative-opportunities measure.
type OpportunitiesRequest struct {
	Origins       *OriginsRef `json:"origins"`
	Opportunities *DemandRef  `json:"opportunities"`
	Mode          string      `json:"mode"`
	Minutes       []float64   `json:"minutes"`
	Departure     string      `json:"departure"`
	Window        int         `json:"window"`
	Percentile    *float64    `json:"percentile"`
}

// MaxOpportunityPairs bounds origins × opportunities of one request.
const MaxOpportunityPairs = 20_000_000

// OpportunitiesQuery selects a layer's features as opportunity places (id,
// lon, lat, weight): points as they are, other shapes at a point on their
// surface; features without a weight are left out.
func OpportunitiesQuery(l *layers.Layer, weight string, where map[string][]string, limit int) sqlkit.Query {
	var args sqlkit.Args
	cond := append([]string{"t.geom IS NOT NULL", "NOT ST_IsEmpty(t.geom)", "t." + sqlkit.Ident(weight) + " IS NOT NULL"}, whereSQL(where, &args)...)
	sql := fmt.Sprintf(`SELECT id, ST_X(p), ST_Y(p), w FROM (SELECT t.id, t.%s::float8 AS w,
		CASE WHEN GeometryType(t.geom) = 'POINT' THEN t.geom ELSE ST_PointOnSurface(t.geom) END AS p
		FROM %s AS t WHERE %s) AS o ORDER BY id LIMIT %s`, sqlkit.Ident(weight), sqlkit.Ident(l.Table), strings.Join(cond, " AND "), args.Add(limit))
	return sqlkit.Query{SQL: sql, Args: args}
}

// Opportunities computes the measure; the answer is a FeatureCollection of
// the origins with opportunities_<minutes> per band.
func (s *Service) Opportunities(ctx context.Context, req OpportunitiesRequest, seePrivate bool) (*geojson.FeatureCollection, error) {
	start := time.Now()
	hidden := func(l *layers.Layer) bool { return l.Private && !seePrivate }
	if req.Origins == nil || req.Opportunities == nil {
		return nil, bad(`origins and opportunities are required: {"origins": {"layer": NAME} or {"points": …}, "opportunities": {"layer": NAME, "weight": ATTR}}`)
	}
	if len(req.Minutes) == 0 || len(req.Minutes) > 10 {
		return nil, bad("minutes is required: one to ten bands, e.g. [30, 60]")
	}
	mins := slices.Clone(req.Minutes)
	sort.Float64s(mins)
	if mins[0] <= 0 || mins[len(mins)-1] > s.params.MaxMinutes {
		return nil, bad("bands must be from 1 to %g minutes", s.params.MaxMinutes)
	}
	tr := TravelTimesRequest{Origins: req.Origins, Destinations: &OriginsRef{}, Mode: req.Mode, Departure: req.Departure,
		Window: req.Window, Percentile: req.Percentile, MaxMinutes: mins[len(mins)-1]}
	mode, pct, err := matrixOptions(tr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	orig, _, err := s.loadOrigins(ctx, req.Origins, hidden, 0)
	if err != nil {
		return nil, err
	}
	// The opportunities and their weights.
	ref := req.Opportunities
	l, err := s.layerFor(ctx, ref.Layer, "opportunities", hidden)
	if err != nil {
		return nil, err
	}
	col, ok := l.Column(ref.Weight)
	if !ok {
		return nil, &httpapi.Error{Status: http.StatusNotFound, Message: fmt.Sprintf("opportunities: layer %q has no attribute %q", l.Name, ref.Weight)}
	}
	if col.JSONType() != "Number" {
		return nil, bad("opportunities.weight: attribute %q of layer %q is %s, not a number", ref.Weight, l.Name, col.PGType)
	}
	where, err := whereValues(l, ref.Where)
	if err != nil {
		return nil, err
	}
	q := OpportunitiesQuery(l, ref.Weight, where, MaxDemandFeatures+1)
	rows, err := s.pool.Query(ctx, q.SQL, q.Args...)
	if err != nil {
		return nil, s.dbError(ctx, "read the opportunities", err)
	}
	var dest []origin
	var weights []float64
	var o origin
	var w float64
	if _, err := pgx.ForEachRow(rows, []any{&o.ID, &o.At[0], &o.At[1], &w}, func() error {
		if w > 0 && !math.IsInf(w, 0) {
			dest, weights = append(dest, o), append(weights, w)
		}
		return nil
	}); err != nil {
		return nil, s.dbError(ctx, "read the opportunities", err)
	}
	if len(dest) > MaxDemandFeatures {
		return nil, bad("opportunities: more than %d features; filter them with where", MaxDemandFeatures)
	}
	if len(orig)*len(dest) > MaxOpportunityPairs {
		return nil, bad("%d origins × %d opportunities is over %d pairs", len(orig), len(dest), MaxOpportunityPairs)
	}
	total := 0.0
	for _, x := range weights {
		total += x
	}
	sums := make([][]float64, len(orig))
	emit := func(i int, row []*float64) {
		sums[i] = make([]float64, len(mins))
		for j, v := range row {
			if v == nil {
				continue
			}
			for b, m := range mins {
				if *v <= m {
					sums[i][b] += weights[j]
				}
			}
		}
	}
	out := &TravelTimes{Meta: map[string]any{}}
	if err := s.rows(ctx, tr, mode, pct, orig, dest, out, emit); err != nil {
		return nil, err
	}
	fc := geojson.NewFeatureCollection()
	for i, or := range orig {
		f := geojson.NewFeature(orb.Point(or.At))
		f.Properties = geojson.Properties{"id": or.ID}
		if or.Name != "" {
			f.Properties["name"] = or.Name
		}
		for b, m := range mins {
			f.Properties["opportunities_"+strconv.FormatFloat(m, 'f', -1, 64)] = math.Round(sums[i][b]*100) / 100
		}
		fc.Append(f)
	}
	meta := out.Meta
	meta["mode"], meta["minutes"], meta["opportunities"] = mode, mins, map[string]any{"layer": l.Name, "version": l.Version, "weight": ref.Weight, "features": len(dest), "total": total}
	meta["compute_ms"] = time.Since(start).Milliseconds()
	fc.ExtraMembers = geojson.Properties{"network": out.Network, "note": out.Note, "metadata": meta}
	return fc, nil
}

// opportunitiesPOST is POST /api/accessibility/opportunities (?format=csv).
func (s *Service) opportunitiesPOST(w http.ResponseWriter, r *http.Request) error {
	format := r.URL.Query().Get("format")
	if format != "" && format != "geojson" && format != "csv" {
		return bad("format must be geojson or csv, not %q", format)
	}
	var req OpportunitiesRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 16<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return bad(`the body must be JSON {"origins": {...}, "opportunities": {"layer": NAME, "weight": ATTR}, "mode": "walk|cycle|drive|transit", "minutes": [30, 60], "departure": …}: %v`, err)
	}
	fc, err := s.Opportunities(r.Context(), req, s.CanSeePrivate == nil || s.CanSeePrivate(r))
	if err != nil {
		return err
	}
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		cw := csv.NewWriter(w)
		var keys []string
		if len(fc.Features) > 0 {
			for k := range fc.Features[0].Properties {
				if strings.HasPrefix(k, "opportunities_") {
					keys = append(keys, k)
				}
			}
			sort.Slice(keys, func(a, b int) bool {
				x, _ := strconv.ParseFloat(strings.TrimPrefix(keys[a], "opportunities_"), 64)
				y, _ := strconv.ParseFloat(strings.TrimPrefix(keys[b], "opportunities_"), 64)
				return x < y
			})
		}
		cw.Write(append([]string{"origin"}, keys...))
		for _, f := range fc.Features {
			row := []string{fmt.Sprint(f.Properties["id"])}
			for _, k := range keys {
				row = append(row, strconv.FormatFloat(f.Properties[k].(float64), 'f', -1, 64))
			}
			cw.Write(row)
		}
		cw.Flush()
		return cw.Error()
	}
	w.Header().Set("Content-Type", "application/geo+json")
	return json.NewEncoder(w).Encode(fc)
}
