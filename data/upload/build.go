package upload

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gusu-gis/gusu/geo/feature"
)

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// familyTypes are the PostGIS type names a family allows, and the
// ST_CollectionExtract code that keeps it.
var familyTypes = map[string]struct {
	names   string
	extract int
}{
	feature.Points:   {"'POINT', 'MULTIPOINT'", 1},
	feature.Lines:    {"'LINESTRING', 'MULTILINESTRING'", 2},
	feature.Polygons: {"'POLYGON', 'MULTIPOLYGON'", 3},
}

// prepare reprojects the staged features to EPSG:4326, skips those whose
// coordinates are impossible afterwards, and repairs (or rejects) invalid
// geometries.
func prepare(ctx context.Context, tx pgx.Tx, srid int, family string, reject bool, rep *Report) error {
	geom := "ST_SetSRID(ST_GeomFromWKB(wkb), 4326)"
	if srid != 4326 {
		geom = fmt.Sprintf("ST_Transform(ST_SetSRID(ST_GeomFromWKB(wkb), %d), 4326)", srid)
	}
	_, err := tx.Exec(ctx, `CREATE TEMP TABLE gusu_prep ON COMMIT DROP AS SELECT idx, props, `+geom+` AS g FROM gusu_stage`)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "XX000" {
			return badInput(fmt.Sprintf("the coordinates cannot be transformed from EPSG:%d: %s; check the coordinate system (?crs=)", srid, pgErr.Message))
		}
		return fmt.Errorf("reproject: %w", err)
	}
	rows, err := tx.Query(ctx, `DELETE FROM gusu_prep WHERE NOT (ST_XMin(g) >= -180 AND ST_XMax(g) <= 180 AND ST_YMin(g) >= -90 AND ST_YMax(g) <= 90) RETURNING idx`)
	if err != nil {
		return err
	}
	idxs, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return err
	}
	for _, i := range idxs {
		addSkip(rep, int(i), fmt.Sprintf("coordinates outside longitude/latitude after reprojection from EPSG:%d", srid))
	}
	rows, err = tx.Query(ctx, `SELECT idx, ST_IsValidReason(g) FROM gusu_prep WHERE NOT ST_IsValid(g) ORDER BY idx`)
	if err != nil {
		return err
	}
	type invalid struct {
		Index  int    `json:"index"`
		Reason string `json:"reason"`
	}
	var bad []invalid
	var idx int32
	var reason string
	if _, err := pgx.ForEachRow(rows, []any{&idx, &reason}, func() error {
		bad = append(bad, invalid{int(idx), reason})
		return nil
	}); err != nil {
		return err
	}
	if len(bad) == 0 {
		return nil
	}
	if reject {
		return &Error{Kind: Rejected, Msg: fmt.Sprintf("%d features have invalid geometry and on_invalid=reject: nothing was written", len(bad)), Detail: map[string]any{"invalid": bad}}
	}
	rows, err = tx.Query(ctx, fmt.Sprintf(`UPDATE gusu_prep SET g = ST_CollectionExtract(ST_MakeValid(g), %d) WHERE NOT ST_IsValid(g) RETURNING idx, ST_IsEmpty(g)`, familyTypes[family].extract))
	if err != nil {
		return fmt.Errorf("repair geometries: %w", err)
	}
	var empty bool
	var lost []int32
	if _, err := pgx.ForEachRow(rows, []any{&idx, &empty}, func() error {
		if empty {
			lost = append(lost, idx)
			addSkip(rep, int(idx), "invalid geometry that could not be repaired into a "+family)
		} else if len(rep.Repaired) < maxListed {
			rep.Repaired = append(rep.Repaired, int(idx))
		}
		return nil
	}); err != nil {
		return err
	}
	if len(lost) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM gusu_prep WHERE idx = ANY($1)`, lost); err != nil {
			return err
		}
	}
	return nil
}

func addSkip(rep *Report, idx int, reason string) {
	if len(rep.Skipped) < maxListed {
		rep.Skipped = append(rep.Skipped, Skipped{Index: idx, Reason: reason})
	}
}

// stageCurrent adds the layer's current features to the new version
// (append mode), before the file's, keeping their attributes.
func stageCurrent(ctx context.Context, tx pgx.Tx, table string, st *stager) error {
	cols, err := columnsOf(ctx, tx, table)
	if err != nil {
		return err
	}
	var fam string
	if err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT coalesce(min(GeometryType(geom)), '') FROM %s`, ident(table))).Scan(&fam); err != nil {
		return err
	}
	if fam != "" && !strings.Contains(familyTypes[st.family].names, "'"+fam+"'") {
		return badInput(fmt.Sprintf("the layer holds %s geometries and the file %ss: append needs the same family", strings.ToLower(fam), st.family))
	}
	drop := "- 'id' - 'geom'"
	var order []string
	for _, c := range cols {
		if c.geometry {
			drop += " - " + quoteLiteral(c.name)
			continue
		}
		order = append(order, c.name)
		st.used[c.name] = true
	}
	for _, c := range st.order {
		if !slices.Contains(order, c) {
			order = append(order, c)
		}
	}
	st.order = order
	_, err = tx.Exec(ctx, fmt.Sprintf(`INSERT INTO gusu_prep (idx, props, g)
		SELECT (row_number() OVER (ORDER BY t.id))::int - 2000000000, to_jsonb(t) %s, t.geom FROM %s t`, drop, ident(table)))
	return err
}

