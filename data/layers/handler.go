package layers

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"

	"github.com/gusu-gis/gusu/data/auth"
	"github.com/gusu-gis/gusu/data/httpapi"
)

// Feature-page limits.
const (
	DefaultLimit = 1000
	MaxLimit     = 10000
	// MaxOffset bounds offset paging, whose cost grows with the offset;
	// deeper pages use after=<id> (what the next links carry).
	MaxOffset = 100000
)

// API serves the catalog and features.
type API struct {
	Registry  *Registry
	Pool      *pgxpool.Pool
	Log       *slog.Logger
	PublicURL string
	// Auth guards private layers; nil treats every layer as public.
	Auth *auth.Authenticator
	// Timeout bounds one features query (--db-timeout); 0: none.
	Timeout time.Duration
	// FeatureSlots bounds concurrent features requests, so that pages of
	// big layers cannot take the pool from tiles and /healthz; nil: no bound.
	FeatureSlots *httpapi.Limiter
	// Reads chooses the database a features page reads (a replica that has
	// replayed the layer's version, else the primary); nil: Pool.
	Reads ReadPools

	labelMu    sync.Mutex
	labelCache map[string]labelSet // by layer, for its current version
}

func (a *API) readPool(ctx context.Context, l *Layer) *pgxpool.Pool {
	if a.Reads == nil {
		return a.Pool
	}
	return a.Reads.For(ctx, []Need{{Layer: l.Name, Version: l.Version}})
}

// Routes registers the API's routes on r.
func (a *API) Routes(r *mux.Router) {
	r.Handle("/api/layers", httpapi.Handler(a.Log, a.catalog)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/api/layers/{name}", httpapi.Handler(a.Log, a.layer)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/api/layers/{name}/features", httpapi.Handler(a.Log, a.FeatureSlots.Wrap(a.features))).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/api/layers/{name}/labels", httpapi.Handler(a.Log, a.FeatureSlots.Wrap(a.labels))).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/api/layers/{name}/outside", httpapi.Handler(a.Log, a.FeatureSlots.Wrap(a.outside))).Methods(http.MethodGet, http.MethodHead)
}

type catalogEntry struct {
	*Layer
	Stats
	Links map[string]string `json:"links"`
}

func (a *API) entry(r *http.Request, l *Layer) (catalogEntry, error) {
	st, err := a.Registry.Stats(r.Context(), l)
	if err != nil {
		return catalogEntry{}, err
	}
	base := httpapi.BaseURL(r, a.PublicURL)
	name := url.PathEscape(l.Name)
	return catalogEntry{Layer: l, Stats: st, Links: map[string]string{
		"self":     base + "/api/layers/" + name,
		"features": base + "/api/layers/" + name + "/features",
		"tilejson": base + "/tiles/" + name + ".json",
		"tiles":    base + "/tiles/" + name + "/{z}/{x}/{y}.mvt",
	}}, nil
}

func (a *API) catalog(w http.ResponseWriter, r *http.Request) error {
	ls, err := a.Registry.List(r.Context())
	if err != nil {
		return err
	}
	out := make([]catalogEntry, 0, len(ls))
	private := a.Auth.CanSeePrivate(r)
	for _, l := range ls {
		if l.Private && !private {
			continue // listed only for viewers and up
		}
		e, err := a.entry(r, l)
		if err != nil {
			return err
		}
		out = append(out, e)
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"layers": out})
	return nil
}

func (a *API) lookup(r *http.Request) (*Layer, error) {
	name := mux.Vars(r)["name"]
	l, err := a.Registry.Get(r.Context(), name)
	if ue, ok := err.(*UnknownLayerError); ok {
		return nil, httpapi.NotFound(ue.Error(), map[string]any{"layer": ue.Name, "known": ue.Known})
	}
	if err != nil {
		return nil, err
	}
	if err := a.Auth.RequireForLayer(r, l.Private); err != nil {
		return nil, err
	}
	return l, nil
}

