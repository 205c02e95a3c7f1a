package export_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/paulmach/orb/maptile"
	"github.com/protomaps/go-pmtiles/pmtiles"

	"github.com/gusu-gis/gusu/data/dbtest"
	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/tiles"
	"github.com/gusu-gis/gusu/tiles/export"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

var planLayers = []string{"town_system", "eco_redlines", "rail_lines", "rail_stations"}

func gunzip(t *testing.T, b []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pmtilesTile reads one tile with go-pmtiles' own directory code: the
// header, the root directory, a leaf if there is one.
func pmtilesTile(t *testing.T, f *os.File, h pmtiles.HeaderV3, id uint64) ([]byte, bool) {
	read := func(off, n uint64) []byte {
		b := make([]byte, n)
		if _, err := f.ReadAt(b, int64(off)); err != nil {
			t.Fatal(err)
		}
		return b
	}
	dirOff, dirLen := h.RootOffset, h.RootLength
	for depth := 0; depth < 4; depth++ {
		entries := pmtiles.DeserializeEntries(bytes.NewBuffer(read(dirOff, dirLen)), h.InternalCompression)
		e, ok := pmtiles.FindTile(entries, id)
		if !ok {
			return nil, false
		}
		if e.RunLength > 0 {
			return gunzip(t, read(h.TileDataOffset+e.Offset, uint64(e.Length))), true
		}
		dirOff, dirLen = h.LeafDirectoryOffset+e.Offset, uint64(e.Length)
	}
	t.Fatal("directories deeper than 4")
	return nil, false
}

// An export holds exactly the tiles the server renders live — every tile
// with features, byte for byte, and no empty one — read back with
// go-pmtiles' reader; the MBTiles export holds the same tiles.
func TestExportMatchesLiveTiles(t *testing.T) {
	db := dbtest.Open(t)
	ctx := context.Background()
	reg := layers.NewRegistry(db.Pool, dbtest.Logger(t))
	srv := tiles.NewServer(reg, db.Pool, nil, tiles.Options{})
	dir := t.TempDir()
	opts := export.Options{Layers: planLayers, MinZoom: 0, MaxZoom: 10}
	pm, err := export.NewPMTiles(filepath.Join(dir, "suzhou.pmtiles"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := export.Run(ctx, srv, reg, opts, pm)
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := export.NewMBTiles(filepath.Join(dir, "suzhou.mbtiles"))
	if _, err := export.Run(ctx, srv, reg, opts, mb); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "suzhou.pmtiles"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, pmtiles.HeaderV3LenBytes)
	f.ReadAt(head, 0)
	h, err := pmtiles.DeserializeHeader(head)
	if err != nil {
		t.Fatal(err)
	}
	if h.TileType != pmtiles.Mvt || h.MinZoom != 0 || h.MaxZoom != 10 || int64(h.AddressedTilesCount) != st.Written || !h.Clustered {
		t.Fatalf("header %+v, written %d", h, st.Written)
	}
	sqlite, err := sql.Open("sqlite", filepath.Join(dir, "suzhou.mbtiles"))
	if err != nil {
		t.Fatal(err)
	}
	defer sqlite.Close()
	var mbCount int64
	sqlite.QueryRow("SELECT count(*) FROM tiles").Scan(&mbCount)
	if mbCount != st.Written {
		t.Fatalf("MBTiles has %d tiles, the PMTiles %d", mbCount, st.Written)
	}
	b, _ := export.Bounds(ctx, reg, opts)
	checked, empty := 0, 0
	for z := maptile.Zoom(0); z <= 10; z++ {
		lo := maptile.At(b.Min, z)
		hi := maptile.At(b.Max, z)
		for x := lo.X; x <= hi.X; x++ {
			for y := hi.Y; y <= lo.Y; y++ {
				tl := maptile.New(x, y, z)
				live, err := srv.Tile(ctx, tiles.Request{Layers: planLayers, Tile: tl})
				if err != nil {
					t.Fatal(err)
				}
				got, ok := pmtilesTile(t, f, h, pmtiles.ZxyToID(uint8(z), x, y))
				if live.Empty() {
					empty++
					if ok {
						t.Fatalf("tile %d/%d/%d is empty live but in the archive", z, x, y)
					}
					continue
				}
				if !ok || !bytes.Equal(got, live.Raw) {
					t.Fatalf("tile %d/%d/%d differs from the live tile (in archive: %v)", z, x, y, ok)
				}
				var blob []byte
				if err := sqlite.QueryRow("SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?", int(z), x, (1<<z)-1-y).Scan(&blob); err != nil {
					t.Fatalf("MBTiles tile %d/%d/%d: %v", z, x, y, err)
				}
				if !bytes.Equal(gunzip(t, blob), live.Raw) {
					t.Fatalf("MBTiles tile %d/%d/%d differs", z, x, y)
				}
				checked++
			}
		}
	}
	if checked == 0 || int64(checked) != st.Written {
		t.Fatalf("compared %d tiles (and %d empty), the export wrote %d", checked, empty, st.Written)
	}
	t.Logf("%d tiles equal to the live ones, %d empty ones left out", checked, empty)
}
