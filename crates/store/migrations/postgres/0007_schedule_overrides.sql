-- Schema 7: on-call schedule overrides added at run time. Someone covers a
-- schedule from starts_at to ends_at, whoever its layers name; the
-- configuration's own overrides are not stored. (Schema 6 is another change.)
CREATE TABLE schedule_overrides (
    id         BIGSERIAL PRIMARY KEY,
    schedule   TEXT   NOT NULL,
    person     TEXT   NOT NULL,
    starts_at  BIGINT NOT NULL,
    ends_at    BIGINT NOT NULL CHECK (ends_at > starts_at),
    reason     TEXT   NOT NULL,
    created_by TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX schedule_overrides_by_schedule ON schedule_overrides (schedule, ends_at);
