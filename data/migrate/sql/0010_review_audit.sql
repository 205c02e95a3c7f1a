-- Review before publish, control lines, and the audit trail.

-- Reviewers approve or reject proposed versions (viewer < editor < reviewer < admin).
ALTER TABLE gusu_tokens DROP CONSTRAINT gusu_tokens_role_check;
ALTER TABLE gusu_tokens ADD CONSTRAINT gusu_tokens_role_check CHECK (role IN ('viewer', 'editor', 'reviewer', 'admin'));

-- A layer may require review of every upload, and may be a control line
-- (permanent basic farmland, urban development boundary, …) that uploads
-- are checked against like the ecological red lines, beyond a tolerance.
ALTER TABLE gusu_layers ADD COLUMN review_required boolean NOT NULL DEFAULT false;
ALTER TABLE gusu_layers ADD COLUMN control_line boolean NOT NULL DEFAULT false;
ALTER TABLE gusu_layers ADD COLUMN control_tolerance_m2 double precision NOT NULL DEFAULT 0 CHECK (control_tolerance_m2 >= 0);

-- A proposed version: built and checked like an upload, in a table of its
-- own, but not current and not served until a reviewer approves it.
CREATE TABLE gusu_proposals (
    id           bigserial PRIMARY KEY,
    layer        text NOT NULL REFERENCES gusu_layers (name) ON DELETE CASCADE ON UPDATE CASCADE,
    table_name   text NOT NULL,
    base_version bigint NOT NULL,
    status       text NOT NULL DEFAULT 'proposed' CHECK (status IN ('proposed', 'approved', 'rejected')),
    report       jsonb NOT NULL,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    decided_by   text,
    decided_at   timestamptz,
    comment      text,
    version      bigint
);
CREATE INDEX gusu_proposals_layer ON gusu_proposals (layer, status);

ALTER TABLE gusu_layer_versions DROP CONSTRAINT gusu_layer_versions_action_check;
ALTER TABLE gusu_layer_versions ADD CONSTRAINT gusu_layer_versions_action_check
    CHECK (action IN ('initial', 'create', 'upload', 'restore', 'update', 'approve'));

-- Every action on a layer, who, when, what and why. Append-only: rows can
-- be added, never changed or removed (not even when the layer is deleted).
CREATE TABLE gusu_audit (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,
    action  text NOT NULL,
    layer   text,
    version bigint,
    detail  jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX gusu_audit_layer ON gusu_audit (layer, id);

CREATE FUNCTION gusu_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'gusu_audit is append-only';
END $$;
CREATE TRIGGER gusu_audit_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON gusu_audit
    FOR EACH STATEMENT EXECUTE FUNCTION gusu_audit_append_only();
