-- Schema 11: alerts kept in segments. Each write of alerts is one row,
-- its alerts encoded one after the other in `rows` (see
-- store/src/alert_segments.rs), under a new, increasing `seq`; the row per
-- alert of schema 9 cost a binding, a record, a B-tree insert and an index
-- entry each. nines moves the rows of `alerts` into a first segment and
-- drops that table when it opens the store (the encoding is nines', not
-- SQL's).
CREATE TABLE alert_segments (
    seq  INTEGER PRIMARY KEY,
    rows BLOB    NOT NULL
) STRICT;
