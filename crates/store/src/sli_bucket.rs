//! SLI data as one-minute buckets per objective series, and the idempotency
//! keys that keep a retried ingest batch from being counted twice.
//!
//! The ingest aggregates a client's batch into bucket increments and hands
//! them over as one batch; the SLO engine reads the buckets back to rebuild
//! its windows at start-up.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::StoreError;
use crate::config_revision::timestamp_from_micros;

/// The events of one series in one minute, split by maintenance.
///
/// Handed to [`crate::Store::record_sli_batch`] it is an increment, added to
/// the bucket; read back from [`crate::Store::sli_buckets_since`] it is the
/// bucket's running total.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketRow {
    /// The SLO objective the events count towards, such as `"checkout-availability/0"`.
    pub series: String,
    /// Minutes since the Unix epoch, UTC.
    pub minute: i64,
    /// Whether the events were counted during a maintenance window. Both kinds
    /// are kept, in separate buckets, so the engine can decide later what
    /// maintenance excludes.
    pub maintenance: bool,
    /// How many of the events were good. Events may be weighted, hence `f64`.
    pub good: f64,
    /// How many events there were in all.
    pub total: f64,
}

/// What [`crate::Store::record_sli_batch`] did with a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchOutcome {
    /// The batch was counted and committed.
    Applied {
        /// How many rows the batch had; all of them were added.
        rows: usize,
    },
    /// A batch with the same idempotency key was counted before, so this one
    /// changed nothing.
    Duplicate {
        /// When the first batch with this key was received, to the microsecond.
        first_received_at: Timestamp,
    },
}

/// What identifies a bucket: `(series, minute, maintenance)`.
pub(crate) type BucketKey<'a> = (&'a str, i64, bool);

/// What one batch adds to one bucket: the key, then `(good, total)`.
pub(crate) type Increment<'a> = (BucketKey<'a>, (f64, f64));

/// The columns of `sli_buckets` in the order both engines select them:
/// `series, minute, maintenance, good, total`.
pub(crate) type BucketColumns = (String, i64, bool, f64, f64);

/// Turns selected rows back into buckets, ordered by series, minute and
/// maintenance.
///
/// The tables are keyed by minute first (see the migration), so the database
/// would have to sort to give this order; for the millions of buckets read at
/// start-up its sort spills to disk and takes several times longer than
/// sorting here. Sorting here also makes both engines order series the same
/// way, by bytes, whatever their collation.
pub(crate) fn in_series_order(rows: Vec<BucketColumns>) -> Vec<BucketRow> {
    let mut buckets: Vec<BucketRow> = rows
        .into_iter()
        .map(|(series, minute, maintenance, good, total)| BucketRow {
            series,
            minute,
            maintenance,
            good,
            total,
        })
        .collect();
    // The key is unique, so an unstable sort gives the one possible order.
    buckets.sort_unstable_by(|a, b| {
        (&a.series, a.minute, a.maintenance).cmp(&(&b.series, b.minute, b.maintenance))
    });
    buckets
}

/// The outcome for a batch whose key was first received at `micros`.
pub(crate) fn duplicate(key: &str, micros: i64) -> Result<BatchOutcome, StoreError> {
    let first_received_at = timestamp_from_micros(micros).map_err(|what| StoreError::Corrupt {
        what: format!("ingest_keys key {key:?}, column received_at: {what}"),
    })?;
    Ok(BatchOutcome::Duplicate { first_received_at })
}

/// Sums a batch's rows per bucket, after checking that every count can be
/// stored, and lists the sums in one fixed order: by series, minute and
/// maintenance.
///
/// One statement can then write each bucket once, which PostgreSQL requires
/// of `INSERT ... ON CONFLICT DO UPDATE`. The fixed order matters too:
/// concurrent batches lock the buckets they share in the same order, so on
/// PostgreSQL they wait for each other instead of deadlocking.
pub(crate) fn increments(rows: &[BucketRow]) -> Result<Vec<Increment<'_>>, StoreError> {
    let mut sums: BTreeMap<BucketKey<'_>, (f64, f64)> = BTreeMap::new();
    for (index, row) in rows.iter().enumerate() {
        check_count(index, row, "good", row.good)?;
        check_count(index, row, "total", row.total)?;
        let sum = sums
            .entry((row.series.as_str(), row.minute, row.maintenance))
            .or_default();
        sum.0 += row.good;
        sum.1 += row.total;
    }
    Ok(sums.into_iter().collect())
}

/// Refuses a count that would not survive the round trip or would poison its
/// bucket: SQLite stores NaN as NULL, PostgreSQL keeps it, and once a bucket
/// holds NaN or an infinity every later sum is lost with it. A negative count
/// would make a bucket shrink, which no ingest means to do.
fn check_count(index: usize, row: &BucketRow, column: &str, value: f64) -> Result<(), StoreError> {
    if value.is_finite() && value >= 0.0 {
        return Ok(());
    }
    Err(StoreError::InvalidInput {
        what: format!(
            "SLI batch row {index} (series {:?}, minute {}): {column} is {value}, \
             but a count must be a finite number, zero or more; the batch was not recorded",
            row.series, row.minute
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(series: &str, minute: i64, maintenance: bool, good: f64, total: f64) -> BucketRow {
        BucketRow {
            series: series.to_owned(),
            minute,
            maintenance,
            good,
            total,
        }
    }

    #[test]
    fn rows_of_one_bucket_are_summed_and_listed_in_a_fixed_order() {
        let rows = [
            row("b", 1, false, 1.0, 2.0),
            row("a", 2, true, 0.5, 1.0),
            row("a", 2, false, 3.0, 4.0),
            row("b", 1, false, 2.0, 2.0),
            row("a", 1, false, 0.0, 1.0),
        ];
        assert_eq!(
            increments(&rows).unwrap(),
            vec![
                (("a", 1, false), (0.0, 1.0)),
                (("a", 2, false), (3.0, 4.0)),
                (("a", 2, true), (0.5, 1.0)),
                (("b", 1, false), (3.0, 4.0)),
            ]
        );
    }

    #[test]
    fn counts_that_cannot_be_stored_are_refused() {
        for (good, total) in [
            (f64::NAN, 1.0),
            (1.0, f64::INFINITY),
            (-1.0, 1.0),
            (0.0, f64::NEG_INFINITY),
        ] {
            let rows = [
                row("a", 1, false, 1.0, 1.0),
                row("a", 7, false, good, total),
            ];
            let error = increments(&rows).unwrap_err();
            let message = error.to_string();
            assert!(
                matches!(error, StoreError::InvalidInput { .. }),
                "{error:?}"
            );
            assert!(
                message.contains(r#"row 1 (series "a", minute 7)"#),
                "{message}"
            );
        }
    }
}
