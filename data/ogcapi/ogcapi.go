// Package ogcapi serves the layers as OGC API – Features (Part 1 Core with
// GeoJSON, HTML and an OpenAPI 3.0 definition; Part 2 CRS by reference),
// so that GDAL, QGIS and ArcGIS read them as they read any feature server.
//
// It is another face of the same layers: the registry says what exists and
// who may see it, layers.FeaturesQuery builds the SQL (keyset paging,
// reprojection, attribute filters), and the same limits apply as to
// /api/layers/{name}/features.
package ogcapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"

	"github.com/gusu-gis/gusu/data/auth"
	"github.com/gusu-gis/gusu/data/httpapi"
	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/data/upload"
)

// Media types of OGC API.
const (
	typeJSON    = "application/json"
	typeGeoJSON = "application/geo+json"
	typeHTML    = "text/html"
	typeOpenAPI = "application/vnd.oai.openapi+json;version=3.0"
)

// Page sizes of /items.
const (
	defaultLimit = 100
	maxLimit     = layers.MaxLimit
)

// API serves OGC API – Features at the server's root.
type API struct {
	Registry  *layers.Registry
	Pool      *pgxpool.Pool
	Log       *slog.Logger
	PublicURL string
	// Auth guards private layers exactly as elsewhere; nil: all public.
	Auth *auth.Authenticator
	// Timeout bounds one items query (--db-timeout); 0: none.
	Timeout time.Duration
	// Slots is shared with the features API: pages of both kinds count
	// against one bound.
	Slots *httpapi.Limiter
	// Committed, if set, is told of a layer changed by an edit, before the
	// response is sent (as upload.API's).
	Committed func(layer string)
	// Reads chooses the database items are read from; nil: Pool.
	Reads layers.ReadPools
}

// Routes registers the routes on r. The landing page shares "/" with the
// viewer: it answers only requests that ask for JSON (Accept or f=json),
// so register before the viewer.
func (a *API) Routes(r *mux.Router) {
	get := []string{http.MethodGet, http.MethodHead}
	r.Handle("/", httpapi.Handler(a.Log, a.landing)).Methods(get...).MatcherFunc(func(r *http.Request, _ *mux.RouteMatch) bool {
		return wants(r) == typeJSON
	})
	r.Handle("/conformance", httpapi.Handler(a.Log, a.conformance)).Methods(get...)
	r.Handle("/api", httpapi.Handler(a.Log, a.openAPI)).Methods(get...)
	r.Handle("/collections", httpapi.Handler(a.Log, a.collections)).Methods(get...)
	r.Handle("/collections/{id}", httpapi.Handler(a.Log, a.collection)).Methods(get...)
	r.Handle("/collections/{id}/queryables", httpapi.Handler(a.Log, a.queryables)).Methods(get...)
	r.Handle("/collections/{id}/schema", httpapi.Handler(a.Log, a.schema)).Methods(get...)
	r.Handle("/collections/{id}/items", httpapi.Handler(a.Log, a.Slots.Wrap(a.items))).Methods(get...)
	r.Handle("/collections/{id}/items/{featureId}", httpapi.Handler(a.Log, a.Slots.Wrap(a.item))).Methods(get...)
	r.Handle("/collections/{id}/items/{featureId}", httpapi.Handler(a.Log, a.edit)).Methods(http.MethodPatch, http.MethodPut)
}

// wants negotiates the representation: f= wins, then Accept. Browsers
// (which accept text/html) get HTML; clients such as GDAL get JSON.
func wants(r *http.Request) string {
	switch r.URL.Query().Get("f") {
	case "html":
		return typeHTML
	case "json", "geojson":
		return typeJSON
	}
	accept := r.Header.Get("Accept")
	if strings.Contains(accept, typeHTML) {
		return typeHTML
	}
	return typeJSON
}

type link struct {
	Href  string `json:"href"`
	Rel   string `json:"rel"`
	Type  string `json:"type,omitempty"`
	Title string `json:"title,omitempty"`
}

