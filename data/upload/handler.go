package upload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gusu-gis/gusu/data/audit"
	"github.com/gusu-gis/gusu/data/auth"
	"github.com/gusu-gis/gusu/data/httpapi"
	"github.com/gusu-gis/gusu/data/layers"
)

// API serves layer creation, uploads, versions, restores and red-line checks.
type API struct {
	Pool *pgxpool.Pool
	Auth *auth.Authenticator
	Log  *slog.Logger
	// MaxUploadBytes bounds a request body (413 beyond).
	MaxUploadBytes int64
	// TempDir receives spooled uploads; empty: the system's.
	TempDir string
	// Committed, if set, is called with the layer after each committed
	// change (upload, restore, creation), before the response is sent.
	Committed func(layer string)
	// Timeout bounds one upload from its first byte to its answer
	// (--upload-timeout); it replaces the server's read and write
	// deadlines for this request. 0: the server's deadlines apply.
	Timeout time.Duration
	// QueryTimeout bounds the other routes' queries (--db-timeout); 0: none.
	QueryTimeout time.Duration
	// MaxFeatures bounds the features of one upload; 0: no bound.
	MaxFeatures int
	// Slots bounds the uploads that run at once (each holds a database
	// connection and a transaction for its whole run); nil: no bound.
	Slots *httpapi.Limiter
}

// queryContext bounds a short route's database work by QueryTimeout.
func (a *API) queryContext(r *http.Request) (context.Context, context.CancelFunc) {
	if a.QueryTimeout > 0 {
		return context.WithTimeout(r.Context(), a.QueryTimeout)
	}
	return context.WithCancel(r.Context())
}

func (a *API) committed(layer string) {
	if a.Committed != nil {
		a.Committed(layer)
	}
}

// Routes registers the API's routes on r.
func (a *API) Routes(r *mux.Router) {
	r.Handle("/api/layers", httpapi.Handler(a.Log, a.create)).Methods(http.MethodPost)
	r.Handle("/api/layers/{name}", httpapi.Handler(a.Log, a.update)).Methods(http.MethodPatch)
	r.Handle("/api/layers/{name}", httpapi.Handler(a.Log, a.remove)).Methods(http.MethodDelete)
	r.Handle("/api/layers/{name}/uploads", httpapi.Handler(a.Log, a.upload)).Methods(http.MethodPost)
	r.Handle("/api/layers/{name}/versions", httpapi.Handler(a.Log, a.versions)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/api/layers/{name}/versions/{version}/restore", httpapi.Handler(a.Log, a.restore)).Methods(http.MethodPost)
	r.Handle("/api/checks/redlines", httpapi.Handler(a.Log, a.redlines)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/api/proposals", httpapi.Handler(a.Log, a.proposals)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/api/proposals/{id:[0-9]+}", httpapi.Handler(a.Log, a.proposal)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/api/proposals/{id:[0-9]+}/features", httpapi.Handler(a.Log, a.proposalFeatures)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/api/proposals/{id:[0-9]+}/approve", httpapi.Handler(a.Log, a.decide(true))).Methods(http.MethodPost)
	r.Handle("/api/proposals/{id:[0-9]+}/reject", httpapi.Handler(a.Log, a.decide(false))).Methods(http.MethodPost)
	r.Handle("/api/audit", httpapi.Handler(a.Log, a.audit)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/api/layers/{name}/audit", httpapi.Handler(a.Log, a.audit)).Methods(http.MethodGet, http.MethodHead)
}

// HTTPError gives an upload error (of EditFeature, say) its HTTP status,
// for other packages' handlers.
func HTTPError(err error) error { return apiError(err) }

// apiError gives upload errors their HTTP status.
func apiError(err error) error {
	var ue *Error
	if !errors.As(err, &ue) {
		return err
	}
	status := map[Kind]int{BadInput: http.StatusBadRequest, Unsupported: http.StatusUnsupportedMediaType,
		Rejected: http.StatusUnprocessableEntity, NotFound: http.StatusNotFound, Conflict: http.StatusConflict}[ue.Kind]
	if status == 0 {
		status = http.StatusBadRequest
	}
	return &httpapi.Error{Status: status, Message: ue.Msg, Detail: ue.Detail}
}

func (a *API) create(w http.ResponseWriter, r *http.Request) error {
	tok, err := a.Auth.Require(r, auth.Editor)
	if err != nil {
		return err
	}
	var spec LayerSpec
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return httpapi.BadRequest("the body must be a JSON object {name, title, kind, description, attribution, license, private, minzoom, maxzoom}: "+err.Error(), nil)
	}
	if err := CreateLayer(r.Context(), a.Pool, spec, tok.Name); err != nil {
		return apiError(err)
	}
	a.committed(spec.Name)
	httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"layer": spec.Name, "version": 1,
		"links": map[string]string{"uploads": "/api/layers/" + spec.Name + "/uploads", "self": "/api/layers/" + spec.Name}})
	return nil
}