type column struct {
	name     string
	typ      string
	geometry bool
}

func columnsOf(ctx context.Context, q querier, table string) ([]column, error) {
	rows, err := q.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.atttypid = 'geometry'::regtype
		FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attname NOT IN ('id', 'geom')
		ORDER BY a.attnum`, ident(table))
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (column, error) {
		var c column
		err := r.Scan(&c.name, &c.typ, &c.geometry)
		return c, err
	})
}

// inferAttributes types each attribute from all its values: whole numbers
// that fit bigint → bigint, other numbers → double precision, booleans →
// boolean, anything else (or a mix) → text.
func inferAttributes(ctx context.Context, tx pgx.Tx, order []string, fileNames map[string]string) ([]Attribute, error) {
	rows, err := tx.Query(ctx, `SELECT key,
		bool_and(jsonb_typeof(value) = 'number' AND value::text ~ '^-?[0-9]{1,18}$'),
		bool_and(jsonb_typeof(value) = 'number'),
		bool_and(jsonb_typeof(value) = 'boolean')
		FROM gusu_prep, jsonb_each(props) WHERE jsonb_typeof(value) <> 'null' GROUP BY key`)
	if err != nil {
		return nil, fmt.Errorf("infer attribute types: %w", err)
	}
	types := map[string]string{}
	var key string
	var isInt, isNum, isBool bool
	if _, err := pgx.ForEachRow(rows, []any{&key, &isInt, &isNum, &isBool}, func() error {
		switch {
		case isInt:
			types[key] = "bigint"
		case isNum:
			types[key] = "double precision"
		case isBool:
			types[key] = "boolean"
		default:
			types[key] = "text"
		}
		return nil
	}); err != nil {
		return nil, err
	}
	source := map[string]string{}
	for file, col := range fileNames {
		if file != col {
			source[col] = file
		}
	}
	attrs := make([]Attribute, 0, len(order))
	for _, name := range order {
		t := types[name]
		if t == "" {
			t = "text" // only nulls
		}
		attrs = append(attrs, Attribute{Name: name, Type: t, Source: source[name]})
	}
	return attrs, nil
}

// buildTable makes the new version's table from gusu_prep.
func buildTable(ctx context.Context, tx pgx.Tx, table string, attrs []Attribute, family string) (int64, error) {
	var defs, cols, vals strings.Builder
	for _, a := range attrs {
		fmt.Fprintf(&defs, "%s %s, ", ident(a.Name), a.Type)
		fmt.Fprintf(&cols, "%s, ", ident(a.Name))
		k := quoteLiteral(a.Name)
		switch a.Type {
		case "text":
			fmt.Fprintf(&vals, "CASE jsonb_typeof(props -> %[1]s) WHEN 'string' THEN props ->> %[1]s WHEN 'null' THEN NULL ELSE (props -> %[1]s)::text END, ", k)
		default:
			fmt.Fprintf(&vals, "(props ->> %s)::%s, ", k, a.Type)
		}
	}
	ft := familyTypes[family]
	stmts := []string{
		fmt.Sprintf(`CREATE TABLE %s (id bigserial PRIMARY KEY, %sgeom geometry(Geometry, 4326) NOT NULL
			CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom) AND ST_NDims(geom) = 2 AND GeometryType(geom) IN (%s)))`, ident(table), defs.String(), ft.names),
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return 0, fmt.Errorf("create %s: %w", table, err)
		}
	}
	tag, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (%sgeom) SELECT %sST_Force2D(g) FROM gusu_prep ORDER BY idx`, ident(table), cols.String(), vals.String()))
	if err != nil {
		return 0, fmt.Errorf("fill %s: %w", table, err)
	}
	for _, s := range []string{
		fmt.Sprintf(`CREATE INDEX ON %s USING gist (geom)`, ident(table)),
		fmt.Sprintf(`ANALYZE %s`, ident(table)),
	} {
		if _, err := tx.Exec(ctx, s); err != nil {
			return 0, fmt.Errorf("index %s: %w", table, err)
		}
	}
	return tag.RowsAffected(), nil
}

