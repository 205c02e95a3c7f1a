package access_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gusu-gis/gusu/data/transit"
)

// loadHexgrid makes layer poa_hex from r5r's Porto Alegre hexagon grid:
// the hexagons' centroids with population, schools, healthcare and jobs.
func (f *fixture) loadHexgrid(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	file, err := os.Open(portoAlegre + "poa_hexgrid.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	recs, err := csv.NewReader(file).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, `CREATE TABLE poa_hexraw (hex text, lon float8, lat float8, population int, schools int, jobs int, healthcare int)`); err != nil {
		t.Fatal(err)
	}
	var rows [][]any
	for _, r := range recs[1:] {
		row := []any{r[0]}
		for _, v := range r[1:3] {
			x, _ := strconv.ParseFloat(v, 64)
			row = append(row, x)
		}
		for _, v := range r[3:] {
			x, _ := strconv.Atoi(v)
			row = append(row, x)
		}
		rows = append(rows, row)
	}
	if _, err := f.pool.CopyFrom(ctx, pgx.Identifier{"poa_hexraw"}, []string{"hex", "lon", "lat", "population", "schools", "jobs", "healthcare"}, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	f.makeLayer(t, "poa_hex", "point", `CREATE TABLE poa_hex AS SELECT hex, population, schools, jobs, healthcare, ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS geom FROM poa_hexraw`)
}

// Cumulative opportunities on the timetable: for each origin hexagon, the
// schools reachable within 30 and 60 minutes by transit at 13:00 equal the
// sum, over the travel-time matrix to every school hexagon, of the
// schools of those within the band; more minutes never reach fewer.
func TestOpportunitiesOnATimetable(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := transit.Import(ctx, f.pool, []string{portoAlegre + "poa_eptc.zip"}, "test"); err != nil {
		t.Fatal(err)
	}
	f.loadHexgrid(t)
	f.makeLayer(t, "poa_school_hex", "point", `CREATE TABLE poa_school_hex AS SELECT hex, schools, geom FROM poa_hex WHERE schools > 0`)
	f.makeLayer(t, "poa_origins", "point", `CREATE TABLE poa_origins AS SELECT hex, geom FROM poa_hex WHERE population > 0 ORDER BY hashtext(hex) LIMIT 30`)
	body := map[string]any{"origins": map[string]any{"layer": "poa_origins"}, "opportunities": map[string]any{"layer": "poa_school_hex", "weight": "schools"},
		"mode": "transit", "minutes": []float64{30, 60}, "departure": "2019-05-15T13:00"}
	status, fc, raw := f.post(t, "/api/accessibility/opportunities", body)
	if status != 200 || fc["network"] != "timetable" {
		t.Fatalf("%d %.300s", status, raw)
	}
	// The oracle: the matrix (itself checked against the connection scan), summed here.
	status, tt, raw := f.post(t, "/api/traveltimes", map[string]any{"origins": map[string]any{"layer": "poa_origins"}, "destinations": map[string]any{"layer": "poa_school_hex"},
		"mode": "transit", "departure": "2019-05-15T13:00", "max_minutes": 60})
	if status != 200 {
		t.Fatalf("matrix: %d %.300s", status, raw)
	}
	schools := map[float64]float64{}
	rows, _ := f.pool.Query(ctx, "SELECT id, schools FROM poa_school_hex")
	for rows.Next() {
		var id int64
		var n int
		rows.Scan(&id, &n)
		schools[float64(id)] = float64(n)
	}
	rows.Close()
	dests := tt["destination_ids"].([]any)
	feats := fc["features"].([]any)
	if len(feats) != 30 {
		t.Fatalf("%d origins", len(feats))
	}
	nonzero := 0
	for i, ft := range feats {
		p := props(ft)
		row := tt["minutes"].([]any)[i].([]any)
		for _, band := range []float64{30, 60} {
			want := 0.0
			for j, v := range row {
				if v != nil && v.(float64) <= band {
					want += schools[dests[j].(float64)]
				}
			}
			got := p[fmt.Sprintf("opportunities_%g", band)].(float64)
			if math.Abs(got-want) > 1e-9 {
				t.Errorf("origin %v, %g min: %v schools, the matrix sums %v", p["id"], band, got, want)
			}
			if band == 30 && got > 0 {
				nonzero++
			}
		}
		if p["opportunities_60"].(float64) < p["opportunities_30"].(float64) {
			t.Errorf("origin %v: fewer schools in 60 than 30 minutes", p["id"])
		}
	}
	if nonzero < 5 {
		t.Fatalf("only %d origins reach a school within 30 minutes", nonzero)
	}
	if total := fc["metadata"].(map[string]any)["opportunities"].(map[string]any)["total"].(float64); total <= 0 {
		t.Fatalf("total %v", total)
	}
	t.Logf("30 origins × %d school hexagons in %v ms", len(dests), fc["metadata"].(map[string]any)["compute_ms"])
	for name, c := range map[string]struct {
		body   map[string]any
		status int
		says   string
	}{
		"no opportunities":  {map[string]any{"origins": map[string]any{"layer": "poa_origins"}, "mode": "transit", "minutes": []int{30}}, 400, "opportunities are required"},
		"text weight":       {map[string]any{"origins": map[string]any{"layer": "poa_origins"}, "opportunities": map[string]any{"layer": "poa_hex", "weight": "hex"}, "mode": "transit", "minutes": []int{30}, "departure": "2019-05-15T13:00"}, 400, "not a number"},
		"unknown weight":    {map[string]any{"origins": map[string]any{"layer": "poa_origins"}, "opportunities": map[string]any{"layer": "poa_hex", "weight": "clinics"}, "mode": "transit", "minutes": []int{30}, "departure": "2019-05-15T13:00"}, 404, "no attribute"},
		"no bands":          {map[string]any{"origins": map[string]any{"layer": "poa_origins"}, "opportunities": map[string]any{"layer": "poa_hex", "weight": "schools"}, "mode": "transit"}, 400, "minutes is required"},
		"day without buses": {map[string]any{"origins": map[string]any{"layer": "poa_origins"}, "opportunities": map[string]any{"layer": "poa_hex", "weight": "schools"}, "mode": "transit", "minutes": []int{30}, "departure": "2026-12-01T07:30"}, 422, "2019-04-15"},
	} {
		status, v, raw := f.post(t, "/api/accessibility/opportunities", c.body)
		if status != c.status || !strings.Contains(fmt.Sprint(v["error"]), c.says) {
			t.Errorf("%s: %d %s", name, status, raw)
		}
	}
}

// Catchments on the timetable: the population of Porto Alegre's hexagons
// within 15 and 30 minutes by bus of a school hexagon at 13:00 is what
// PostGIS counts inside the returned bands.
func TestCatchmentsOnATimetable(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := transit.Import(ctx, f.pool, []string{portoAlegre + "poa_eptc.zip"}, "test"); err != nil {
		t.Fatal(err)
	}
	f.loadHexgrid(t)
	f.makeLayer(t, "poa_school_hex", "point", `CREATE TABLE poa_school_hex AS SELECT hex, schools, geom FROM poa_hex WHERE schools > 0`)
	body := map[string]any{"origins": map[string]any{"layer": "poa_school_hex"}, "mode": "transit", "minutes": []float64{15, 30},
		"departure": "2019-05-15T13:00", "demand": map[string]any{"layer": "poa_hex", "weight": "population"}}
	status, fc, raw := f.post(t, "/api/catchments", body)
	if status != 200 || fc["network"] != "timetable" {
		t.Fatalf("%d %.300s", status, raw)
	}
	for bi, c := range fc["coverage"].([]any) {
		c := c.(map[string]any)
		var band string
		for _, ft := range fc["features"].([]any) {
			if props(ft)["minutes"] == c["minutes"] {
				band = geometry(t, ft)
			}
		}
		inside := f.sql(t, "SELECT coalesce(sum(population), 0)::float8 FROM poa_hex WHERE ST_Intersects(geom, ST_GeomFromGeoJSON($1))", band).(float64)
		if band == "" || math.Abs(num(c["covered"])-inside) > 0.5 || num(c["covered"]) <= 0 {
			t.Errorf("band %d (%v min): covered %v, PostGIS %v", bi, c["minutes"], c["covered"], inside)
		}
		t.Logf("%v min by bus from a school hexagon: %.0f of %.0f people (%.1f%%)", c["minutes"], num(c["covered"]), num(c["total"]), 100*num(c["share"]))
	}
	body["split"] = "nearest"
	if status, _, raw := f.post(t, "/api/catchments", body); status != 400 {
		t.Errorf("split=nearest on a timetable: %d %s", status, raw)
	}
}
