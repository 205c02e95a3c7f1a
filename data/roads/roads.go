// Package roads stores OpenStreetMap road networks in PostGIS for the
// accessibility model: `gusu import osm`. Each import is one transaction
// that writes new edge and node tables and switches the `roads` layer to
// them, so a re-import replaces the network atomically and every running
// gusu picks it up through the layer's change signal.
package roads

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb/encoding/wkb"

	"github.com/gusu-gis/gusu/data/audit"
	"github.com/gusu-gis/gusu/geo/osmroads"
)

// Layer is the layer that holds the road network.
const Layer = "roads"

// Result reports an import.
type Result struct {
	osmroads.Stats
	Table    string
	Version  int
	Took     time.Duration
	Replaced string // the previous edges table, dropped
}

// IsLines reports whether path names GeoJSON road lines rather than a PBF.
func IsLines(path string) bool {
	p := strings.ToLower(path)
	return strings.HasSuffix(p, ".geojson") || strings.HasSuffix(p, ".json")
}

// input is where an import reads: a file on disk, or GeoJSON lines in an
// fs.FS (the bundle).
type input struct {
	path string
	fsys fs.FS
}

func (in input) lines() bool { return in.fsys != nil || IsLines(in.path) }

// read picks the reader for the input: GeoJSON road lines or an OSM PBF.
func (in input) read(ctx context.Context, opts osmroads.Options, emit func(osmroads.Edge) error) (osmroads.Stats, error) {
	if !in.lines() {
		return osmroads.Read(ctx, in.path, opts, emit)
	}
	var f io.ReadCloser
	var err error
	if in.fsys != nil {
		f, err = in.fsys.Open(in.path)
	} else {
		f, err = os.Open(in.path)
	}
	if err != nil {
		return osmroads.Stats{}, fmt.Errorf("open %s: %w", in.path, err)
	}
	defer f.Close()
	return osmroads.ReadLines(ctx, f, opts, emit)
}

// Import reads the road file at path (an OSM PBF, or GeoJSON road lines
// with OSM tags) and replaces the road network.
func Import(ctx context.Context, pool *pgxpool.Pool, path string, opts osmroads.Options, source string) (*Result, error) {
	return importRoads(ctx, pool, input{path: path}, opts, source, "")
}

// bundleMarker records in gusu_meta that the bundled streets were loaded
// (or deliberately not: a database with roads of its own keeps them).
const bundleMarker = "bundle:roads"

// ImportBundled loads the bundled GeoJSON road lines (name in fsys) as the
// road network once per database: not again after that (GIS staff may have
// replaced or deleted it), and not over a network imported before. nil
// Result: nothing to do.
func ImportBundled(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, name, source string) (*Result, error) {
	return importRoads(ctx, pool, input{path: name, fsys: fsys}, osmroads.Options{}, source, bundleMarker)
}

