-- Water the accessibility model cannot cross (lakes). Not a tile layer.
CREATE TABLE water_bodies (
    id      bigserial PRIMARY KEY,
    name    text,
    name_en text,
    kind    text NOT NULL DEFAULT 'lake',
    source  text NOT NULL DEFAULT '',
    geom    geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom))
);
CREATE INDEX water_bodies_geom_idx ON water_bodies USING gist (geom);
