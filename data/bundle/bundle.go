// Package bundle loads the bundled Suzhou dataset into an empty database.
//
// It loads once per database: a marker in gusu_meta records the dataset's
// hash, so deliberate edits (or deletions) by GIS staff are not overwritten
// on the next start.
package bundle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// loadLockKey serialises loaders across instances starting together.
const loadLockKey = 0x67757376

// layerLoad says how one file becomes rows of one table.
type layerLoad struct {
	file, table string
	// geomSQL turns the GeoJSON geometry g into the stored geometry.
	geomSQL string
}

var loads = []layerLoad{
	{"suzhou/town_system.geojson", "town_system",
		"CASE WHEN GeometryType(g) IN ('POLYGON', 'MULTIPOLYGON') THEN ST_Multi(ST_CollectionExtract(ST_MakeValid(g), 3)) ELSE g END"},
	{"suzhou/eco_redlines.geojson", "eco_redlines", "ST_Multi(ST_CollectionExtract(ST_MakeValid(g), 3))"},
	{"suzhou/rail_lines.geojson", "rail_lines", "ST_Multi(g)"},
	{"suzhou/rail_stations.geojson", "rail_stations", "g"},
	{"suzhou/water_bodies.geojson", "water_bodies", "ST_Multi(ST_CollectionExtract(ST_MakeValid(g), 3))"},
	{"suzhou/basemap_water.geojson", "basemap_water", "ST_Multi(g)"},
}

// firstBundle are the tables the original, single "bundle" marker covers.
var firstBundle = map[string]bool{"town_system": true, "eco_redlines": true, "rail_lines": true, "rail_stations": true}

// Result reports what Load did.
type Result struct {
	Loaded bool
	// Rows per table.
	Rows map[string]int64
	Hash string
}

// Load loads the dataset in fsys unless this database already has one. All
// or nothing: one transaction.
func Load(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS) (Result, error) {
	h := sha256.New()
	contents := map[string][]byte{}
	for _, l := range loads {
		b, err := fs.ReadFile(fsys, l.file)
		if err != nil {
			return Result{}, fmt.Errorf("read bundled %s: %w", l.file, err)
		}
		contents[l.file] = b
		h.Write(b)
	}
	res := Result{Rows: map[string]int64{}, Hash: hex.EncodeToString(h.Sum(nil))[:16]}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", loadLockKey); err != nil {
			return err
		}
		// One marker per table: a table added to the bundle later is loaded
		// into databases that had the earlier bundle, and a table GIS staff
		// emptied on purpose is not refilled.
		done := map[string]bool{}
		rows, err := tx.Query(ctx, "SELECT key FROM gusu_meta WHERE key = 'bundle' OR key LIKE 'bundle:%'")
		if err != nil {
			return fmt.Errorf("read bundle markers: %w", err)
		}
		keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("read bundle markers: %w", err)
		}
		for _, k := range keys {
			if k == "bundle" {
				for t := range firstBundle {
					done[t] = true
				}
			}
			done[strings.TrimPrefix(k, "bundle:")] = true
		}
		loadedRedLines := false
		for _, l := range loads {
			if done[l.table] {
				continue
			}
			n, err := loadLayer(ctx, tx, l, contents[l.file])
			if err != nil {
				return fmt.Errorf("load %s: %w", l.table, err)
			}
			res.Rows[l.table] = n
			if _, err := tx.Exec(ctx, "INSERT INTO gusu_meta (key, value) VALUES ($1, $2)", "bundle:"+l.table, res.Hash); err != nil {
				return fmt.Errorf("record bundle marker: %w", err)
			}
			loadedRedLines = loadedRedLines || l.table == "eco_redlines"
		}
		if len(res.Rows) == 0 {
			return nil
		}
		res.Loaded = true
		if !loadedRedLines {
			return nil
		}
		// Lakes extend beyond Suzhou (Taihu into Wuxi and Huzhou, Dianshan
		// into Shanghai): keep only the part inside the city.
		if _, err := tx.Exec(ctx, `
			WITH city AS (SELECT ST_Union(geom) AS g FROM town_system WHERE level <> 'town')
			UPDATE eco_redlines r
			   SET geom = ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Intersection(r.geom, city.g)), 3))
			  FROM city
			 WHERE NOT ST_Within(r.geom, city.g)`); err != nil {
			return fmt.Errorf("clip red lines to the city: %w", err)
		}
		return nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("load bundled dataset: %w", err)
	}
	return res, nil
}

