// Package frontend serves gusu's web viewer (/) and embeddable map
// (/embed): the files in dist/, built from src/ by `node build.mjs` and
// embedded in the binary, so `go build` needs no Node.js.
//
// Static files are compressed once, in memory, for clients that accept
// gzip. A Dir override serves a checkout's frontend/dist from disk instead,
// for working on the viewer without rebuilding gusu.
package frontend

import (
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"

	"github.com/gorilla/mux"
)

//go:embed all:dist
var dist embed.FS

// Basemap is an optional raster basemap for the viewer, for deployments
// that can reach one (e.g. Tianditu's tile service with a key). None by
// default: gusu works with no internet connection.
type Basemap struct {
	Tiles       []string `json:"tiles"` // XYZ URL templates with {z}, {x}, {y}
	Attribution string   `json:"attribution"`
	TileSize    int      `json:"tile_size"`
}

// Handler serves the viewer.
type Handler struct {
	// Dir, if set, serves that directory (a frontend/dist) instead of the embedded build.
	Dir string
	// Basemap, if set, is drawn under the planning layers.
	Basemap *Basemap

	once  sync.Once
	files fs.FS
	mu    sync.Mutex
	gz    map[string][]byte
}

func (h *Handler) fsys() fs.FS {
	h.once.Do(func() {
		if h.Dir != "" {
			h.files = os.DirFS(h.Dir)
			return
		}
		sub, err := fs.Sub(dist, "dist")
		if err != nil {
			panic(err) // the embed pattern guarantees dist/ exists
		}
		h.files = sub
	})
	return h.files
}

// Routes registers /, /embed and /assets/ on r.
func (h *Handler) Routes(r *mux.Router) {
	r.Handle("/", h.page("index.html")).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/embed", h.page("embed.html")).Methods(http.MethodGet, http.MethodHead)
	// The print layout that map export renders (GET /api/maps/export).
	r.Handle("/print", h.page("print.html")).Methods(http.MethodGet, http.MethodHead)
	r.PathPrefix("/assets/").Handler(http.HandlerFunc(h.asset)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/viewer-config.json", http.HandlerFunc(h.config)).Methods(http.MethodGet, http.MethodHead)
}

// config tells the viewer about deployment settings (the basemap).
func (h *Handler) config(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_ = json.NewEncoder(w).Encode(map[string]any{"basemap": h.Basemap})
}

func (h *Handler) page(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		// /embed is made to be framed by other sites; the viewer is not.
		if name == "index.html" {
			w.Header().Set("X-Frame-Options", "SAMEORIGIN")
		}
		h.serve(w, r, name)
	})
}

func (h *Handler) asset(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	if !strings.HasPrefix(name, "assets/") {
		http.NotFound(w, r)
		return
	}
	if strings.HasPrefix(name, "assets/vendor/") {
		// Vendor files change only with a new gusu build; the worker URL
		// carries MapLibre's version, the rest are revalidated cheaply.
		w.Header().Set("Cache-Control", "public, max-age=3600")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	h.serve(w, r, name)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, name string) {
	b, err := fs.ReadFile(h.fsys(), name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if strings.HasSuffix(name, ".mjs") || strings.HasSuffix(name, ".js") {
		ctype = "text/javascript; charset=utf-8"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Vary", "Accept-Encoding")
	etag := fmt.Sprintf(`"%x-%d"`, len(b), crc(b))
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := b
	if len(b) > 1024 && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		body = h.gzipped(name, b)
		w.Header().Set("Content-Encoding", "gzip")
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func (h *Handler) gzipped(name string, b []byte) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gz == nil {
		h.gz = map[string][]byte{}
	}
	if z, ok := h.gz[name]; ok && h.Dir == "" {
		return z
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	h.gz[name] = buf.Bytes()
	return buf.Bytes()
}

// crc is a cheap content fingerprint for ETags (FNV-1a).
func crc(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}