// importRoads imports in one transaction. With a marker, it does nothing
// when gusu_meta holds it or a roads layer exists, and records it with
// the import.
func importRoads(ctx context.Context, pool *pgxpool.Pool, in input, opts osmroads.Options, source, marker string) (*Result, error) {
	path := in.path
	start := time.Now()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('gusu_roads_import'))"); err != nil {
		return nil, err
	}
	var prev string
	var version int
	// Numbered like uploads: the layer's version counter as it will be once
	// this import is current (a new row starts at 1).
	err = tx.QueryRow(ctx, "SELECT table_name, version FROM gusu_layers WHERE name = $1 FOR UPDATE", Layer).Scan(&prev, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		prev, version = "", 0
	} else if err != nil {
		return nil, err
	}
	if marker != "" {
		var seen bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT FROM gusu_meta WHERE key = $1)", marker).Scan(&seen); err != nil {
			return nil, err
		}
		if seen || prev != "" {
			if !seen {
				if _, err := tx.Exec(ctx, "INSERT INTO gusu_meta (key, value) VALUES ($1, 'kept the imported network')", marker); err != nil {
					return nil, err
				}
				return nil, tx.Commit(ctx)
			}
			return nil, nil
		}
		if _, err := tx.Exec(ctx, "INSERT INTO gusu_meta (key, value) VALUES ($1, $2)", marker, source); err != nil {
			return nil, err
		}
	}
	version++
	edges := fmt.Sprintf("road_edges_v%d", version)
	nodes := fmt.Sprintf("road_nodes_v%d", version)
	for _, sql := range []string{
		fmt.Sprintf(`CREATE TABLE %s (
			id bigserial PRIMARY KEY, way_id bigint NOT NULL, source bigint NOT NULL, target bigint NOT NULL,
			class text NOT NULL, name text, length_m double precision NOT NULL, speed_kmh double precision NOT NULL,
			drive_forward boolean NOT NULL, drive_backward boolean NOT NULL, walk boolean NOT NULL, bike boolean NOT NULL,
			bike_backward boolean NOT NULL, geom geometry(LineString, 4326) NOT NULL)`, ident(edges)),
		fmt.Sprintf(`CREATE TABLE %s (id bigint PRIMARY KEY, geom geometry(Point, 4326) NOT NULL)`, ident(nodes)),
	} {
		if _, err := tx.Exec(ctx, sql); err != nil {
			return nil, fmt.Errorf("create road tables: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE gusu_road_stage (way_id bigint, source bigint, target bigint, class text, name text,
		length_m double precision, speed_kmh double precision, drive_forward boolean, drive_backward boolean, walk boolean, bike boolean,
		bike_backward boolean, wkb bytea) ON COMMIT DROP`); err != nil {
		return nil, err
	}
	// Edges stream from the reader straight into COPY.
	rows := make(chan []any, 1024)
	var readErr error
	var stats osmroads.Stats
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(rows)
		stats, readErr = in.read(rctx, opts, func(e osmroads.Edge) error {
			g, err := wkb.Marshal(e.Geometry)
			if err != nil {
				return err
			}
			select {
			case rows <- []any{e.WayID, e.Source, e.Target, e.Class, nullable(e.Name), e.Metres, e.KmH, e.Forward, e.Backward, e.Walk, e.Bike, e.BikeBackward, g}:
				return nil
			case <-rctx.Done():
				return rctx.Err()
			}
		})
	}()
	src := &chanSource{rows: rows}
	_, copyErr := tx.CopyFrom(ctx, pgx.Identifier{"gusu_road_stage"}, []string{"way_id", "source", "target", "class", "name", "length_m", "speed_kmh",
		"drive_forward", "drive_backward", "walk", "bike", "bike_backward", "wkb"}, src)
	cancel()
	for range rows { // let the reader finish
	}
	if readErr != nil && !errors.Is(readErr, context.Canceled) {
		return nil, fmt.Errorf("read %s: %w", path, readErr)
	}
	if copyErr != nil {
		return nil, fmt.Errorf("stage road edges: %w", copyErr)
	}
	if stats.Edges == 0 {
		return nil, fmt.Errorf("%s holds no routable roads (in the bound)", path)
	}
	for _, sql := range []string{
		fmt.Sprintf(`INSERT INTO %s (way_id, source, target, class, name, length_m, speed_kmh, drive_forward, drive_backward, walk, bike, bike_backward, geom)
			SELECT way_id, source, target, class, name, length_m, speed_kmh, drive_forward, drive_backward, walk, bike, bike_backward, ST_SetSRID(ST_GeomFromWKB(wkb), 4326)
			FROM gusu_road_stage`, ident(edges)),
		fmt.Sprintf(`INSERT INTO %s (id, geom) SELECT DISTINCT ON (id) id, g FROM (
			SELECT source AS id, ST_StartPoint(geom) AS g FROM %[2]s UNION ALL SELECT target, ST_EndPoint(geom) FROM %[2]s) s ORDER BY id`, ident(nodes), ident(edges)),
		fmt.Sprintf(`CREATE INDEX ON %s USING gist (geom)`, ident(edges)),
		fmt.Sprintf(`CREATE INDEX ON %s (source)`, ident(edges)),
		fmt.Sprintf(`CREATE INDEX ON %s (target)`, ident(edges)),
		fmt.Sprintf(`CREATE INDEX ON %s USING gist (geom)`, ident(nodes)),
		fmt.Sprintf(`ANALYZE %s`, ident(edges)),
		fmt.Sprintf(`ANALYZE %s`, ident(nodes)),
		fmt.Sprintf(`CREATE TRIGGER %s AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION gusu_features_changed('roads')`, ident(edges+"_changed"), ident(edges)),
	} {
		if _, err := tx.Exec(ctx, sql); err != nil {
			return nil, fmt.Errorf("build road tables: %w", err)
		}
	}
	if prev == "" {
		_, err = tx.Exec(ctx, `INSERT INTO gusu_layers (name, title, description, kind, table_name, geometry_type, attribution, license, source, minzoom, maxzoom, data_version)
			VALUES ($1, '道路网络 Road network (OpenStreetMap)', 'Routable roads imported from an OpenStreetMap extract (gusu import osm), split at junctions.',
			        'roads', $2, 'line', '© OpenStreetMap contributors', 'ODbL 1.0', $3, 10, 22, $4)`, Layer, edges, source, version)
	} else {
		_, err = tx.Exec(ctx, `UPDATE gusu_layers SET table_name = $2, source = $3, data_version = $4 WHERE name = $1`, Layer, edges, source, version)
	}
	if err != nil {
		return nil, fmt.Errorf("switch the roads layer: %w", err)
	}
	format := "OSM PBF"
	if in.lines() {
		format = "GeoJSON road lines"
	}
	if _, err := tx.Exec(ctx, `INSERT INTO gusu_layer_versions (layer, version, table_name, action, created_by, file_name, format, crs, feature_count)
		VALUES ($1, $2, $3, 'upload', $7, $4, $5, 'EPSG:4326', $6)`, Layer, version, edges, source, format, stats.Edges, importer(marker)); err != nil {
		return nil, fmt.Errorf("record the import: %w", err)
	}
	if err := audit.Record(ctx, tx, importer(marker), audit.Upload, Layer, int64(version), map[string]any{"file_name": source, "format": format, "edges": stats.Edges, "connectors": stats.Connectors}); err != nil {
		return nil, err
	}
	res := &Result{Stats: stats, Table: edges, Version: version}
	if prev != "" {
		// Road networks are large; the previous one is not kept.
		prevNodes := NodesTable(prev)
		for _, t := range []string{prev, prevNodes} {
			if _, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+ident(t)); err != nil {
				return nil, fmt.Errorf("drop %s: %w", t, err)
			}
		}
		if _, err := tx.Exec(ctx, "DELETE FROM gusu_layer_versions WHERE layer = $1 AND version < $2", Layer, version); err != nil {
			return nil, err
		}
		res.Replaced = prev
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit road import: %w", err)
	}
	res.Took = time.Since(start)
	return res, nil
}

// importer names who made a version: the command, or the bundle loader.
func importer(marker string) string {
	if marker != "" {
		return "gusu (bundled data)"
	}
	return "gusu import osm"
}

// NodesTable is the node table that goes with an edges table.
func NodesTable(edges string) string { return "road_nodes_v" + edges[len("road_edges_v"):] }

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// chanSource feeds CopyFrom from the reader's goroutine.
type chanSource struct {
	rows <-chan []any
	row  []any
}

func (c *chanSource) Next() bool {
	r, ok := <-c.rows
	c.row = r
	return ok
}
func (c *chanSource) Values() ([]any, error) { return c.row, nil }
func (c *chanSource) Err() error             { return nil }
