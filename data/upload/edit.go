package upload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gusu-gis/gusu/data/audit"
	"github.com/gusu-gis/gusu/geo/feature"
)

// Edit changes one feature's attributes (and, optionally, its geometry)
// without a file. Like an upload it makes a new version — a copy of the
// current table with the change — checked against the red lines and
// control lines, numbered on the layer's counter, reviewed first when the
// layer requires review, and recorded in the audit log.
type Edit struct {
	Layer string
	ID    int64
	// Properties to set; with Replace, every attribute not named is
	// cleared. JSON null clears one.
	Properties map[string]json.RawMessage
	// Geometry is a GeoJSON geometry (lon/lat) replacing the feature's; nil
	// keeps it (Replace requires it).
	Geometry json.RawMessage
	Replace  bool
	Review   bool
	User     string
}

// EditFeature applies e and returns the report (with a proposal if it
// awaits review).
func EditFeature(ctx context.Context, pool *pgxpool.Pool, e Edit) (*Report, error) {
	start := time.Now()
	if e.Replace && len(e.Geometry) == 0 {
		return nil, badInput("a replacement (PUT) needs the whole feature, geometry included")
	}
	for k, v := range e.Properties {
		if err := checkValue(0, k, v); err != nil {
			var ue *Error
			if errors.As(err, &ue) {
				ue.Msg = strings.TrimPrefix(ue.Msg, "feature 0: ")
			}
			return nil, err
		}
	}
	rep := &Report{Layer: e.Layer, Mode: "edit", Format: "feature edit", FileName: fmt.Sprintf("feature %d", e.ID),
		Repaired: []int{}, Skipped: []Skipped{}, CRS: "EPSG:4326", CRSSource: "edit", FeaturesRead: 1}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	cur, err := lockLayer(ctx, tx, e.Layer)
	if err != nil {
		return nil, err
	}
	var exists bool
	if err := tx.QueryRow(ctx, fmt.Sprintf("SELECT EXISTS (SELECT 1 FROM %s WHERE id = $1)", ident(cur.tableName)), e.ID).Scan(&exists); err != nil {
		return nil, fmt.Errorf("find feature %d: %w", e.ID, err)
	}
	if !exists {
		return nil, &Error{Kind: NotFound, Msg: fmt.Sprintf("layer %q has no feature %d", e.Layer, e.ID)}
	}
	cols, err := columnsOf(ctx, tx, cur.tableName)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, c := range cols {
		if !c.geometry {
			names = append(names, c.name)
		}
	}
	for k := range e.Properties {
		if !slices.Contains(names, k) {
			return nil, &Error{Kind: BadInput, Msg: fmt.Sprintf("layer %q has no attribute %q (an edit changes values; new attributes come with an upload)", e.Layer, k),
				Detail: map[string]any{"attributes": names}}
		}
	}
	review := e.Review || cur.reviewRequired
	version := int(cur.version) + 1
	table := fmt.Sprintf("up_%s_v%d", e.Layer, version)
	var proposal int64
	if review {
		if err := tx.QueryRow(ctx, "SELECT nextval('gusu_proposals_id_seq')").Scan(&proposal); err != nil {
			return nil, fmt.Errorf("number the proposal: %w", err)
		}
		version, table = 0, fmt.Sprintf("up_%s_p%d", e.Layer, proposal)
	}
	rep.Version = version
	if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)`, ident(table), ident(cur.tableName))); err != nil {
		return nil, fmt.Errorf("copy the layer: %w", err)
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s SELECT * FROM %s`, ident(table), ident(cur.tableName))); err != nil {
		return nil, fmt.Errorf("copy the layer: %w", err)
	}
	// Set the named attributes (all of them with Replace) from the JSON,
	// cast to their column types by jsonb_populate_record: a value that
	// does not fit its type is the client's error.
	var given, assignments []string
	for k := range e.Properties {
		given = append(given, ident(k))
	}
	sort.Strings(given)
	if len(given) > 0 {
		assignments = append(assignments, fmt.Sprintf("(%[2]s) = (SELECT %[2]s FROM jsonb_populate_record(NULL::%[1]s, $2::jsonb))", ident(table), strings.Join(given, ", ")))
	}
	if e.Replace {
		// What a replacement leaves out goes back to its default (NULL
		// where there is none).
		for _, n := range names {
			if _, ok := e.Properties[n]; !ok {
				assignments = append(assignments, ident(n)+" = DEFAULT")
			}
		}
	}
	props, _ := json.Marshal(e.Properties)
	if len(assignments) > 0 {
		args := []any{e.ID}
		if len(given) > 0 {
			args = append(args, props)
		}
		_, err := tx.Exec(ctx, fmt.Sprintf(`UPDATE %s t SET %s WHERE t.id = $1`, ident(table), strings.Join(assignments, ", ")), args...)
		if err != nil {
			return nil, editValueError(err)
		}
	}
	family := cur.family
	if len(e.Geometry) > 0 {
		var reason string
		err := tx.QueryRow(ctx, `SELECT CASE WHEN g IS NULL OR ST_IsEmpty(g) THEN 'empty'
			WHEN NOT ST_IsValid(g) THEN ST_IsValidReason(g) ELSE '' END FROM (SELECT ST_SetSRID(ST_GeomFromGeoJSON($1), 4326) AS g) s`, string(e.Geometry)).Scan(&reason)
		if err != nil {
			return nil, badInput("geometry is not a GeoJSON geometry: " + gdalSafe(err))
		}
		if reason != "" {
			return nil, &Error{Kind: Rejected, Msg: "the geometry is invalid: " + reason}
		}
		var typ string
		tx.QueryRow(ctx, `SELECT lower(GeometryType(ST_GeomFromGeoJSON($1)))`, string(e.Geometry)).Scan(&typ)
		gf := map[string]string{"point": feature.Points, "multipoint": feature.Points, "linestring": feature.Lines, "multilinestring": feature.Lines,
			"polygon": feature.Polygons, "multipolygon": feature.Polygons}[typ]
		if family != "mixed" && family != "" && gf != family {
			return nil, badInput(fmt.Sprintf("a %s layer holds %ss; the geometry is a %s", family, family, typ))
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf(`UPDATE %s SET geom = ST_SetSRID(ST_GeomFromGeoJSON($2), 4326) WHERE id = $1`, ident(table)), e.ID, string(e.Geometry)); err != nil {
			return nil, editValueError(err)
		}
	}
	rep.GeometryFamily = family
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+ident(table)).Scan(&rep.FeaturesWritten); err != nil {
		return nil, err
	}
	for _, c := range cols {
		if !c.geometry {
			rep.Attributes = append(rep.Attributes, Attribute{Name: c.name, Type: c.typ})
		}
	}
	if err := measure(ctx, tx, table, family, rep); err != nil {
		return nil, err
	}
	if rep.Diff, err = diff(ctx, tx, cur.tableName, table, ""); err != nil {
		return nil, err
	}
	rep.Diff.Previous = cur.dataVersion
	if family == feature.Polygons || family == "mixed" {
		if rep.RedLines, err = checkRedLines(ctx, tx, table, e.Layer, cur.kind); err != nil {
			return nil, err
		}
		if rep.Conformity, err = checkControlLines(ctx, tx, table, e.Layer); err != nil {
			return nil, err
		}
	} else {
		rep.RedLines = &RedLineCheck{Checked: false, Note: "the red-line check applies to polygon layers"}
	}
	if rep.Conformity == nil {
		rep.Conformity = []*RedLineCheck{}
	}
	opts := Options{Layer: e.Layer, User: e.User, FileName: rep.FileName}
	rep.TookMS = time.Since(start).Milliseconds()
	if review {
		if rep.Diff.Changes, err = changes(ctx, tx, cur.tableName, table, "id"); err != nil {
			return nil, err
		}
		if err := propose(ctx, tx, proposal, opts, cur, table, rep); err != nil {
			return nil, err
		}
	} else {
		if rep.LayerVersion, err = commitVersion(ctx, tx, opts, cur, table, rep); err != nil {
			return nil, err
		}
		if err := audit.Record(ctx, tx, e.User, audit.Edit, e.Layer, rep.LayerVersion, map[string]any{
			"feature": e.ID, "properties": e.Properties, "geometry_changed": len(e.Geometry) > 0, "replace": e.Replace}); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit the edit: %w", err)
	}
	return rep, nil
}

// editValueError turns PostgreSQL's refusal of a value into a 400.
func editValueError(err error) error {
	var pg *pgconn.PgError
	switch {
	case errors.As(err, &pg) && pg.Code == "23502":
		return badInput(fmt.Sprintf("attribute %q is required and cannot be cleared", pg.ColumnName))
	case errors.As(err, &pg) && (strings.HasPrefix(pg.Code, "22") || strings.HasPrefix(pg.Code, "23") || pg.Code == "XX000"):
		return badInput("a value does not fit its attribute: " + pg.Message)
	}
	return err
}

// gdalSafe is an error's message without SQL state decorations.
func gdalSafe(err error) string {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Message
	}
	return err.Error()
}
