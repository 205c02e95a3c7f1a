-- Tiles at every zoom read gusu_tile_gen (EPSG:3857 copies) once built.
-- One GiST index per zoom band on (layer, geom): a tile's index scan then
-- touches only its own layer's copies in its own band, however large the
-- other layers are. The band is written into the tile SQL as a constant so
-- the planner always sees which partial index applies. (layer, geom) in one
-- GiST needs btree_gist, a trusted contrib extension.
CREATE EXTENSION IF NOT EXISTS btree_gist;
DROP INDEX IF EXISTS gusu_tile_gen_geom_idx;
CREATE INDEX gusu_tile_gen_band0_idx ON gusu_tile_gen USING gist (layer, geom) WHERE band = 0;
CREATE INDEX gusu_tile_gen_band1_idx ON gusu_tile_gen USING gist (layer, geom) WHERE band = 1;
CREATE INDEX gusu_tile_gen_band2_idx ON gusu_tile_gen USING gist (layer, geom) WHERE band = 2;
CREATE INDEX gusu_tile_gen_band3_idx ON gusu_tile_gen USING gist (layer, geom) WHERE band = 3;
CREATE INDEX gusu_tile_gen_band4_idx ON gusu_tile_gen USING gist (layer, geom) WHERE band = 4;

-- Area of each polygon copy (EPSG:3857 m²; 0 for points and lines), so tiles
-- can leave out polygons smaller than a pixel at their own zoom.
ALTER TABLE gusu_tile_gen ADD COLUMN area double precision NOT NULL DEFAULT 0;

-- Each copy carries its feature's tile attributes, so a tile never joins
-- back to the layer's table (that join dominated heavy tiles).
ALTER TABLE gusu_tile_gen ADD COLUMN props jsonb NOT NULL DEFAULT '{}';

-- Copies were built for polygon layers only; rebuild for every layer.
DELETE FROM gusu_tile_gen_state;
DELETE FROM gusu_tile_gen;
