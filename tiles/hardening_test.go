package tiles_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gusu-gis/gusu/data/dbtest"
	"github.com/gusu-gis/gusu/tiles"
)

// The gzip and identity bodies of a tile carry different ETags, and one's
// tag does not validate the other.
func TestETagPerEncoding(t *testing.T) {
	in := newInstance(t, dbtest.NewDatabase(t, true), opts{})
	url := in.srv.URL + "/tiles/town_system,rail_lines/9/427/208.mvt"
	gz, _ := fetch(t, url, "Accept-Encoding", "gzip")
	id, _ := fetch(t, url, "Accept-Encoding", "identity")
	if gz.StatusCode != 200 || id.StatusCode != 200 || gz.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("statuses %d %d, encoding %q", gz.StatusCode, id.StatusCode, gz.Header.Get("Content-Encoding"))
	}
	if gz.Header.Get("ETag") == id.Header.Get("ETag") {
		t.Fatalf("one ETag %q for both encodings", gz.Header.Get("ETag"))
	}
	if resp, _ := fetch(t, url, "Accept-Encoding", "identity", "If-None-Match", gz.Header.Get("ETag")); resp.StatusCode != 200 {
		t.Fatalf("the gzip tag validated the identity body: %d", resp.StatusCode)
	}
	if resp, _ := fetch(t, url, "Accept-Encoding", "gzip", "If-None-Match", gz.Header.Get("ETag")); resp.StatusCode != 304 {
		t.Fatalf("the gzip tag did not validate the gzip body: %d", resp.StatusCode)
	}
	if resp, _ := fetch(t, url, "Accept-Encoding", "identity", "If-None-Match", id.Header.Get("ETag")); resp.StatusCode != 304 {
		t.Fatalf("the identity tag did not validate the identity body: %d", resp.StatusCode)
	}
}

// Tile metrics have one label value per layer, whatever lists, orders and
// unknown names clients send, and private layers are counted as "private".
func TestTileMetricLabelsAreBounded(t *testing.T) {
	url := dbtest.NewDatabase(t, true)
	in := newInstance(t, url, opts{})
	if _, err := in.pool.Exec(context.Background(), "UPDATE gusu_layers SET private = true WHERE name = 'eco_redlines'"); err != nil {
		t.Fatal(err)
	}
	in.reg.Invalidate("eco_redlines")
	reg := prometheus.NewRegistry()
	m := tiles.NewMetrics(reg)
	r := mux.NewRouter()
	(&tiles.Handler{Server: in.tiles, Log: dbtest.Logger(t), CacheControl: "no-cache", Metrics: m}).Routes(r)
	srv := httptest.NewServer(r)
	defer srv.Close()
	lists := []string{"town_system,rail_lines", "rail_lines,town_system", "rail_lines,town_system,eco_redlines", "eco_redlines",
		"nope1,nope2", "nope2,nope1", "x,x", "town_system,nope3"}
	for i := 0; i < 30; i++ {
		lists = append(lists, "zz"+string(rune('a'+i)))
	}
	for _, l := range lists {
		resp, _ := fetch(t, srv.URL+"/tiles/"+l+"/9/427/208.mvt")
		resp.Body.Close()
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"town_system": true, "rail_lines": true, "private": true, "unknown": true, "invalid": true}
	seen := map[string]bool{}
	for _, fam := range families {
		if fam.GetName() != "gusu_tile_requests_total" {
			continue
		}
		for _, metric := range fam.GetMetric() {
			for _, lp := range metric.GetLabel() {
				if lp.GetName() == "layer" {
					seen[lp.GetValue()] = true
					if !allowed[lp.GetValue()] {
						t.Errorf("label layer=%q", lp.GetValue())
					}
				}
			}
		}
	}
	if !seen["private"] || !seen["town_system"] || !seen["unknown"] {
		t.Fatalf("labels seen: %v", seen)
	}
}
