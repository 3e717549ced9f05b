//! Deploy gate overrides: a service may ship although its budget is spent,
//! for a stated reason, until a stated time.

use jiff::Timestamp;

use crate::StoreError;
use crate::config_revision::timestamp_from_micros;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGateOverride {
    pub service: String,
    pub reason: String,
    pub created_by: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateOverride {
    pub id: i64,
    pub service: String,
    pub reason: String,
    pub created_by: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

pub(crate) type OverrideRow = (i64, String, String, String, i64, i64);

pub(crate) fn from_row(row: OverrideRow) -> Result<GateOverride, StoreError> {
    let (id, service, reason, created_by, created_at, expires_at) = row;
    let time = |micros: i64, column: &str| {
        timestamp_from_micros(micros).map_err(|what| StoreError::Corrupt {
            what: format!("gate_overrides id {id}, column {column}: {what}"),
        })
    };
    Ok(GateOverride {
        id,
        service,
        reason,
        created_by,
        created_at: time(created_at, "created_at")?,
        expires_at: time(expires_at, "expires_at")?,
    })
}

/// Refuses an override that ends before it starts, before any SQL runs.
pub(crate) fn check(o: &NewGateOverride) -> Result<(), StoreError> {
    if o.expires_at <= o.created_at {
        return Err(StoreError::InvalidInput {
            what: format!(
                "a gate override must expire after it is created ({} is not after {})",
                o.expires_at, o.created_at
            ),
        });
    }
    Ok(())
}
