//! The SLO engine's burn-rate alerts, as alerts like any other: one per SLO
//! objective and urgency, in the service of the SLO, grouped and notified
//! through the same incidents.
//!
//! A firing burn alert is sent again at every evaluation with an end a few
//! evaluations ahead (as Prometheus re-sends its firing alerts), so an alert
//! whose SLO disappears from the configuration, or that nines forgot over a
//! restart, resolves by itself; a resolution is sent with its end at once.
//!
//! No data is its own alert, `SLONoData`, for the SLOs whose OpenSLO alert
//! policy has `alertWhenNoData: true`: it fires when nothing was counted in
//! the SLO's shortest alert window, or when the SLI's Prometheus pull found
//! nothing, and resolves when data comes back. It is refreshed and resolved
//! as burn alerts are.

use jiff::{SignedDuration, Timestamp};
use nines_core::alerting::labels::LabelSet;
use nines_core::alerting::model::{AlertInput, Source};
use nines_core::burn::Urgency;
use nines_core::burn::human_window;
use nines_core::engine::{AlertEvent, AlertState, NoDataEvent, ObjectiveStatus};
use nines_core::model::Catalog;

use super::Held;

/// The `alertname` of every burn-rate alert (as Pyrra names its own).
pub const ALERTNAME: &str = "ErrorBudgetBurn";

/// The `alertname` of every no-data alert.
pub const NO_DATA_ALERTNAME: &str = "SLONoData";

/// The labels that identify one objective's burn alert of one urgency.
fn labels(slo: &str, service: &str, objective: usize, urgency: Urgency) -> LabelSet {
    labels_named(ALERTNAME, slo, service, objective, urgency)
}

fn labels_named(
    alertname: &str,
    slo: &str,
    service: &str,
    objective: usize,
    urgency: Urgency,
) -> LabelSet {
    let severity = match urgency {
        Urgency::Page => "critical",
        Urgency::Ticket => "warning",
    };
    LabelSet::free([
        ("alertname".to_owned(), alertname.to_owned()),
        ("service".to_owned(), service.to_owned()),
        ("slo".to_owned(), slo.to_owned()),
        ("objective".to_owned(), objective.to_string()),
        ("severity".to_owned(), severity.to_owned()),
        ("urgency".to_owned(), urgency.as_str().to_owned()),
    ])
}

fn held(service: &str, input: AlertInput, now: Timestamp) -> Option<Held> {
    // Burn alerts carry an end after their start, so none is refused.
    let alert = input.into_alert(now, SignedDuration::ZERO).ok()?;
    Some(Held::new(alert, service.to_owned()))
}

/// The burn alerts to send after an evaluation at `now`: every objective
/// still firing, refreshed until `now + ttl`, and every resolution among
/// `events`.
pub fn burn_alerts(
    catalog: &Catalog,
    statuses: &[ObjectiveStatus],
    events: &[AlertEvent],
    now: Timestamp,
    ttl: SignedDuration,
    external_url: &str,
) -> Vec<Held> {
    let link = |slo: &str| format!("{}/api/v1/slos/{slo}", external_url.trim_end_matches('/'));
    let until = now.saturating_add(ttl).unwrap_or(now);
    let mut out = Vec::new();
    for s in statuses {
        for &urgency in &s.firing {
            // The holding rule that burns fastest explains the alert.
            let rule = s
                .burn_rates
                .iter()
                .filter(|r| r.urgency == urgency && r.verdict.holds)
                .max_by(|a, b| {
                    a.verdict
                        .long_burn
                        .unwrap_or(0.0)
                        .total_cmp(&b.verdict.long_burn.unwrap_or(0.0))
                });
            let burn = rule.and_then(|r| r.verdict.long_burn).unwrap_or(0.0);
            let name = s.display_name.as_deref().unwrap_or(&s.slo);
            let mut annotations = vec![
                (
                    "summary".to_owned(),
                    format!(
                        "{name}: error budget burning {burn:.1}x too fast ({})",
                        urgency.as_str()
                    ),
                ),
                (
                    "description".to_owned(),
                    format!(
                        "{:.1} % of the error budget of {} is spent{}.",
                        s.budget.consumed_ratio() * 100.0,
                        s.slo,
                        rule.map(|r| format!(
                            "; rule {} holds (threshold {}x over {})",
                            r.rule,
                            r.threshold,
                            SignedDuration::from_secs(r.long_window_s)
                        ))
                        .unwrap_or_default()
                    ),
                ),
            ];
            // The same figures, one per annotation, for the channels to
            // show (and receivers to read) without parsing sentences.
            annotations.push(("burn_rate".to_owned(), format!("{burn:.1}x")));
            annotations.push((
                "budget_remaining".to_owned(),
                format!("{:.1} %", s.budget.remaining_ratio() * 100.0),
            ));
            if let Some(secs) =
                nines_core::budget::time_to_exhaustion(s.budget.remaining_ratio(), burn, s.period_s)
            {
                annotations.push((
                    "time_to_exhaustion".to_owned(),
                    format!("{:#}", SignedDuration::from_secs(secs.round() as i64)),
                ));
            }
            if let Some(runbook) = catalog
                .services
                .get(&s.service)
                .and_then(|svc| svc.runbook.clone())
            {
                annotations.push(("runbook_url".to_owned(), runbook));
            }
            let input = AlertInput {
                labels: labels(&s.slo, &s.service, s.objective, urgency),
                annotations: LabelSet::free(annotations),
                starts_at: None,
                ends_at: Some(until),
                generator_url: link(&s.slo),
                source: Source::Slo,
            };
            out.extend(held(&s.service, input, now));
        }
    }
    for e in events.iter().filter(|e| e.state == AlertState::Resolved) {
        let input = AlertInput {
            labels: labels(&e.slo, &e.service, e.objective, e.urgency),
            annotations: LabelSet::free([(
                "summary".to_owned(),
                format!("{}: error budget burn back under its thresholds", e.slo),
            )]),
            starts_at: None,
            ends_at: Some(now),
            generator_url: link(&e.slo),
            source: Source::Slo,
        };
        out.extend(held(&e.service, input, now));
    }
    out
}

