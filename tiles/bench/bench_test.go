package bench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/gusu-gis/gusu/data/dbtest"
	"github.com/gusu-gis/gusu/data/layers"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// TestOnePassAgainstABaselineURL runs the benchmark in one-pass mode
// against a tile server given by URL (here pg_tileserv's statement served
// on its own listener) and checks what it reports: every tile requested
// exactly once per configuration, and both sides' feature counts: at
// z10–14, where neither generalises, gusu's town_system tiles hold the
// baseline's features less those only pg_tileserv's wider buffer (256 of
// 4096 against 64) reaches.
func TestOnePassAgainstABaselineURL(t *testing.T) {
	pool := dbtest.Pool(t, dbtest.NewDatabase(t, true))
	ctx := context.Background()
	reg := layers.NewRegistry(pool, nil)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go reg.Listen(lctx)
	base, stop, err := serveBaselineSQL(ctx, pool, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	url := base + "/{layer}/{z}/{x}/{y}.mvt"
	if err := CheckBaselineURL(base + "/{layer}/{z}/{x}.mvt"); err == nil {
		t.Fatal("a template without {y} was accepted")
	}
	var out bytes.Buffer
	const perZoom = 2
	rep, err := Run(ctx, Config{Pool: pool, Parcels: 2000, Concurrency: 3, TilesPerZoom: perZoom, Rounds: 3, OnePass: true, BaselineURL: url, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	if rep.Baseline != url || !strings.Contains(out.String(), "one pass") || !strings.Contains(out.String(), "precomputation") {
		t.Fatalf("the report does not say what was measured:\n%s", out.String())
	}
	for _, c := range rep.Configs {
		for _, set := range Sets {
			for _, b := range Bands {
				s := rep.Stats[c][key(set.Name, b.Name)]
				if want := perZoom * int(b.Hi-b.Lo+1); s.Requests != want {
					t.Fatalf("%s %s %s: %d requests, want each of %d tiles once", c, set.Name, b.Name, s.Requests, want)
				}
				if s.ReqPerSec <= 0 || s.P50 <= 0 {
					t.Fatalf("%s %s %s: no timing: %+v", c, set.Name, b.Name, s)
				}
			}
		}
	}
	k := key("town_system", "z10–14")
	baseline, cold := rep.Stats[rep.Configs[0]][k], rep.Stats[rep.Configs[1]][k]
	if baseline.FeaturesPerTile == 0 || cold.FeaturesPerTile > baseline.FeaturesPerTile || cold.FeaturesPerTile < baseline.FeaturesPerTile/2 {
		t.Fatalf("town_system z10–14: %.1f features per tile from the baseline, %.1f from gusu", baseline.FeaturesPerTile, cold.FeaturesPerTile)
	}
	if rep.ColdQueries > rep.ColdRequests {
		t.Fatalf("%d queries for %d requests", rep.ColdQueries, rep.ColdRequests)
	}
}
