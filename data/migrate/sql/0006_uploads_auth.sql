-- Access tokens and layer data versions.

-- Tokens are stored as SHA-256 hashes: they are 256-bit random strings, so
-- a fast hash is enough, and the database never holds a usable token.
CREATE TABLE gusu_tokens (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL,
    role       text NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
    token_hash text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

-- Every upload or restore makes a new data version of a layer. Versions are
-- immutable: each points at its own table, so restoring is switching
-- gusu_layers.table_name back, in one transaction.
ALTER TABLE gusu_layers ADD COLUMN data_version integer NOT NULL DEFAULT 1;

CREATE TABLE gusu_layer_versions (
    layer          text NOT NULL REFERENCES gusu_layers (name) ON DELETE CASCADE ON UPDATE CASCADE,
    version        integer NOT NULL,
    table_name     text NOT NULL,
    action         text NOT NULL CHECK (action IN ('initial', 'create', 'upload', 'restore')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     text NOT NULL DEFAULT '',
    file_name      text,
    format         text,
    crs            text,
    feature_count  bigint,
    bounds         double precision[],
    added          bigint,
    removed        bigint,
    changed        bigint,
    restored_from  integer,
    report         jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (layer, version)
);

INSERT INTO gusu_layer_versions (layer, version, table_name, action, created_by)
SELECT name, 1, table_name, 'initial', 'gusu' FROM gusu_layers;
