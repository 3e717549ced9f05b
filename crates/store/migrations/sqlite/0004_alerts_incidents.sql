-- Schema 4: alerts from every source, silences, incidents with their
-- timeline, changes (deploys) per service, and the notification outbox.
-- `body` columns hold what only nines reads back (labels, annotations,
-- matchers, payloads) as JSON text; the columns beside them are what SQL
-- filters and orders on.

-- The latest state of every alert, by fingerprint (its identity).
CREATE TABLE alerts (
    fingerprint INTEGER PRIMARY KEY,
    source      TEXT    NOT NULL,
    service     TEXT    NOT NULL,
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    body        TEXT    NOT NULL
) STRICT;

CREATE INDEX alerts_by_end ON alerts (ends_at);

CREATE TABLE silences (
    id         TEXT    PRIMARY KEY,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    body       TEXT    NOT NULL
) STRICT;

CREATE TABLE incidents (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    group_key   TEXT    NOT NULL,
    service     TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('triggered', 'acknowledged', 'resolved')),
    urgency     TEXT    NOT NULL CHECK (urgency IN ('high', 'low')),
    opened_at   INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    resolved_at INTEGER,
    body        TEXT    NOT NULL
) STRICT;

-- At most one open incident per group: a retried or duplicated alert can
-- never open a second one.
CREATE UNIQUE INDEX incidents_one_open_per_group ON incidents (group_key)
    WHERE state <> 'resolved';
CREATE INDEX incidents_by_service ON incidents (service, id);

CREATE TABLE incident_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    at          INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    body        TEXT    NOT NULL
) STRICT;

CREATE INDEX incident_events_by_incident ON incident_events (incident_id, id);

CREATE TABLE changes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    service    TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    summary    TEXT    NOT NULL,
    body       TEXT    NOT NULL
) STRICT;

CREATE INDEX changes_by_service ON changes (service, at);

-- Notifications decided but not yet delivered survive a restart here.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT    NOT NULL UNIQUE,
    incident_id     INTEGER,
    channel         TEXT    NOT NULL,
    target          TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    state           TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'failed')),
    last_error      TEXT    NOT NULL DEFAULT '',
    done_at         INTEGER
) STRICT;

CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