func (a *API) base(r *http.Request) string { return httpapi.BaseURL(r, a.PublicURL) }

// withF adds f=... to a URL that may carry a query already.
func withF(u, f string) string {
	if strings.Contains(u, "?") {
		return u + "&f=" + f
	}
	return u + "?f=" + f
}

// tokenQuery carries ?token= into links, so that an embed or a browser
// that authenticated with it keeps access while following them.
func tokenQuery(r *http.Request) string {
	if t := r.URL.Query().Get("token"); t != "" {
		return "token=" + url.QueryEscape(t)
	}
	return ""
}

func addQuery(u, q string) string {
	if q == "" {
		return u
	}
	if strings.Contains(u, "?") {
		return u + "&" + q
	}
	return u + "?" + q
}

func (a *API) write(w http.ResponseWriter, r *http.Request, contentType string, v any, page func() (string, any)) error {
	if wants(r) == typeHTML && page != nil {
		name, data := page()
		return renderHTML(w, name, data)
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	encodeJSON(w, v)
	return nil
}

func (a *API) landing(w http.ResponseWriter, r *http.Request) error {
	b := a.base(r)
	tq := tokenQuery(r)
	doc := map[string]any{
		"title":       "gusu — Suzhou spatial planning layers",
		"description": "The layers of Suzhou's 14th Five-Year New Urbanization Plan and those GIS staff maintain, as OGC API – Features.",
		"links": []link{
			{addQuery(b+"/", tq), "self", typeJSON, "this document"},
			{withF(addQuery(b+"/", tq), "html"), "alternate", typeHTML, "this document as HTML"},
			{b + "/api", "service-desc", typeOpenAPI, "the API definition (OpenAPI 3.0)"},
			{b + "/conformance", "conformance", typeJSON, "the conformance classes gusu implements"},
			{addQuery(b+"/collections", tq), "data", typeJSON, "the collections (layers)"},
		},
	}
	return a.write(w, r, typeJSON, doc, func() (string, any) { return "landing", doc })
}

var conformsTo = []string{
	"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
	"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
	"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
	"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
	"http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
}

func (a *API) conformance(w http.ResponseWriter, r *http.Request) error {
	doc := map[string]any{"conformsTo": conformsTo}
	return a.write(w, r, typeJSON, doc, func() (string, any) { return "conformance", doc })
}

// lookup returns a layer the request may read: 404 for an unknown one (the
// known public ones named), 401/403 for a private one without a token.
func (a *API) lookup(r *http.Request) (*layers.Layer, error) {
	name := mux.Vars(r)["id"]
	l, err := a.Registry.Get(r.Context(), name)
	if ue, ok := err.(*layers.UnknownLayerError); ok {
		return nil, httpapi.NotFound(fmt.Sprintf("no collection %q", name), map[string]any{"collection": name, "known": ue.Known})
	}
	if err != nil {
		return nil, err
	}
	if err := a.Auth.RequireForLayer(r, l.Private); err != nil {
		return nil, err
	}
	return l, nil
}

// collectionDoc describes a layer as a collection.
func (a *API) collectionDoc(r *http.Request, l *layers.Layer) (map[string]any, error) {
	st, err := a.Registry.Stats(r.Context(), l)
	if err != nil {
		return nil, err
	}
	b := a.base(r) + "/collections/" + url.PathEscape(l.Name)
	tq := tokenQuery(r)
	doc := map[string]any{
		"id": l.Name, "title": l.Title, "description": l.Description, "itemType": "feature",
		"crs": crsURIs(), "storageCrs": CRS84,
		"links": []link{
			{addQuery(b, tq), "self", typeJSON, "this collection"},
			{withF(addQuery(b, tq), "html"), "alternate", typeHTML, "this collection as HTML"},
			{addQuery(b+"/items", tq), "items", typeGeoJSON, "the features"},
			{withF(addQuery(b+"/items", tq), "html"), "items", typeHTML, "the features as HTML"},
			{addQuery(b+"/queryables", tq), "http://www.opengis.net/def/rel/ogc/1.0/queryables", "application/schema+json", "the attributes items can be filtered by"},
			{addQuery(b+"/schema", tq), "describedby", "application/schema+json", "the features' attributes and their types (JSON Schema)"},
			{a.base(r) + "/tiles/" + url.PathEscape(l.Name) + ".json", "tilejson", typeJSON, "TileJSON of the layer's vector tiles"},
		},
		"attribution": l.Attribution, "license": l.License, "version": l.Version,
	}
	if st.Bounds != nil {
		doc["extent"] = map[string]any{"spatial": map[string]any{"bbox": [][]float64{st.Bounds[:]}, "crs": CRS84}}
	}
	return doc, nil
}

func (a *API) collections(w http.ResponseWriter, r *http.Request) error {
	ls, err := a.Registry.List(r.Context())
	if err != nil {
		return err
	}
	private := a.Auth.CanSeePrivate(r)
	cols := []map[string]any{}
	for _, l := range ls {
		if l.Private && !private {
			continue
		}
		d, err := a.collectionDoc(r, l)
		if err != nil {
			return err
		}
		cols = append(cols, d)
	}
	b := a.base(r) + "/collections"
	tq := tokenQuery(r)
	doc := map[string]any{
		"links": []link{
			{addQuery(b, tq), "self", typeJSON, "the collections"},
			{withF(addQuery(b, tq), "html"), "alternate", typeHTML, "the collections as HTML"},
		},
		"collections": cols, "crs": crsURIs(),
	}
	return a.write(w, r, typeJSON, doc, func() (string, any) { return "collections", doc })
}

func (a *API) collection(w http.ResponseWriter, r *http.Request) error {
	l, err := a.lookup(r)
	if err != nil {
		return err
	}
	doc, err := a.collectionDoc(r, l)
	if err != nil {
		return err
	}
	return a.write(w, r, typeJSON, doc, func() (string, any) { return "collection", doc })
}

func encodeJSON(w http.ResponseWriter, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // a write error is a client that left
}

// jsonSchema describes the attributes of l's features, for queryables
// (what /items filters by) and schema (what GDAL types its fields by).
func (a *API) jsonSchema(r *http.Request, l *layers.Layer, what string, geometry bool) map[string]any {
	props := map[string]any{}
	for _, c := range l.Columns {
		if c.IsGeometry() {
			if geometry {
				props[c.Name] = map[string]any{"type": "object", "description": "a GeoJSON geometry (CRS84)"}
			}
			continue
		}
		typ := "string"
		switch c.PGType {
		case "int2", "int4", "int8":
			typ = "integer"
		case "float4", "float8", "numeric":
			typ = "number"
		case "bool":
			typ = "boolean"
		}
		if strings.HasPrefix(c.PGType, "_") {
			props[c.Name] = map[string]any{"type": "array"}
			continue
		}
		props[c.Name] = map[string]any{"type": typ}
	}
	return map[string]any{
		"$schema": "https://json-schema.org/draft/2019-09/schema", "type": "object",
		"$id":   a.base(r) + "/collections/" + url.PathEscape(l.Name) + "/" + what,
		"title": l.Title, "properties": props,
	}
}

// queryables lists the attributes /items filters by equality.
func (a *API) queryables(w http.ResponseWriter, r *http.Request) error {
	l, err := a.lookup(r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/schema+json")
	encodeJSON(w, a.jsonSchema(r, l, "queryables", false))
	return nil
}

// schema describes the features' attributes with their types.
func (a *API) schema(w http.ResponseWriter, r *http.Request) error {
	l, err := a.lookup(r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/schema+json")
	encodeJSON(w, a.jsonSchema(r, l, "schema", true))
	return nil
}

// reserved are /items parameters that are not attribute filters.
var reserved = map[string]bool{"limit": true, "bbox": true, "bbox-crs": true, "crs": true, "datetime": true, "f": true, "token": true, "after": true}

// itemsParams reads /items' parameters.
func itemsParams(r *http.Request, l *layers.Layer) (layers.FeatureParams, outputCRS, error) {
	q := r.URL.Query()
	// Every feature has every attribute (null where empty): GDAL and QGIS
	// take a layer's fields from its first page.
	p := layers.FeatureParams{Limit: defaultLimit, Equal: map[string]string{}, KeepNulls: true}
	for k, v := range q {
		if reserved[k] {
			continue
		}
		if c, ok := l.Column(k); !ok || c.IsGeometry() {
			return p, outputCRS{}, httpapi.BadRequest(fmt.Sprintf("unknown parameter %q: not an attribute of %s (see its queryables) nor one of limit, bbox, bbox-crs, crs, datetime, f", k, l.Name), map[string]any{"parameter": k})
		}
		p.Equal[k] = v[0]
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return p, outputCRS{}, httpapi.BadRequest("limit must be a whole number from 1", map[string]any{"parameter": "limit", "value": s})
		}
		// OGC API: a limit above the maximum is served at the maximum.
		p.Limit = min(n, maxLimit)
	}
	if s := q.Get("after"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return p, outputCRS{}, httpapi.BadRequest("after must be a feature id", map[string]any{"parameter": "after", "value": s})
		}
		p.After = &id
	}
	out, err := parseCRS(q.Get("crs"))
	if err != nil {
		return p, outputCRS{}, httpapi.BadRequest(err.Error(), map[string]any{"parameter": "crs"})
	}
	p.Output = out.OutputCRS
	if s := q.Get("bbox"); s != "" {
		bc, err := parseCRS(q.Get("bbox-crs"))
		if err != nil {
			return p, outputCRS{}, httpapi.BadRequest(err.Error(), map[string]any{"parameter": "bbox-crs"})
		}
		if p.BBox, p.BBoxSRID, err = parseBBox(s, bc); err != nil {
			return p, outputCRS{}, httpapi.BadRequest(err.Error(), map[string]any{"parameter": "bbox", "value": s})
		}
	} else if q.Has("bbox-crs") {
		if _, err := parseCRS(q.Get("bbox-crs")); err != nil {
			return p, outputCRS{}, httpapi.BadRequest(err.Error(), map[string]any{"parameter": "bbox-crs"})
		}
	}
	if s := q.Get("datetime"); s != "" {
		if err := checkDatetime(s); err != nil {
			return p, outputCRS{}, httpapi.BadRequest(err.Error(), map[string]any{"parameter": "datetime", "value": s})
		}
	}
	return p, out, nil
}

// parseBBox reads minx,miny,maxx,maxy (or the 6-number form, heights
// ignored) in the axis order of crs c.
func parseBBox(s string, c outputCRS) (*orb.Bound, int, error) {
	parts := strings.Split(s, ",")
	if len(parts) == 6 {
		parts = []string{parts[0], parts[1], parts[3], parts[4]}
	}
	if len(parts) != 4 {
		return nil, 0, fmt.Errorf("bbox needs 4 (or 6) comma-separated numbers, got %d", len(parts))
	}
	if c.SRID == 0 {
		b, err := layers.ParseBBox(strings.Join(parts, ","))
		return b, 0, err
	}
	var v [4]float64
	for i, p := range parts {
		x, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, 0, fmt.Errorf("bbox value %q is not a number", p)
		}
		v[i] = x
	}
	if c.SwapAxes {
		v = [4]float64{v[1], v[0], v[3], v[2]}
	}
	if v[0] > v[2] || v[1] > v[3] {
		return nil, 0, fmt.Errorf("bbox has a lower corner above its upper corner (in %s axis order)", c.URI)
	}
	return &orb.Bound{Min: orb.Point{v[0], v[1]}, Max: orb.Point{v[2], v[3]}}, c.SRID, nil
}