func measure(ctx context.Context, tx pgx.Tx, table, family string, rep *Report) error {
	var minx, miny, maxx, maxy, area, length *float64
	err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), a, l FROM (
		SELECT ST_Extent(geom) AS e, sum(ST_Area(geom::geography)) AS a, sum(ST_Length(geom::geography)) / 1000 AS l FROM %s) s`, ident(table))).
		Scan(&minx, &miny, &maxx, &maxy, &area, &length)
	if err != nil {
		return fmt.Errorf("measure %s: %w", table, err)
	}
	if minx != nil {
		rep.Bounds = &[4]float64{*minx, *miny, *maxx, *maxy}
	}
	switch family {
	case feature.Polygons:
		rep.TotalAreaM2 = area
	case feature.Lines:
		rep.TotalLengthKm = length
	}
	return nil
}

// keyCandidates identify a feature across versions, in order of preference.
var keyCandidates = []string{"code", "fid", "objectid", "gid", "id_2", "osm_id"}

// diff counts features added, removed and changed against the previous
// table. With a key attribute, a feature with the same key but different
// attributes or geometry is "changed"; without one, features are compared
// whole, so a change counts as one removed and one added.
func diff(ctx context.Context, tx pgx.Tx, prev, next, key string) (Diff, error) {
	d := Diff{}
	prevCols, err := columnsOf(ctx, tx, prev)
	if err != nil {
		return d, err
	}
	nextCols, err := columnsOf(ctx, tx, next)
	if err != nil {
		return d, err
	}
	has := func(cols []column, n string) bool {
		for _, c := range cols {
			if c.name == n && !c.geometry {
				return true
			}
		}
		return false
	}
	unique := func(table, col string) bool {
		var ok bool
		err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT count(%[1]s) = count(*) AND count(DISTINCT %[1]s) = count(*) FROM %[2]s`, ident(col), ident(table))).Scan(&ok)
		return err == nil && ok
	}
	if key != "" {
		if !has(prevCols, key) || !has(nextCols, key) {
			return d, badInput(fmt.Sprintf("key attribute %q is not in both the previous and the new version", key))
		}
	} else {
		for _, c := range keyCandidates {
			if has(prevCols, c) && has(nextCols, c) && unique(prev, c) && unique(next, c) {
				key = c
				break
			}
		}
	}
	// A row's fingerprint: its attributes and geometry, without the id.
	fp := func(table string) string {
		return fmt.Sprintf(`SELECT %%s AS k, md5((to_jsonb(t) - 'id')::text) AS h FROM %s t`, ident(table))
	}
	if key != "" {
		d.Key = key
		k := fmt.Sprintf("t.%s::text", ident(key))
		err = tx.QueryRow(ctx, fmt.Sprintf(`WITH a AS (`+fp(prev)+`), b AS (`+fp(next)+`)
			SELECT count(*) FILTER (WHERE a.k IS NULL), count(*) FILTER (WHERE b.k IS NULL),
			       count(*) FILTER (WHERE a.k IS NOT NULL AND b.k IS NOT NULL AND a.h <> b.h)
			FROM a FULL JOIN b ON a.k = b.k`, k, k)).Scan(&d.Added, &d.Removed, &d.Changed)
	} else {
		d.Key = "(whole feature)"
		err = tx.QueryRow(ctx, fmt.Sprintf(`WITH a AS (`+fp(prev)+`), b AS (`+fp(next)+`)
			SELECT (SELECT count(*) FROM (SELECT h FROM b EXCEPT ALL SELECT h FROM a) x),
			       (SELECT count(*) FROM (SELECT h FROM a EXCEPT ALL SELECT h FROM b) y)`, "NULL", "NULL")).Scan(&d.Added, &d.Removed)
	}
	if err != nil {
		return d, fmt.Errorf("compare with the previous version: %w", err)
	}
	return d, nil
}