// update is PATCH /api/layers/{name} {title, description, attribution,
// private}: admin only.
func (a *API) update(w http.ResponseWriter, r *http.Request) error {
	tok, err := a.Auth.Require(r, auth.Admin)
	if err != nil {
		return err
	}
	var c LayerChange
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return httpapi.BadRequest("the body must be a JSON object with any of {title, description, attribution, private}: "+err.Error(), nil)
	}
	name := mux.Vars(r)["name"]
	ctx, cancel := a.queryContext(r)
	defer cancel()
	version, err := UpdateLayer(ctx, a.Pool, name, c, tok.Name)
	if err != nil {
		return apiError(err)
	}
	a.committed(name)
	a.Log.Info("layer changed", "layer", name, "version", version, "by", tok.Name)
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"layer": name, "version": version, "changed": c})
	return nil
}

// remove is DELETE /api/layers/{name}: admin only, uploaded layers only.
func (a *API) remove(w http.ResponseWriter, r *http.Request) error {
	tok, err := a.Auth.Require(r, auth.Admin)
	if err != nil {
		return err
	}
	name := mux.Vars(r)["name"]
	if err := DeleteLayer(r.Context(), a.Pool, name, tok.Name); err != nil {
		return apiError(err)
	}
	a.committed(name)
	a.Log.Info("layer deleted", "layer", name, "by", tok.Name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) upload(w http.ResponseWriter, r *http.Request) error {
	tok, err := a.Auth.Require(r, auth.Editor)
	if err != nil {
		return err
	}
	if a.Timeout > 0 {
		// An upload may take far longer than other requests to arrive and
		// to commit; its client must still get the answer.
		deadline := time.Now().Add(a.Timeout)
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(deadline); err != nil {
			a.Log.Warn("cannot extend the upload's read deadline", "error", err)
		}
		if err := rc.SetWriteDeadline(deadline.Add(30 * time.Second)); err != nil {
			a.Log.Warn("cannot extend the upload's write deadline", "error", err)
		}
		ctx, cancel := context.WithDeadline(r.Context(), deadline)
		defer cancel()
		r = r.WithContext(ctx)
	}
	q := r.URL.Query()
	opts := Options{Layer: mux.Vars(r)["name"], CRS: q.Get("crs"), Table: q.Get("table"), Encoding: q.Get("encoding"), Key: q.Get("key"), User: tok.Name,
		MaxFeatures: a.MaxFeatures}
	for k := range q {
		switch k {
		case "mode", "crs", "on_invalid", "table", "encoding", "key", "allow_empty", "review", "token":
		default:
			return httpapi.BadRequest(fmt.Sprintf("unknown parameter %q; known: mode, crs, on_invalid, table, encoding, key, allow_empty, review", k), nil)
		}
	}
	switch q.Get("review") {
	case "", "false":
	case "true":
		opts.Review = true
	default:
		return httpapi.BadRequest(fmt.Sprintf("review must be true or false, not %q", q.Get("review")), nil)
	}
	switch q.Get("allow_empty") {
	case "", "false":
	case "true":
		opts.AllowEmpty = true
	default:
		return httpapi.BadRequest(fmt.Sprintf("allow_empty must be true or false, not %q", q.Get("allow_empty")), nil)
	}
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		if len(key) > 255 || strings.ContainsFunc(key, func(c rune) bool { return c < 0x20 || c > 0x7e }) {
			return httpapi.BadRequest("Idempotency-Key must be at most 255 printable ASCII characters (a UUID, say)", nil)
		}
		opts.IdempotencyKey = key
	}
	switch q.Get("mode") {
	case "", "replace":
	case "append":
		opts.Append = true
	default:
		return httpapi.BadRequest(fmt.Sprintf("mode must be replace or append, not %q", q.Get("mode")), nil)
	}
	switch q.Get("on_invalid") {
	case "", "repair":
	case "reject":
		opts.Reject = true
	default:
		return httpapi.BadRequest(fmt.Sprintf("on_invalid must be repair or reject, not %q", q.Get("on_invalid")), nil)
	}
	path, name, sum, err := a.spool(w, r)
	if err != nil {
		return err
	}
	defer os.Remove(path)
	opts.FileName = name
	// The same bytes under the same name with the same options are the
	// same upload.
	opts.Fingerprint = fingerprint(sum, name, q)
	release, err := a.Slots.Acquire(r.Context())
	if err != nil {
		return err
	}
	defer release()
	rep, err := Run(r.Context(), a.Pool, path, opts)
	if err != nil {
		return apiError(hidePath(err, path, name))
	}
	status := http.StatusCreated
	switch {
	case rep.Proposal != nil:
		// Accepted for review: nothing is live yet.
		status = http.StatusAccepted
		a.Log.Info("upload proposed for review", "layer", rep.Layer, "proposal", rep.Proposal.ID, "by", tok.Name)
	case rep.Replayed:
		a.Log.Info("upload replayed for its Idempotency-Key", "layer", rep.Layer, "version", rep.Version, "by", tok.Name)
	default:
		a.committed(opts.Layer)
		a.Log.Info("upload committed", "layer", rep.Layer, "version", rep.Version, "features", rep.FeaturesWritten, "by", tok.Name, "took_ms", rep.TookMS)
	}
	if rep.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	httpapi.WriteJSON(w, status, rep)
	return nil
}

