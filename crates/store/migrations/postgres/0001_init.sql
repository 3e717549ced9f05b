-- Schema 1: the history of loaded configurations.
--
-- Conventions for every PostgreSQL migration (keep them in step with the SQLite twin):
--   * timestamps are BIGINT microseconds since the Unix epoch, UTC, never
--     TIMESTAMPTZ, so both engines store and compare exactly the same numbers;
--   * no BEGIN/COMMIT here: the runner wraps each file in its own transaction.

-- Identity values only grow, so "newest first" can order by id instead of by
-- a wall-clock time that may step back.
CREATE TABLE config_revisions (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hash      TEXT   NOT NULL,
    source    TEXT   NOT NULL,
    loaded_at BIGINT NOT NULL,
    objects   BIGINT NOT NULL CHECK (objects >= 0),
    summary   TEXT   NOT NULL
);
