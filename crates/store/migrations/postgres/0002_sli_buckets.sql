-- Schema 2: SLI data as one-minute buckets, and the idempotency keys of the
-- ingest batches already counted into them.

-- One row per objective series, minute (since the Unix epoch) and whether the
-- events fell in a maintenance window; the ingest adds to good and total.
--
-- The key leads with the minute, as in SQLite, so that pruning and reading
-- "since a minute" are range scans of it. COLLATE "C" compares series by
-- bytes, as SQLite does, whatever the database's collation. Every batch
-- rewrites the buckets of the current minute; the room that fillfactor leaves
-- on each page lets PostgreSQL put the new row version beside the old one
-- without touching the index (a HOT update).
CREATE TABLE sli_buckets (
    series      TEXT COLLATE "C" NOT NULL,
    minute      BIGINT           NOT NULL,
    maintenance BOOLEAN          NOT NULL,
    good        DOUBLE PRECISION NOT NULL,
    total       DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (minute, series, maintenance)
) WITH (fillfactor = 80);

-- A batch's key is recorded in the same transaction as its buckets, so a key
-- is present exactly when its batch was counted.
CREATE TABLE ingest_keys (
    key         TEXT   NOT NULL PRIMARY KEY,
    received_at BIGINT NOT NULL
);

-- Pruning deletes keys by age.
CREATE INDEX ingest_keys_by_received_at ON ingest_keys (received_at);
