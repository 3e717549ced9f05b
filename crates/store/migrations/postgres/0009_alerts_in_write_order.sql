-- Schema 9: in SQLite, alerts are now kept in the order they were written
-- (see sqlite/0009). PostgreSQL's tables are heaps that rows are appended
-- to whatever their key, so its alerts table stays as it is; this version
-- keeps the two engines' schema numbers the same.
SELECT 1;
