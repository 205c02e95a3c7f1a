-- A line's average speed between stations (dwell included), when known;
-- the accessibility model otherwise uses its kind's documented default.
ALTER TABLE rail_lines ADD COLUMN avg_speed_kmh double precision CHECK (avg_speed_kmh > 0);
ALTER TABLE rail_lines ADD CONSTRAINT rail_lines_headway_positive CHECK (headway_min > 0);
