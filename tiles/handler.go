package tiles

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/gusu-gis/gusu/data/auth"
	"github.com/gusu-gis/gusu/data/httpapi"
	"github.com/gusu-gis/gusu/data/layers"
)

// MVTContentType is the registered media type of Mapbox Vector Tiles.
const MVTContentType = "application/vnd.mapbox-vector-tile"

// maxLayersPerTile bounds composite requests.
const maxLayersPerTile = 16

// Handler serves /tiles/... and /styles/gusu.json.
type Handler struct {
	Server       *Server
	Log          *slog.Logger
	PublicURL    string
	CacheControl string
	Metrics      *Metrics
	// Auth guards private layers; nil treats every layer as public.
	Auth *auth.Authenticator
}

// authorize requires a viewer token when any of names is a private layer,
// and reports whether one was.
func (h *Handler) authorize(r *http.Request, names []string) (bool, error) {
	private := false
	for _, n := range names {
		l, err := h.Server.reg.Get(r.Context(), n)
		if err != nil {
			return false, err
		}
		private = private || l.Private
	}
	return private, h.Auth.RequireForLayer(r, private)
}

// Routes registers the tile routes on r.
func (h *Handler) Routes(r *mux.Router) {
	r.Handle("/tiles/{layers}/{z}/{x}/{y}", http.HandlerFunc(h.serveTile)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/tiles/{layers}.json", httpapi.Handler(h.Log, h.tileJSON)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/styles/gusu.json", httpapi.Handler(h.Log, h.style)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/fonts/{fontstack}/{range}", httpapi.Handler(h.Log, h.glyphs)).Methods(http.MethodGet, http.MethodHead)
}

// ParseLayers splits a comma-separated layer list, rejecting empty names,
// duplicates and overlong lists.
func ParseLayers(s string) ([]string, error) {
	names := strings.Split(s, ",")
	if len(names) > maxLayersPerTile {
		return nil, &BadRequestError{Msg: fmt.Sprintf("at most %d layers per tile, got %d", maxLayersPerTile, len(names))}
	}
	seen := map[string]bool{}
	for _, n := range names {
		if n == "" {
			return nil, &BadRequestError{Msg: fmt.Sprintf("empty layer name in %q", s)}
		}
		if seen[n] {
			return nil, &BadRequestError{Msg: fmt.Sprintf("layer %q is named twice", n)}
		}
		seen[n] = true
	}
	return names, nil
}

// apiError maps the tile core's errors to HTTP errors.
func apiError(err error) error {
	var bad *BadRequestError
	var unknown *layers.UnknownLayerError
	switch {
	case errors.As(err, &bad):
		if bad.Detail == nil {
			// A nil map in the any parameter would be written as "detail": null.
			return httpapi.BadRequest(bad.Msg, nil)
		}
		return httpapi.BadRequest(bad.Msg, bad.Detail)
	case errors.As(err, &unknown):
		return httpapi.NotFound(unknown.Error(), map[string]any{"layer": unknown.Name, "known": unknown.Known})
	}
	return err
}

func (h *Handler) parseRequest(r *http.Request) (Request, error) {
	v := mux.Vars(r)
	names, err := ParseLayers(v["layers"])
	if err != nil {
		return Request{}, err
	}
	ys, ext, ok := strings.Cut(v["y"], ".")
	if !ok || ext != "mvt" {
		return Request{}, &BadRequestError{Msg: fmt.Sprintf("tile URL must end in {z}/{x}/{y}.mvt, got %q", v["y"]), Detail: map[string]any{"expected": ".mvt"}}
	}
	t, err := ParseTile(v["z"], v["x"], ys)
	if err != nil {
		return Request{}, err
	}
	req := Request{Layers: names, Tile: t}
	q := r.URL.Query()
	for k := range q {
		if k != "properties" && k != "token" {
			return Request{}, &BadRequestError{Msg: fmt.Sprintf("unknown parameter %q; known: properties", k)}
		}
	}
	if q.Has("properties") {
		req.Properties = []string{}
		for _, p := range strings.Split(q.Get("properties"), ",") {
			if p = strings.TrimSpace(p); p != "" {
				req.Properties = append(req.Properties, p)
			}
		}
	}
	return req, nil
}

func (h *Handler) serveTile(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	// Metric labels are one per layer (a composite counts for each of its
	// layers), never the requested list, whose orders and subsets are
	// unbounded; private layers are counted as "private" so /metrics names
	// none of them.
	labels := []string{"invalid"}
	status := http.StatusOK
	defer func() {
		for _, l := range labels {
			h.Metrics.observeRequest(l, fmt.Sprint(status), time.Since(start))
		}
	}()
	fail := func(err error) {
		e := httpapi.Classify(r.Context(), apiError(err))
		status = e.Status
		httpapi.Write(w, r, h.Log, e)
	}
	req, err := h.parseRequest(r)
	if err != nil {
		fail(err)
		return
	}
	labels = []string{"unknown"}
	private, err := h.authorize(r, req.Layers)
	if err != nil {
		fail(err)
		return
	}
	labels = h.metricLabels(r, req.Layers)
	p, err := h.Server.plan(r.Context(), req)
	if err != nil {
		fail(err)
		return
	}
	hdr := w.Header()
	// One ETag per encoding: the gzip and identity bodies differ, and a
	// cache holding one must not revalidate it with the other's tag.
	gz := acceptsGzip(r)
	etag := p.etag
	if gz {
		etag = strings.TrimSuffix(etag, `"`) + `-gzip"`
	}
	hdr.Set("ETag", etag)
	hdr.Set("Cache-Control", h.CacheControl)
	if private {
		hdr.Set("Cache-Control", "private, no-cache")
	} else {
		// CDNs that purge by tag (gusu serve --purge-url names the key).
		keys := make([]string, len(req.Layers))
		for i, n := range req.Layers {
			keys[i] = "layer:" + n
		}
		hdr.Set("Surrogate-Key", strings.Join(keys, " "))
		hdr.Set("Cache-Tag", strings.Join(keys, ","))
	}
	hdr.Set("Vary", "Accept-Encoding")
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		status = http.StatusNotModified
		w.WriteHeader(status)
		return
	}
	t, err := h.Server.tileFor(r.Context(), req.Tile, p)
	if err != nil {
		fail(err)
		return
	}
	if t.Empty() {
		status = http.StatusNoContent
		w.WriteHeader(status)
		return
	}
	body := t.Raw
	if gz {
		body = t.Gzip
		hdr.Set("Content-Encoding", "gzip")
	}
	hdr.Set("Content-Type", MVTContentType)
	hdr.Set("Content-Length", fmt.Sprint(len(body)))
	if t.Reduced != "" {
		// The tile was over the size budget and was generalised further.
		hdr.Set("X-Gusu-Tile-Reduced", t.Reduced)
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// metricLabels are the request's layers as metric labels: known layers by
// name, private ones as "private".
func (h *Handler) metricLabels(r *http.Request, names []string) []string {
	if h.Metrics == nil {
		return nil // nothing is recorded: no lookups
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		l, err := h.Server.reg.Get(r.Context(), n)
		switch {
		case err != nil:
			out = append(out, "unknown")
		case l.Private:
			out = append(out, "private")
		default:
			out = append(out, n)
		}
	}
	return out
}

func acceptsGzip(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(params, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// etagMatches implements If-None-Match's weak comparison over a list.
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	for c := range strings.SplitSeq(header, ",") {
		c = strings.TrimPrefix(strings.TrimSpace(c), "W/")
		if c == "*" || c == etag {
			return true
		}
	}
	return false
}

func (h *Handler) tileJSON(w http.ResponseWriter, r *http.Request) error {
	names, err := ParseLayers(mux.Vars(r)["layers"])
	if err != nil {
		return apiError(err)
	}
	if _, err := h.authorize(r, names); err != nil {
		return apiError(err)
	}
	base := httpapi.BaseURL(r, h.PublicURL)
	tj, err := h.Server.TileJSON(r.Context(), names, base)
	if err != nil {
		return apiError(err)
	}
	if tok := r.URL.Query().Get("token"); tok != "" {
		// Embedded maps of private layers carry their token into tile URLs.
		for i := range tj.Tiles {
			tj.Tiles[i] += "?token=" + url.QueryEscape(tok)
		}
	}
	w.Header().Set("Cache-Control", "no-cache")
	httpapi.WriteJSON(w, http.StatusOK, tj)
	return nil
}

func (h *Handler) style(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-cache")
	httpapi.WriteJSON(w, http.StatusOK, Style(httpapi.BaseURL(r, h.PublicURL)))
	return nil
}
