package tiles_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"

	"github.com/gusu-gis/gusu/data/dbtest"
	"github.com/gusu-gis/gusu/tiles/bench"
)

// TestPreRenderedTilesEqualQueries: at z0–9 a tile with all attributes is
// assembled from pre-rendered pieces, and is byte for byte the tile the
// query makes (the same request naming every attribute, which always
// queries), for single layers and the composite; a changed layer is never
// served from pieces of its old version.
func TestPreRenderedTilesEqualQueries(t *testing.T) {
	in := newInstance(t, dbtest.NewDatabase(t, true), opts{cacheBytes: -1})
	ctx := context.Background()
	names := []string{"town_system", "eco_redlines", "rail_lines", "rail_stations"}
	for _, n := range names {
		if err := in.gen.Refresh(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	suzhou := orb.Bound{Min: orb.Point{119.92, 30.76}, Max: orb.Point{121.36, 32.04}}
	compared, nonEmpty := 0, 0
	for _, set := range []string{"town_system", "eco_redlines", strings.Join(names, ",")} {
		// Every attribute of the set's layers, named: always a query.
		var props []string
		for _, n := range strings.Split(set, ",") {
			l, _ := in.reg.Get(ctx, n)
			for _, c := range l.Columns {
				if !c.IsGeometry() && !contains(props, c.Name) {
					props = append(props, c.Name)
				}
			}
		}
		for z := maptile.Zoom(0); z <= 10; z++ {
			for _, tile := range bench.TilesOver(suzhou, z) {
				before := in.tiles.PreRenderedTiles()
				resp, assembled := fetch(t, tileURL(in.srv.URL, set, tile))
				fromPieces := in.tiles.PreRenderedTiles() - before
				if resp.StatusCode == 204 {
					continue
				}
				if resp.StatusCode != 200 {
					t.Fatalf("%s %v: status %d", set, tile, resp.StatusCode)
				}
				if (z <= 9) != (fromPieces == 1) {
					t.Fatalf("%s %v: assembled from pieces: %v", set, tile, fromPieces == 1)
				}
				_, queried := fetch(t, tileURL(in.srv.URL, set, tile)+"?properties="+strings.Join(props, ","))
				if !bytes.Equal(assembled, queried) {
					t.Fatalf("%s %v: pre-rendered tile (%d bytes) differs from the query's (%d bytes)", set, tile, len(assembled), len(queried))
				}
				compared++
				if len(assembled) > 0 {
					nonEmpty++
				}
			}
		}
	}
	t.Logf("%d tiles compared (%d with features)", compared, nonEmpty)
	if nonEmpty < 20 {
		t.Fatalf("only %d tiles with features compared", nonEmpty)
	}

	// A changed layer: its new version's tiles come from the query until
	// its pieces are rebuilt, then from the new pieces.
	old, _ := in.reg.Get(ctx, "town_system")
	if _, err := in.pool.Exec(ctx, "UPDATE town_system SET name_zh = name_zh || '（改）'"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if l, _ := in.reg.Get(ctx, "town_system"); l.Version > old.Version {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("version did not change")
		}
		time.Sleep(10 * time.Millisecond)
	}
	tile := maptile.At(orb.Point{120.62, 31.30}, 8)
	check := func(when string, wantPieces bool) {
		before := in.tiles.PreRenderedTiles()
		_, raw := fetch(t, tileURL(in.srv.URL, "town_system", tile))
		if got := in.tiles.PreRenderedTiles() - before; (got == 1) != wantPieces {
			t.Fatalf("%s: assembled from pieces %v, want %v", when, got == 1, wantPieces)
		}
		l := layerByName(decode(t, raw), "town_system")
		for _, f := range l.Features {
			if name, ok := f.Properties["name_zh"].(string); ok && !strings.HasSuffix(name, "（改）") {
				t.Fatalf("%s: stale name %q", when, name)
			}
		}
	}
	check("before the rebuild", false)
	if err := in.gen.Refresh(ctx, "town_system"); err != nil {
		t.Fatal(err)
	}
	check("after the rebuild", true)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
