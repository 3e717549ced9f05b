-- Schema 3: deploy gate overrides. An emergency fix may ship on a service
-- whose error budget is spent; who allowed it, why and until when is kept.
CREATE TABLE gate_overrides (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    service    TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL CHECK (expires_at > created_at)
) STRICT;

CREATE INDEX gate_overrides_by_service ON gate_overrides (service, expires_at);
