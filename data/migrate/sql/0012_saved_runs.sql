-- Catchment runs saved as layers (save_as): the request that made the
-- layer and the versions of the layers it read, so the run can be
-- recomputed when one of them changes.
CREATE TABLE gusu_saved_runs (
    layer          text PRIMARY KEY,
    request        jsonb NOT NULL,
    input_versions jsonb NOT NULL,
    saved_by       text NOT NULL,
    saved_at       timestamptz NOT NULL DEFAULT now()
);
