// Package audit is gusu's append-only record of what was done to the
// layers: who, when, what and why. The table refuses updates and deletes
// (a trigger), so the record survives even the layer it is about.
package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Actions recorded.
const (
	Create  = "create"
	Upload  = "upload"
	Edit    = "edit" // one feature changed without a file
	Propose = "propose"
	Approve = "approve"
	Reject  = "reject"
	Restore = "restore"
	Update  = "update" // title, description, attribution, privacy, review and control-line settings
	Delete  = "delete"
)

// Entry is one recorded action.
type Entry struct {
	ID      int64          `json:"id"`
	At      time.Time      `json:"at"`
	Actor   string         `json:"actor"`
	Action  string         `json:"action"`
	Layer   string         `json:"layer,omitempty"`
	Version *int64         `json:"version,omitempty"`
	Detail  map[string]any `json:"detail"`
}

// Execer is a transaction or a pool: an entry is written in the same
// transaction as the action it records, so it exists exactly when the
// action happened.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Record appends an entry. version may be 0 (none).
func Record(ctx context.Context, q Execer, actor, action, layer string, version int64, detail map[string]any) error {
	var v *int64
	if version > 0 {
		v = &version
	}
	if detail == nil {
		detail = map[string]any{}
	}
	if _, err := q.Exec(ctx, `INSERT INTO gusu_audit (actor, action, layer, version, detail) VALUES ($1, $2, NULLIF($3, ''), $4, $5)`,
		actor, action, layer, v, detail); err != nil {
		return fmt.Errorf("record %s of %q in the audit log: %w", action, layer, err)
	}
	return nil
}

// Querier reads entries.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// List returns entries newest first: of one layer if layer is set, before
// id before (0: from the newest), at most limit.
func List(ctx context.Context, q Querier, layer string, before int64, limit int) ([]Entry, error) {
	rows, err := q.Query(ctx, `SELECT id, at, actor, action, coalesce(layer, ''), version, detail FROM gusu_audit
		WHERE ($1 = '' OR layer = $1) AND ($2 = 0 OR id < $2) ORDER BY id DESC LIMIT $3`, layer, before, limit)
	if err != nil {
		return nil, fmt.Errorf("read the audit log: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) {
		var e Entry
		err := r.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.Layer, &e.Version, &e.Detail)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("read the audit log: %w", err)
	}
	if out == nil {
		out = []Entry{}
	}
	return out, nil
}
