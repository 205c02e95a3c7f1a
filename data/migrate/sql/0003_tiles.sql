-- Vector tile settings per layer, and pre-generalised polygon copies.

ALTER TABLE gusu_layers
    ADD COLUMN tile_extent integer NOT NULL DEFAULT 4096 CHECK (tile_extent BETWEEN 256 AND 16384),
    ADD COLUMN tile_buffer integer NOT NULL DEFAULT 64 CHECK (tile_buffer BETWEEN 0 AND 4096);

-- Low-zoom copies of polygon layers, in EPSG:3857, one set per zoom band,
-- built for exactly one layer version (gusu_tile_gen_state.version). Tiles
-- use them only while that version is current, so they can never be stale.
-- Writing here does not bump layer versions: it is derived data.
CREATE TABLE gusu_tile_gen (
    layer text NOT NULL REFERENCES gusu_layers (name) ON DELETE CASCADE ON UPDATE CASCADE,
    band  smallint NOT NULL,
    fid   bigint NOT NULL,
    geom  geometry(Geometry, 3857) NOT NULL,
    PRIMARY KEY (layer, band, fid)
);
CREATE INDEX gusu_tile_gen_geom_idx ON gusu_tile_gen USING gist (geom);

CREATE TABLE gusu_tile_gen_state (
    layer    text PRIMARY KEY REFERENCES gusu_layers (name) ON DELETE CASCADE ON UPDATE CASCADE,
    version  bigint NOT NULL,
    built_at timestamptz NOT NULL DEFAULT now()
);
