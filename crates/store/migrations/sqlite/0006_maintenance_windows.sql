-- Schema 6: maintenance windows. The window itself (scope, span, rule,
-- reason) is opaque JSON in body; an idempotency key, when a client gave
-- one, is unique so that a retried request finds the window it opened.
CREATE TABLE maintenance_windows (
    id              TEXT   NOT NULL PRIMARY KEY,
    idempotency_key TEXT   UNIQUE,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    body            TEXT   NOT NULL
) STRICT;
