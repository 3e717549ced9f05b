//! The one error type the store hands to the rest of nines.
//!
//! Every message is meant to be read by the person running nines, so each one
//! names the thing involved (a directory, a host, a schema version) and, where
//! there is one, what to do about it. The underlying cause is part of the
//! message rather than a `source()`, because these messages are shown as they
//! are by the API and the CLI; printing a chain as well would repeat it.

use std::path::PathBuf;

/// A driver or OS error carried inside a [`StoreError`].
///
/// It is boxed so that the SQL driver stays an implementation detail of this
/// crate: callers match on the variant, not on the driver's own error type.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong between nines and its durable state.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store URL is not one nines understands.
    #[error("invalid store URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given, with any password replaced by `***`.
        url: String,
        /// What is wrong and what would be accepted instead.
        reason: String,
    },

    /// The SQLite data directory cannot be created, read or written.
    #[error("cannot use data dir {}: {error}; check that it exists or can be created, and that nines may read and write it", path.display())]
    DataDir {
        /// The data directory.
        path: PathBuf,
        /// What the operating system said.
        error: std::io::Error,
    },

    /// Another nines process holds the data directory.
    #[error("data dir {} is in use by another nines process (lock file {}); stop that process or use another data dir", data_dir.display(), lock_file.display())]
    Locked {
        /// The directory that is in use.
        data_dir: PathBuf,
        /// The file whose lock is held.
        lock_file: PathBuf,
    },

    /// The database cannot be reached or opened.
    #[error("cannot reach the store ({target}): {error}")]
    Unavailable {
        /// What was being reached, as [`crate::Store::describe`] would say it; never a password.
        target: String,
        /// Why it could not be reached.
        error: Cause,
    },

    /// The store was written by a newer nines with a schema this binary does not know.
    #[error(
        "the store was written by a newer nines (schema {found}; this binary knows up to {known}): upgrade nines or use another data dir"
    )]
    SchemaTooNew {
        /// The newest schema version recorded in the store.
        found: i64,
        /// The newest schema version this binary can apply.
        known: i64,
    },

    /// A schema migration failed; the store is left at the version before it.
    #[error(
        "store migration {version:04}_{name} failed on {target}, the store stays at the previous schema: {error}"
    )]
    Migration {
        /// The version of the migration that failed.
        version: i64,
        /// Its name, as in the migration's file name.
        name: &'static str,
        /// The store it ran against.
        target: String,
        /// What the database said.
        error: Cause,
    },

    /// A query failed for a reason other than the database being unreachable.
    #[error("store operation {operation:?} failed on {target}: {error}")]
    Query {
        /// What the store was doing, in a few words.
        operation: &'static str,
        /// The store it ran against.
        target: String,
        /// What the database said.
        error: Cause,
    },

    /// A stored value cannot be turned back into a domain value.
    #[error(
        "the store holds a value this nines cannot read ({what}); was the database edited by hand?"
    )]
    Corrupt {
        /// Which value, and why it is unreadable.
        what: String,
    },

    /// A value handed to the store cannot be stored faithfully; nothing was written.
    ///
    /// This is a bug in the caller, which should have refused the value where
    /// it came in, rather than a problem with the database.
    #[error("refused to store {what}")]
    InvalidInput {
        /// Which value, and why it is refused.
        what: String,
    },

    /// The write would break a uniqueness rule (for example a second open
    /// incident for one group); nothing was written.
    #[error("conflict: {what}")]
    Conflict {
        /// What already exists.
        what: String,
    },

    /// The store was used after [`crate::Store::close`].
    #[error("the store has been closed")]
    Closed,
}

impl StoreError {
    /// Classifies a driver error met while doing `operation` against `target`.
    ///
    /// Connection-level failures become [`StoreError::Unavailable`] so that
    /// `/-/ready` can tell "the database is down" from "a query is wrong".
    pub(crate) fn from_sqlx(operation: &'static str, target: &str, error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolClosed => StoreError::Closed,
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable {
                target: target.to_owned(),
                error: Box::new(error),
            },
            error => StoreError::Query {
                operation,
                target: target.to_owned(),
                error: Box::new(error),
            },
        }
    }
}