// checkDatetime accepts an RFC 3339 instant or an interval with ".." ends.
// gusu's layers carry no time, so a valid datetime filters nothing.
func checkDatetime(s string) error {
	for _, part := range strings.Split(s, "/") {
		if part == ".." || part == "" {
			continue
		}
		if _, err := time.Parse(time.RFC3339, part); err != nil {
			if _, err := time.Parse("2006-01-02", part); err != nil {
				return fmt.Errorf("datetime %q is not an RFC 3339 date-time or interval", s)
			}
		}
	}
	return nil
}

type feature struct {
	Type       string          `json:"type"`
	ID         int64           `json:"id"`
	Geometry   json.RawMessage `json:"geometry"`
	Properties json.RawMessage `json:"properties"`
	Links      []link          `json:"links,omitempty"`
}

func (a *API) query(ctx context.Context, l *layers.Layer, p layers.FeatureParams) ([]feature, error) {
	if a.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.Timeout)
		defer cancel()
	}
	q := layers.FeaturesQuery(l, p)
	pool := a.Pool
	if a.Reads != nil {
		pool = a.Reads.For(ctx, []layers.Need{{Layer: l.Name, Version: l.Version}})
	}
	rows, err := pool.Query(ctx, q.SQL, q.Args...)
	if err != nil {
		return nil, fmt.Errorf("query items of %q: %w", l.Name, err)
	}
	defer rows.Close()
	out := []feature{}
	for rows.Next() {
		var f feature
		var geom, props *string
		if err := rows.Scan(&f.ID, &geom, &props); err != nil {
			return nil, fmt.Errorf("read items of %q: %w", l.Name, err)
		}
		f.Type, f.Geometry, f.Properties = "Feature", json.RawMessage("null"), json.RawMessage("{}")
		if geom != nil {
			f.Geometry = json.RawMessage(*geom)
		}
		if props != nil {
			f.Properties = json.RawMessage(*props)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read items of %q: %w", l.Name, err)
	}
	return out, nil
}

