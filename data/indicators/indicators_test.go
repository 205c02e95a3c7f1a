package indicators_test

import (
	"context"
	"math"
	"os"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/gusu-gis/gusu/data"
	"github.com/gusu-gis/gusu/data/dbtest"
	"github.com/gusu-gis/gusu/data/indicators"
	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/data/migrate"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// A city of two 1°×1° squares on the equator (x 0–2), where areas and
// lengths on the ellipsoid are known exactly by symmetry: each square is
// half the land; a 1.5° stretch of the equator is 6378137 m × 1.5·π/180.
func TestKnownGeometries(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t, dbtest.NewDatabase(t, false))
	if _, err := migrate.Up(ctx, pool); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		`INSERT INTO town_system (code, name_zh, level, geom) VALUES
		   ('A', '甲区', 'central_city', 'SRID=4326;MULTIPOLYGON(((0 0,1 0,1 1,0 1,0 0)))'),
		   ('B', '乙市', 'county_city', 'SRID=4326;MULTIPOLYGON(((1 0,2 0,2 1,1 1,1 0)))'),
		   ('T1', '丙镇', 'town', 'SRID=4326;POINT(0.5 0.5)')`,
		`UPDATE town_system SET parent = 'A' WHERE code = 'T1'`,
		// Red lines: one reaching outside the city, one overlapping it.
		`INSERT INTO eco_redlines (name, category, geom) VALUES
		   ('东', 'test', 'SRID=4326;MULTIPOLYGON(((1 0,3 0,3 1,1 1,1 0)))'),
		   ('重叠', 'test', 'SRID=4326;MULTIPOLYGON(((1 0,1.5 0,1.5 1,1 1,1 0)))')`,
		// Metro along the equator from x=0.5 to 3 (only 0.5–2 in the city), a
		// second line sharing 1–2 (counted once), and a planned 0.2°.
		`INSERT INTO rail_lines (name, kind, status, geom) VALUES
		   ('1号线', 'metro', 'existing', 'SRID=4326;MULTILINESTRING((0.5 0,3 0))'),
		   ('2号线', 'metro', 'existing', 'SRID=4326;MULTILINESTRING((1 0,2 0))'),
		   ('S1', 'metro', 'planned', 'SRID=4326;MULTILINESTRING((0.2 0.5,0.4 0.5))'),
		   ('高铁', 'high_speed', 'existing', 'SRID=4326;MULTILINESTRING((0 0.9,2 0.9))')`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	reg := layers.NewRegistry(pool, dbtest.Logger(t))
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go reg.Listen(lctx)
	for !reg.Synced() {
		time.Sleep(5 * time.Millisecond)
	}
	svc, err := indicators.NewService(pool, reg, nil, data.Plan)
	if err != nil {
		t.Fatal(err)
	}
	red, err := svc.One(ctx, "redline_share")
	if err != nil {
		t.Fatal(err)
	}
	if red.Value == nil || *red.Value != 50 || red.Status != indicators.OnTrack {
		t.Fatalf("red-line share %v (%s), want exactly 50 %% and on track (the east square; overlap counted once, outside parts not at all)", *red.Value, red.Status)
	}
	rail, err := svc.One(ctx, "rail_length")
	if err != nil {
		t.Fatal(err)
	}
	want := 6378137 * 1.5 * math.Pi / 180 / 1000
	if rail.Value == nil || math.Abs(*rail.Value-want) > 0.05 {
		t.Fatalf("rail length %v km, want %.2f (1.5° of the equator, shared track once, high-speed excluded)", *rail.Value, want)
	}
	if p := rail.Details["planned_km"].(float64); math.Abs(p-22.2) > 0.2 {
		t.Fatalf("planned %v km, want about 22.2", p)
	}
	ts, _ := svc.One(ctx, "town_system")
	if ts.Details["county_cities"].(int64) != 1 || ts.Status != indicators.Behind {
		t.Fatalf("town system %v %s: one county-level city is behind the plan's four", ts.Details, ts.Status)
	}
	circle, _ := svc.One(ctx, "city_circle_45")
	if circle.Status != indicators.NotComputable {
		t.Fatalf("without a network the 45-minute circle is %s", circle.Status)
	}
	// Every caveat comes in Chinese too, one for one.
	caveats := 0
	for _, ind := range []indicators.Indicator{red, rail, ts, circle} {
		if len(ind.CaveatsZh) != len(ind.Caveats) {
			t.Fatalf("%s: %d caveats, %d in Chinese", ind.ID, len(ind.Caveats), len(ind.CaveatsZh))
		}
		caveats += len(ind.Caveats)
		for i, c := range ind.CaveatsZh {
			if c == ind.Caveats[i] || !strings.ContainsFunc(c, func(r rune) bool { return unicode.Is(unicode.Han, r) }) {
				t.Errorf("%s: caveat %q is not Chinese", ind.ID, c)
			}
		}
	}
	if caveats < 3 {
		t.Fatalf("only %d caveats", caveats)
	}

	// An official red-line layer arrives: the indicator changes at once.
	if _, err := pool.Exec(ctx, `INSERT INTO eco_redlines (name, category, geom) VALUES ('西', 'test', 'SRID=4326;MULTIPOLYGON(((0 0,0.5 0,0.5 1,0 1,0 0)))')`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		red, err = svc.One(ctx, "redline_share")
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(*red.Value-75) < 0.01 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after adding a red line the share is still %v %%", *red.Value)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if red.Inputs["eco_redlines"] <= 1 {
		t.Fatalf("inputs %v do not show the new version", red.Inputs)
	}
}