// hidePath replaces the spool's server path in a client-facing error with
// the client's own file name: readers' errors may quote the path.
func hidePath(err error, path, name string) error {
	var ue *Error
	if errors.As(err, &ue) && strings.Contains(ue.Msg, path) {
		c := *ue
		c.Msg = strings.ReplaceAll(c.Msg, path, name)
		return &c
	}
	return err
}

// fingerprint hashes what makes an upload the same upload.
func fingerprint(fileSum []byte, name string, q url.Values) string {
	h := sha256.New()
	h.Write(fileSum)
	fmt.Fprintf(h, "\x00%s\x00", name)
	for _, k := range []string{"mode", "crs", "on_invalid", "table", "encoding", "key", "allow_empty", "review"} {
		fmt.Fprintf(h, "%s=%s\x00", k, q.Get(k))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// spool streams the request's one file part to a temporary file: bounded
// memory whatever the size, and zip and GeoPackage readers need a file.
// It returns the spool's path, the client's file name and the SHA-256 of
// the file's bytes.
func (a *API) spool(w http.ResponseWriter, r *http.Request) (string, string, []byte, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		return "", "", nil, &httpapi.Error{Status: http.StatusBadRequest, Message: "send the file as multipart/form-data (one file field)"}
	}
	r.Body = http.MaxBytesReader(w, r.Body, a.MaxUploadBytes)
	mr, err := r.MultipartReader()
	if err != nil {
		return "", "", nil, httpapi.BadRequest("unreadable multipart request: "+err.Error(), nil)
	}
	var path, name string
	var sum []byte
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", "", nil, tooLarge(err, a.MaxUploadBytes, path)
		}
		if part.FileName() == "" {
			part.Close()
			continue
		}
		if path != "" {
			os.Remove(path)
			return "", "", nil, httpapi.BadRequest("one file per upload: zip a Shapefile's parts together", nil)
		}
		f, err := os.CreateTemp(a.TempDir, SpoolPrefix+"*"+spoolExt(part.FileName()))
		if err != nil {
			return "", "", nil, fmt.Errorf("spool upload: %w", err)
		}
		path, name = f.Name(), filepath.Base(part.FileName())
		h := sha256.New()
		_, err = io.Copy(io.MultiWriter(f, h), part)
		f.Close()
		part.Close()
		if err != nil {
			return "", "", nil, tooLarge(err, a.MaxUploadBytes, path)
		}
		sum = h.Sum(nil)
	}
	if path == "" {
		return "", "", nil, httpapi.BadRequest("the request has no file: send one multipart field with a filename", nil)
	}
	return path, name, sum, nil
}

// SpoolPrefix names spooled uploads in the temp dir, so stale ones (of a
// process that was killed mid-upload) can be found and removed at start.
const SpoolPrefix = "gusu-upload-"

