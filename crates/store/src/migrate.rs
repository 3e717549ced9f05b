//! The schema migrations of both engines, and the decision of what to apply.
//!
//! Each engine runs its own list in [`crate::sqlite`] and [`crate::postgres`],
//! one transaction per migration; this module only knows the lists and the
//! rules, so that both engines follow the same ones.
//!
//! To change the schema, add `migrations/sqlite/NNNN_name.sql` and
//! `migrations/postgres/NNNN_name.sql` and append one line to each list below.
//! Never edit a migration that has been released: stores in the field have
//! already applied it and will not run it again.

use crate::{Engine, StoreError};

/// One step of the schema, written in one engine's dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Migration {
    /// Strictly increasing from 1, the same for both engines.
    pub(crate) version: i64,
    /// The file name without the version prefix and the `.sql` suffix.
    pub(crate) name: &'static str,
    /// Statements to run in one transaction; they must not begin or commit one themselves.
    pub(crate) sql: &'static str,
}

pub(crate) const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "sli_buckets",
        sql: include_str!("../migrations/sqlite/0002_sli_buckets.sql"),
    },
    Migration {
        version: 3,
        name: "gate_overrides",
        sql: include_str!("../migrations/sqlite/0003_gate_overrides.sql"),
    },
    Migration {
        version: 4,
        name: "alerts_incidents",
        sql: include_str!("../migrations/sqlite/0004_alerts_incidents.sql"),
    },
    Migration {
        version: 5,
        name: "heartbeats",
        sql: include_str!("../migrations/sqlite/0005_heartbeats.sql"),
    },
    Migration {
        version: 6,
        name: "maintenance_windows",
        sql: include_str!("../migrations/sqlite/0006_maintenance_windows.sql"),
    },
    Migration {
        version: 7,
        name: "schedule_overrides",
        sql: include_str!("../migrations/sqlite/0007_schedule_overrides.sql"),
    },
    Migration {
        version: 8,
        name: "budget_exhaustions",
        sql: include_str!("../migrations/sqlite/0008_budget_exhaustions.sql"),
    },
    Migration {
        version: 9,
        name: "alerts_in_write_order",
        sql: include_str!("../migrations/sqlite/0009_alerts_in_write_order.sql"),
    },
    Migration {
        version: 10,
        name: "incident_windows",
        sql: include_str!("../migrations/sqlite/0010_incident_windows.sql"),
    },
    Migration {
        version: 11,
        name: "alert_segments",
        sql: include_str!("../migrations/sqlite/0011_alert_segments.sql"),
    },
];

pub(crate) const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "sli_buckets",
        sql: include_str!("../migrations/postgres/0002_sli_buckets.sql"),
    },
    Migration {
        version: 3,
        name: "gate_overrides",
        sql: include_str!("../migrations/postgres/0003_gate_overrides.sql"),
    },
    Migration {
        version: 4,
        name: "alerts_incidents",
        sql: include_str!("../migrations/postgres/0004_alerts_incidents.sql"),
    },
    Migration {
        version: 5,
        name: "heartbeats",
        sql: include_str!("../migrations/postgres/0005_heartbeats.sql"),
    },
    Migration {
        version: 6,
        name: "maintenance_windows",
        sql: include_str!("../migrations/postgres/0006_maintenance_windows.sql"),
    },
    Migration {
        version: 7,
        name: "schedule_overrides",
        sql: include_str!("../migrations/postgres/0007_schedule_overrides.sql"),
    },
    Migration {
        version: 8,
        name: "budget_exhaustions",
        sql: include_str!("../migrations/postgres/0008_budget_exhaustions.sql"),
    },
    Migration {
        version: 9,
        name: "alerts_in_write_order",
        sql: include_str!("../migrations/postgres/0009_alerts_in_write_order.sql"),
    },
    Migration {
        version: 10,
        name: "incident_windows",
        sql: include_str!("../migrations/postgres/0010_incident_windows.sql"),
    },
    Migration {
        version: 11,
        name: "alert_segments",
        sql: include_str!("../migrations/postgres/0011_alert_segments.sql"),
    },
];

/// The full list of migrations this binary knows for `engine`.
pub(crate) fn for_engine(engine: Engine) -> &'static [Migration] {
    match engine {
        Engine::Sqlite => SQLITE,
        Engine::Postgres => POSTGRES,
    }
}

/// The newest schema version in `migrations`, or 0 for an empty list.
pub(crate) fn newest(migrations: &[Migration]) -> i64 {
    migrations.last().map_or(0, |m| m.version)
}

/// Picks the next migration to apply to a store that has `applied` versions.
///
/// A store that has a version this binary does not know was written by a
/// newer nines; running against it could misread or damage data that the
/// newer schema gives a meaning to, so it is refused.
pub(crate) fn next_pending<'m>(
    applied: &[i64],
    migrations: &'m [Migration],
) -> Result<Option<&'m Migration>, StoreError> {
    let known = newest(migrations);
    if let Some(&found) = applied.iter().max()
        && found > known
    {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    Ok(migrations.iter().find(|m| !applied.contains(&m.version)))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    const A: Migration = Migration {
        version: 1,
        name: "a",
        sql: "",
    };
    const B: Migration = Migration {
        version: 2,
        name: "b",
        sql: "",
    };

    #[test]
    fn fresh_store_starts_with_the_first_migration() {
        assert_eq!(next_pending(&[], &[A, B]).unwrap(), Some(&A));
    }

    #[test]
    fn applied_migrations_are_skipped() {
        assert_eq!(next_pending(&[1], &[A, B]).unwrap(), Some(&B));
        assert_eq!(next_pending(&[1, 2], &[A, B]).unwrap(), None);
    }

    #[test]
    fn a_store_from_a_newer_binary_is_refused() {
        let error = next_pending(&[1, 2, 7], &[A, B]).unwrap_err();
        assert!(
            matches!(error, StoreError::SchemaTooNew { found: 7, known: 2 }),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "the store was written by a newer nines (schema 7; this binary knows up to 2): \
             upgrade nines or use another data dir"
        );
    }

    #[test]
    fn lists_are_ordered_and_the_engines_agree() {
        for list in [SQLITE, POSTGRES] {
            let versions: Vec<i64> = list.iter().map(|m| m.version).collect();
            let expected: Vec<i64> = (1..=list.len() as i64).collect();
            assert_eq!(
                versions, expected,
                "versions must be 1, 2, 3, ... with no gap"
            );
        }
        let names = |list: &[Migration]| -> Vec<(i64, &str)> {
            list.iter().map(|m| (m.version, m.name)).collect()
        };
        assert_eq!(
            names(SQLITE),
            names(POSTGRES),
            "every schema change needs a twin for the other engine"
        );
    }

    /// A migration file that is not in the list would silently never run.
    #[test]
    fn every_migration_file_is_listed() {
        for (dir, list) in [("sqlite", SQLITE), ("postgres", POSTGRES)] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(dir);
            let on_disk: BTreeSet<String> = std::fs::read_dir(&path)
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            let listed: BTreeSet<String> = list
                .iter()
                .map(|m| format!("{:04}_{}.sql", m.version, m.name))
                .collect();
            assert_eq!(on_disk, listed, "migrations/{dir}");
        }
    }
}