func (a *API) layer(w http.ResponseWriter, r *http.Request) error {
	l, err := a.lookup(r)
	if err != nil {
		return err
	}
	e, err := a.entry(r, l)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, e)
	return nil
}

// ParseBBox parses "minx,miny,maxx,maxy" in degrees.
func ParseBBox(s string) (*orb.Bound, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return nil, fmt.Errorf("bbox needs 4 comma-separated numbers minx,miny,maxx,maxy, got %d", len(parts))
	}
	var v [4]float64
	for i, p := range parts {
		x, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("bbox value %q is not a number", p)
		}
		v[i] = x
	}
	if v[0] < -180 || v[2] > 180 || v[1] < -90 || v[3] > 90 {
		return nil, fmt.Errorf("bbox %v is outside lon -180..180, lat -90..90", v)
	}
	if v[0] > v[2] || v[1] > v[3] {
		return nil, fmt.Errorf("bbox %v has min greater than max", v)
	}
	return &orb.Bound{Min: orb.Point{v[0], v[1]}, Max: orb.Point{v[2], v[3]}}, nil
}

func intParam(q url.Values, name string, def, min, max int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		return 0, httpapi.BadRequest(fmt.Sprintf("%s must be a whole number from %d to %d", name, min, max), map[string]any{"parameter": name, "value": s})
	}
	return n, nil
}

type featureJSON struct {
	Type       string          `json:"type"`
	ID         int64           `json:"id"`
	Geometry   json.RawMessage `json:"geometry"`
	Properties json.RawMessage `json:"properties"`
}

func (a *API) features(w http.ResponseWriter, r *http.Request) error {
	l, err := a.lookup(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "bbox", "limit", "offset", "after", "token":
		default:
			return httpapi.BadRequest(fmt.Sprintf("unknown parameter %q; known: bbox, limit, after, offset", k), map[string]any{"parameter": k})
		}
	}
	p := FeatureParams{}
	if p.Limit, err = intParam(q, "limit", DefaultLimit, 1, MaxLimit); err != nil {
		return err
	}
	if p.Offset, err = intParam(q, "offset", 0, 0, MaxOffset); err != nil {
		if e, ok := err.(*httpapi.Error); ok {
			e.Message += fmt.Sprintf("; for deeper pages follow the next link, or pass after=<last id seen>")
		}
		return err
	}
	if s := q.Get("after"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return httpapi.BadRequest("after must be a feature id (a whole number): the id of the last feature of the previous page", map[string]any{"parameter": "after", "value": s})
		}
		if p.Offset > 0 {
			return httpapi.BadRequest("give after or offset, not both", nil)
		}
		p.After = &id
	}
	if s := q.Get("bbox"); s != "" {
		if p.BBox, err = ParseBBox(s); err != nil {
			return httpapi.BadRequest(err.Error(), map[string]any{"parameter": "bbox", "value": s})
		}
	}
	ctx := r.Context()
	if a.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.Timeout)
		defer cancel()
	}
	sq := FeaturesQuery(l, p)
	pool := a.readPool(ctx, l)
	rows, err := pool.Query(ctx, sq.SQL, sq.Args...)
	if err != nil && pool != a.Pool && ctx.Err() == nil && Unreachable(err) {
		a.Reads.Failed(pool) // a replica that stopped answering: the primary answers
		rows, err = a.Pool.Query(ctx, sq.SQL, sq.Args...)
	}
	if err != nil {
		return fmt.Errorf("query features of %q: %w", l.Name, err)
	}
	defer rows.Close()
	feats := make([]featureJSON, 0)
	for rows.Next() {
		var f featureJSON
		var geom, props string
		if err := rows.Scan(&f.ID, &geom, &props); err != nil {
			return fmt.Errorf("read features of %q: %w", l.Name, err)
		}
		f.Type, f.Geometry, f.Properties = "Feature", json.RawMessage(geom), json.RawMessage(props)
		feats = append(feats, f)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read features of %q: %w", l.Name, err)
	}
	links := []map[string]string{}
	if len(feats) == p.Limit {
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Del("offset")
		next.Set("after", strconv.FormatInt(feats[len(feats)-1].ID, 10))
		next.Set("limit", strconv.Itoa(p.Limit))
		links = append(links, map[string]string{"rel": "next", "type": "application/geo+json",
			"href": httpapi.BaseURL(r, a.PublicURL) + r.URL.Path + "?" + next.Encode()})
	}
	w.Header().Set("Content-Type", "application/geo+json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	// A write error here is a client that hung up after the status went
	// out: nothing to report to it, and not a server error.
	_ = enc.Encode(map[string]any{
		"type": "FeatureCollection", "layer": l.Name, "version": l.Version,
		"numberReturned": len(feats), "features": feats, "links": links,
	})
	return nil
}

