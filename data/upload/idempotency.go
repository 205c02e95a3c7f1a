package upload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// keepKeys is how long an Idempotency-Key is remembered.
const keepKeys = "24 hours"

// replay returns the report of an earlier upload with opts' key and the
// same fingerprint, marked Replayed; nil if there was none. A key reused
// for different content is a 422, as the IETF Idempotency-Key draft asks.
func replay(ctx context.Context, tx pgx.Tx, opts Options) (*Report, error) {
	if opts.IdempotencyKey == "" {
		return nil, nil
	}
	var fingerprint string
	var response []byte
	err := tx.QueryRow(ctx, `SELECT fingerprint, response FROM gusu_upload_keys
		WHERE layer = $1 AND created_by = $2 AND key = $3 AND created_at > now() - $4::interval`,
		opts.Layer, opts.User, opts.IdempotencyKey, keepKeys).Scan(&fingerprint, &response)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up Idempotency-Key: %w", err)
	}
	if fingerprint != opts.Fingerprint {
		return nil, &Error{Kind: Rejected, Msg: "this Idempotency-Key was used for a different upload (other bytes or options) in the last 24 hours: use a new key for a new upload"}
	}
	var rep Report
	if err := json.Unmarshal(response, &rep); err != nil {
		return nil, fmt.Errorf("read the stored upload report: %w", err)
	}
	rep.Replayed = true
	return &rep, nil
}

// rememberKey stores the report under opts' key in the upload's own
// transaction, and prunes keys past their time.
func rememberKey(ctx context.Context, tx pgx.Tx, opts Options, rep *Report) error {
	if opts.IdempotencyKey == "" {
		return nil
	}
	if _, err := tx.Exec(ctx, `DELETE FROM gusu_upload_keys WHERE created_at < now() - $1::interval`, keepKeys); err != nil {
		return fmt.Errorf("prune Idempotency-Keys: %w", err)
	}
	_, err := tx.Exec(ctx, `INSERT INTO gusu_upload_keys (layer, created_by, key, fingerprint, response) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (layer, created_by, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, response = EXCLUDED.response, created_at = now()`,
		opts.Layer, opts.User, opts.IdempotencyKey, opts.Fingerprint, rep)
	if err != nil {
		return fmt.Errorf("remember Idempotency-Key: %w", err)
	}
	return nil
}
