package upload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gusu-gis/gusu/data/audit"
	"github.com/gusu-gis/gusu/data/layers"
)

// Review before publish: an upload with review (or to a layer that
// requires it) is built and checked like any upload, in a table of its
// own, but recorded as a proposal: not current, in no tile or feature page,
// until a reviewer approves it (it becomes current, numbered then) or
// rejects it (its table is dropped; the record stays).

// ProposalRef names a proposal in an upload's report.
type ProposalRef struct {
	ID     int64  `json:"id"`
	Status string `json:"status"`
	Href   string `json:"href"`
}

// Proposal is a proposed version and its fate.
type Proposal struct {
	ID          int64      `json:"id"`
	Layer       string     `json:"layer"`
	Status      string     `json:"status"`
	BaseVersion int64      `json:"base_version"`
	CreatedBy   string     `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	DecidedBy   *string    `json:"decided_by"`
	DecidedAt   *time.Time `json:"decided_at"`
	Comment     *string    `json:"comment"`
	Version     *int64     `json:"version"` // the number it got when approved
	Report      *Report    `json:"report"`
	table       string
}

// Changes lists a proposal's feature-level differences (at most maxListed
// of each kind), by the diff's key.
type Changes struct {
	Added   []string        `json:"added"`
	Removed []string        `json:"removed"`
	Changed []FeatureChange `json:"changed"`
	Note    string          `json:"note,omitempty"`
}

// FeatureChange is one feature whose attributes or geometry changed.
type FeatureChange struct {
	Key             string            `json:"key"`
	Attributes      map[string][2]any `json:"attributes"` // name → [before, after]
	GeometryChanged bool              `json:"geometry_changed"`
}

// changes lists what differs between prev and next by key (feature by
// feature); without a key there is nothing to match features by.
func changes(ctx context.Context, tx pgx.Tx, prev, next, key string) (*Changes, error) {
	c := &Changes{Added: []string{}, Removed: []string{}, Changed: []FeatureChange{}}
	if key == "" || strings.HasPrefix(key, "(") {
		c.Note = "no key attribute identifies features across versions (pass ?key=): only counts are compared"
		return c, nil
	}
	k := ident(key)
	rows, err := tx.Query(ctx, fmt.Sprintf(`
		WITH a AS (SELECT t.%[1]s::text AS k, to_jsonb(t) - 'id' - 'geom' AS p, t.geom AS g FROM %[2]s t),
		     b AS (SELECT t.%[1]s::text AS k, to_jsonb(t) - 'id' - 'geom' AS p, t.geom AS g FROM %[3]s t)
		SELECT coalesce(a.k, b.k), a.k IS NULL, b.k IS NULL,
		       (SELECT coalesce(jsonb_object_agg(key, jsonb_build_array(a.p -> key, b.p -> key)), '{}')
		          FROM jsonb_object_keys(coalesce(a.p, '{}') || coalesce(b.p, '{}')) AS key
		         WHERE a.p -> key IS DISTINCT FROM b.p -> key),
		       a.g IS NOT NULL AND b.g IS NOT NULL AND NOT ST_Equals(a.g, b.g)
		  FROM a FULL JOIN b ON a.k = b.k
		 WHERE a.k IS NULL OR b.k IS NULL OR a.p IS DISTINCT FROM b.p OR NOT ST_Equals(a.g, b.g)
		 ORDER BY 1 LIMIT %[4]d`, k, ident(prev), ident(next), 3*maxListed))
	if err != nil {
		return nil, fmt.Errorf("list the changes: %w", err)
	}
	var key2 string
	var added, removed, geomChanged bool
	var attrs map[string][]any
	_, err = pgx.ForEachRow(rows, []any{&key2, &added, &removed, &attrs, &geomChanged}, func() error {
		switch {
		case added && len(c.Added) < maxListed:
			c.Added = append(c.Added, key2)
		case removed && len(c.Removed) < maxListed:
			c.Removed = append(c.Removed, key2)
		case !added && !removed && len(c.Changed) < maxListed:
			fc := FeatureChange{Key: key2, Attributes: map[string][2]any{}, GeometryChanged: geomChanged}
			for name, pair := range attrs {
				if len(pair) == 2 {
					fc.Attributes[name] = [2]any{pair[0], pair[1]}
				}
			}
			c.Changed = append(c.Changed, fc)
		}
		attrs = nil
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the changes: %w", err)
	}
	return c, nil
}

// propose records the built table as proposal id of the layer.
func propose(ctx context.Context, tx pgx.Tx, id int64, opts Options, cur *current, table string, rep *Report) error {
	rep.LayerVersion = cur.version
	rep.Proposal = &ProposalRef{ID: id, Status: "proposed", Href: fmt.Sprintf("/api/proposals/%d", id)}
	if _, err := tx.Exec(ctx, `INSERT INTO gusu_proposals (id, layer, table_name, base_version, report, created_by) VALUES ($1, $2, $3, $4, $5, $6)`,
		id, opts.Layer, table, cur.version, rep, opts.User); err != nil {
		return fmt.Errorf("record the proposal: %w", err)
	}
	return audit.Record(ctx, tx, opts.User, audit.Propose, opts.Layer, 0, map[string]any{
		"proposal": id, "file_name": opts.FileName, "features_written": rep.FeaturesWritten,
		"added": rep.Diff.Added, "removed": rep.Diff.Removed, "changed": rep.Diff.Changed, "redline_features": redLineHits(rep.RedLines)})
}

const proposalColumns = `id, layer, status, base_version, created_by, created_at, decided_by, decided_at, comment, version, report, table_name`

func scanProposal(row pgx.Row) (*Proposal, error) {
	p := &Proposal{}
	var report []byte
	err := row.Scan(&p.ID, &p.Layer, &p.Status, &p.BaseVersion, &p.CreatedBy, &p.CreatedAt, &p.DecidedBy, &p.DecidedAt, &p.Comment, &p.Version, &report, &p.table)
	if err != nil {
		return nil, err
	}
	p.Report = &Report{}
	if err := json.Unmarshal(report, p.Report); err != nil {
		return nil, fmt.Errorf("read proposal %d's report: %w", p.ID, err)
	}
	return p, nil
}

// GetProposal returns one proposal.
func GetProposal(ctx context.Context, q querier, id int64) (*Proposal, error) {
	p, err := scanProposal(q.QueryRow(ctx, "SELECT "+proposalColumns+" FROM gusu_proposals WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, &Error{Kind: NotFound, Msg: fmt.Sprintf("no proposal %d", id)}
	}
	return p, err
}

// ListProposals lists proposals, newest first, of a layer and status
// (either empty: all).
func ListProposals(ctx context.Context, pool *pgxpool.Pool, layer, status string) ([]*Proposal, error) {
	rows, err := pool.Query(ctx, "SELECT "+proposalColumns+` FROM gusu_proposals
		WHERE ($1 = '' OR layer = $1) AND ($2 = '' OR status = $2) ORDER BY id DESC LIMIT 500`, layer, status)
	if err != nil {
		return nil, fmt.Errorf("list proposals: %w", err)
	}
	defer rows.Close()
	out := []*Proposal{}
	for rows.Next() {
		p, err := scanProposal(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// lockProposal locks a proposal that is still open.
func lockProposal(ctx context.Context, tx pgx.Tx, id int64) (*Proposal, error) {
	p, err := scanProposal(tx.QueryRow(ctx, "SELECT "+proposalColumns+" FROM gusu_proposals WHERE id = $1 FOR UPDATE", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, &Error{Kind: NotFound, Msg: fmt.Sprintf("no proposal %d", id)}
	}
	if err != nil {
		return nil, err
	}
	if p.Status != "proposed" {
		return nil, &Error{Kind: Conflict, Msg: fmt.Sprintf("proposal %d was %s already", id, p.Status)}
	}
	return p, nil
}

// Approve makes a proposal the layer's current version, numbered as any
// upload, with the reviewer's comment. A layer that changed since the
// proposal was made (its diff and checks compared against what is no
// longer current) is a 409: reject the proposal and upload again.
func Approve(ctx context.Context, pool *pgxpool.Pool, id int64, reviewer, comment string) (*Proposal, error) {
	if err := checkText(map[string]textField{"comment": {comment, 2000}}); err != nil {
		return nil, err
	}
	var out *Proposal
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		p, err := lockProposal(ctx, tx, id)
		if err != nil {
			return err
		}
		cur, err := lockLayer(ctx, tx, p.Layer)
		if err != nil {
			return err
		}
		if cur.version != p.BaseVersion {
			return &Error{Kind: Conflict, Msg: fmt.Sprintf("layer %q changed since proposal %d was made (version %d, now %d): its diff and checks no longer hold; reject it and upload again", p.Layer, id, p.BaseVersion, cur.version)}
		}
		version := int(cur.version) + 1
		rep := *p.Report
		rep.Version, rep.Proposal = version, nil
		opts := Options{Layer: p.Layer, User: p.CreatedBy, FileName: rep.FileName}
		if _, err := commitVersion(ctx, tx, opts, cur, p.table, &rep); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE gusu_layer_versions SET action = 'approve', report = report || $3 WHERE layer = $1 AND version = $2`,
			p.Layer, version, map[string]any{"proposal": id, "approved_by": reviewer, "comment": comment}); err != nil {
			return fmt.Errorf("record the approval: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE gusu_proposals SET status = 'approved', decided_by = $2, decided_at = now(), comment = $3, version = $4 WHERE id = $1`,
			id, reviewer, comment, version); err != nil {
			return fmt.Errorf("close the proposal: %w", err)
		}
		if err := audit.Record(ctx, tx, reviewer, audit.Approve, p.Layer, int64(version), map[string]any{"proposal": id, "proposed_by": p.CreatedBy, "comment": comment}); err != nil {
			return err
		}
		out, err = GetProposal(ctx, tx, id)
		return err
	})
	return out, err
}

