package frontend

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorilla/mux"
)

// The committed dist/ must be built from the committed sources: rebuild with
// `cd frontend && npm ci && node build.mjs` after changing src/.
func TestDistIsUpToDate(t *testing.T) {
	var info struct {
		Inputs []string `json:"inputs"`
		SHA256 string   `json:"sha256"`
	}
	b, err := os.ReadFile("dist/build-info.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	srcs, err := filepath.Glob("src/*")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"build.mjs", "package-lock.json"}
	for _, s := range srcs {
		want = append(want, filepath.ToSlash(s))
	}
	if strings.Join(want, ",") != strings.Join(info.Inputs, ",") {
		t.Fatalf("dist was built from %v, sources now are %v: rebuild (node build.mjs)", info.Inputs, want)
	}
	h := sha256.New()
	for _, f := range info.Inputs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(f + "\n"))
		h.Write(b)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != info.SHA256 {
		t.Fatalf("sources changed since dist/ was built (hash %s, built from %s): run `node build.mjs` in frontend/", got[:12], info.SHA256[:12])
	}
}

func TestServesPagesAndAssets(t *testing.T) {
	r := mux.NewRouter()
	(&Handler{}).Routes(r)
	srv := httptest.NewServer(r)
	defer srv.Close()
	cases := map[string]struct {
		path, ctype, contains string
		status                int
	}{
		"viewer":          {"/", "text/html", "/assets/viewer.js", 200},
		"embed page":      {"/embed?layers=rail_lines", "text/html", "/assets/embed.js", 200},
		"viewer script":   {"/assets/viewer.js", "text/javascript", "maplibre", 200},
		"MapLibre worker": {"/assets/vendor/maplibre-gl-worker.mjs", "text/javascript", "", 200},
		"no such asset":   {"/assets/nope.js", "", "", 404},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+c.path, nil)
			req.Header.Set("Accept-Encoding", "identity")
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			if c.ctype != "" && !strings.HasPrefix(resp.Header.Get("Content-Type"), c.ctype) {
				t.Errorf("content type %q", resp.Header.Get("Content-Type"))
			}
			if !strings.Contains(string(body), c.contains) {
				t.Errorf("body does not contain %q", c.contains)
			}
		})
	}
	// Nothing outside dist/ is reachable.
	for _, p := range []string{"/assets/../frontend.go", "/assets/%2e%2e/frontend.go", "/assets/..%2ffrontend.go"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), "package frontend") {
			t.Fatalf("%s served Go source", p)
		}
	}
	// Compressed when the client accepts it, for a fast first load.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/assets/vendor/maplibre-gl.mjs", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	zipped, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	raw, _ := os.ReadFile("dist/assets/vendor/maplibre-gl.mjs")
	if resp.Header.Get("Content-Encoding") != "gzip" || len(zipped)*2 > len(raw) {
		t.Fatalf("MapLibre: %d bytes sent for %d (encoding %q)", len(zipped), len(raw), resp.Header.Get("Content-Encoding"))
	}
	t.Logf("MapLibre GL JS: %d KiB, %d KiB gzip-compressed", len(raw)>>10, len(zipped)>>10)
}

// No basemap unless configured (gusu works offline); a configured one is
// handed to the viewer.
func TestViewerConfigBasemap(t *testing.T) {
	for _, h := range []*Handler{{}, {Basemap: &Basemap{Tiles: []string{"https://t0.tianditu.gov.cn/vec_w/wmts?tk=KEY&x={x}&y={y}&l={z}"}, Attribution: "天地图", TileSize: 256}}} {
		r := mux.NewRouter()
		h.Routes(r)
		srv := httptest.NewServer(r)
		resp, err := http.Get(srv.URL + "/viewer-config.json")
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			Basemap *Basemap `json:"basemap"`
		}
		json.NewDecoder(resp.Body).Decode(&cfg)
		resp.Body.Close()
		srv.Close()
		if (h.Basemap == nil) != (cfg.Basemap == nil) || (cfg.Basemap != nil && cfg.Basemap.Attribution != "天地图") {
			t.Fatalf("configured %+v, served %+v", h.Basemap, cfg.Basemap)
		}
	}
}
