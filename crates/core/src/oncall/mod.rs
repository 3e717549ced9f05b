//! On-call schedules: who answers a page at a given instant, and why.
//!
//! A [`Schedule`] stacks [`Layer`]s, as PagerDuty does: each layer is a
//! rotation (members taking turns of a fixed length on the schedule's wall
//! clock) or fixed shifts (an imported calendar), optionally restricted to
//! windows of the week; where several layers have someone, the last one
//! wins. [`Override`]s (someone covers a span) win over every layer, the
//! most recent one first. Everything is computed from the instants asked
//! about: there is no clock here.
//!
//! An [`EscalationPolicy`] says whom to notify about an incident, step
//! after step, resolving schedules through [`Schedule::on_call_at`];
//! [`SupportHours`] hold a low-urgency incident's notifications until a
//! service is supported.

pub mod escalation;
mod layer;
mod support;
#[cfg(test)]
mod tests;
mod zone;

use jiff::Timestamp;
use jiff::tz::TimeZone;

pub use escalation::{
    EscalationDelay, EscalationError, EscalationPolicy, EscalationRule, EscalationTarget, Gap,
    IncidentView, Plan, Progress, Recipient, Roster, Step, StepSpan, TargetMode, Urgency, Why,
};
pub use layer::{Coverage, FixedShift, Layer, Rotation, Turn, WEEK_MINUTES, Window};
pub use support::SupportHours;

use crate::model::Meta;

/// Why a schedule value could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OnCallError {
    #[error("a rotation needs at least one member")]
    NoMembers,
    #[error("a turn lasts from 1 hour to 366 days; {minutes} minute(s) is out of range")]
    TurnLength { minutes: i64 },
    #[error(
        "a window must end after it starts (minutes {from} to {to} of the week, Monday 00:00 = 0)"
    )]
    Window { from: u32, to: u32 },
    #[error("it ends ({end}) before it starts ({start})")]
    EndsBeforeStart { start: String, end: String },
}

/// Where an override comes from: the configuration (its position in the
/// schedule's `overrides`) or the store (its id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OverrideId {
    Config(usize),
    Stored(i64),
}

/// Someone covers a schedule for a span of time, whoever the layers name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    pub id: OverrideId,
    pub person: String,
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Override {
    pub fn new(
        id: OverrideId,
        person: String,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Override, OnCallError> {
        if end <= start {
            return Err(OnCallError::EndsBeforeStart {
                start: start.to_string(),
                end: end.to_string(),
            });
        }
        Ok(Override {
            id,
            person,
            start,
            end,
        })
    }

    fn covers(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }
}

/// Why a person is on call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Their turn in this layer (index in the schedule, and name).
    Layer { index: usize, name: String },
    /// An override names them.
    Override(OverrideId),
}

/// Who is on call, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnCall {
    pub person: String,
    pub reason: Reason,
}

/// A stretch `[start, end)` with one answer: a person (and why), or nobody.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shift {
    pub start: Timestamp,
    pub end: Timestamp,
    pub on_call: Option<OnCall>,
}

impl Shift {
    pub fn person(&self) -> Option<&str> {
        self.on_call.as_ref().map(|o| o.person.as_str())
    }
}

/// The moment the person on call changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handoff {
    pub at: Timestamp,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// An on-call schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub meta: Meta,
    /// The zone whose wall clock turns, handoffs and restrictions follow.
    pub zone: TimeZone,
    /// Its IANA name, as written.
    pub zone_name: String,
    /// The team this schedule answers for, if any.
    pub team: Option<String>,
    /// In precedence order: the last layer with someone on call wins.
    pub layers: Vec<Layer>,
    /// Overrides written in the configuration.
    pub overrides: Vec<Override>,
}

impl Schedule {
    /// Who is on call at `t`, and why. `extra` holds overrides beyond the
    /// configured ones (those recorded at run time), oldest first: among
    /// overrides covering `t`, the last one wins, then configured ones in
    /// reverse order, then the layers from the last.
    pub fn on_call_at(&self, t: Timestamp, extra: &[Override]) -> Option<OnCall> {
        if let Some(o) = self
            .overrides
            .iter()
            .chain(extra)
            .rev()
            .find(|o| o.covers(t))
        {
            return Some(OnCall {
                person: o.person.clone(),
                reason: Reason::Override(o.id),
            });
        }
        self.layers
            .iter()
            .enumerate()
            .rev()
            .find_map(|(index, layer)| {
                layer.on_call_at(&self.zone, t).map(|person| OnCall {
                    person: person.to_owned(),
                    reason: Reason::Layer {
                        index,
                        name: layer.name.clone(),
                    },
                })
            })
    }

    /// The final schedule over `[from, until)`: shifts that tile the span
    /// without gaps or overlaps (a stretch with nobody on call is a shift
    /// with no one), each as long as its answer stays the same.
    pub fn shifts(&self, from: Timestamp, until: Timestamp, extra: &[Override]) -> Vec<Shift> {
        if until <= from {
            return Vec::new();
        }
        let mut points = vec![from];
        for layer in &self.layers {
            layer.breakpoints(&self.zone, from, until, &mut points);
        }
        for o in self.overrides.iter().chain(extra) {
            for t in [o.start, o.end] {
                if from < t && t < until {
                    points.push(t);
                }
            }
        }
        points.sort_unstable();
        points.dedup();
        let mut out: Vec<Shift> = Vec::new();
        for (i, &start) in points.iter().enumerate() {
            let end = points.get(i + 1).copied().unwrap_or(until);
            let on_call = self.on_call_at(start, extra);
            match out.last_mut() {
                Some(last) if last.on_call == on_call => last.end = end,
                _ => out.push(Shift {
                    start,
                    end,
                    on_call,
                }),
            }
        }
        out
    }

    /// The handoffs in `(from, until)`: every instant the person on call
    /// changes (to someone, or to nobody).
    pub fn handoffs(&self, from: Timestamp, until: Timestamp, extra: &[Override]) -> Vec<Handoff> {
        let shifts = self.shifts(from, until, extra);
        shifts
            .windows(2)
            .filter(|w| w[0].person() != w[1].person())
            .map(|w| Handoff {
                at: w[1].start,
                from: w[0].person().map(str::to_owned),
                to: w[1].person().map(str::to_owned),
            })
            .collect()
    }

    /// Every person the schedule can put on call, configured overrides
    /// included, each once.
    pub fn people(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .layers
            .iter()
            .flat_map(Layer::people)
            .chain(self.overrides.iter().map(|o| o.person.as_str()))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}
