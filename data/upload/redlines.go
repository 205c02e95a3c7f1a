package upload

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// RedLineLayer is the layer new boundaries are checked against.
const RedLineLayer = "eco_redlines"

// RedLineCheck lists the features that overlap the ecological red lines.
type RedLineCheck struct {
	Checked bool   `json:"checked"`
	Note    string `json:"note,omitempty"`
	Against string `json:"against,omitempty"`
	Version int    `json:"against_version,omitempty"`
	// Approximate is true while the red lines are the provisional lake outlines.
	Approximate    bool      `json:"redlines_approximate"`
	FeaturesHit    int       `json:"features_overlapping"`
	TotalOverlapM2 float64   `json:"total_overlap_m2"`
	Overlaps       []Overlap `json:"overlaps"`
	// ToleranceM2 is the overlap a control line tolerates per feature.
	ToleranceM2 float64 `json:"tolerance_m2,omitempty"`
}

// Overlap is one feature's intrusion into the red lines. Areas are on the
// WGS 84 ellipsoid (PostGIS geography), overlapping red lines counted once.
type Overlap struct {
	FeatureID int64   `json:"feature_id"`
	Name      *string `json:"name"`
	OverlapM2 float64 `json:"overlap_m2"`
	AreaM2    float64 `json:"area_m2"`
	Share     float64 `json:"share"`
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// checkRedLines compares the polygons of table with the current red lines.
func checkRedLines(ctx context.Context, q querier, table, layer, kind string) (*RedLineCheck, error) {
	c := &RedLineCheck{Against: RedLineLayer, Overlaps: []Overlap{}}
	if layer == RedLineLayer || kind == "redline" {
		c.Note = "this layer is a red-line layer itself"
		return c, nil
	}
	var redTable string
	// against_version is the red lines' version as the catalog shows it.
	err := q.QueryRow(ctx, "SELECT table_name, version FROM gusu_layers WHERE name = $1", RedLineLayer).Scan(&redTable, &c.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		c.Note = "there is no eco_redlines layer to check against"
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	redCols, err := columnsOf(ctx, q, redTable)
	if err != nil {
		return nil, err
	}
	// Official red lines uploaded by GIS staff need not carry the flag.
	if hasColumn(redCols, "approximate") {
		if err := q.QueryRow(ctx, fmt.Sprintf(`SELECT coalesce(bool_or(approximate), false) FROM %s`, ident(redTable))).Scan(&c.Approximate); err != nil {
			return nil, err
		}
	}
	if c.Approximate {
		c.Note = "the red lines are provisional (lake outlines): upload the official red-line polygons to eco_redlines for a binding check"
	}
	return c, checkOverlaps(ctx, q, table, redTable, 0, c)
}

// checkControlLines checks table against every layer an admin marked as a
// control line (permanent basic farmland, urban development boundary, …),
// each with its tolerance: overlaps up to it are not counted.
func checkControlLines(ctx context.Context, q querier, table, layer string) ([]*RedLineCheck, error) {
	rows, err := q.Query(ctx, `SELECT name, table_name, version, control_tolerance_m2 FROM gusu_layers
		WHERE control_line AND name <> $1 AND name <> $2 ORDER BY name`, layer, RedLineLayer)
	if err != nil {
		return nil, fmt.Errorf("list control lines: %w", err)
	}
	type control struct {
		name, table string
		version     int
		tolerance   float64
	}
	controls, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (control, error) {
		var c control
		err := r.Scan(&c.name, &c.table, &c.version, &c.tolerance)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("list control lines: %w", err)
	}
	var out []*RedLineCheck
	for _, ctl := range controls {
		c := &RedLineCheck{Against: ctl.name, Version: ctl.version, Overlaps: []Overlap{}, ToleranceM2: ctl.tolerance}
		if err := checkOverlaps(ctx, q, table, ctl.table, ctl.tolerance, c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// checkOverlaps fills c with the features of table that overlap the
// polygons of against by more than tolerance m² (areas on the WGS 84
// ellipsoid, overlapping polygons of against counted once).
func checkOverlaps(ctx context.Context, q querier, table, against string, tolerance float64, c *RedLineCheck) error {
	cols, err := columnsOf(ctx, q, table)
	if err != nil {
		return err
	}
	nameExpr := "NULL::text"
	for _, cand := range []string{"name", "name_zh", "名称", "mc", "title", "code"} {
		if hasColumn(cols, cand) {
			nameExpr = "u." + ident(cand) + "::text"
			break
		}
	}
	rows, err := q.Query(ctx, fmt.Sprintf(`
		SELECT id, name, overlap, area FROM (
		  SELECT u.id, %s AS name, ST_Area(ST_Intersection(u.geom, r.g)::geography) AS overlap, ST_Area(u.geom::geography) AS area
		  FROM %s u
		  CROSS JOIN LATERAL (SELECT ST_Union(r.geom) AS g FROM %s r WHERE ST_Intersects(u.geom, r.geom)
		                        AND GeometryType(r.geom) IN ('POLYGON', 'MULTIPOLYGON')) r
		  WHERE r.g IS NOT NULL
		) s WHERE overlap > $1 ORDER BY overlap DESC`, nameExpr, ident(table), ident(against)), tolerance)
	if err != nil {
		return fmt.Errorf("check against %s: %w", c.Against, err)
	}
	var o Overlap
	if _, err := pgx.ForEachRow(rows, []any{&o.FeatureID, &o.Name, &o.OverlapM2, &o.AreaM2}, func() error {
		if o.AreaM2 > 0 {
			o.Share = o.OverlapM2 / o.AreaM2
		}
		c.FeaturesHit++
		c.TotalOverlapM2 += o.OverlapM2
		if len(c.Overlaps) < maxListed {
			c.Overlaps = append(c.Overlaps, o)
		}
		o = Overlap{}
		return nil
	}); err != nil {
		return fmt.Errorf("check against %s: %w", c.Against, err)
	}
	c.Checked = true
	return nil
}

// CheckVersion runs the red-line check for a layer's version (0: current).
func CheckVersion(ctx context.Context, pool *pgxpool.Pool, layer string, version int) (*RedLineCheck, int, error) {
	var table, kind, geomType string
	var current int
	err := pool.QueryRow(ctx, "SELECT table_name, kind, geometry_type, data_version FROM gusu_layers WHERE name = $1", layer).Scan(&table, &kind, &geomType, &current)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, &Error{Kind: NotFound, Msg: fmt.Sprintf("unknown layer %q", layer)}
	}
	if err != nil {
		return nil, 0, err
	}
	if version == 0 {
		version = current
	} else if err := pool.QueryRow(ctx, "SELECT table_name FROM gusu_layer_versions WHERE layer = $1 AND version = $2", layer, version).Scan(&table); errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, &Error{Kind: NotFound, Msg: fmt.Sprintf("layer %q has no version %d", layer, version)}
	} else if err != nil {
		return nil, 0, err
	}
	var polygons bool
	if err := pool.QueryRow(ctx, fmt.Sprintf(`SELECT coalesce(bool_or(GeometryType(geom) IN ('POLYGON', 'MULTIPOLYGON')), false) FROM %s`, ident(table))).Scan(&polygons); err != nil {
		return nil, 0, err
	}
	if !polygons {
		return &RedLineCheck{Against: RedLineLayer, Overlaps: []Overlap{}, Note: "the red-line check applies to polygons; this version has none"}, version, nil
	}
	c, err := checkRedLines(ctx, pool, table, layer, kind)
	return c, version, err
}

func hasColumn(cols []column, name string) bool {
	return slices.ContainsFunc(cols, func(c column) bool { return c.name == name })
}