// commitVersion records the version and switches the layer to its table.
func commitVersion(ctx context.Context, tx pgx.Tx, opts Options, cur *current, table string, rep *Report) (int64, error) {
	var bounds []float64
	if rep.Bounds != nil {
		bounds = rep.Bounds[:]
	}
	reportJSON := *rep
	reportJSON.Skipped, reportJSON.Repaired = nil, nil // kept short in the history; counts stay
	action := "upload"
	if _, err := tx.Exec(ctx, `INSERT INTO gusu_layer_versions (layer, version, table_name, action, created_by, file_name, format, crs,
		feature_count, bounds, added, removed, changed, report) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		opts.Layer, rep.Version, table, action, opts.User, opts.FileName, rep.Format, rep.CRS, rep.FeaturesWritten, bounds,
		rep.Diff.Added, rep.Diff.Removed, rep.Diff.Changed, map[string]any{
			"features_read": rep.FeaturesRead, "repaired": len(rep.Repaired), "skipped": len(rep.Skipped),
			"attributes": rep.Attributes, "crs_source": rep.CRSSource, "redline_check": rep.RedLines, "mode": rep.Mode,
		}); err != nil {
		return 0, fmt.Errorf("record version: %w", err)
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TRIGGER %s AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s
		FOR EACH STATEMENT EXECUTE FUNCTION gusu_features_changed(%s)`, ident(table+"_changed"), ident(table), quoteLiteral(opts.Layer))); err != nil {
		return 0, fmt.Errorf("attach change trigger: %w", err)
	}
	return switchVersion(ctx, tx, opts.Layer, table, rep.Version, rep.GeometryFamily)
}

// switchVersion makes table the layer's current one as version, which
// must be what the registry row's version counter becomes.
func switchVersion(ctx context.Context, tx pgx.Tx, layer, table string, version int, family string) (int64, error) {
	var v int64
	if err := tx.QueryRow(ctx, `UPDATE gusu_layers SET table_name = $2, data_version = $3, geometry_type = $4 WHERE name = $1 RETURNING version`,
		layer, table, version, family).Scan(&v); err != nil {
		return 0, fmt.Errorf("switch layer %q to version %d: %w", layer, version, err)
	}
	if v != int64(version) {
		return 0, fmt.Errorf("switch layer %q: its version counter became %d, not %d", layer, v, version)
	}
	return v, nil
}
