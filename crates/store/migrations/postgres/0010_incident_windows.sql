-- Schema 10: time-based grouping (a service's `groupWindow`). An alert that
-- starts after its group's open incident has taken alerts for that long
-- opens a new incident of the same group, while the earlier one stays open
-- with its own alerts: a group may then have several open incidents, each
-- one the successor of the one before (`supersedes`, NULL for the first).
ALTER TABLE incidents ADD COLUMN supersedes BIGINT REFERENCES incidents (id);

-- At most one open incident per group and predecessor: a retried or
-- duplicated alert can still never open a second one, and a window that
-- passed opens exactly one successor.
DROP INDEX incidents_one_open_per_group;
CREATE UNIQUE INDEX incidents_one_open_per_group
    ON incidents (group_key, COALESCE(supersedes, 0))
    WHERE state <> 'resolved';
