package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"

	"github.com/gusu-gis/gusu/data/dbtest"
)

// `gusu export pmtiles` writes the layers' tiles; `gusu serve --pmtiles
// DIR` serves that file beside the live tiles, with the same content.
func TestExportAndServePMTiles(t *testing.T) {
	url := dbtest.NewDatabase(t, true)
	root, _ := dbtest.TempDir()
	defer os.RemoveAll(root)
	dir := filepath.Join(root, "pmtiles")
	os.MkdirAll(dir, 0o755)
	var stdout bytes.Buffer
	err := run(context.Background(), []string{"export", "pmtiles", "--database-url", url, "--layers", "town_system,rail_lines",
		"--minzoom", "6", "--maxzoom", "11", filepath.Join(dir, "suzhou.pmtiles")}, &stdout, io.Discard)
	if err != nil || !strings.Contains(stdout.String(), "tiles rendered") {
		t.Fatalf("export: %v %s", err, stdout.String())
	}
	for _, bad := range [][]string{{"export", "pmtiles", "--database-url", url, "x.pmtiles"}, {"export", "pmtiles", "--database-url", url, "--layers", "town_system", "--minzoom", "9", "--maxzoom", "3", "x.pmtiles"},
		{"export", "pmtiles", "--database-url", url, "--layers", "town_system", "--format", "shp", "x.pmtiles"}} {
		if err := run(context.Background(), bad, io.Discard, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	g := startGusu(t, "--database-url", url, "--data-dir", filepath.Join(root, "var"), "--pmtiles", dir)
	get := func(u string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Accept-Encoding", "identity")
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.Header.Get("Content-Encoding") == "gzip" {
			b = gunzipBytes(t, b)
		}
		return resp.StatusCode, b
	}
	tl := maptile.At(orb.Point{120.62, 31.30}, 10)
	path := "/" + strings.Join([]string{itoa(int(tl.Z)), itoa(int(tl.X)), itoa(int(tl.Y))}, "/") + ".mvt"
	s2, fromFile := get(g.url + "/pmtiles/suzhou" + path)
	// The server's generalised copies are made current in the background
	// after it starts; until then it takes the direct path.
	s1, live := get(g.url + "/tiles/town_system,rail_lines" + path)
	for i := 0; i < 40 && !bytes.Equal(live, fromFile); i++ {
		time.Sleep(500 * time.Millisecond)
		s1, live = get(g.url + "/tiles/town_system,rail_lines" + path)
	}
	if s1 != 200 || s2 != 200 || !bytes.Equal(live, fromFile) || len(live) == 0 {
		t.Fatalf("live %d (%d bytes), from the file %d (%d bytes)", s1, len(live), s2, len(fromFile))
	}
	s, tj := get(g.url + "/pmtiles/suzhou.json")
	var doc map[string]any
	if s != 200 || json.Unmarshal(tj, &doc) != nil || doc["vector_layers"] == nil {
		t.Fatalf("TileJSON: %d %s", s, tj)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func gunzipBytes(t *testing.T, b []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(zr)
	return out
}
