//! Runs the real engine over a scenario on a simulated clock: thirty days of
//! traffic, evaluated once a step, in seconds of real time.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};

use crate::engine::{AlertEvent, Engine, IngestError, ObjectiveStatus, Observation};
use crate::model::Catalog;

/// Traffic for one SLI over `[from_s, to_s)` seconds from the scenario start.
#[derive(Clone, Debug, PartialEq)]
pub struct Phase {
    pub sli: String,
    pub from_s: i64,
    pub to_s: i64,
    /// Requests per second.
    pub rate: f64,
    pub shape: Shape,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    /// A share of requests that fail.
    ErrorRatio(f64),
    /// Latencies, log-normal, by median and 99th percentile in ms.
    Latency { median_ms: f64, p99_ms: f64 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Maintenance {
    pub services: BTreeSet<String>,
    pub from_s: i64,
    pub to_s: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub start: Timestamp,
    pub duration_s: i64,
    /// Evaluation step; one minute unless said otherwise.
    pub step_s: i64,
    pub phases: Vec<Phase>,
    pub maintenance: Vec<Maintenance>,
}

/// An alert event, timed from the scenario's start.
#[derive(Clone, Debug, PartialEq)]
pub struct TimedEvent {
    pub at_s: i64,
    pub event: AlertEvent,
}

#[derive(Debug)]
pub struct Outcome {
    pub events: Vec<TimedEvent>,
    pub end: Vec<ObjectiveStatus>,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SimulateError {
    #[error("the scenario feeds SLI `{0}`, which no SLO in the configuration uses")]
    UnknownSli(String),
    #[error("{0}")]
    Ingest(#[from] IngestError),
}

/// Runs `scenario` through a fresh engine built from `catalog`. Traffic is
/// fed minute by minute (the engine's bucket size), from the earliest phase
/// (which may start before zero, to give the windows a history), and the
/// engine is evaluated every step from zero to the scenario's end.
pub fn run(catalog: &Catalog, scenario: &Scenario) -> Result<Outcome, SimulateError> {
    let mut engine = Engine::new(catalog);
    for p in &scenario.phases {
        if !engine.knows_sli(&p.sli) {
            return Err(SimulateError::UnknownSli(p.sli.clone()));
        }
    }
    let at = |s: i64| {
        scenario
            .start
            .checked_add(SignedDuration::from_secs(s))
            .unwrap_or(scenario.start)
    };
    let service_of = |sli: &str| -> BTreeSet<String> {
        catalog
            .slos
            .values()
            .filter(|slo| {
                slo.indicator.as_ref().is_some_and(|i| i.meta.name == sli)
                    || slo
                        .objectives
                        .iter()
                        .any(|o| o.indicator.as_ref().is_some_and(|i| i.meta.name == sli))
            })
            .map(|slo| slo.service.clone())
            .collect()
    };
    let services: Vec<BTreeSet<String>> =
        scenario.phases.iter().map(|p| service_of(&p.sli)).collect();
    let first = scenario
        .phases
        .iter()
        .map(|p| p.from_s)
        .min()
        .unwrap_or(0)
        .min(0);
    let step = scenario.step_s.max(60);
    let mut events = Vec::new();
    let mut minute_start = first.div_euclid(60) * 60;
    let mut next_eval = step;
    while minute_start < scenario.duration_s {
        let minute_end = minute_start + 60;
        let now = at(minute_end);
        for (p, svcs) in scenario.phases.iter().zip(&services) {
            let overlap = (p.to_s.min(minute_end) - p.from_s.max(minute_start)).max(0);
            if overlap == 0 || p.rate <= 0.0 {
                continue;
            }
            let count = p.rate * overlap as f64;
            let obs = match p.shape {
                Shape::ErrorRatio(e) => Observation::Counts {
                    good: count * (1.0 - e),
                    total: count,
                },
                Shape::Latency { median_ms, p99_ms } => Observation::Lognormal {
                    count,
                    median: median_ms,
                    p99: p99_ms,
                },
            };
            let in_maintenance = scenario.maintenance.iter().any(|m| {
                m.from_s <= minute_start && minute_start < m.to_s && !m.services.is_disjoint(svcs)
            });
            engine.record(&p.sli, at(minute_start), obs, in_maintenance, now)?;
        }
        if minute_end >= next_eval {
            for event in engine.evaluate(now) {
                events.push(TimedEvent {
                    at_s: minute_end,
                    event,
                });
            }
            next_eval += step;
        }
        minute_start = minute_end;
    }
    Ok(Outcome {
        events,
        end: engine.status(at(scenario.duration_s)),
    })
}
