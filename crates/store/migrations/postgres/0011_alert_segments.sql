-- Schema 11: in SQLite, alerts are now kept in segments, one row per write
-- (see sqlite/0011). PostgreSQL keeps its alerts table keyed by
-- fingerprint; this version keeps the two engines' schema numbers the same.
SELECT 1;
