-- Dense polygon layers keep their footprint at low zoom: where polygons are
-- smaller than a pixel they are not dropped but aggregated, per zoom, into
-- blocks of the pixel grid they fall in (with a count and the dominant value
-- of each categorical attribute). Built with the layer's generalised copies,
-- from the same version (gusu_tile_gen_state), so never stale.
CREATE TABLE gusu_tile_agg (
    layer text NOT NULL REFERENCES gusu_layers (name) ON DELETE CASCADE ON UPDATE CASCADE,
    zoom  smallint NOT NULL,
    cell  bigint NOT NULL,
    geom  geometry(Geometry, 3857) NOT NULL,
    props jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (layer, zoom, cell)
);
CREATE INDEX gusu_tile_agg_geom_idx ON gusu_tile_agg USING gist (layer, zoom, geom);

-- The copies' area is now the feature's own (unsimplified) area, so a
-- polygon is drawn at a zoom exactly when it is not aggregated there.
DELETE FROM gusu_tile_gen_state;
DELETE FROM gusu_tile_gen;
