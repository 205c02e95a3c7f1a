package access_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gusu-gis/gusu/data/roads"
	"github.com/gusu-gis/gusu/geo/osmroads"
)

const portoAlegre = "../../../shared/data/raw/r5r-porto-alegre-gtfs-osm/"

// r5r's Porto Alegre test set (a fixture, not Suzhou data): its OSM streets
// imported as the road network, its hexagon grid (population, schools,
// healthcare per hexagon, at the hexagons' centroids) as layers. The share
// of population within 15 minutes' walk of a school (healthcare) hexagon
// that gusu reports equals the one computed independently in PostGIS from
// the returned band polygons and the hexagon centroids, within 1%.
func TestPortoAlegreShareWithinFifteenMinutesWalk(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	imported, err := roads.Import(ctx, f.pool, portoAlegre+"poa_osm.pbf", osmroads.Options{}, "poa_osm.pbf")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); f.svc.BuiltVersion("roads") != int64(imported.Version); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the road network was not picked up")
		}
	}
	f.loadHexgrid(t)
	// The OSM cut covers central Porto Alegre only: the hexagons well inside it.
	roadsTable := ""
	f.pool.QueryRow(ctx, "SELECT table_name FROM gusu_layers WHERE name = 'roads'").Scan(&roadsTable)
	inside := `(SELECT ST_SetSRID(ST_Expand(ST_Extent(geom)::geometry, -0.005), 4326) FROM ` + pgx.Identifier{roadsTable}.Sanitize() + `)`
	f.makeLayer(t, "poa_central", "point", `CREATE TABLE poa_central AS SELECT hex, population, schools, healthcare, geom
		FROM poa_hex WHERE ST_Intersects(geom, `+inside+`)`)
	f.makeLayer(t, "poa_schools", "point", `CREATE TABLE poa_schools AS SELECT hex, geom FROM poa_central WHERE schools > 0`)
	f.makeLayer(t, "poa_health", "point", `CREATE TABLE poa_health AS SELECT hex, geom FROM poa_central WHERE healthcare > 0`)
	hexes := f.sql(t, "SELECT count(*) FROM poa_central").(int64)
	for _, facility := range []string{"poa_schools", "poa_health"} {
		status, fc, raw := f.post(t, "/api/catchments", map[string]any{"origins": map[string]any{"layer": facility}, "mode": "walk", "minutes": []float64{15},
			"demand": map[string]any{"layer": "poa_central", "weight": "population"}})
		if status != 200 {
			t.Fatalf("%s: %d %.300s", facility, status, raw)
		}
		if fc["network"] != "roads" {
			t.Fatalf("%s: answered on %v, not the imported streets", facility, fc["network"])
		}
		cov := fc["coverage"].([]any)[0].(map[string]any)
		band := geometry(t, fc["features"].([]any)[0])
		independent := f.sql(t, `SELECT (sum(population) FILTER (WHERE ST_Intersects(geom, ST_GeomFromGeoJSON($1))))::float8 / sum(population) FROM poa_central`, band).(float64)
		if math.Abs(num(cov["share"])-independent) > 0.01 {
			t.Errorf("%s: gusu %.4f of the population within 15 min, PostGIS from the band and the centroids %.4f", facility, num(cov["share"]), independent)
		}
		o := fc["metadata"].(map[string]any)["origins"].(map[string]any)
		t.Logf("%s: %v facilities (%v placed), %d hexagons, %.1f%% of %v people within 15 min on foot (independent %.1f%%); %v ms",
			facility, o["count"], o["placed"], hexes, 100*num(cov["share"]), cov["total"], 100*independent, fc["metadata"].(map[string]any)["compute_ms"])
	}
}