func (a *API) items(w http.ResponseWriter, r *http.Request) error {
	l, err := a.lookup(r)
	if err != nil {
		return err
	}
	p, out, err := itemsParams(r, l)
	if err != nil {
		return err
	}
	feats, err := a.query(r.Context(), l, p)
	if err != nil {
		return err
	}
	self := a.base(r) + r.URL.Path
	q := r.URL.Query()
	q.Del("f")
	links := []link{
		{self + encodeQuery(q), "self", typeGeoJSON, "this page"},
		{withF(self+encodeQuery(q), "html"), "alternate", typeHTML, "this page as HTML"},
		{addQuery(a.base(r)+"/collections/"+url.PathEscape(l.Name), tokenQuery(r)), "collection", typeJSON, "the collection"},
	}
	if len(feats) == p.Limit {
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Set("after", strconv.FormatInt(feats[len(feats)-1].ID, 10))
		next.Set("limit", strconv.Itoa(p.Limit))
		links = append(links, link{self + "?" + next.Encode(), "next", typeGeoJSON, "the next page"})
	}
	w.Header().Set("Content-Crs", "<"+out.URI+">")
	doc := map[string]any{
		"type": "FeatureCollection", "features": feats, "links": links,
		"numberReturned": len(feats), "timeStamp": time.Now().UTC().Format(time.RFC3339),
	}
	return a.write(w, r, typeGeoJSON, doc, func() (string, any) {
		return "items", map[string]any{"layer": l, "features": htmlFeatures(feats), "links": links, "crs": out.URI}
	})
}

