-- Codes by which an import finds the row it updates (re-importing a file updates, never
-- duplicates): 统一社会信用代码 or a ledger number for units, a member number for members, a
-- staff number for grid staff. NULL for rows entered by hand; unique when given.
ALTER TABLE units ADD COLUMN code text UNIQUE CHECK (code IS NULL OR length(btrim(code)) > 0);
ALTER TABLE members ADD COLUMN code text UNIQUE CHECK (code IS NULL OR length(btrim(code)) > 0);
ALTER TABLE grid_staff ADD COLUMN code text UNIQUE CHECK (code IS NULL OR length(btrim(code)) > 0);
-- a ledger line can be re-imported too
ALTER TABLE ledger_items ADD COLUMN code text UNIQUE CHECK (code IS NULL OR length(btrim(code)) > 0);
