-- Schema 9: alerts kept in the order they were written. The table was keyed
-- by fingerprint, a random 64-bit number, so every alert written touched a
-- random page of the table and each commit wrote a whole page to the WAL per
-- alert (about 4 KB for a 300-byte row): that was most of the cost of taking
-- alerts in. Now each write appends rows under a new, increasing `seq`, and
-- deletes the rows they replace (the store keeps each fingerprint's `seq` in
-- memory), so a commit writes the few pages its rows fill.
--
-- A fingerprint has one row; should it ever have more (a write whose commit
-- was not known), the highest `seq` is the alert's latest state.
CREATE TABLE alerts_in_order (
    seq         INTEGER PRIMARY KEY,
    fingerprint INTEGER NOT NULL,
    source      TEXT    NOT NULL,
    service     TEXT    NOT NULL,
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    body        TEXT    NOT NULL
) STRICT;

INSERT INTO alerts_in_order (fingerprint, source, service, starts_at, ends_at, updated_at, body)
    SELECT fingerprint, source, service, starts_at, ends_at, updated_at, body
    FROM alerts ORDER BY updated_at, fingerprint;

DROP TABLE alerts;
ALTER TABLE alerts_in_order RENAME TO alerts;
CREATE INDEX alerts_by_end ON alerts (ends_at);
