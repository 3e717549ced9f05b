-- Schema 5: heartbeats. A check that expects a ping every so often: when
-- nines first knew it (a heartbeat never pinged is late from then) and its
-- latest ping.
CREATE TABLE heartbeats (
    service      TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    since        INTEGER NOT NULL,
    last_ping_at INTEGER,
    PRIMARY KEY (service, name)
) STRICT;
