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

	"github.com/gusu-gis/gusu/data/auth"
	"github.com/gusu-gis/gusu/data/httpapi"
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
}

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
	if err := DeleteLayer(r.Context(), a.Pool, name); err != nil {
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
		case "mode", "crs", "on_invalid", "table", "encoding", "key", "allow_empty", "token":
		default:
			return httpapi.BadRequest(fmt.Sprintf("unknown parameter %q; known: mode, crs, on_invalid, table, encoding, key, allow_empty", k), nil)
		}
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
	if rep.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
		a.Log.Info("upload replayed for its Idempotency-Key", "layer", rep.Layer, "version", rep.Version, "by", tok.Name)
	} else {
		a.committed(opts.Layer)
		a.Log.Info("upload committed", "layer", rep.Layer, "version", rep.Version, "features", rep.FeaturesWritten, "by", tok.Name, "took_ms", rep.TookMS)
	}
	httpapi.WriteJSON(w, http.StatusCreated, rep)
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
	for _, k := range []string{"mode", "crs", "on_invalid", "table", "encoding", "key", "allow_empty"} {
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
	if err != nil || !private {
		return nil // unknown layers get their 404 from what follows
	}
	_, err = a.Auth.Require(r, auth.Viewer)
	return err
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
