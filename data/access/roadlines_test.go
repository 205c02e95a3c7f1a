package access

import (
	"context"
	"encoding/json"
	"math"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/gusu-gis/gusu/data/dbtest"
	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/data/roads"
	"github.com/gusu-gis/gusu/geo/isochrone"
	"github.com/gusu-gis/gusu/geo/osmroads"
)

const gusuRoads = "../../../shared/data/raw/osm-zhwal-gusu-roads/suzhou_roads_gusu.json"

// GeoJSON road lines (OSM streets of Suzhou's old city) import as a network
// whose lengths PostGIS confirms from the raw file, whose pieces pgRouting
// counts as the source documents them (1,118 without snapping), and on which
// walking circles are answered.
func TestRoadLinesFromGeoJSON(t *testing.T) {
	ctx := context.Background()
	db := dbtest.Open(t)
	log := dbtest.Logger(t)
	if _, err := db.Pool.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pgrouting"); err != nil {
		t.Fatalf("pgRouting: %v (apt-get install postgresql-15-pgrouting)", err)
	}
	raw, err := os.ReadFile(gusuRoads)
	if err != nil {
		t.Fatal(err)
	}
	var classes []string
	for c := range osmroads.Classes {
		classes = append(classes, c)
	}
	var wantMetres float64
	if err := db.Pool.QueryRow(ctx, `SELECT sum(ST_Length(ST_GeomFromGeoJSON(f->'geometry')::geography, false))
		FROM jsonb_array_elements($1::jsonb->'features') f WHERE f->'properties'->>'highway' = ANY($2)`, string(raw), classes).Scan(&wantMetres); err != nil {
		t.Fatal(err)
	}
	components := func(table string) (n int) {
		t.Helper()
		if err := db.Pool.QueryRow(ctx, `SELECT count(DISTINCT component) FROM pgr_connectedComponents('SELECT id, source, target, length_m AS cost, length_m AS reverse_cost FROM `+table+`')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	loose, err := roads.Import(ctx, db.Pool, gusuRoads, osmroads.Options{}, "suzhou_roads_gusu.json")
	if err != nil {
		t.Fatal(err)
	}
	var gotMetres float64
	db.Pool.QueryRow(ctx, "SELECT sum(length_m) FROM "+loose.Table).Scan(&gotMetres)
	if math.Abs(gotMetres-wantMetres) > 1e-6*wantMetres || wantMetres < 500_000 {
		t.Errorf("edges add up to %.1f m, PostGIS measures the routable lines at %.1f m", gotMetres, wantMetres)
	}
	if n := components(loose.Table); n != 1118 || loose.Ways != 4447 || loose.Connectors != 0 {
		t.Errorf("without snapping: %d pieces from %d ways (%d connectors); SOURCES.md counts 1,118 from 4,447", n, loose.Ways, loose.Connectors)
	}

	snapped, err := roads.Import(ctx, db.Pool, gusuRoads, osmroads.Options{SnapMetres: 20}, "suzhou_roads_gusu.json")
	if err != nil {
		t.Fatal(err)
	}
	var connectorMetres, maxConnector float64
	db.Pool.QueryRow(ctx, "SELECT coalesce(sum(length_m), 0), coalesce(max(ST_Length(geom::geography, false)), 0) FROM "+snapped.Table+" WHERE class = $1", osmroads.ConnectorClass).Scan(&connectorMetres, &maxConnector)
	pieces := components(snapped.Table)
	t.Logf("snapping within 20 m: %d connectors, %.0f m in all (longest %.1f m); %d pieces, was 1118", snapped.Connectors, connectorMetres, maxConnector, pieces)
	if snapped.Connectors == 0 || maxConnector > 20.001 || pieces >= 1118 || int64(1118-pieces) > snapped.Connectors {
		t.Errorf("snapping: %d connectors (longest %.2f m) left %d pieces", snapped.Connectors, maxConnector, pieces)
	}

	reg := layers.NewRegistry(db.Pool, log)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go reg.Listen(lctx)
	for !reg.Synced() {
		time.Sleep(5 * time.Millisecond)
	}
	svc := NewService(db.Pool, reg, log, isochrone.DefaultParams())
	if err := svc.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if svc.RoadNetwork() == nil {
		t.Fatal("the service has no road network after the import")
	}
	r := mux.NewRouter()
	svc.Routes(r, log)
	srv := httptest.NewServer(r)
	defer srv.Close()
	for _, minutes := range []string{"15", "5,10,15"} {
		resp, err := srv.Client().Get(srv.URL + "/api/isochrones?lon=120.6195&lat=31.3110&minutes=" + minutes + "&mode=walk")
		if err != nil {
			t.Fatal(err)
		}
		var fc struct {
			Features []struct {
				Properties map[string]any `json:"properties"`
			} `json:"features"`
			Metadata map[string]any `json:"metadata"`
		}
		json.NewDecoder(resp.Body).Decode(&fc)
		resp.Body.Close()
		if resp.StatusCode != 200 || fc.Metadata["network"] != ModelRoads || len(fc.Features) == 0 {
			t.Fatalf("walk %s min in the old city: %d, network %v, %d bands", minutes, resp.StatusCode, fc.Metadata["network"], len(fc.Features))
		}
		if a, _ := fc.Features[0].Properties["area_km2"].(float64); a <= 0.1 || a > 9 {
			t.Errorf("walk %s min: the largest band covers %.2f km²", minutes, a)
		}
	}
	// Outside the streets' extent (SIP, 9 km east) the answer is an estimate and says why.
	resp, err := srv.Client().Get(srv.URL + "/api/isochrones?lon=120.72&lat=31.30&minutes=15&mode=walk")
	if err != nil {
		t.Fatal(err)
	}
	var fc struct {
		Metadata map[string]any `json:"metadata"`
	}
	json.NewDecoder(resp.Body).Decode(&fc)
	resp.Body.Close()
	if note, _ := fc.Metadata["note"].(string); resp.StatusCode != 200 || fc.Metadata["network"] != ModelOffNetwork ||
		!strings.HasPrefix(note, "Off-network estimate: the road network (bundled: the old city's OSM streets; or an imported one) has no road node within 500 m") {
		t.Fatalf("walk outside the streets: %d %v", resp.StatusCode, fc.Metadata)
	}
}
