-- A town's parent by name as well as by code, for popups and labels.
ALTER TABLE town_system ADD COLUMN parent_name text;
UPDATE town_system t SET parent_name = p.name_zh FROM town_system p WHERE p.code = t.parent AND t.parent_name IS NULL;
