package access_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"bytes"
	"encoding/json"

	"github.com/paulmach/orb"

	"github.com/gusu-gis/gusu/data/transit"
	"github.com/gusu-gis/gusu/geo/isochrone"
	"github.com/gusu-gis/gusu/geo/raptor"
)

// The matrix on Porto Alegre's bus timetable equals an independent
// computation: for each pair, the connection scan (not RAPTOR) from the
// stops within 1 km of the origin, then the walk from the stops within
// 1 km of the destination, or the walk all the way. Over a window, the
// 95th percentile is never below the median; a date the feed does not run
// is a 422 naming the dates it covers.
func TestTravelTimesOnATimetable(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := transit.Import(ctx, f.pool, []string{"../../../shared/data/raw/r5r-porto-alegre-gtfs-osm/poa_eptc.zip"}, "test"); err != nil {
		t.Fatal(err)
	}
	var pts [][]float64
	rows, err := f.pool.Query(ctx, `SELECT ST_X(geom), ST_Y(geom) FROM transit_stops_v1 ORDER BY hashtext(stop_id) LIMIT 12`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var x, y float64
		rows.Scan(&x, &y)
		pts = append(pts, []float64{x, y})
	}
	rows.Close()
	body := map[string]any{"origins": map[string]any{"points": pts[:4]}, "destinations": map[string]any{"points": pts[4:]},
		"mode": "transit", "departure": "2019-05-15T13:00", "max_minutes": 120}
	status, res, raw := f.post(t, "/api/traveltimes", body)
	if status != 200 || res["network"] != "timetable" {
		t.Fatalf("%d %.300s", status, raw)
	}
	// The oracle.
	feed, err := transit.Load(ctx, f.pool)
	if err != nil {
		t.Fatal(err)
	}
	tt, err := raptor.Build(feed, time.Date(2019, 5, 15, 0, 0, 0, 0, time.UTC), raptor.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	o := raptor.DefaultOptions()
	speed := o.WalkKmh / 3.6 / o.Detour
	t0 := int32(13 * 3600)
	matrix := res["minutes"].([]any)
	reached := 0
	for i, op := range pts[:4] {
		var src []raptor.Footpath
		for _, a := range tt.Near([2]float64{op[0], op[1]}, 1000, o) {
			src = append(src, raptor.Footpath{Stop: a.Stop, Secs: t0 + a.Secs})
		}
		arr := raptor.ScanConnections(tt, src, t0+120*60)
		for j, dp := range pts[4:] {
			best := isochrone.Metres([2]float64{op[0], op[1]}, [2]float64{dp[0], dp[1]}) / speed
			for _, e := range tt.Near([2]float64{dp[0], dp[1]}, 1000, o) {
				if arr[e.Stop] != raptor.Unreached {
					best = math.Min(best, float64(arr[e.Stop]+e.Secs-t0))
				}
			}
			got := matrix[i].([]any)[j]
			if best > 120*60 {
				if got != nil {
					t.Errorf("(%d,%d): %v minutes, the oracle does not reach it in 120", i, j, got)
				}
				continue
			}
			reached++
			if got == nil || math.Abs(got.(float64)-best/60) > 0.051 {
				t.Errorf("(%d,%d): %v minutes, connection scan %.2f", i, j, got, best/60)
			}
		}
	}
	if reached < 8 {
		t.Fatalf("only %d of 32 pairs reached", reached)
	}
	// A window: the 95th percentile is never below the median.
	body["window"] = 30
	_, p50, _ := f.post(t, "/api/traveltimes", body)
	body["percentile"] = 95
	_, p95, _ := f.post(t, "/api/traveltimes", body)
	for i, row := range p50["minutes"].([]any) {
		for j, v := range row.([]any) {
			w := p95["minutes"].([]any)[i].([]any)[j]
			if v != nil && (w == nil || w.(float64) < v.(float64)) {
				t.Errorf("(%d,%d): p95 %v below p50 %v", i, j, w, v)
			}
		}
	}
	if p95["metadata"].(map[string]any)["departures"].(float64) != 31 {
		t.Errorf("metadata %v", p95["metadata"])
	}
	// CSV rows: origin, destination, minutes.
	b, _ := json.Marshal(map[string]any{"origins": map[string]any{"points": pts[:2]}, "destinations": map[string]any{"points": pts[2:5]}, "mode": "transit", "departure": "2019-05-15T13:00"})
	resp, err := http.Post(f.srv.URL+"/api/traveltimes?format=csv", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil || len(recs) != 1+2*3 || strings.Join(recs[0], ",") != "origin,destination,minutes" {
		t.Fatalf("csv: %v %v", recs, err)
	}
	for name, c := range map[string]struct {
		body   map[string]any
		status int
		says   string
	}{
		"a date without service": {map[string]any{"origins": map[string]any{"points": pts[:1]}, "destinations": map[string]any{"points": pts[1:2]}, "mode": "transit", "departure": "2026-12-01T07:30"}, 422, "2019-04-15 to 2019-07-15"},
		// Without a departure, transit is the headway model, as isochrones are: Porto Alegre is outside it.
		"no departure":    {map[string]any{"origins": map[string]any{"points": pts[:1]}, "destinations": map[string]any{"points": pts[1:2]}, "mode": "transit"}, 400, "not on land in the region"},
		"bad departure":   {map[string]any{"origins": map[string]any{"points": pts[:1]}, "destinations": map[string]any{"points": pts[1:2]}, "mode": "transit", "departure": "tomorrow"}, 400, "YYYY-MM-DDTHH:MM"},
		"window too long": {map[string]any{"origins": map[string]any{"points": pts[:1]}, "destinations": map[string]any{"points": pts[1:2]}, "mode": "transit", "departure": "2019-05-15T13:00", "window": 600}, 400, "window"},
		"bad percentile":  {map[string]any{"origins": map[string]any{"points": pts[:1]}, "destinations": map[string]any{"points": pts[1:2]}, "mode": "transit", "departure": "2019-05-15T13:00", "percentile": 0}, 400, "percentile"},
		"no destinations": {map[string]any{"origins": map[string]any{"points": pts[:1]}, "mode": "transit"}, 400, "destinations are required"},
	} {
		status, v, raw := f.post(t, "/api/traveltimes", c.body)
		if status != c.status || !strings.Contains(fmt.Sprint(v["error"]), c.says) {
			t.Errorf("%s: %d %s", name, status, raw)
		}
	}
}

// Without a timetable mode, the matrix comes from the same network as the
// isochrones: in Suzhou's old city on its streets, each cell within a
// tenth of a minute of the isochrone surface's time at the destination.
func TestTravelTimesOnTheNetwork(t *testing.T) {
	f := newFixture(t)
	orig := [][]float64{{120.6195, 31.3110}, {120.628, 31.318}}
	dest := [][]float64{{120.615, 31.305}, {120.632, 31.322}, {120.25, 31.15}}
	status, res, raw := f.post(t, "/api/traveltimes", map[string]any{"origins": map[string]any{"points": orig}, "destinations": map[string]any{"points": dest[:2]}, "mode": "walk", "max_minutes": 60})
	if status != 200 || res["network"] != "roads" {
		t.Fatalf("%d %.300s", status, raw)
	}
	for i, o := range orig {
		for j := range dest[:2] {
			got := res["minutes"].([]any)[i].([]any)[j]
			surf, err := f.svc.RoadNetwork().Surface([]orb.Point{{o[0], o[1]}}, isochrone.Walk, 60)
			if err != nil {
				t.Fatal(err)
			}
			want := surf.At([2]float64{dest[j][0], dest[j][1]}) / 60
			if got == nil || math.Abs(got.(float64)-want) > 0.051 {
				t.Errorf("(%d,%d): %v minutes, the surface says %.2f", i, j, got, want)
			}
		}
	}
	// With no feed imported, a departure runs the rail model as a timetable
	// (compared with the headway model in TestRailModelOnTheTimetable).
	if status, v, raw := f.post(t, "/api/traveltimes", map[string]any{"origins": map[string]any{"points": orig}, "destinations": map[string]any{"points": dest[:2]},
		"mode": "transit", "departure": "2026-12-01T07:30"}); status != 200 || v["network"] != "timetable" || !strings.Contains(fmt.Sprint(v["note"]), "No GTFS feed is imported") {
		t.Errorf("departure without a feed: %d %.300s", status, raw)
	}
	// A destination in Taihu is never reached; the off-network model answers for it.
	_, res, _ = f.post(t, "/api/traveltimes", map[string]any{"origins": map[string]any{"points": orig[:1]}, "destinations": map[string]any{"points": dest}, "mode": "walk", "max_minutes": 60})
	if res["network"] != "off-network estimate" || res["minutes"].([]any)[0].([]any)[2] != nil {
		t.Errorf("with a destination in Taihu: %v %v", res["network"], res["minutes"])
	}
}

// A transit isochrone on the timetable: nested, valid bands; every stop the
// connection scan reaches within 0.75× a band lies inside it (PostGIS);
// a window with a percentile; a day without service is a 422.
func TestTimetableIsochrones(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := transit.Import(ctx, f.pool, []string{"../../../shared/data/raw/r5r-porto-alegre-gtfs-osm/poa_eptc.zip"}, "test"); err != nil {
		t.Fatal(err)
	}
	var lon, lat float64
	if err := f.pool.QueryRow(ctx, `SELECT ST_X(geom), ST_Y(geom) FROM transit_stops_v1 WHERE stop_id = '4220'`).Scan(&lon, &lat); err != nil {
		t.Fatal(err)
	}
	q := fmt.Sprintf("/api/isochrones?lon=%f&lat=%f&mode=transit&minutes=15,30,45&departure=2019-05-15T13:00", lon, lat)
	status, fc, raw := f.get(t, q)
	if status != 200 || fc["metadata"].(map[string]any)["network"] != "timetable" {
		t.Fatalf("%d %.300s", status, raw)
	}
	feats := fc["features"].([]any)
	if len(feats) != 3 {
		t.Fatalf("%d bands", len(feats))
	}
	feed, _ := transit.Load(ctx, f.pool)
	tt, _ := raptor.Build(feed, time.Date(2019, 5, 15, 0, 0, 0, 0, time.UTC), raptor.DefaultOptions())
	o := raptor.DefaultOptions()
	t0 := int32(13 * 3600)
	var src []raptor.Footpath
	for _, a := range tt.Near([2]float64{lon, lat}, 1000, o) {
		src = append(src, raptor.Footpath{Stop: a.Stop, Secs: t0 + a.Secs})
	}
	arr := raptor.ScanConnections(tt, src, t0+45*60)
	for i, ft := range feats {
		g := geometry(t, ft)
		m := props(ft)["minutes"].(float64)
		if !f.sql(t, "SELECT ST_IsValid(ST_GeomFromGeoJSON($1))", g).(bool) {
			t.Fatalf("%v-minute band invalid", m)
		}
		if i > 0 && !f.sql(t, "SELECT ST_Covers(ST_GeomFromGeoJSON($1), ST_GeomFromGeoJSON($2))", geometry(t, feats[i-1]), g).(bool) {
			t.Fatalf("%v-minute band not inside the larger", m)
		}
		var pts []string
		for s, a := range arr {
			if a != raptor.Unreached && float64(a-t0) <= 0.75*m*60 {
				pts = append(pts, fmt.Sprintf("POINT(%f %f)", tt.StopAt[s][0], tt.StopAt[s][1]))
			}
		}
		outside := f.sql(t, `SELECT count(*) FROM unnest($2::text[]) p WHERE NOT ST_Intersects(ST_GeomFromGeoJSON($1), ST_SetSRID(ST_GeomFromText(p), 4326))`, g, pts).(int64)
		if len(pts) == 0 || outside > 0 {
			t.Errorf("%v min: %d of %d stops reached within 0.75× lie outside the band", m, outside, len(pts))
		}
		t.Logf("%v min: %v km², %d stops within 0.75×, %v ms", m, props(ft)["area_km2"], len(pts), fc["metadata"].(map[string]any)["compute_ms"])
	}
	if status, fc, raw := f.get(t, q+"&window=30&percentile=95"); status != 200 || fc["metadata"].(map[string]any)["window"].(float64) != 30 {
		t.Fatalf("window: %d %.300s", status, raw)
	}
	// Several percentiles at once: the bands of each, from one set of runs.
	// A lower percentile is a faster share of departures, so its bands are
	// never smaller; each equals the band asked for on its own.
	single := map[float64]map[float64]float64{} // percentile → minutes → km²
	for _, p := range []float64{5, 50, 95} {
		_, fc, raw := f.get(t, q+fmt.Sprintf("&window=30&percentile=%g", p))
		single[p] = map[float64]float64{}
		for _, ft := range fc["features"].([]any) {
			single[p][num(props(ft)["minutes"])] = num(props(ft)["area_km2"])
		}
		if len(single[p]) != 3 {
			t.Fatalf("percentile %g: %.300s", p, raw)
		}
	}
	for _, ask := range []string{"&percentile=5,50,95", "&percentile=95,5", "&percentile=50"} {
		status, fc, raw := f.get(t, q+"&window=30"+ask)
		if status != 200 {
			t.Fatalf("%s: %d %.300s", ask, status, raw)
		}
		feats := fc["features"].([]any)
		want := len(strings.Split(strings.TrimPrefix(ask, "&percentile="), ",")) * 3
		if len(feats) != want {
			t.Fatalf("%s: %d bands, want %d", ask, len(feats), want)
		}
		for _, ft := range feats {
			p, m, a := num(props(ft)["percentile"]), num(props(ft)["minutes"]), num(props(ft)["area_km2"])
			if want > 3 && math.Abs(a-single[p][m]) > 0.01 {
				t.Errorf("%s: p%g %g min is %.2f km², alone %.2f km²", ask, p, m, a, single[p][m])
			}
		}
	}
	for _, m := range []float64{15, 30, 45} {
		if !(single[5][m] >= single[50][m] && single[50][m] >= single[95][m]) {
			t.Errorf("%g min: p5 %.2f, p50 %.2f, p95 %.2f km²: a lower percentile must reach at least as far", m, single[5][m], single[50][m], single[95][m])
		}
	}
	t.Logf("45 min over a 30-minute window: p5 %.1f, p50 %.1f, p95 %.1f km²", single[5][45], single[50][45], single[95][45])
	if status, _, raw := f.get(t, q+"&percentile=5,10,20,30,40,50"); status != 400 {
		t.Fatalf("six percentiles: %d %s", status, raw)
	}
	if status, _, raw := f.post(t, "/api/isochrones", map[string]any{"origins": [][]float64{{lon, lat}}, "mode": "transit", "minutes": []float64{30},
		"departure": "2019-05-15T13:00", "window": 20, "percentile": []float64{25, 75}}); status != 200 || !strings.Contains(string(raw), `"percentile":75`) {
		t.Fatalf("POST with two percentiles: %d %.300s", status, raw)
	}
	if status, _, raw := f.get(t, fmt.Sprintf("/api/isochrones?lon=%f&lat=%f&mode=transit&minutes=30&departure=2026-12-01T07:30", lon, lat)); status != 422 || !strings.Contains(string(raw), "2019-04-15 to 2019-07-15") {
		t.Fatalf("no service: %d %s", status, raw)
	}
	if status, _, raw := f.get(t, fmt.Sprintf("/api/isochrones?lon=%f&lat=%f&mode=walk&minutes=30&departure=2019-05-15T13:00", lon, lat)); status != 400 {
		t.Fatalf("departure with walking: %d %s", status, raw)
	}
	// A place far from every stop of the feed (Suzhou, with Porto Alegre's
	// buses imported) gets a walk, and is told so.
	status, fc, raw = f.get(t, "/api/isochrones?lon=120.62&lat=31.30&mode=transit&minutes=30&departure=2019-05-15T13:00")
	if status != 200 || !strings.Contains(fmt.Sprint(fc["metadata"].(map[string]any)["note"]), "no stop of the timetable is within 1 km") {
		t.Fatalf("origin without stops: %d %.400s", status, raw)
	}
	status, m, raw := f.post(t, "/api/traveltimes", map[string]any{"origins": map[string]any{"points": [][]float64{{120.62, 31.30}, {lon, lat}}},
		"destinations": map[string]any{"points": [][]float64{{lon, lat}}}, "mode": "transit", "departure": "2019-05-15T13:00"})
	if status != 200 || num(m["metadata"].(map[string]any)["origins_without_stops"]) != 1 {
		t.Fatalf("matrix with an origin without stops: %d %.400s", status, raw)
	}
}
