-- Schema 2: SLI data as one-minute buckets, and the idempotency keys of the
-- ingest batches already counted into them.

-- One row per objective series, minute (since the Unix epoch) and whether the
-- events fell in a maintenance window; the ingest adds to good and total.
--
-- The key leads with the minute so that the buckets being written, those of
-- the current minute, sit together at the end of the table: a batch for a
-- hundred series then dirties a page or two rather than one per series, and
-- pruning and reading "since a minute" are range scans of the key. WITHOUT
-- ROWID stores the rows in the key's own b-tree, so an upsert touches one
-- b-tree. (SQLite would store NaN as NULL; the store refuses it before writing.)
CREATE TABLE sli_buckets (
    series      TEXT    NOT NULL,
    minute      INTEGER NOT NULL,
    maintenance INTEGER NOT NULL CHECK (maintenance IN (0, 1)),
    good        REAL    NOT NULL,
    total       REAL    NOT NULL,
    PRIMARY KEY (minute, series, maintenance)
) STRICT, WITHOUT ROWID;

-- A batch's key is recorded in the same transaction as its buckets, so a key
-- is present exactly when its batch was counted.
CREATE TABLE ingest_keys (
    key         TEXT    NOT NULL PRIMARY KEY,
    received_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Pruning deletes keys by age.
CREATE INDEX ingest_keys_by_received_at ON ingest_keys (received_at);
