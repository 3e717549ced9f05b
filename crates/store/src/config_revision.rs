//! The history of loaded configurations, so that an operator can tell which
//! configuration was in force when an alert fired.

use jiff::Timestamp;

use crate::StoreError;

/// A configuration that has just been loaded and is about to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConfigRevision {
    /// A digest of the configuration's content; equal hashes mean equal configurations.
    pub hash: String,
    /// Where it was read from, such as a file path.
    pub source: String,
    /// When it was loaded. Stored to the microsecond.
    pub loaded_at: Timestamp,
    /// How many objects (SLOs, routes, ...) it defines.
    pub objects: u32,
    /// A one-line description for people, such as "12 SLOs, 3 routes".
    pub summary: String,
}

/// A recorded configuration revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRevision {
    /// Assigned by the store; a later revision always has a larger id.
    pub id: i64,
    /// A digest of the configuration's content.
    pub hash: String,
    /// Where it was read from.
    pub source: String,
    /// When it was loaded, truncated to the microsecond.
    pub loaded_at: Timestamp,
    /// How many objects it defines.
    pub objects: u32,
    /// A one-line description for people.
    pub summary: String,
}

/// The columns of `config_revisions` in the order both engines select them:
/// `id, hash, source, loaded_at, objects, summary`.
pub(crate) type RevisionRow = (i64, String, String, i64, i64, String);

/// Turns a selected row back into a revision, refusing values no nines writes.
pub(crate) fn from_row(row: RevisionRow) -> Result<ConfigRevision, StoreError> {
    let (id, hash, source, loaded_at, objects, summary) = row;
    Ok(ConfigRevision {
        id,
        hash,
        source,
        loaded_at: timestamp_from_micros(loaded_at)
            .map_err(|what| corrupt(id, "loaded_at", &what))?,
        objects: u32::try_from(objects)
            .map_err(|_| corrupt(id, "objects", &format!("{objects} is not a count")))?,
        summary,
    })
}

fn corrupt(id: i64, column: &str, what: &str) -> StoreError {
    StoreError::Corrupt {
        what: format!("config_revisions id {id}, column {column}: {what}"),
    }
}

/// The column value for a timestamp: microseconds since the Unix epoch, UTC.
///
/// Both engines store plain integers so that they compare, sort and round
/// exactly alike, whatever time types their drivers would offer.
pub(crate) fn timestamp_micros(at: Timestamp) -> i64 {
    at.as_microsecond()
}

/// The inverse of [`timestamp_micros`].
pub(crate) fn timestamp_from_micros(micros: i64) -> Result<Timestamp, String> {
    Timestamp::from_microsecond(micros)
        .map_err(|error| format!("{micros} is not a timestamp in microseconds: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_at_microsecond_precision() {
        let at: Timestamp = "2026-03-29T01:30:00.123456789Z".parse().unwrap();
        let back = timestamp_from_micros(timestamp_micros(at)).unwrap();
        assert_eq!(back, "2026-03-29T01:30:00.123456Z".parse().unwrap());
    }

    #[test]
    fn rows_with_impossible_values_are_reported_as_corrupt() {
        let row = |loaded_at, objects| (7, "h".into(), "s".into(), loaded_at, objects, "".into());
        assert!(from_row(row(0, 3)).is_ok());
        let error = from_row(row(0, -1)).unwrap_err();
        assert!(
            matches!(&error, StoreError::Corrupt { what } if what.contains("id 7, column objects")),
            "{error:?}"
        );
        let error = from_row(row(i64::MAX, 3)).unwrap_err();
        assert!(
            matches!(&error, StoreError::Corrupt { what } if what.contains("column loaded_at")),
            "{error:?}"
        );
    }
}