/// The no-data alerts to send after an evaluation at `now`: every
/// objective still without data, refreshed until `now + ttl`, and every
/// resolution among `events`.
pub fn no_data_alerts(
    catalog: &Catalog,
    statuses: &[ObjectiveStatus],
    events: &[NoDataEvent],
    now: Timestamp,
    ttl: SignedDuration,
    external_url: &str,
) -> Vec<Held> {
    let link = |slo: &str| format!("{}/api/v1/slos/{slo}", external_url.trim_end_matches('/'));
    let until = now.saturating_add(ttl).unwrap_or(now);
    let mut out = Vec::new();
    for s in statuses {
        let Some(n) = s.no_data_alert.filter(|n| n.firing) else {
            continue;
        };
        let name = s.display_name.as_deref().unwrap_or(&s.slo);
        let window = human_window(n.rule.window_s);
        let since = n
            .since
            .map_or_else(|| "none in the history kept".to_owned(), |t| t.to_string());
        let cause = if n.pulled_empty {
            "its Prometheus query returns no series".to_owned()
        } else {
            format!("no event was counted in its shortest alert window ({window})")
        };
        let mut annotations = vec![
            (
                "summary".to_owned(),
                format!("{name}: no SLI data since {since}"),
            ),
            (
                "description".to_owned(),
                format!(
                    "{} has no data: {cause}. No data is neither good nor bad: the budget is not \
                     measured and burn-rate alerts cannot fire until events arrive again. Check \
                     that the SLI's source is up and still sends (or exports) it.",
                    s.slo
                ),
            ),
            ("no_data_since".to_owned(), since),
        ];
        if let Some(runbook) = catalog
            .services
            .get(&s.service)
            .and_then(|svc| svc.runbook.clone())
        {
            annotations.push(("runbook_url".to_owned(), runbook));
        }
        let input = AlertInput {
            labels: labels_named(
                NO_DATA_ALERTNAME,
                &s.slo,
                &s.service,
                s.objective,
                n.rule.urgency,
            ),
            annotations: LabelSet::free(annotations),
            starts_at: None,
            ends_at: Some(until),
            generator_url: link(&s.slo),
            source: Source::Slo,
        };
        out.extend(held(&s.service, input, now));
    }
    for e in events.iter().filter(|e| e.state == AlertState::Resolved) {
        let input = AlertInput {
            labels: labels_named(
                NO_DATA_ALERTNAME,
                &e.slo,
                &e.service,
                e.objective,
                e.status.rule.urgency,
            ),
            annotations: LabelSet::free([(
                "summary".to_owned(),
                format!("{}: SLI data arrives again", e.slo),
            )]),
            starts_at: None,
            ends_at: Some(now),
            generator_url: link(&e.slo),
            source: Source::Slo,
        };
        out.extend(held(&e.service, input, now));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nines_core::alerting::model::Severity;

    fn event(urgency: Urgency, state: AlertState) -> AlertEvent {
        AlertEvent {
            at: "2026-11-21T10:00:00Z".parse().unwrap(),
            slo: "api-availability".to_owned(),
            service: "api".to_owned(),
            objective: 0,
            urgency,
            state,
            rule: "slow-burn".to_owned(),
            long_window_s: 21_600,
            short_window_s: Some(1_800),
            long_burn: Some(0.5),
            short_burn: Some(0.2),
            threshold: 6.0,
            budget_consumed: 0.4,
            time_to_exhaustion_s: None,
        }
    }

    #[test]
    fn a_resolution_ends_the_same_alert_now() {
        let now: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
        let events = [
            event(Urgency::Ticket, AlertState::Resolved),
            // A firing event alone sends nothing: firing alerts come from
            // the objectives' status, refreshed at every evaluation.
            event(Urgency::Page, AlertState::Firing),
        ];
        let out = burn_alerts(
            &Catalog::default(),
            &[],
            &events,
            now,
            SignedDuration::from_mins(5),
            "http://nines:9093/",
        );
        assert_eq!(out.len(), 1);
        let a = &out[0].alert;
        assert_eq!(out[0].service, "api");
        assert_eq!(a.ends_at, now);
        assert!(a.resolved_at(now));
        assert_eq!(a.source, Source::Slo);
        assert_eq!(a.labels.get("severity"), Some("warning"));
        assert_eq!(
            Severity::from_label(a.labels.get("severity").unwrap()),
            Severity::Warning
        );
        assert_eq!(
            a.fingerprint,
            labels("api-availability", "api", 0, Urgency::Ticket).fingerprint(),
            "the resolution names the alert that fired"
        );
        assert_eq!(
            a.generator_url,
            "http://nines:9093/api/v1/slos/api-availability"
        );
    }
}
