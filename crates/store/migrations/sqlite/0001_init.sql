-- Schema 1: the history of loaded configurations.
--
-- Conventions for every SQLite migration (keep them in step with the PostgreSQL twin):
--   * timestamps are INTEGER microseconds since the Unix epoch, UTC;
--   * tables are STRICT so a value of the wrong type is refused, as PostgreSQL would;
--   * no BEGIN/COMMIT here: the runner wraps each file in its own transaction.

-- AUTOINCREMENT keeps ids strictly increasing even after deletes, so "newest
-- first" can order by id instead of by a wall-clock time that may step back.
CREATE TABLE config_revisions (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    hash      TEXT    NOT NULL,
    source    TEXT    NOT NULL,
    loaded_at INTEGER NOT NULL,
    objects   INTEGER NOT NULL CHECK (objects >= 0),
    summary   TEXT    NOT NULL
) STRICT;