// spoolExt is the file's extension if it is a plain one: a client's name
// never shapes a server path beyond that.
func spoolExt(name string) string {
	ext := strings.ToLower(filepath.Ext(name))
	if len(ext) > 10 || strings.ContainsFunc(ext[min(1, len(ext)):], func(c rune) bool { return !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') }) {
		return ""
	}
	return ext
}

// CleanStaleSpools removes spooled uploads older than age from dir (the
// system temp dir if empty): a killed process leaves its spool behind.
func CleanStaleSpools(dir string, age time.Duration) (int, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	matches, err := filepath.Glob(filepath.Join(dir, SpoolPrefix+"*"))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range matches {
		// Spooled files, and the sandboxes GDAL conversions ran in.
		if fi, err := os.Lstat(m); err == nil && (fi.Mode().IsRegular() || fi.IsDir()) && time.Since(fi.ModTime()) > age {
			if os.RemoveAll(m) == nil {
				n++
			}
		}
	}
	return n, nil
}

func tooLarge(err error, limit int64, path string) error {
	if path != "" {
		os.Remove(path)
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		size := fmt.Sprintf("%d MiB", limit>>20)
		if limit < 1<<20 {
			size = fmt.Sprintf("%d KiB", limit>>10)
		}
		return &httpapi.Error{Status: http.StatusRequestEntityTooLarge, Message: "the upload is larger than the limit of " + size + " (--max-upload-mb)"}
	}
	return httpapi.BadRequest("the upload was cut short before the whole file arrived", map[string]any{"reason": err.Error()})
}

func (a *API) requirePrivate(r *http.Request, layer string) error {
	var private bool
	err := a.Pool.QueryRow(r.Context(), "SELECT private FROM gusu_layers WHERE name = $1", layer).Scan(&private)
	if err != nil {
		return nil // unknown layers get their 404 from what follows
	}
	return a.Auth.RequireForLayer(r, private)
}

func (a *API) versions(w http.ResponseWriter, r *http.Request) error {
	layer := mux.Vars(r)["name"]
	if err := a.requirePrivate(r, layer); err != nil {
		return err
	}
	ctx, cancel := a.queryContext(r)
	defer cancel()
	vs, err := Versions(ctx, a.Pool, layer)
	if err != nil {
		return apiError(err)
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"layer": layer, "versions": vs})
	return nil
}

func (a *API) restore(w http.ResponseWriter, r *http.Request) error {
	tok, err := a.Auth.Require(r, auth.Editor)
	if err != nil {
		return err
	}
	v, err := strconv.Atoi(mux.Vars(r)["version"])
	if err != nil || v < 0 {
		return httpapi.BadRequest(fmt.Sprintf("version %q is not a whole number", mux.Vars(r)["version"]), nil)
	}
	ver, layerVersion, err := Restore(r.Context(), a.Pool, mux.Vars(r)["name"], v, tok.Name)
	if err != nil {
		return apiError(err)
	}
	a.committed(mux.Vars(r)["name"])
	httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"layer": mux.Vars(r)["name"], "version": ver, "layer_version": layerVersion})
	return nil
}

func (a *API) redlines(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	layer := q.Get("layer")
	if layer == "" {
		return httpapi.BadRequest("name the layer to check: ?layer=…[&version=N]", nil)
	}
	if err := a.requirePrivate(r, layer); err != nil {
		return err
	}
	version := 0
	if s := q.Get("version"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return httpapi.BadRequest(fmt.Sprintf("version %q is not a whole number", s), nil)
		}
		version = n
	}
	ctx, cancel := a.queryContext(r)
	defer cancel()
	c, v, err := CheckVersion(ctx, a.Pool, layer, version)
	if err != nil {
		return apiError(err)
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"layer": layer, "version": v, "redline_check": c})
	return nil
}

func proposalID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(mux.Vars(r)["id"], 10, 64)
	if err != nil {
		return 0, httpapi.NotFound("no such proposal", nil)
	}
	return id, nil
}

// proposals is GET /api/proposals?layer=&status=: reviewers' queue.
func (a *API) proposals(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.Auth.Require(r, auth.Reviewer); err != nil {
		return err
	}
	q := r.URL.Query()
	status := q.Get("status")
	switch status {
	case "", "proposed", "approved", "rejected":
	default:
		return httpapi.BadRequest(fmt.Sprintf("status must be proposed, approved or rejected, not %q", status), nil)
	}
	ctx, cancel := a.queryContext(r)
	defer cancel()
	ps, err := ListProposals(ctx, a.Pool, q.Get("layer"), status)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"proposals": ps})
	return nil
}

// proposal is GET /api/proposals/{id}: the report, diff with changed
// attributes, and conformity checks, for the reviewer.
func (a *API) proposal(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := a.queryContext(r)
	defer cancel()
	p, err := a.reviewedProposal(ctx, r)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, p)
	return nil
}