// maxLabels bounds the label points of one layer (a label per polygon is
// for unit layers, not for a hundred thousand parcels).
const maxLabels = 10000

// labels is GET /api/layers/{name}/labels: one point per polygon, where its
// name goes, as GeoJSON — a map labels each unit once, however many tiles
// the polygon spans. Computed per layer version; the ETag is the version.
func (a *API) labels(w http.ResponseWriter, r *http.Request) error {
	return a.derived(w, r, "labels", func(l *Layer) Query { return LabelPointsQuery(l, maxLabels) })
}

// outside is GET /api/layers/{name}/outside: a frame around the layer's
// polygons with them cut out, for maps that fade what lies beyond the city
// (rail lines run on past it).
func (a *API) outside(w http.ResponseWriter, r *http.Request) error {
	return a.derived(w, r, "outside", OutsideQuery)
}

// derived serves a small FeatureCollection computed from a layer (its label
// points, its outside), cached per layer version, with an ETag.
func (a *API) derived(w http.ResponseWriter, r *http.Request, kind string, build func(*Layer) Query) error {
	l, err := a.lookup(r)
	if err != nil {
		return err
	}
	if len(r.URL.Query()) > 0 && !(len(r.URL.Query()) == 1 && r.URL.Query().Has("token")) {
		return httpapi.BadRequest(kind+" take no parameters", nil)
	}
	etag := fmt.Sprintf(`"%s-%s-%d"`, kind, l.Name, l.Version)
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "public, max-age=0, must-revalidate")
	if l.Private {
		w.Header().Set("Cache-Control", "private, no-cache")
	}
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	a.labelMu.Lock()
	cached, ok := a.labelCache[kind+":"+l.Name]
	a.labelMu.Unlock()
	if !ok || cached.version != l.Version {
		ctx := r.Context()
		if a.Timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, a.Timeout)
			defer cancel()
		}
		q := build(l)
		rows, err := a.readPool(ctx, l).Query(ctx, q.SQL, q.Args...)
		if err != nil {
			return fmt.Errorf("%s of %q: %w", kind, l.Name, err)
		}
		feats := make([]featureJSON, 0)
		for rows.Next() {
			var f featureJSON
			var geom, props string
			if err := rows.Scan(&f.ID, &geom, &props); err != nil {
				rows.Close()
				return fmt.Errorf("%s of %q: %w", kind, l.Name, err)
			}
			f.Type, f.Geometry, f.Properties = "Feature", json.RawMessage(geom), json.RawMessage(props)
			feats = append(feats, f)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("%s of %q: %w", kind, l.Name, err)
		}
		b, _ := json.Marshal(map[string]any{"type": "FeatureCollection", "layer": l.Name, "version": l.Version, "features": feats})
		cached = labelSet{version: l.Version, body: b}
		a.labelMu.Lock()
		if a.labelCache == nil {
			a.labelCache = map[string]labelSet{}
		}
		a.labelCache[kind+":"+l.Name] = cached
		a.labelMu.Unlock()
	}
	w.Header().Set("Content-Type", "application/geo+json")
	_, _ = w.Write(cached.body)
	return nil
}

type labelSet struct {
	version int64
	body    []byte
}
