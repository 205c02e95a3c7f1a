-- Idempotency-Key for uploads: a retried upload (same key, same bytes and
-- options) gets the first upload's answer instead of making a second
-- version. The row is written in the upload's own transaction, so it exists
-- exactly when the version does. Rows older than a day are pruned by the
-- upload that writes the next one.
CREATE TABLE gusu_upload_keys (
    layer       text NOT NULL REFERENCES gusu_layers (name) ON DELETE CASCADE ON UPDATE CASCADE,
    created_by  text NOT NULL,
    key         text NOT NULL,
    fingerprint text NOT NULL,
    response    jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (layer, created_by, key)
);
CREATE INDEX gusu_upload_keys_created ON gusu_upload_keys (created_at);

-- A change to a layer's title, description, attribution or privacy is a
-- version too (same features, new number), so the history, the catalog
-- and the tiles share one version number.
ALTER TABLE gusu_layer_versions DROP CONSTRAINT gusu_layer_versions_action_check;
ALTER TABLE gusu_layer_versions ADD CONSTRAINT gusu_layer_versions_action_check
    CHECK (action IN ('initial', 'create', 'upload', 'restore', 'update'));