// reviewedProposal checks for a reviewer's token and loads the proposal the
// URL names.
func (a *API) reviewedProposal(ctx context.Context, r *http.Request) (*Proposal, error) {
	if _, err := a.Auth.Require(r, auth.Reviewer); err != nil {
		return nil, err
	}
	id, err := proposalID(r)
	if err != nil {
		return nil, err
	}
	p, err := GetProposal(ctx, a.Pool, id)
	if err != nil {
		return nil, apiError(err)
	}
	return p, nil
}

// proposalFeatures is GET /api/proposals/{id}/features: the proposed
// features as GeoJSON, paged like the features API (limit, after).
func (a *API) proposalFeatures(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := a.queryContext(r)
	defer cancel()
	p, err := a.reviewedProposal(ctx, r)
	if err != nil {
		return err
	}
	id := p.ID
	l, err := ProposalLayer(ctx, a.Pool, p)
	if err != nil {
		return apiError(err)
	}
	params := layers.FeatureParams{Limit: layers.DefaultLimit}
	q := r.URL.Query()
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > layers.MaxLimit {
			return httpapi.BadRequest(fmt.Sprintf("limit must be a whole number from 1 to %d", layers.MaxLimit), nil)
		}
		params.Limit = n
	}
	if s := q.Get("after"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return httpapi.BadRequest("after must be a feature id", nil)
		}
		params.After = &n
	}
	sq := layers.FeaturesQuery(l, params)
	rows, err := a.Pool.Query(ctx, sq.SQL, sq.Args...)
	if err != nil {
		return fmt.Errorf("features of proposal %d: %w", id, err)
	}
	defer rows.Close()
	type feat struct {
		Type       string          `json:"type"`
		ID         int64           `json:"id"`
		Geometry   json.RawMessage `json:"geometry"`
		Properties json.RawMessage `json:"properties"`
	}
	feats := []feat{}
	for rows.Next() {
		var f feat
		var g, pr string
		if err := rows.Scan(&f.ID, &g, &pr); err != nil {
			return fmt.Errorf("features of proposal %d: %w", id, err)
		}
		f.Type, f.Geometry, f.Properties = "Feature", json.RawMessage(g), json.RawMessage(pr)
		feats = append(feats, f)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("features of proposal %d: %w", id, err)
	}
	w.Header().Set("Content-Type", "application/geo+json")
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"type": "FeatureCollection", "proposal": id, "layer": p.Layer, "features": feats})
	return nil
}

// decide is POST /api/proposals/{id}/approve {comment} or …/reject {reason}.
func (a *API) decide(approve bool) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		tok, err := a.Auth.Require(r, auth.Reviewer)
		if err != nil {
			return err
		}
		id, err := proposalID(r)
		if err != nil {
			return err
		}
		var body struct {
			Comment string `json:"comment"`
			Reason  string `json:"reason"`
		}
		if r.ContentLength != 0 {
			dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&body); err != nil && !errors.Is(err, io.EOF) {
				return httpapi.BadRequest("the body must be JSON {\"comment\": …} to approve or {\"reason\": …} to reject: "+err.Error(), nil)
			}
		}
		var p *Proposal
		if approve {
			p, err = Approve(r.Context(), a.Pool, id, tok.Name, body.Comment)
		} else {
			p, err = Reject(r.Context(), a.Pool, id, tok.Name, body.Reason)
		}
		if err != nil {
			return apiError(err)
		}
		if approve {
			a.committed(p.Layer)
		}
		a.Log.Info("proposal decided", "proposal", id, "layer", p.Layer, "status", p.Status, "by", tok.Name)
		httpapi.WriteJSON(w, http.StatusOK, p)
		return nil
	}
}

// audit is GET /api/audit and /api/layers/{name}/audit: the append-only
// record of actions, newest first (?before=<id>&limit=).
func (a *API) audit(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.Auth.Require(r, auth.Reviewer); err != nil {
		return err
	}
	q := r.URL.Query()
	limit, before := 100, int64(0)
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return httpapi.BadRequest("limit must be a whole number from 1 to 1000", nil)
		}
		limit = n
	}
	if s := q.Get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return httpapi.BadRequest("before must be an entry id", nil)
		}
		before = n
	}
	layer := mux.Vars(r)["name"]
	if layer == "" {
		layer = q.Get("layer")
	}
	ctx, cancel := a.queryContext(r)
	defer cancel()
	entries, err := audit.List(ctx, a.Pool, layer, before, limit)
	if err != nil {
		return err
	}
	out := map[string]any{"entries": entries}
	if len(entries) == limit {
		out["next"] = fmt.Sprintf("%s?before=%d&limit=%d", r.URL.Path, entries[len(entries)-1].ID, limit)
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}
