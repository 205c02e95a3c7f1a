package upload

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gusu-gis/gusu/data/audit"
)

// Version is one entry of a layer's history.
type Version struct {
	Version      int            `json:"version"`
	Current      bool           `json:"current"`
	Action       string         `json:"action"`
	CreatedAt    time.Time      `json:"created_at"`
	CreatedBy    string         `json:"created_by"`
	FileName     *string        `json:"file_name"`
	Format       *string        `json:"format"`
	CRS          *string        `json:"crs"`
	FeatureCount *int64         `json:"feature_count"`
	Bounds       []float64      `json:"bounds"`
	Added        *int64         `json:"added"`
	Removed      *int64         `json:"removed"`
	Changed      *int64         `json:"changed"`
	RestoredFrom *int           `json:"restored_from,omitempty"`
	Report       map[string]any `json:"report"`
}

// Versions lists a layer's versions, newest first.
func Versions(ctx context.Context, pool *pgxpool.Pool, layer string) ([]Version, error) {
	var current int
	if err := pool.QueryRow(ctx, "SELECT data_version FROM gusu_layers WHERE name = $1", layer).Scan(&current); errors.Is(err, pgx.ErrNoRows) {
		return nil, &Error{Kind: NotFound, Msg: fmt.Sprintf("unknown layer %q", layer)}
	} else if err != nil {
		return nil, err
	}
	rows, err := pool.Query(ctx, `SELECT version, action, created_at, created_by, file_name, format, crs, feature_count, bounds,
		added, removed, changed, restored_from, report FROM gusu_layer_versions WHERE layer = $1 ORDER BY version DESC`, layer)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Version, error) {
		var v Version
		err := r.Scan(&v.Version, &v.Action, &v.CreatedAt, &v.CreatedBy, &v.FileName, &v.Format, &v.CRS, &v.FeatureCount, &v.Bounds,
			&v.Added, &v.Removed, &v.Changed, &v.RestoredFrom, &v.Report)
		v.Current = v.Version == current
		return v, err
	})
}