// loadLayer inserts a FeatureCollection's features, mapping properties to
// the table's columns by name (jsonb_populate_record), so the files and the
// schema stay the single description of each layer.
func loadLayer(ctx context.Context, tx pgx.Tx, l layerLoad, geojson []byte) (int64, error) {
	rows, err := tx.Query(ctx, `
		SELECT a.attname, a.atttypid = 'geometry'::regtype, coalesce(pg_get_expr(d.adbin, d.adrelid), '')
		  FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		 WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
		   AND a.attgenerated = '' AND a.attname NOT IN ('id', 'geom')
		 ORDER BY a.attnum`, l.table)
	if err != nil {
		return 0, err
	}
	cols, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (column, error) {
		var c column
		err := row.Scan(&c.name, &c.geometry, &c.defaultSQL)
		return c, err
	})
	if err != nil {
		return 0, err
	}
	// A property with no column would vanish without a word: the build and
	// the schema must agree, so the load refuses it.
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	var stray []string
	if err := tx.QueryRow(ctx, `SELECT coalesce(array_agg(DISTINCT k ORDER BY k), '{}') FROM jsonb_array_elements($1::jsonb -> 'features') f,
		jsonb_object_keys(coalesce(f -> 'properties', '{}')) k WHERE k <> ALL($2)`, string(geojson), names).Scan(&stray); err != nil {
		return 0, fmt.Errorf("read the properties of %s: %w", l.file, err)
	}
	if len(stray) > 0 {
		return 0, fmt.Errorf("%s: properties %v have no column in %s (add them to the schema or drop them from the build)", l.file, stray, l.table)
	}
	table := pgx.Identifier{l.table}.Sanitize()
	var colList, selList string
	for i, c := range cols {
		if i > 0 {
			colList += ", "
			selList += ", "
		}
		id := pgx.Identifier{c.name}.Sanitize()
		colList += id
		if c.geometry {
			// Extra geometry columns (a town's seat) are GeoJSON objects in the files.
			selList += fmt.Sprintf("ST_SetSRID(ST_GeomFromGeoJSON(f -> 'properties' -> '%s'), 4326)", strings.ReplaceAll(c.name, "'", "''"))
		} else if c.defaultSQL != "" {
			// jsonb_populate_record yields NULL for absent keys; the
			// column's own default is what an INSERT would have used.
			selList += fmt.Sprintf("COALESCE(p.%s, %s)", id, c.defaultSQL)
		} else {
			selList += "p." + id
		}
	}
	sql := fmt.Sprintf(`
		INSERT INTO %s (%s, geom)
		SELECT %s, %s
		  FROM jsonb_array_elements($1::jsonb -> 'features') AS f,
		       LATERAL jsonb_populate_record(NULL::%s, (f -> 'properties')%s) AS p,
		       LATERAL ST_SetSRID(ST_GeomFromGeoJSON(f -> 'geometry'), 4326) AS g`,
		table, colList, selList, l.geomSQL, table, geomKeys(cols))
	tag, err := tx.Exec(ctx, sql, string(geojson))
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// column is one loadable column of a feature table.
type column struct {
	name       string
	geometry   bool
	defaultSQL string // the catalog's default expression, trusted: it is our schema
}

// geomKeys removes geometry-typed keys before jsonb_populate_record, which
// cannot cast a GeoJSON object to geometry.
func geomKeys(cols []column) string {
	var b strings.Builder
	for _, c := range cols {
		if c.geometry {
			fmt.Fprintf(&b, " - '%s'", strings.ReplaceAll(c.name, "'", "''"))
		}
	}
	return b.String()
}
