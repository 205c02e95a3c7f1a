package export

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/paulmach/orb/maptile"
	_ "modernc.org/sqlite" // gusu's one SQLite library
)

// MBTiles writes an MBTiles 1.3 file (SQLite): gzip-compressed MVT in
// tiles with TMS rows (y counted from the south), metadata with the
// TileJSON fields and json holding vector_layers.
type MBTiles struct {
	path string
	db   *sql.DB
	tx   *sql.Tx
	ins  *sql.Stmt
}

// NewMBTiles creates path (replacing a file there at Close).
func NewMBTiles(path string) (*MBTiles, error) {
	part := path + ".part"
	os.Remove(part)
	db, err := sql.Open("sqlite", "file:"+part)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", part, err)
	}
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		`PRAGMA journal_mode = OFF`, `PRAGMA synchronous = OFF`,
		`CREATE TABLE metadata (name text, value text)`,
		`CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob)`,
		`CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row)`,
	} {
		if _, err := db.Exec(q); err != nil {
			db.Close()
			return nil, fmt.Errorf("create %s: %w", part, err)
		}
	}
	tx, err := db.Begin()
	if err != nil {
		db.Close()
		return nil, err
	}
	ins, err := tx.Prepare(`INSERT INTO tiles (zoom_level, tile_column, tile_row, tile_data) VALUES (?, ?, ?, ?)`)
	if err != nil {
		tx.Rollback()
		db.Close()
		return nil, err
	}
	return &MBTiles{path: path, db: db, tx: tx, ins: ins}, nil
}

// Put stores one tile.
func (m *MBTiles) Put(t maptile.Tile, gz []byte) error {
	tmsY := (uint32(1) << t.Z) - 1 - t.Y
	if _, err := m.ins.Exec(int(t.Z), t.X, tmsY, gz); err != nil {
		return fmt.Errorf("store tile %d/%d/%d: %w", t.Z, t.X, t.Y, err)
	}
	return nil
}

// Abort removes the unfinished file.
func (m *MBTiles) Abort() {
	m.tx.Rollback()
	m.db.Close()
	os.Remove(m.path + ".part")
}

// Close writes the metadata and moves the file into place.
func (m *MBTiles) Close(meta Metadata) error {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	vl, _ := json.Marshal(map[string]any{"vector_layers": meta.VectorLayers, "gusu_layer_versions": meta.LayerVersions})
	rows := [][2]string{
		{"name", meta.Name}, {"format", "pbf"}, {"type", "overlay"}, {"version", "1.3"},
		{"description", meta.Description}, {"attribution", meta.Attribution},
		{"minzoom", strconv.Itoa(meta.MinZoom)}, {"maxzoom", strconv.Itoa(meta.MaxZoom)},
		{"bounds", strings.Join([]string{f(meta.Bounds[0]), f(meta.Bounds[1]), f(meta.Bounds[2]), f(meta.Bounds[3])}, ",")},
		{"center", strings.Join([]string{f(meta.Center[0]), f(meta.Center[1]), f(meta.Center[2])}, ",")},
		{"json", string(vl)},
	}
	for _, r := range rows {
		if _, err := m.tx.Exec(`INSERT INTO metadata (name, value) VALUES (?, ?)`, r[0], r[1]); err != nil {
			m.Abort()
			return fmt.Errorf("write metadata: %w", err)
		}
	}
	m.ins.Close()
	if err := m.tx.Commit(); err != nil {
		m.Abort()
		return fmt.Errorf("commit %s: %w", m.path, err)
	}
	if err := m.db.Close(); err != nil {
		return err
	}
	return os.Rename(m.path+".part", m.path)
}