// Reject closes a proposal with the reviewer's reason and drops its table;
// the current version is untouched.
func Reject(ctx context.Context, pool *pgxpool.Pool, id int64, reviewer, reason string) (*Proposal, error) {
	if strings.TrimSpace(reason) == "" {
		return nil, badInput("say why: a rejection needs a reason")
	}
	if err := checkText(map[string]textField{"reason": {reason, 2000}}); err != nil {
		return nil, err
	}
	var out *Proposal
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		p, err := lockProposal(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+ident(p.table)); err != nil {
			return fmt.Errorf("drop the proposal's table: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE gusu_proposals SET status = 'rejected', decided_by = $2, decided_at = now(), comment = $3 WHERE id = $1`,
			id, reviewer, reason); err != nil {
			return fmt.Errorf("close the proposal: %w", err)
		}
		if err := audit.Record(ctx, tx, reviewer, audit.Reject, p.Layer, 0, map[string]any{"proposal": id, "proposed_by": p.CreatedBy, "reason": reason}); err != nil {
			return err
		}
		out, err = GetProposal(ctx, tx, id)
		return err
	})
	return out, err
}

// ProposalLayer describes an open proposal's table as a layer, so the
// features API's query builder can page through it for reviewers.
func ProposalLayer(ctx context.Context, q querier, p *Proposal) (*layers.Layer, error) {
	if p.Status != "proposed" {
		return nil, &Error{Kind: Conflict, Msg: fmt.Sprintf("proposal %d was %s: its features are those of the layer's version or gone", p.ID, p.Status)}
	}
	rows, err := q.Query(ctx, `SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
		WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attname NOT IN ('id', 'geom') ORDER BY a.attnum`, ident(p.table))
	if err != nil {
		return nil, fmt.Errorf("columns of proposal %d: %w", p.ID, err)
	}
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (layers.Column, error) {
		var c layers.Column
		err := r.Scan(&c.Name, &c.PGType)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("columns of proposal %d: %w", p.ID, err)
	}
	return &layers.Layer{Name: p.Layer, Table: p.table, Columns: cols}, nil
}
