-- Schema 8: when each SLO objective's error budget ran out, so that the
-- deploy gate's "frozen since" survives a restart. One row per objective
-- series (`slo/objective`, as in sli_buckets) while its budget is exhausted;
-- the row goes when the budget recovers. Written on those changes only.
CREATE TABLE budget_exhaustions (
    series TEXT    PRIMARY KEY,
    since  INTEGER NOT NULL
) STRICT;
