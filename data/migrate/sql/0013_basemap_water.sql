-- The basemap's water: the Yangtze shore and the rivers and canals
-- (GSHHG/WDBII lines) around the city, drawn under the planning layers.
CREATE TABLE basemap_water (
    id      bigserial PRIMARY KEY,
    name    text,
    name_en text,
    kind    text NOT NULL CHECK (kind IN ('shore', 'river', 'canal')),
    class   text,
    source  text NOT NULL DEFAULT '',
    geom    geometry(MultiLineString, 4326) NOT NULL CHECK (NOT ST_IsEmpty(geom))
);
CREATE INDEX basemap_water_geom_idx ON basemap_water USING gist (geom);

INSERT INTO gusu_layers (name, title, description, kind, table_name, geometry_type, attribution, license, source, minzoom, maxzoom) VALUES
('basemap_water', '底图水系 Basemap water',
 'Context for the planning map: the Yangtze shore (GSHHG level-1 shoreline and island outlines) and the rivers and canals WDBII has (the Grand Canal, Wusong River, upper Huangpu). 1:1M class; many canals and small lakes are missing.',
 'context', 'basemap_water', 'line',
 'GSHHG 2.3.7 / WDBII, The GMT Team', 'LGPL-3.0-or-later', 'data/SOURCES.md', 0, 22);

INSERT INTO gusu_layer_versions (layer, version, table_name, action, created_by)
VALUES ('basemap_water', 1, 'basemap_water', 'initial', 'gusu');

CREATE TRIGGER basemap_water_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON basemap_water
    FOR EACH STATEMENT EXECUTE FUNCTION gusu_features_changed('basemap_water');