// Restore makes an earlier version current again, as a new version (the
// history only grows), and returns it.
func Restore(ctx context.Context, pool *pgxpool.Pool, layer string, version int, user string) (*Version, int64, error) {
	var out Version
	var layerVersion int64
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		cur, err := lockLayer(ctx, tx, layer)
		if err != nil {
			return err
		}
		var table string
		var count *int64
		var bounds []float64
		err = tx.QueryRow(ctx, "SELECT table_name, feature_count, bounds FROM gusu_layer_versions WHERE layer = $1 AND version = $2", layer, version).Scan(&table, &count, &bounds)
		if errors.Is(err, pgx.ErrNoRows) {
			return &Error{Kind: NotFound, Msg: fmt.Sprintf("layer %q has no version %d", layer, version)}
		}
		if err != nil {
			return err
		}
		if table == cur.tableName {
			return &Error{Kind: Conflict, Msg: fmt.Sprintf("version %d of %q is what is current already", version, layer)}
		}
		var fam string
		if err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT CASE
			WHEN bool_and(GeometryType(geom) IN ('POINT', 'MULTIPOINT')) THEN 'point'
			WHEN bool_and(GeometryType(geom) IN ('LINESTRING', 'MULTILINESTRING')) THEN 'line'
			WHEN bool_and(GeometryType(geom) IN ('POLYGON', 'MULTIPOLYGON')) THEN 'polygon' ELSE 'mixed' END FROM %s`, ident(table))).Scan(&fam); err != nil {
			return err
		}
		if fam == "" {
			fam = "mixed"
		}
		next := int(cur.version) + 1 // one number per layer, as uploads
		if _, err := tx.Exec(ctx, `INSERT INTO gusu_layer_versions (layer, version, table_name, action, created_by, feature_count, bounds, restored_from)
			VALUES ($1, $2, $3, 'restore', $4, $5, $6, $7)`, layer, next, table, user, count, bounds, version); err != nil {
			return err
		}
		if layerVersion, err = switchVersion(ctx, tx, layer, table, next, fam); err != nil {
			return err
		}
		if err := audit.Record(ctx, tx, user, audit.Restore, layer, layerVersion, map[string]any{"restored_from": version}); err != nil {
			return err
		}
		out = Version{Version: next, Current: true, Action: "restore", CreatedAt: time.Now(), CreatedBy: user, FeatureCount: count, Bounds: bounds, RestoredFrom: &version}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return &out, layerVersion, nil
}

// LayerSpec describes a new layer.
type LayerSpec struct {
	Name        string `json:"name"`
	Title       string `json:"title"`
	Kind        string `json:"kind"`
	Description string `json:"description"`
	Attribution string `json:"attribution"`
	License     string `json:"license"`
	Private     bool   `json:"private"`
	MinZoom     *int   `json:"minzoom"`
	MaxZoom     *int   `json:"maxzoom"`
}

// Kinds of layers staff create.
var Kinds = []string{"boundary", "redline", "town_system", "landuse", "zone", "rail", "other"}

var layerName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)

// CreateLayer registers an empty layer for uploads.
func CreateLayer(ctx context.Context, pool *pgxpool.Pool, s LayerSpec, user string) error {
	if !layerName.MatchString(s.Name) {
		return badInput(fmt.Sprintf("layer name %q must be 1-48 characters of a-z, 0-9 and _, starting with a letter", s.Name))
	}
	if s.Title == "" {
		s.Title = s.Name
	}
	if s.Kind == "" {
		s.Kind = "boundary"
	}
	if !slices.Contains(Kinds, s.Kind) {
		return &Error{Kind: BadInput, Msg: fmt.Sprintf("unknown kind %q", s.Kind), Detail: map[string]any{"known": Kinds}}
	}
	minz, maxz := 0, 22
	if s.MinZoom != nil {
		minz = *s.MinZoom
	}
	if s.MaxZoom != nil {
		maxz = *s.MaxZoom
	}
	if minz < 0 || maxz > 24 || minz > maxz {
		return badInput(fmt.Sprintf("zoom range %d-%d must lie within 0-24, min ≤ max", minz, maxz))
	}
	if err := checkText(map[string]textField{"title": {s.Title, 200}, "description": {s.Description, 10000},
		"attribution": {s.Attribution, 1000}, "license": {s.License, 200}}); err != nil {
		return err
	}
	table := "up_" + s.Name + "_v0"
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Creates of one name queue here, so the second finds the first's
		// row and gets its 409 instead of racing it to CREATE TABLE.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('gusu_layer:' || $1))", s.Name); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM gusu_layers WHERE name = $1) OR to_regclass($2) IS NOT NULL", s.Name, ident(table)).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return &Error{Kind: Conflict, Msg: fmt.Sprintf("layer %q exists already", s.Name)}
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (id bigserial PRIMARY KEY, geom geometry(Geometry, 4326) NOT NULL)`, ident(table))); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO gusu_layers (name, title, description, kind, table_name, geometry_type, attribution, license, source, minzoom, maxzoom, private, data_version)
			VALUES ($1, $2, $3, $4, $5, 'mixed', $6, $7, 'upload', $8, $9, $10, 1)`,
			s.Name, s.Title, s.Description, s.Kind, table, s.Attribution, s.License, minz, maxz, s.Private)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			return &Error{Kind: Conflict, Msg: fmt.Sprintf("layer %q exists already", s.Name)}
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO gusu_layer_versions (layer, version, table_name, action, created_by, feature_count) VALUES ($1, 1, $2, 'create', $3, 0)`, s.Name, table, user)
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx, user, audit.Create, s.Name, 1, map[string]any{"title": s.Title, "kind": s.Kind, "private": s.Private})
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "23505" || pgErr.Code == "42P07") {
		// Belt and braces: a name taken between the check and the create.
		return &Error{Kind: Conflict, Msg: fmt.Sprintf("layer %q exists already", s.Name)}
	}
	return err
}

type textField struct {
	value string
	max   int // characters
}

// checkText refuses text PostgreSQL cannot store (NUL, invalid UTF-8) or
// that is absurdly long, naming the field.
func checkText(fields map[string]textField) error {
	for name, f := range fields {
		switch {
		case !utf8.ValidString(f.value):
			return badInput(fmt.Sprintf("%s is not valid UTF-8", name))
		case strings.ContainsRune(f.value, 0):
			return badInput(fmt.Sprintf("%s contains a NUL character (\\u0000), which cannot be stored", name))
		case utf8.RuneCountInString(f.value) > f.max:
			return badInput(fmt.Sprintf("%s is longer than %d characters", name, f.max))
		}
	}
	return nil
}