func encodeQuery(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// featureID is the {featureId} of the URL: gusu's ids are whole numbers,
// so anything else names no feature (404).
func featureID(r *http.Request, l *layers.Layer) (int64, error) {
	fid := mux.Vars(r)["featureId"]
	id, err := strconv.ParseInt(fid, 10, 64)
	if err != nil {
		return 0, httpapi.NotFound(fmt.Sprintf("no feature %q in %s", fid, l.Name), nil)
	}
	return id, nil
}

func (a *API) item(w http.ResponseWriter, r *http.Request) error {
	l, err := a.lookup(r)
	if err != nil {
		return err
	}
	id, err := featureID(r, l)
	if err != nil {
		return err
	}
	fid := mux.Vars(r)["featureId"]
	q := r.URL.Query()
	for k := range q {
		if k != "crs" && k != "f" && k != "token" {
			return httpapi.BadRequest(fmt.Sprintf("unknown parameter %q; known: crs, f", k), map[string]any{"parameter": k})
		}
	}
	out, err := parseCRS(q.Get("crs"))
	if err != nil {
		return httpapi.BadRequest(err.Error(), map[string]any{"parameter": "crs"})
	}
	feats, err := a.query(r.Context(), l, layers.FeatureParams{ID: &id, Limit: 1, Output: out.OutputCRS, KeepNulls: true})
	if err != nil {
		return err
	}
	if len(feats) == 0 {
		return httpapi.NotFound(fmt.Sprintf("no feature %d in %s", id, l.Name), nil)
	}
	f := feats[0]
	coll := a.base(r) + "/collections/" + url.PathEscape(l.Name)
	self := coll + "/items/" + fid
	f.Links = []link{
		{addQuery(self, tokenQuery(r)), "self", typeGeoJSON, "this feature"},
		{withF(addQuery(self, tokenQuery(r)), "html"), "alternate", typeHTML, "this feature as HTML"},
		{addQuery(coll, tokenQuery(r)), "collection", typeJSON, "the collection"},
	}
	w.Header().Set("Content-Crs", "<"+out.URI+">")
	return a.write(w, r, typeGeoJSON, f, func() (string, any) {
		return "item", map[string]any{"layer": l, "feature": htmlFeatures([]feature{f})[0], "links": f.Links, "crs": out.URI}
	})
}

// edit is PATCH (a merge patch of a GeoJSON feature: the properties given
// are set, null clears one, a geometry replaces the feature's) or PUT (the
// whole feature) on one item, as OGC API – Features Part 4 describes. Each
// edit is a new version of the layer (or, with ?review=true or a layer that
// requires review, a proposal); editors only.
func (a *API) edit(w http.ResponseWriter, r *http.Request) error {
	if a.Auth == nil {
		return httpapi.New(http.StatusForbidden, "editing needs token authentication, which this server does not have")
	}
	tok, err := a.Auth.Require(r, auth.Editor)
	if err != nil {
		return err
	}
	l, err := a.lookup(r)
	if err != nil {
		return err
	}
	id, err := featureID(r, l)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	review := false
	for k, v := range q {
		switch {
		case k == "review" && (v[0] == "true" || v[0] == "false"):
			review = v[0] == "true"
		case k == "token":
		default:
			return httpapi.BadRequest(fmt.Sprintf("parameter %s=%q is not understood; known: review=true|false", k, v[0]), nil)
		}
	}
	var body struct {
		Type       string                     `json:"type"`
		ID         json.RawMessage            `json:"id"`
		Geometry   json.RawMessage            `json:"geometry"`
		Properties map[string]json.RawMessage `json:"properties"`
		Links      json.RawMessage            `json:"links"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 16<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return httpapi.BadRequest("the body must be a GeoJSON feature {\"type\": \"Feature\", \"geometry\": …, \"properties\": {…}}: "+err.Error(), nil)
	}
	if body.Type != "" && body.Type != "Feature" {
		return httpapi.BadRequest(fmt.Sprintf("the body's type must be Feature, not %q", body.Type), nil)
	}
	e := upload.Edit{Layer: l.Name, ID: id, Properties: body.Properties, Replace: r.Method == http.MethodPut, Review: review, User: tok.Name}
	if len(body.Geometry) > 0 && string(body.Geometry) != "null" {
		e.Geometry = body.Geometry
	}
	rep, err := upload.EditFeature(r.Context(), a.Pool, e)
	if err != nil {
		return upload.HTTPError(err)
	}
	status := http.StatusOK
	if rep.Proposal != nil {
		status = http.StatusAccepted
	} else if a.Committed != nil {
		a.Committed(l.Name)
	}
	httpapi.WriteJSON(w, status, rep)
	return nil
}
