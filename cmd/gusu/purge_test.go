package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gusu-gis/gusu/data/auth"
	"github.com/gusu-gis/gusu/data/dbtest"
	"github.com/gusu-gis/gusu/data/purge"
)

// With --purge-url, an upload through one of two instances reaches the
// hook once, naming the layer, its new version and what to purge; tiles
// carry the layer's surrogate key.
func TestPurgeHookOncePerVersion(t *testing.T) {
	var mu sync.Mutex
	var notices []purge.Notice
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n purge.Notice
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &n)
		mu.Lock()
		notices = append(notices, n)
		mu.Unlock()
	}))
	defer hook.Close()
	url := dbtest.NewDatabase(t, false)
	root, _ := dbtest.TempDir()
	defer os.RemoveAll(root)
	a := startGusu(t, "--database-url", url, "--data-dir", filepath.Join(root, "a"), "--purge-url", hook.URL, "--public-url", "https://maps.example.org")
	startGusu(t, "--database-url", url, "--data-dir", filepath.Join(root, "b"), "--purge-url", hook.URL, "--public-url", "https://maps.example.org")
	tok, _ := auth.Create(context.Background(), dbtest.Pool(t, url), "staff", auth.Editor)
	createLayer(t, a.url, tok, "plots")
	s, rep := uploadFile(t, a.url, "plots", tok, "p.geojson", squares(4, 120.6))
	if s != 201 {
		t.Fatalf("upload: %d %v", s, rep)
	}
	version := int64(rep["version"].(float64))
	deadline := time.Now().Add(20 * time.Second)
	var got []purge.Notice
	for time.Now().Before(deadline) {
		mu.Lock()
		got = nil
		for _, n := range notices {
			if n.Layer == "plots" && n.Version == version {
				got = append(got, n)
			}
		}
		mu.Unlock()
		if len(got) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // time for a second, duplicate notice to arrive, if one were sent
	mu.Lock()
	defer mu.Unlock()
	count := 0
	for _, n := range notices {
		if n.Layer == "plots" && n.Version == version {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("%d notices for plots v%d from two instances, want 1: %+v", count, version, notices)
	}
	if got[0].SurrogateKey != "layer:plots" || !strings.HasPrefix(got[0].URLs[0], "https://maps.example.org/tiles/plots/") {
		t.Fatalf("notice %+v", got[0])
	}
	resp, err := http.Get(a.url + "/tiles/plots/12/3421/1673.mvt")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Surrogate-Key") != "layer:plots" {
		t.Fatalf("Surrogate-Key %q", resp.Header.Get("Surrogate-Key"))
	}
}
