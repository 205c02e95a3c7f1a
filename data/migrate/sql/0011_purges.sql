-- CDN purge hook: one instance claims each layer version's purge, so that
-- a hook called on every change is called once, whichever instance sees it.
CREATE TABLE gusu_purges (
    layer      text NOT NULL,
    version    bigint NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (layer, version)
);
