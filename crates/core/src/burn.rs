//! Burn-rate alert rules: the SRE Workbook's multi-window, multi-burn-rate
//! defaults, and OpenSLO `burnrate` conditions.

use crate::availability::Target;
use crate::budget::burn_rate;
use crate::model::{AlertPolicy, Op};
use crate::series::Counts;

/// How urgently a person must act: a page wakes someone, a ticket waits for
/// working hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Urgency {
    Page,
    Ticket,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Page => "page",
            Urgency::Ticket => "ticket",
        }
    }

    /// OpenSLO severities are free text; these words mean "wake someone".
    pub fn from_severity(s: &str) -> Urgency {
        match s.to_ascii_lowercase().as_str() {
            "page" | "critical" | "high" | "urgent" | "sev1" | "sev-1" | "p1" | "emergency" => {
                Urgency::Page
            }
            _ => Urgency::Ticket,
        }
    }
}

/// A bad event count under which no rule fires, however high the burn rate:
/// with a handful of requests an hour, one failure is a burn rate in the
/// hundreds, and nobody should be woken for it. Five bad events in the long
/// window is the least that pages.
pub const MIN_BAD_EVENTS: f64 = 5.0;

#[derive(Clone, Debug, PartialEq)]
pub struct BurnRule {
    /// `page-1h`, or the OpenSLO condition's name.
    pub name: String,
    pub urgency: Urgency,
    /// The window whose burn rate must cross the threshold.
    pub long_s: i64,
    /// A shorter window that must cross it too, so that the alert resolves
    /// soon after the burn stops (1/12 of the long one in the defaults).
    pub short_s: Option<i64>,
    pub op: Op,
    pub threshold: f64,
    /// How long the rule must hold before the alert fires.
    pub alert_after_s: i64,
}

/// The SRE Workbook's four rules, scaled to the SLO's window: each spends a
/// set share of the budget over its long window (2 % in 1 h and 5 % in 6 h
/// page; 10 % in 1 d and 10 % in 3 d open a ticket), so the threshold is
/// `share * period / window`: 14.4, 6, 3 and 1 for a 30-day SLO.
pub fn default_rules(period_s: i64) -> Vec<BurnRule> {
    const H: i64 = 3600;
    let rule = |urgency: Urgency, long_s: i64, share: f64| BurnRule {
        name: format!("{}-{}", urgency.as_str(), human_window(long_s)),
        urgency,
        long_s,
        short_s: Some(long_s / 12),
        op: Op::Gte,
        threshold: share * period_s as f64 / long_s as f64,
        alert_after_s: 0,
    };
    vec![
        rule(Urgency::Page, H, 0.02),
        rule(Urgency::Page, 6 * H, 0.05),
        rule(Urgency::Ticket, 24 * H, 0.10),
        rule(Urgency::Ticket, 72 * H, 0.10),
    ]
}

/// Rules from OpenSLO alert policies: one per `burnrate` condition, over its
/// lookback window alone, held for `alertAfter`.
pub fn rules_from_policies(policies: &[AlertPolicy]) -> Vec<BurnRule> {
    policies
        .iter()
        .flat_map(|p| p.conditions.iter())
        .filter_map(|c| {
            let long_s = c.burn_rate.lookback_window.seconds()? as i64;
            Some(BurnRule {
                name: c.meta.name.clone(),
                urgency: Urgency::from_severity(&c.severity),
                long_s,
                short_s: None,
                op: c.burn_rate.op,
                threshold: c.burn_rate.threshold,
                alert_after_s: c
                    .burn_rate
                    .alert_after
                    .and_then(|d| d.seconds())
                    .unwrap_or(0) as i64,
            })
        })
        .collect()
}

pub fn human_window(s: i64) -> String {
    match s {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// What one rule saw at one evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Verdict {
    pub holds: bool,
    pub long_burn: Option<f64>,
    pub short_burn: Option<f64>,
    /// The long window held no events at all.
    pub no_data: bool,
}

impl BurnRule {
    pub fn judge(&self, target: Target, long: Counts, short: Option<Counts>) -> Verdict {
        let long_burn = burn_rate(target, long);
        let short_burn = short.and_then(|s| burn_rate(target, s));
        let crosses = |b: Option<f64>| b.is_some_and(|b| self.op.holds(b, self.threshold));
        let enough = long.bad() >= MIN_BAD_EVENTS;
        let holds = enough && crosses(long_burn) && (self.short_s.is_none() || crosses(short_burn));
        Verdict {
            holds,
            long_burn,
            short_burn,
            no_data: long.total <= 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_workbook_for_30_days() {
        let rules = default_rules(30 * 86_400);
        let t: Vec<(f64, i64, Option<i64>)> = rules
            .iter()
            .map(|r| ((r.threshold * 1000.0).round() / 1000.0, r.long_s, r.short_s))
            .collect();
        assert_eq!(
            t,
            [
                (14.4, 3600, Some(300)),
                (6.0, 21_600, Some(1800)),
                (3.0, 86_400, Some(7200)),
                (1.0, 259_200, Some(21_600)),
            ]
        );
        assert_eq!(rules[0].name, "page-1h");
        assert_eq!(rules[3].urgency, Urgency::Ticket);
    }

    #[test]
    fn one_failed_request_does_not_page() {
        let rule = &default_rules(30 * 86_400)[0];
        let target = Target::from_ratio_text("0.999").unwrap();
        let v = rule.judge(target, Counts::new(2.0, 3.0), Some(Counts::new(0.0, 1.0)));
        assert!(
            !v.holds,
            "a burn rate of {:?} on three requests",
            v.long_burn
        );
        let busy = rule.judge(
            target,
            Counts::new(9_000.0, 10_000.0),
            Some(Counts::new(800.0, 1000.0)),
        );
        assert!(busy.holds);
    }
}
