//! Error budgets and burn rates.
//!
//! An SLO with target `t` allows a share `1 - t` of its events (or of its
//! time slices) to be bad over its window: that is the error budget. The
//! burn rate over some window is how fast the budget goes: the window's
//! error ratio divided by `1 - t`. A burn rate of 1 spends exactly the
//! whole budget over the SLO's window; 1000 spends a 30-day budget in 43.2
//! minutes.

use crate::availability::Target;
use crate::series::Counts;

/// The budget of one objective over its window, from the good and total
/// counts (events, or time slices) seen in it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ErrorBudget {
    pub target: Target,
    pub counts: Counts,
}

impl ErrorBudget {
    pub fn new(target: Target, counts: Counts) -> ErrorBudget {
        ErrorBudget { target, counts }
    }

    /// The SLI over the window, `None` without data.
    pub fn sli(&self) -> Option<f64> {
        self.counts.ratio()
    }

    /// Bad events (or slices) the window allows given the traffic it saw.
    pub fn total_events(&self) -> f64 {
        self.target.budget() * self.counts.total
    }

    pub fn consumed_events(&self) -> f64 {
        self.counts.bad()
    }

    pub fn remaining_events(&self) -> f64 {
        self.total_events() - self.consumed_events()
    }

    /// The share of the budget spent; above 1 when overspent. Zero without data.
    pub fn consumed_ratio(&self) -> f64 {
        if self.counts.total <= 0.0 {
            0.0
        } else {
            self.consumed_events() / self.total_events()
        }
    }

    /// The share of the budget left; negative when overspent.
    pub fn remaining_ratio(&self) -> f64 {
        1.0 - self.consumed_ratio()
    }

    /// Whether the SLI meets the objective (no data counts as met).
    pub fn attained(&self) -> bool {
        self.sli().is_none_or(|s| s >= self.target.ratio())
    }
}

/// How fast a window spends the budget: its error ratio over `1 - target`.
pub fn burn_rate(target: Target, window: Counts) -> Option<f64> {
    window.error_ratio().map(|e| e / target.budget())
}

/// Seconds until the remaining budget is gone if the burn rate holds, for a
/// budget period of `period_s` seconds; `None` when nothing burns.
pub fn time_to_exhaustion(remaining_ratio: f64, burn: f64, period_s: f64) -> Option<f64> {
    if burn <= 0.0 {
        return None;
    }
    Some((remaining_ratio.max(0.0) * period_s / burn).max(0.0))
}

/// A composite SLO's figures: each objective (with its own indicator)
/// weighs in by its `compositeWeight`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompositeBudget {
    /// The weighted mean of the objectives' SLIs that have data.
    pub sli: Option<f64>,
    /// The weighted mean of the objectives' consumed budget shares.
    pub consumed_ratio: f64,
}

impl CompositeBudget {
    pub fn of(parts: &[(f64, ErrorBudget)]) -> CompositeBudget {
        let weight: f64 = parts.iter().map(|(w, _)| w).sum();
        let with_data: Vec<(f64, f64)> = parts
            .iter()
            .filter_map(|(w, b)| b.sli().map(|s| (*w, s)))
            .collect();
        let data_weight: f64 = with_data.iter().map(|(w, _)| w).sum();
        CompositeBudget {
            sli: (data_weight > 0.0)
                .then(|| with_data.iter().map(|(w, s)| w * s).sum::<f64>() / data_weight),
            consumed_ratio: if weight > 0.0 {
                parts
                    .iter()
                    .map(|(w, b)| w * b.consumed_ratio())
                    .sum::<f64>()
                    / weight
            } else {
                0.0
            },
        }
    }

    pub fn remaining_ratio(&self) -> f64 {
        1.0 - self.consumed_ratio
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_burn_rate_of_1000_exhausts_a_30_day_budget_in_43_minutes() {
        let t = time_to_exhaustion(1.0, 1000.0, 30.0 * 86_400.0).unwrap();
        assert!((t - 43.2 * 60.0).abs() < 1e-9);
    }

    #[test]
    fn burn_rate_is_error_ratio_over_budget() {
        let target = Target::from_ratio_text("0.999").unwrap();
        let b = burn_rate(target, Counts::new(985.6, 1000.0)).unwrap();
        assert!((b - 14.4).abs() < 1e-9);
        assert_eq!(burn_rate(target, Counts::ZERO), None);
    }

    #[test]
    fn composites_weigh_their_objectives() {
        let t = Target::from_ratio_text("0.99").unwrap();
        let spent = ErrorBudget::new(t, Counts::new(980.0, 1000.0)); // 200 % consumed
        let clean = ErrorBudget::new(t, Counts::new(1000.0, 1000.0)); // 0 %
        let c = CompositeBudget::of(&[(3.0, spent), (1.0, clean)]);
        assert!((c.consumed_ratio - 1.5).abs() < 1e-12);
        assert!((c.sli.unwrap() - (3.0 * 0.98 + 1.0) / 4.0).abs() < 1e-12);
        let empty = ErrorBudget::new(t, Counts::ZERO);
        assert_eq!(CompositeBudget::of(&[(1.0, empty)]).sli, None);
    }

    proptest! {
        #[test]
        fn consumed_plus_remaining_is_total(good in 0u32..10_000, bad in 0u32..10_000, pct in 50.0f64..99.999) {
            let target = Target::from_percent(pct).unwrap();
            let b = ErrorBudget::new(target, Counts::new(f64::from(good), f64::from(good + bad)));
            let sum = b.consumed_events() + b.remaining_events();
            prop_assert!((sum - b.total_events()).abs() <= 1e-6 * b.total_events().max(1.0));
            prop_assert!((b.consumed_ratio() + b.remaining_ratio() - 1.0).abs() < 1e-9);
        }

        #[test]
        fn burning_at_1_over_the_whole_window_leaves_nothing(total in 1u32..1_000_000, pct in 90.0f64..99.99) {
            let target = Target::from_percent(pct).unwrap();
            let total = f64::from(total);
            // Bad events at exactly the budgeted rate over the whole window.
            let counts = Counts::new(total * target.ratio(), total);
            let rate = burn_rate(target, counts).unwrap();
            prop_assert!((rate - 1.0).abs() < 1e-6);
            let b = ErrorBudget::new(target, counts);
            prop_assert!(b.remaining_ratio().abs() < 1e-6);
        }
    }
}
