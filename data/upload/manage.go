package upload

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gusu-gis/gusu/data/audit"
)

// LayerChange is an admin's change to a layer's registry entry; nil fields
// stay as they are.
type LayerChange struct {
	Title       *string `json:"title,omitempty"`
	Description *string `json:"description,omitempty"`
	Attribution *string `json:"attribution,omitempty"`
	Private     *bool   `json:"private,omitempty"`
	// ReviewRequired makes every upload a proposal for a reviewer.
	ReviewRequired *bool `json:"review_required,omitempty"`
	// ControlLine makes uploads to other layers be checked against this
	// one (as against the ecological red lines), overlaps up to
	// ControlToleranceM2 per feature tolerated.
	ControlLine        *bool    `json:"control_line,omitempty"`
	ControlToleranceM2 *float64 `json:"control_tolerance_m2,omitempty"`
}

// UpdateLayer applies c to the layer's row and records the change in the
// layer's history as a new version (same features, new number), so the
// history, the catalog and the tiles share one version number. The row's
// version bumps and every instance is told (NOTIFY), so catalogs, tiles and
// caches follow. It returns the new version.
func UpdateLayer(ctx context.Context, pool *pgxpool.Pool, name string, c LayerChange, user string) (int64, error) {
	fields := map[string]textField{}
	var sets []string
	var args []any
	add := func(col string, v any) {
		args = append(args, v)
		sets = append(sets, fmt.Sprintf("%s = $%d", col, len(args)+1))
	}
	if c.Title != nil {
		if strings.TrimSpace(*c.Title) == "" {
			return 0, badInput("title must not be empty")
		}
		fields["title"] = textField{*c.Title, 200}
		add("title", *c.Title)
	}
	if c.Description != nil {
		fields["description"] = textField{*c.Description, 10000}
		add("description", *c.Description)
	}
	if c.Attribution != nil {
		fields["attribution"] = textField{*c.Attribution, 1000}
		add("attribution", *c.Attribution)
	}
	if c.Private != nil {
		add("private", *c.Private)
	}
	if c.ReviewRequired != nil {
		add("review_required", *c.ReviewRequired)
	}
	if c.ControlLine != nil {
		add("control_line", *c.ControlLine)
	}
	if c.ControlToleranceM2 != nil {
		if *c.ControlToleranceM2 < 0 || *c.ControlToleranceM2 > 1e12 {
			return 0, badInput("control_tolerance_m2 must be from 0 (square metres)")
		}
		add("control_tolerance_m2", *c.ControlToleranceM2)
	}
	if len(sets) == 0 {
		return 0, badInput("nothing to change: give title, description, attribution, private, review_required, control_line or control_tolerance_m2")
	}
	if err := checkText(fields); err != nil {
		return 0, err
	}
	var version int64
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		cur, err := lockLayer(ctx, tx, name)
		if err != nil {
			return err
		}
		// data_version moves with the counter (the row trigger adds one).
		sets = append(sets, "data_version = version + 1")
		if err := tx.QueryRow(ctx, "UPDATE gusu_layers SET "+strings.Join(sets, ", ")+" WHERE name = $1 RETURNING version", append([]any{name}, args...)...).Scan(&version); err != nil {
			return fmt.Errorf("update layer %q: %w", name, err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO gusu_layer_versions (layer, version, table_name, action, created_by, file_name, format, crs, feature_count, bounds, report)
			SELECT $1, $2, $3, 'update', $4, p.file_name, p.format, p.crs, p.feature_count, p.bounds, $5
			  FROM (SELECT NULL) AS one LEFT JOIN gusu_layer_versions p ON p.layer = $1 AND p.version = $6`,
			name, version, cur.tableName, user, map[string]any{"changed": c}, cur.dataVersion)
		if err != nil {
			return fmt.Errorf("record the change of %q: %w", name, err)
		}
		return audit.Record(ctx, tx, user, audit.Update, name, version, map[string]any{"changed": c})
	})
	return version, err
}

// DeleteLayer removes an uploaded layer with every version's table and its
// history, in one transaction. Bundled layers (the plan's own) cannot be
// deleted — other parts of gusu read them; make them private instead.
func DeleteLayer(ctx context.Context, pool *pgxpool.Pool, name, user string) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var source, table string
		err := tx.QueryRow(ctx, "SELECT source, table_name FROM gusu_layers WHERE name = $1 FOR UPDATE", name).Scan(&source, &table)
		if errors.Is(err, pgx.ErrNoRows) {
			return &Error{Kind: NotFound, Msg: fmt.Sprintf("unknown layer %q", name)}
		}
		if err != nil {
			return fmt.Errorf("lock layer %q: %w", name, err)
		}
		if source != "upload" {
			return &Error{Kind: Conflict, Msg: fmt.Sprintf("layer %q is part of the bundled plan data, which other parts of gusu read: it cannot be deleted; make it private instead (PATCH {\"private\": true})", name)}
		}
		rows, err := tx.Query(ctx, "SELECT DISTINCT table_name FROM gusu_layer_versions WHERE layer = $1", name)
		if err != nil {
			return err
		}
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		tables = append(tables, table)
		prows, err := tx.Query(ctx, "SELECT table_name FROM gusu_proposals WHERE layer = $1 AND status = 'proposed'", name)
		if err != nil {
			return err
		}
		open, err := pgx.CollectRows(prows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		tables = append(tables, open...)
		// The row goes first: its cascade takes versions, keys, proposals
		// and generalised copies, and the NOTIFY reaches every instance.
		if _, err := tx.Exec(ctx, "DELETE FROM gusu_layers WHERE name = $1", name); err != nil {
			return fmt.Errorf("delete layer %q: %w", name, err)
		}
		if err := audit.Record(ctx, tx, user, audit.Delete, name, 0, map[string]any{"tables": len(tables)}); err != nil {
			return err
		}
		for _, t := range tables {
			if !strings.HasPrefix(t, "up_"+name+"_v") && !strings.HasPrefix(t, "up_"+name+"_p") {
				continue // only the layer's own version tables
			}
			if _, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+ident(t)); err != nil {
				return fmt.Errorf("drop %s: %w", t, err)
			}
		}
		return nil
	})
}
