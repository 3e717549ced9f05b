//! When each SLO objective's error budget ran out: the deploy gate says
//! "frozen since", and that moment must not move to the start-up time of
//! the last restart.

use jiff::Timestamp;

use crate::StoreError;
use crate::alerting::time;

/// An objective series (`slo/objective`) whose budget has been exhausted
/// since `since`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetExhaustion {
    pub series: String,
    pub since: Timestamp,
}

pub(crate) fn from_tuple((series, since): (String, i64)) -> Result<BudgetExhaustion, StoreError> {
    let since = time(since, "budget_exhaustions.since")?;
    Ok(BudgetExhaustion { series, since })
}

#[async_trait::async_trait]
pub trait BudgetStore {
    /// Records that `series`' budget is exhausted since `since` (replacing
    /// an earlier moment), or, with `None`, that it is not; committed
    /// before returning. Callers write on changes, not at every evaluation.
    async fn set_budget_exhausted(
        &self,
        series: &str,
        since: Option<Timestamp>,
    ) -> Result<(), StoreError>;

    /// Every series whose budget is recorded as exhausted, by series (by
    /// bytes, not by locale).
    async fn budget_exhaustions(&self) -> Result<Vec<BudgetExhaustion>, StoreError>;
}

/// Implements [`BudgetStore`] for an engine, as `alert_store_impl` does.
macro_rules! budget_store_impl {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::budget_exhaustion::BudgetStore for $store {
            async fn set_budget_exhausted(
                &self,
                series: &str,
                since: Option<jiff::Timestamp>,
            ) -> Result<(), $crate::StoreError> {
                let error = self.error("recording an exhausted budget");
                let mut tx = self.write_tx().await.map_err(&error)?;
                match since {
                    Some(since) => sqlx::query(Self::sql(
                        "INSERT INTO budget_exhaustions (series, since) VALUES (?, ?)
                         ON CONFLICT (series) DO UPDATE SET since = excluded.since",
                    ))
                    .bind(series)
                    .bind(since.as_microsecond())
                    .execute(&mut *tx)
                    .await
                    .map_err(&error)?,
                    None => {
                        sqlx::query(Self::sql("DELETE FROM budget_exhaustions WHERE series = ?"))
                            .bind(series)
                            .execute(&mut *tx)
                            .await
                            .map_err(&error)?
                    }
                };
                tx.commit().await.map_err(&error)?;
                Ok(())
            }

            async fn budget_exhaustions(
                &self,
            ) -> Result<Vec<$crate::budget_exhaustion::BudgetExhaustion>, $crate::StoreError> {
                let rows: Vec<(String, i64)> = sqlx::query_as(Self::sql(
                    "SELECT series, since FROM budget_exhaustions ORDER BY series",
                ))
                .fetch_all(self.read_pool())
                .await
                .map_err(self.error("reading exhausted budgets"))?;
                rows.into_iter()
                    .map($crate::budget_exhaustion::from_tuple)
                    .collect()
            }
        }
    };
}

pub(crate) use budget_store_impl;
