package upload

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

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
}

func (a *API) committed(layer string) {
	if a.Committed != nil {
		a.Committed(layer)
	}
}

// Routes registers the API's routes on r.
func (a *API) Routes(r *mux.Router) {
	r.Handle("/api/layers", httpapi.Handler(a.Log, a.create)).Methods(http.MethodPost)
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
	httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"layer": spec.Name, "version": 0,
		"links": map[string]string{"uploads": "/api/layers/" + spec.Name + "/uploads", "self": "/api/layers/" + spec.Name}})
	return nil
}

func (a *API) upload(w http.ResponseWriter, r *http.Request) error {
	tok, err := a.Auth.Require(r, auth.Editor)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	opts := Options{Layer: mux.Vars(r)["name"], CRS: q.Get("crs"), Table: q.Get("table"), Encoding: q.Get("encoding"), Key: q.Get("key"), User: tok.Name}
	for k := range q {
		switch k {
		case "mode", "crs", "on_invalid", "table", "encoding", "key", "token":
		default:
			return httpapi.BadRequest(fmt.Sprintf("unknown parameter %q; known: mode, crs, on_invalid, table, encoding, key", k), nil)
		}
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
	path, name, err := a.spool(w, r)
	if err != nil {
		return err
	}
	defer os.Remove(path)
	opts.FileName = name
	rep, err := Run(r.Context(), a.Pool, path, opts)
	if err != nil {
		return apiError(err)
	}
	a.committed(opts.Layer)
	a.Log.Info("upload committed", "layer", rep.Layer, "version", rep.Version, "features", rep.FeaturesWritten, "by", tok.Name, "took_ms", rep.TookMS)
	httpapi.WriteJSON(w, http.StatusCreated, rep)
	return nil
}

// spool streams the request's one file part to a temporary file: bounded
// memory whatever the size, and zip and GeoPackage readers need a file.
func (a *API) spool(w http.ResponseWriter, r *http.Request) (string, string, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		return "", "", &httpapi.Error{Status: http.StatusBadRequest, Message: "send the file as multipart/form-data (one file field)"}
	}
	r.Body = http.MaxBytesReader(w, r.Body, a.MaxUploadBytes)
	mr, err := r.MultipartReader()
	if err != nil {
		return "", "", httpapi.BadRequest("unreadable multipart request: "+err.Error(), nil)
	}
	var path, name string
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", "", tooLarge(err, a.MaxUploadBytes, path)
		}
		if part.FileName() == "" {
			part.Close()
			continue
		}
		if path != "" {
			os.Remove(path)
			return "", "", httpapi.BadRequest("one file per upload: zip a Shapefile's parts together", nil)
		}
		f, err := os.CreateTemp(a.TempDir, "gusu-upload-*"+strings.ToLower(filepath.Ext(part.FileName())))
		if err != nil {
			return "", "", fmt.Errorf("spool upload: %w", err)
		}
		path, name = f.Name(), filepath.Base(part.FileName())
		_, err = io.Copy(f, part)
		f.Close()
		part.Close()
		if err != nil {
			return "", "", tooLarge(err, a.MaxUploadBytes, path)
		}
	}
	if path == "" {
		return "", "", httpapi.BadRequest("the request has no file: send one multipart field with a filename", nil)
	}
	return path, name, nil
}

func tooLarge(err error, limit int64, path string) error {
	if path != "" {
		os.Remove(path)
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &httpapi.Error{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("the upload is larger than the limit of %d MiB (--max-upload-mb)", limit>>20)}
	}
	return httpapi.BadRequest("the upload was cut short: "+err.Error(), nil)
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
	vs, err := Versions(r.Context(), a.Pool, layer)
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
	c, v, err := CheckVersion(r.Context(), a.Pool, layer, version)
	if err != nil {
		return apiError(err)
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"layer": layer, "version": v, "redline_check": c})
	return nil
}
