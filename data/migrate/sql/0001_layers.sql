-- The layer registry and the change signal that keeps tiles and catalogs fresh.
--
-- Every layer is a row here; its features live in table_name. `version` is
-- bumped on every change to the row or to the layer's features (statement
-- triggers below), and each bump is announced with NOTIFY gusu_layer_changed
-- so that every gusu instance on this database drops stale caches at once.

CREATE TABLE gusu_layers (
    name          text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    title         text NOT NULL,
    description   text NOT NULL DEFAULT '',
    kind          text NOT NULL DEFAULT 'boundary',
    table_name    text NOT NULL,
    geometry_type text NOT NULL CHECK (geometry_type IN ('point', 'line', 'polygon', 'mixed')),
    attribution   text NOT NULL DEFAULT '',
    license       text NOT NULL DEFAULT '',
    source        text NOT NULL DEFAULT '',
    minzoom       integer NOT NULL DEFAULT 0 CHECK (minzoom BETWEEN 0 AND 24),
    maxzoom       integer NOT NULL DEFAULT 22 CHECK (maxzoom BETWEEN 0 AND 24 AND maxzoom >= minzoom),
    private       boolean NOT NULL DEFAULT false,
    version       bigint NOT NULL DEFAULT 1,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Key/value facts about the database, e.g. which bundled dataset was loaded.
CREATE TABLE gusu_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- A change to a registry row (title, zoom range, privacy) is a new version too.
CREATE FUNCTION gusu_layer_row_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.version = OLD.version AND (NEW.*) IS DISTINCT FROM (OLD.*) THEN
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER gusu_layers_bump BEFORE UPDATE ON gusu_layers
    FOR EACH ROW EXECUTE FUNCTION gusu_layer_row_bump();

CREATE FUNCTION gusu_layer_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    PERFORM pg_notify('gusu_layer_changed',
        json_build_object('layer', r.name, 'version', r.version, 'op', lower(TG_OP))::text);
    RETURN NULL;
END $$;

CREATE TRIGGER gusu_layers_notify AFTER INSERT OR UPDATE OR DELETE ON gusu_layers
    FOR EACH ROW EXECUTE FUNCTION gusu_layer_notify();

-- Attached to each feature table: one bump per statement, not per row, so a
-- 100,000-row COPY is one new version.
CREATE FUNCTION gusu_features_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE gusu_layers SET version = version + 1, updated_at = now() WHERE name = TG_ARGV[0];
    RETURN NULL;
END $$;
