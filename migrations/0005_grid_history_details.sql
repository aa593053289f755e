-- What undoing a delete or a merge needs: the grid's name and community, and the staff and
-- party organisations the removal detached (to attach them again).
ALTER TABLE grid_history
    ADD COLUMN name text,
    ADD COLUMN community_code char(12),
    ADD COLUMN detached jsonb;
