//! Where the store lives, as chosen on the command line.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

use crate::{Engine, StoreError};

/// How to write a store URL, appended to every parse error so that the fix is
/// in the message.
const ACCEPTED: &str = "use sqlite:///absolute/dir or sqlite://relative/dir for an embedded store \
     (or give no URL to use the data dir), or postgres://user@host:5432/database for PostgreSQL";

/// Which engine holds the store, and where.
///
/// `Debug` hides the password of a PostgreSQL URL so that a location can be
/// logged as it is.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// An embedded SQLite database, `nines.db`, inside `data_dir`.
    Sqlite {
        /// The directory holding `nines.db` and `nines.lock`; created if missing.
        data_dir: PathBuf,
    },
    /// A PostgreSQL database.
    Postgres {
        /// A `postgres://` connection URL, as libpq would accept it.
        url: String,
    },
}

impl StoreLocation {
    /// Reads the `--store-url` setting, falling back to SQLite in `data_dir`.
    ///
    /// A relative `sqlite://` directory is relative to the working directory,
    /// as it would be for any other path given on the command line.
    pub fn parse(store_url: Option<&str>, data_dir: &Path) -> Result<Self, StoreError> {
        let Some(url) = store_url else {
            return Ok(StoreLocation::Sqlite {
                data_dir: data_dir.to_path_buf(),
            });
        };
        let invalid = |reason: String| StoreError::InvalidUrl {
            url: redact_password(url),
            reason,
        };
        if url.trim().is_empty() {
            return Err(invalid(format!("it is empty; {ACCEPTED}")));
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(invalid(format!("it has no scheme:// prefix; {ACCEPTED}")));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => {
                if rest.is_empty() {
                    return Err(invalid(format!("it names no directory; {ACCEPTED}")));
                }
                if rest.contains('?') {
                    return Err(invalid(format!(
                        "sqlite URLs take no parameters, nines sets the SQLite options itself; {ACCEPTED}"
                    )));
                }
                Ok(StoreLocation::Sqlite {
                    data_dir: PathBuf::from(rest),
                })
            }
            "postgres" | "postgresql" => match PgConnectOptions::from_str(url) {
                Ok(_) => Ok(StoreLocation::Postgres {
                    url: url.to_owned(),
                }),
                Err(error) => Err(invalid(format!("{error}; {ACCEPTED}"))),
            },
            other => Err(invalid(format!(
                "nines cannot store its state in {other:?}; {ACCEPTED}"
            ))),
        }
    }

    /// The engine this location needs.
    pub fn engine(&self) -> Engine {
        match self {
            StoreLocation::Sqlite { .. } => Engine::Sqlite,
            StoreLocation::Postgres { .. } => Engine::Postgres,
        }
    }
}

impl fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite { data_dir } => f
                .debug_struct("Sqlite")
                .field("data_dir", data_dir)
                .finish(),
            StoreLocation::Postgres { url } => f
                .debug_struct("Postgres")
                .field("url", &redact_password(url))
                .finish(),
        }
    }
}

/// Replaces the password in `scheme://user:password@host/...`, and in a
/// `password=` query parameter, with `***`.
///
/// Store URLs end up in logs and error messages, which must never carry a
/// credential.
pub(crate) fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|param| match param.split_once('=') {
                    Some((key, _value)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}=***")
                    }
                    _ => param.to_owned(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<StoreLocation, StoreError> {
        StoreLocation::parse(Some(url), Path::new("/var/lib/nines"))
    }

    fn reason_for(url: &str) -> String {
        match parse(url) {
            Err(StoreError::InvalidUrl { reason, .. }) => reason,
            other => panic!("expected InvalidUrl for {url:?}, got {other:?}"),
        }
    }

    #[test]
    fn no_url_means_sqlite_in_the_data_dir() {
        let location = StoreLocation::parse(None, Path::new("/var/lib/nines")).unwrap();
        assert_eq!(
            location,
            StoreLocation::Sqlite {
                data_dir: PathBuf::from("/var/lib/nines")
            }
        );
        assert_eq!(location.engine(), Engine::Sqlite);
    }

    #[test]
    fn sqlite_url_with_three_slashes_is_an_absolute_dir() {
        assert_eq!(
            parse("sqlite:///srv/nines/state").unwrap(),
            StoreLocation::Sqlite {
                data_dir: PathBuf::from("/srv/nines/state")
            }
        );
    }

    #[test]
    fn sqlite_url_with_two_slashes_is_a_relative_dir() {
        assert_eq!(
            parse("sqlite://state/nines").unwrap(),
            StoreLocation::Sqlite {
                data_dir: PathBuf::from("state/nines")
            }
        );
    }

    #[test]
    fn scheme_is_case_insensitive() {
        assert_eq!(parse("SQLite:///x").unwrap().engine(), Engine::Sqlite);
        assert_eq!(parse("POSTGRES://h/db").unwrap().engine(), Engine::Postgres);
    }

    #[test]
    fn postgres_urls_are_kept_as_given() {
        for url in [
            "postgres://nines:secret@db.internal:5432/nines",
            "postgresql://nines@db.internal/nines?sslmode=require",
            "postgres:///nines?host=/run/postgresql",
        ] {
            let location = parse(url).unwrap();
            assert_eq!(location.engine(), Engine::Postgres);
            assert_eq!(
                location,
                StoreLocation::Postgres {
                    url: url.to_owned()
                }
            );
        }
    }

    #[test]
    fn other_schemes_are_refused_with_what_would_work() {
        let reason = reason_for("mysql://root@localhost/nines");
        assert!(reason.contains("\"mysql\""), "{reason}");
        assert!(reason.contains("sqlite:///"), "{reason}");
        assert!(reason.contains("postgres://"), "{reason}");
    }

    #[test]
    fn malformed_urls_are_refused() {
        for url in [
            "",
            "  ",
            "/var/lib/nines",
            "sqlite:",
            "sqlite:nines.db",
            "sqlite://",
            "sqlite://data?mode=ro",
            "postgres://h:notaport/db",
        ] {
            let reason = reason_for(url);
            assert!(reason.contains("sqlite:///"), "{url:?}: {reason}");
        }
    }

    #[test]
    fn errors_and_debug_never_show_the_password() {
        let error = parse("postgres://nines:hunter2@h:notaport/db").unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
        assert!(!format!("{error:?}").contains("hunter2"), "{error:?}");

        let error = parse("mysql://nines:hunter2@h/db").unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");

        let location = parse("postgres://nines:hunter2@h/db").unwrap();
        let debug = format!("{location:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("nines:***@h/db"), "{debug}");
    }

    #[test]
    fn redaction_touches_only_the_password() {
        assert_eq!(
            redact_password("postgres://u:p@h:1/d?x=y"),
            "postgres://u:***@h:1/d?x=y"
        );
        assert_eq!(redact_password("postgres://u@h/d"), "postgres://u@h/d");
        assert_eq!(redact_password("postgres://h/d@x"), "postgres://h/d@x");
        assert_eq!(
            redact_password("postgres://h/d?user=u&password=p&sslmode=require"),
            "postgres://h/d?user=u&password=***&sslmode=require"
        );
        assert_eq!(redact_password("not a url"), "not a url");
    }
}
