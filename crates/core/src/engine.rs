//! The SLO engine: SLI data in, budgets, burn rates and alert state changes
//! out. It holds one bucket series per SLO objective and never reads the
//! clock: every call says what time it is.

use std::collections::BTreeMap;

use jiff::{Span, Timestamp, Zoned};

use crate::availability::Target;
use crate::budget::{ErrorBudget, time_to_exhaustion};
use crate::burn::{BurnRule, Urgency, Verdict, default_rules, rules_from_policies};
use crate::duration::{DurationShorthand, DurationUnit};
use crate::model::{AlertPolicy, BudgetingMethod, Catalog, Op, SliMetric, TimeWindow};
use crate::series::{Counts, Minute, Series, SeriesError, minute_of, window_minutes};

/// The annotation an SLO sets to leave maintenance windows out of its
/// budget. Counting them is the default: "99.99 % excluding scheduled
/// maintenance" flatters a service. Both figures are always reported.
pub const MAINTENANCE_ANNOTATION: &str = "nines/maintenance";

/// How far ahead of "now" data may be stamped (clock skew between senders).
pub const MAX_FUTURE_S: i64 = 5 * 60;

/// What one observation adds to one objective's series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Increment {
    pub series: usize,
    pub minute: Minute,
    pub counts: Counts,
}

/// One piece of SLI data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Observation {
    /// Counts of good and total events.
    Counts { good: f64, total: f64 },
    /// One event that succeeded or failed.
    Success(bool),
    /// One measured value (a latency in ms), judged by each threshold
    /// objective's `op` and `value`.
    Value(f64),
    /// `count` values drawn from a log-normal distribution with this median
    /// and 99th percentile; each threshold objective counts the expected
    /// share that meets it. Used by simulations, where a latency profile is
    /// easier to state than individual values.
    Lognormal { count: f64, median: f64, p99: f64 },
}

/// The share of a log-normal distribution (given by its median and 99th
/// percentile) for which `value op limit` holds.
pub fn share_meeting(op: Op, limit: f64, median: f64, p99: f64) -> f64 {
    if median <= 0.0 || limit <= 0.0 {
        return if op.holds(median.max(0.0), limit) {
            1.0
        } else {
            0.0
        };
    }
    // z of the 99th percentile of the standard normal distribution.
    let sigma = ((p99 / median).ln() / 2.326_347_874).max(1e-9);
    let below = normal_cdf((limit.ln() - median.ln()) / sigma);
    match op {
        Op::Lt | Op::Lte => below,
        Op::Gt | Op::Gte => 1.0 - below,
    }
}

fn normal_cdf(z: f64) -> f64 {
    0.5 * (1.0 + erf(z / std::f64::consts::SQRT_2))
}

/// Abramowitz and Stegun 7.1.26: absolute error below 1.5e-7.
fn erf(x: f64) -> f64 {
    let sign = x.signum();
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    sign * (1.0 - poly * (-x * x).exp())
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum IngestError {
    #[error("no SLO uses an SLI named `{0}`")]
    UnknownSli(String),
    #[error(
        "SLI `{0}` is a ratio SLI: send good/total counts or success flags, not measured values"
    )]
    ValueForRatio(String),
    #[error(
        "timestamp {at} is older than the {window} window of SLO `{slo}`: data that old no longer counts"
    )]
    TooOld {
        at: Timestamp,
        slo: String,
        window: String,
    },
    #[error("timestamp {at} is more than {} minutes in the future (now is {now})", MAX_FUTURE_S / 60)]
    InFuture { at: Timestamp, now: Timestamp },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertState {
    Firing,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }
}

/// An alert changing state, with what caused it.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertEvent {
    pub at: Timestamp,
    pub slo: String,
    pub service: String,
    pub objective: usize,
    pub urgency: Urgency,
    pub state: AlertState,
    /// The rule that decided: the holding rule with the highest burn when
    /// firing, the last one that held when resolving.
    pub rule: String,
    pub long_window_s: i64,
    pub short_window_s: Option<i64>,
    pub long_burn: Option<f64>,
    pub short_burn: Option<f64>,
    pub threshold: f64,
    /// Share of the SLO window's budget spent at this moment.
    pub budget_consumed: f64,
    /// Seconds until the budget is gone at the long window's burn rate.
    pub time_to_exhaustion_s: Option<f64>,
}

/// Everything known about one objective at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectiveStatus {
    pub slo: String,
    pub service: String,
    pub objective: usize,
    pub display_name: Option<String>,
    pub target: Target,
    pub method: BudgetingMethod,
    pub window_start: Timestamp,
    pub window_end: Timestamp,
    /// The figures the SLO's policy uses (maintenance counted or not).
    pub budget: ErrorBudget,
    pub with_maintenance: ErrorBudget,
    pub without_maintenance: ErrorBudget,
    pub excludes_maintenance: bool,
    pub burn_rates: Vec<RuleStatus>,
    pub firing: Vec<Urgency>,
    pub no_data: bool,
    /// For an SLO whose alert policy asks for it (`alertWhenNoData`):
    /// whether it is without data and its no-data alert firing.
    pub no_data_alert: Option<NoDataStatus>,
    pub period_s: f64,
}

/// An objective's no-data alert, asked for by an OpenSLO alert policy's
/// `alertWhenNoData`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoDataRule {
    /// The SLO's shortest alert window: no event in it is "no data".
    pub window_s: i64,
    /// A ticket, unless a condition of a policy that asks for the alert
    /// says page.
    pub urgency: Urgency,
}

/// Where an objective with a [`NoDataRule`] stands at one moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoDataStatus {
    pub rule: NoDataRule,
    /// No event counted in the rule's window, or the SLI's pull found
    /// nothing at its last attempt.
    pub silent: bool,
    /// Whether the alert is firing: from the first evaluation that finds
    /// the objective silent to the first that finds data again.
    pub firing: bool,
    /// Since when there has been no data: the end of the last minute that
    /// held events, or the first of the pulls that found nothing; `None`
    /// when the history kept holds no event at all.
    pub since: Option<Timestamp>,
    /// The SLI's Prometheus pull found nothing (rather than no event
    /// arriving).
    pub pulled_empty: bool,
}

/// A no-data alert changing state.
#[derive(Clone, Debug, PartialEq)]
pub struct NoDataEvent {
    pub at: Timestamp,
    pub slo: String,
    pub service: String,
    pub objective: usize,
    pub state: AlertState,
    pub status: NoDataStatus,
}

/// What one evaluation pass changed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evaluation {
    pub burn: Vec<AlertEvent>,
    pub no_data: Vec<NoDataEvent>,
}

/// The no-data rule of an objective with these policies and burn rules,
/// if any policy asks for one.
fn no_data_rule(policies: &[AlertPolicy], rules: &[BurnRule]) -> Option<NoDataRule> {
    let asking: Vec<&AlertPolicy> = policies.iter().filter(|p| p.alert_when_no_data).collect();
    if asking.is_empty() {
        return None;
    }
    let window_s = rules
        .iter()
        .map(|r| r.short_s.unwrap_or(r.long_s))
        .min()
        .unwrap_or(300)
        .max(60);
    let pages = asking
        .iter()
        .flat_map(|p| &p.conditions)
        .any(|c| Urgency::from_severity(&c.severity) == Urgency::Page);
    Some(NoDataRule {
        window_s,
        urgency: if pages {
            Urgency::Page
        } else {
            Urgency::Ticket
        },
    })
}

#[derive(Clone, Debug, PartialEq)]
pub struct RuleStatus {
    pub rule: String,
    pub urgency: Urgency,
    pub long_window_s: i64,
    pub short_window_s: Option<i64>,
    pub threshold: f64,
    pub verdict: Verdict,
}

#[derive(Clone, Debug, Default)]
struct Alert {
    firing: Option<String>,
    pending_since: Option<Timestamp>,
}

#[derive(Clone, Debug)]
struct Objective {
    slo: String,
    service: String,
    index: usize,
    display_name: Option<String>,
    target: Target,
    method: BudgetingMethod,
    window: TimeWindow,
    /// For threshold SLIs: how a measured value is judged.
    threshold: Option<(Op, f64)>,
    time_slice_target: f64,
    time_slice_minutes: i64,
    excludes_maintenance: bool,
    all: Series,
    outside_maintenance: Series,
    /// For time-slice budgeting: one entry per slice, at the slice's first
    /// minute, holding (good slices or summed slice ratios, slices). Kept up
    /// to date as data arrives, so windows are sums, not rescans.
    slices_all: Series,
    slices_outside: Series,
    rules: Vec<BurnRule>,
    alerts: BTreeMap<Urgency, Alert>,
    no_data_rule: Option<NoDataRule>,
    /// Since when the SLI's pull has found nothing, as the edge says.
    pull_empty_since: Option<Timestamp>,
    no_data_firing: bool,
}

/// Plans the increments of one batch (see [`Engine::planner`]).
pub struct Planner<'a> {
    engine: &'a Engine,
    now: Timestamp,
    /// The SLIs seen in this batch, most recent first: a batch names few.
    slis: Vec<PlannedSli<'a>>,
}

struct PlannedSli<'a> {
    name: &'a str,
    ids: &'a [usize],
    /// The oldest second each objective accepts (as `ids`), and the
    /// latest of them.
    limits: Vec<i64>,
    oldest: i64,
    all_thresholds: bool,
}

impl<'a> Planner<'a> {
    fn sli(&mut self, sli: &str) -> Result<usize, IngestError> {
        if let Some(i) = self.slis.iter().position(|p| p.name == sli) {
            return Ok(i);
        }
        let (name, ids) = self
            .engine
            .by_sli
            .get_key_value(sli)
            .ok_or_else(|| IngestError::UnknownSli(sli.to_owned()))?;
        let now = self.now;
        let limits: Vec<i64> = ids
            .iter()
            .map(|&i| {
                let o = &self.engine.objectives[i];
                let (start, _, _) = o.window_at(now);
                start
                    .as_second()
                    .min(now.as_second() - o.retention_minutes() * 60 + 3600)
            })
            .collect();
        let oldest = limits.iter().copied().max().unwrap_or(i64::MIN);
        let all_thresholds = ids
            .iter()
            .all(|&i| self.engine.objectives[i].threshold.is_some());
        self.slis.push(PlannedSli {
            name,
            ids,
            limits,
            oldest,
            all_thresholds,
        });
        Ok(self.slis.len() - 1)
    }

    /// Checks an observation as [`Engine::check`] does and appends its
    /// increments to `out`.
    pub fn plan(
        &mut self,
        sli: &str,
        at: Timestamp,
        obs: Observation,
        out: &mut Vec<Increment>,
    ) -> Result<(), IngestError> {
        let p = self.sli(sli)?;
        let p = &self.slis[p];
        let engine = self.engine;
        if at.as_second() > self.now.as_second() + MAX_FUTURE_S {
            return Err(IngestError::InFuture { at, now: self.now });
        }
        if matches!(obs, Observation::Value(_) | Observation::Lognormal { .. }) && !p.all_thresholds
        {
            return Err(IngestError::ValueForRatio(sli.to_owned()));
        }
        if at.as_second() < p.oldest {
            // The first objective that refuses it, as `Engine::check` says.
            let first = p
                .ids
                .iter()
                .zip(&p.limits)
                .find(|(_, limit)| at.as_second() < **limit)
                .map_or(0, |(i, _)| *i);
            let o = &engine.objectives[first];
            return Err(IngestError::TooOld {
                at,
                slo: o.slo.clone(),
                window: window_label(&o.window),
            });
        }
        let minute = minute_of(at);
        out.extend(p.ids.iter().map(|&series| Increment {
            series,
            minute,
            counts: engine.objectives[series].judge(obs),
        }));
        Ok(())
    }
}

pub struct Engine {
    objectives: Vec<Objective>,
    by_sli: BTreeMap<String, Vec<usize>>,
}

fn fixed_seconds(d: DurationShorthand) -> i64 {
    d.seconds().unwrap_or(0) as i64
}

fn calendar_span(d: DurationShorthand, k: i64) -> Span {
    let n = i64::from(d.count()) * k;
    match d.unit() {
        DurationUnit::Second => Span::new().seconds(n),
        DurationUnit::Minute => Span::new().minutes(n),
        DurationUnit::Hour => Span::new().hours(n),
        DurationUnit::Day => Span::new().days(n),
        DurationUnit::Week => Span::new().weeks(n),
        DurationUnit::Month => Span::new().months(n),
        DurationUnit::Quarter => Span::new().months(3 * n),
        DurationUnit::Year => Span::new().years(n),
    }
}

/// The calendar period holding `t`: periods start at `start` in `tz` and
/// repeat every `length`, in local time (a month is a calendar month, a day
/// follows daylight saving).
fn calendar_period(
    start: jiff::civil::DateTime,
    tz: &str,
    length: DurationShorthand,
    t: Timestamp,
) -> (Timestamp, Timestamp) {
    let zone = jiff::tz::TimeZone::get(tz).unwrap_or(jiff::tz::TimeZone::UTC);
    let Ok(origin) = start.to_zoned(zone) else {
        return (t, t);
    };
    let count = i64::from(length.count()).max(1);
    let mut k = match length.unit() {
        // Whole months between the origin and `t`, in the zone's calendar:
        // a month-long estimate in seconds drifts by days over the decades.
        DurationUnit::Month | DurationUnit::Quarter | DurationUnit::Year => {
            let local = t.to_zoned(origin.time_zone().clone());
            let months = (i64::from(local.year()) - i64::from(origin.year())) * 12
                + i64::from(local.month())
                - i64::from(origin.month());
            let per = match length.unit() {
                DurationUnit::Month => 1,
                DurationUnit::Quarter => 3,
                _ => 12,
            } * count;
            months.div_euclid(per)
        }
        unit => {
            let secs = fixed_seconds(DurationShorthand::new(1, unit).unwrap_or(length)) * count;
            (t.as_second() - origin.timestamp().as_second()).div_euclid(secs.max(1))
        }
    };
    let at = |k: i64| -> Option<Zoned> { origin.checked_add(calendar_span(length, k)).ok() };
    // The estimate is off by at most one or two periods; walk to the exact one.
    for _ in 0..8 {
        match (at(k), at(k + 1)) {
            (Some(a), _) if a.timestamp() > t => k -= 1,
            (_, Some(b)) if b.timestamp() <= t => k += 1,
            (Some(a), Some(b)) => return (a.timestamp(), b.timestamp()),
            _ => break,
        }
    }
    (t, t)
}

impl Objective {
    /// The SLO window at `t`: `[start, end)` and the period's length.
    /// What an observation counts for this objective.
    fn judge(&self, obs: Observation) -> Counts {
        let (op, limit) = self.threshold.unwrap_or((Op::Lte, f64::INFINITY));
        match obs {
            Observation::Counts { good, total } => Counts::new(good, total),
            Observation::Success(ok) => Counts::new(f64::from(u8::from(ok)), 1.0),
            Observation::Value(v) => Counts::new(f64::from(u8::from(op.holds(v, limit))), 1.0),
            Observation::Lognormal { count, median, p99 } => {
                Counts::new(count * share_meeting(op, limit, median, p99), count)
            }
        }
    }

    fn window_at(&self, t: Timestamp) -> (Timestamp, Timestamp, f64) {
        match &self.window {
            TimeWindow::Rolling(d) => {
                let len = fixed_seconds(*d);
                let start = t
                    .checked_sub(jiff::SignedDuration::from_secs(len))
                    .unwrap_or(t);
                (start, t, len as f64)
            }
            TimeWindow::Calendar {
                length,
                start,
                time_zone,
            } => {
                let (a, b) = calendar_period(*start, time_zone, *length, t);
                (a, t, (b.as_second() - a.as_second()) as f64)
            }
        }
    }

    fn series(&self, excluding_maintenance: bool) -> &Series {
        if excluding_maintenance {
            &self.outside_maintenance
        } else {
            &self.all
        }
    }

    /// Good and total over minutes `[from, to)`, in the unit the budgeting
    /// method counts: events, good time slices, or summed slice ratios. A
    /// slice counts when its first minute is in the range.
    fn counts(&self, excluding_maintenance: bool, from: Minute, to: Minute) -> Counts {
        match self.method {
            BudgetingMethod::Occurrences => self.series(excluding_maintenance).sum(from, to),
            BudgetingMethod::Timeslices | BudgetingMethod::RatioTimeslices => {
                let slices = if excluding_maintenance {
                    &self.slices_outside
                } else {
                    &self.slices_all
                };
                let width = self.time_slice_minutes;
                let first = from.div_euclid(width) * width;
                let first = if first < from { first + width } else { first };
                slices.sum(first, to)
            }
        }
    }

    /// What one slice contributes, given the counts in it.
    fn slice_value(&self, c: Counts) -> Counts {
        match c.ratio() {
            None => Counts::ZERO,
            Some(r) => {
                let good = match self.method {
                    BudgetingMethod::RatioTimeslices => r,
                    _ => f64::from(u8::from(r >= self.time_slice_target)),
                };
                Counts::new(good, 1.0)
            }
        }
    }

    /// Adds counts to one minute of the raw series and keeps the slice
    /// series in step: the slice's old contribution is replaced by its new one.
    fn add(
        &mut self,
        minute: Minute,
        c: Counts,
        excluding_maintenance: bool,
    ) -> Result<(), SeriesError> {
        let timeslices = self.method != BudgetingMethod::Occurrences;
        let width = self.time_slice_minutes;
        let slice = minute.div_euclid(width) * width;
        let before = if timeslices {
            self.series(excluding_maintenance).sum(slice, slice + width)
        } else {
            Counts::ZERO
        };
        if excluding_maintenance {
            self.outside_maintenance.add(minute, c)?;
        } else {
            self.all.add(minute, c)?;
        }
        if timeslices {
            let after = self.series(excluding_maintenance).sum(slice, slice + width);
            let old = self.slice_value(before);
            let new = self.slice_value(after);
            let delta = Counts::new(new.good - old.good, new.total - old.total);
            let slices = if excluding_maintenance {
                &mut self.slices_outside
            } else {
                &mut self.slices_all
            };
            slices.add(slice, delta)?;
        }
        Ok(())
    }

    fn rolling(&self, excluding_maintenance: bool, t: Timestamp, length_s: i64) -> Counts {
        let (from, to) = window_minutes(t, length_s);
        self.counts(excluding_maintenance, from, to)
    }

    fn budget(&self, excluding_maintenance: bool, t: Timestamp) -> ErrorBudget {
        let (start, end, _) = self.window_at(t);
        let from = minute_of(start) + i64::from(start.as_second().rem_euclid(60) != 0);
        let to = window_minutes(end, 60).1;
        ErrorBudget::new(self.target, self.counts(excluding_maintenance, from, to))
    }

    /// Whether the objective is without data at `t`, for its no-data rule.
    fn no_data(&self, t: Timestamp) -> Option<NoDataStatus> {
        let rule = self.no_data_rule?;
        let (silent, since, pulled_empty) = match self.pull_empty_since {
            Some(since) => (true, Some(since), true),
            None => {
                // Maintenance or not, data is data: the full series.
                let (from, to) = window_minutes(t, rule.window_s);
                let silent = self.all.sum(from, to).total <= 0.0;
                let since = silent
                    .then(|| self.all.last_with_data(to))
                    .flatten()
                    .and_then(|m| Timestamp::from_second((m + 1) * 60).ok());
                (silent, since, false)
            }
        };
        Some(NoDataStatus {
            rule,
            silent,
            firing: self.no_data_firing,
            since,
            pulled_empty,
        })
    }

    /// What one rule sees at `t`.
    fn verdict(&self, r: &BurnRule, excluding_maintenance: bool, t: Timestamp) -> Verdict {
        let long = self.rolling(excluding_maintenance, t, r.long_s);
        let short = r.short_s.map(|s| self.rolling(excluding_maintenance, t, s));
        r.judge(self.target, long, short)
    }

    fn rule_status(&self, t: Timestamp) -> Vec<RuleStatus> {
        let ex = self.excludes_maintenance;
        self.rules
            .iter()
            .map(|r| RuleStatus {
                rule: r.name.clone(),
                urgency: r.urgency,
                long_window_s: r.long_s,
                short_window_s: r.short_s,
                threshold: r.threshold,
                verdict: self.verdict(r, ex, t),
            })
            .collect()
    }

    fn status(&self, t: Timestamp) -> ObjectiveStatus {
        let (start, end, period_s) = self.window_at(t);
        let with_maintenance = self.budget(false, t);
        let without_maintenance = self.budget(true, t);
        let budget = if self.excludes_maintenance {
            without_maintenance
        } else {
            with_maintenance
        };
        ObjectiveStatus {
            slo: self.slo.clone(),
            service: self.service.clone(),
            objective: self.index,
            display_name: self.display_name.clone(),
            target: self.target,
            method: self.method,
            window_start: start,
            window_end: end,
            budget,
            with_maintenance,
            without_maintenance,
            excludes_maintenance: self.excludes_maintenance,
            burn_rates: self.rule_status(t),
            firing: self
                .alerts
                .iter()
                .filter(|(_, a)| a.firing.is_some())
                .map(|(u, _)| *u)
                .collect(),
            no_data: budget.counts.total <= 0.0,
            no_data_alert: self.no_data(t),
            period_s,
        }
    }

    fn retention_minutes(&self) -> i64 {
        let window_s = match &self.window {
            TimeWindow::Rolling(d) => fixed_seconds(*d),
            TimeWindow::Calendar { length, .. } => {
                let unit_s = match length.unit() {
                    DurationUnit::Month => 31 * 86_400,
                    DurationUnit::Quarter => 92 * 86_400,
                    DurationUnit::Year => 366 * 86_400,
                    _ => fixed_seconds(DurationShorthand::new(1, length.unit()).unwrap_or(*length)),
                };
                unit_s * i64::from(length.count())
            }
        };
        let longest_rule = self.rules.iter().map(|r| r.long_s).max().unwrap_or(0);
        window_s.max(longest_rule) / 60 + 60
    }
}

impl Engine {
    /// One objective per SLO objective in the catalog, with the SLO's
    /// OpenSLO alert policies, or the Workbook defaults when it has none.
    pub fn new(catalog: &Catalog) -> Engine {
        let mut objectives = Vec::new();
        let mut by_sli: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for slo in catalog.slos.values() {
            let excludes_maintenance = slo
                .meta
                .annotations
                .get(MAINTENANCE_ANNOTATION)
                .is_some_and(|v| v == "exclude");
            for (index, o) in slo.objectives.iter().enumerate() {
                let Some(sli) = o.indicator.as_ref().or(slo.indicator.as_ref()) else {
                    continue;
                };
                let threshold = match (&sli.metric, o.op, o.value) {
                    (SliMetric::Threshold(_), Some(op), Some(v)) => Some((op, v)),
                    _ => None,
                };
                let mut objective = Objective {
                    slo: slo.meta.name.clone(),
                    service: slo.service.clone(),
                    index,
                    display_name: o.display_name.clone(),
                    target: o.target,
                    method: slo.budgeting_method,
                    window: slo.time_window.clone(),
                    threshold,
                    time_slice_target: o.time_slice_target.unwrap_or(o.target.ratio()),
                    time_slice_minutes: o
                        .time_slice_window
                        .and_then(|d| d.seconds())
                        .map_or(1, |s| (s as i64 / 60).max(1)),
                    excludes_maintenance,
                    all: Series::new(0),
                    outside_maintenance: Series::new(0),
                    slices_all: Series::new(0),
                    slices_outside: Series::new(0),
                    rules: Vec::new(),
                    alerts: BTreeMap::new(),
                    no_data_rule: None,
                    pull_empty_since: None,
                    no_data_firing: false,
                };
                let period_s = nominal_seconds(&objective.window);
                objective.rules = if slo.alert_policies.is_empty() {
                    default_rules(period_s.max(3600))
                } else {
                    rules_from_policies(&slo.alert_policies)
                };
                objective.no_data_rule = no_data_rule(&slo.alert_policies, &objective.rules);
                let retention = objective.retention_minutes();
                objective.all = Series::new(retention);
                objective.outside_maintenance = Series::new(retention);
                objective.slices_all = Series::new(retention);
                objective.slices_outside = Series::new(retention);
                by_sli
                    .entry(sli.meta.name.clone())
                    .or_default()
                    .push(objectives.len());
                objectives.push(objective);
            }
        }
        Engine { objectives, by_sli }
    }

    pub fn knows_sli(&self, sli: &str) -> bool {
        self.by_sli.contains_key(sli)
    }

    /// Whether `sli` is judged by thresholds (send measured values) rather
    /// than counted (send good/total or success flags).
    pub fn sli_takes_values(&self, sli: &str) -> bool {
        self.by_sli
            .get(sli)
            .is_some_and(|ids| ids.iter().all(|&i| self.objectives[i].threshold.is_some()))
    }

    /// The measured value limits of a threshold SLI's objectives.
    pub fn sli_thresholds(&self, sli: &str) -> Vec<(Op, f64)> {
        self.by_sli
            .get(sli)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.objectives[i].threshold)
            .collect()
    }

    pub fn sli_names(&self) -> impl Iterator<Item = &str> {
        self.by_sli.keys().map(String::as_str)
    }

    /// Checks an observation without recording it, so that a batch can be
    /// refused whole before any of it counts.
    pub fn check(
        &self,
        sli: &str,
        at: Timestamp,
        obs: Observation,
        now: Timestamp,
    ) -> Result<(), IngestError> {
        let ids = self
            .by_sli
            .get(sli)
            .ok_or_else(|| IngestError::UnknownSli(sli.to_owned()))?;
        if at.as_second() > now.as_second() + MAX_FUTURE_S {
            return Err(IngestError::InFuture { at, now });
        }
        for &i in ids {
            let o = &self.objectives[i];
            if matches!(obs, Observation::Value(_) | Observation::Lognormal { .. })
                && o.threshold.is_none()
            {
                return Err(IngestError::ValueForRatio(sli.to_owned()));
            }
            let (start, _, _) = o.window_at(now);
            let oldest = start
                .as_second()
                .min(now.as_second() - o.retention_minutes() * 60 + 3600);
            if at.as_second() < oldest {
                return Err(IngestError::TooOld {
                    at,
                    slo: o.slo.clone(),
                    window: window_label(&o.window),
                });
            }
        }
        Ok(())
    }

    /// What an observation adds to each objective fed by `sli`, checked
    /// and judged but not applied: a caller can store the increments first
    /// and apply them once they are durable, or refuse a whole batch.
    pub fn plan(
        &self,
        sli: &str,
        at: Timestamp,
        obs: Observation,
        now: Timestamp,
    ) -> Result<Vec<Increment>, IngestError> {
        self.check(sli, at, obs, now)?;
        let minute = minute_of(at);
        let ids = self.by_sli.get(sli).map(Vec::as_slice).unwrap_or_default();
        Ok(ids
            .iter()
            .map(|&series| Increment {
                series,
                minute,
                counts: self.objectives[series].judge(obs),
            })
            .collect())
    }

    /// A planner for one batch judged at `now`: what [`Engine::plan`] does,
    /// with each SLI's objectives and oldest accepted time worked out once
    /// per batch instead of once per event.
    pub fn planner(&self, now: Timestamp) -> Planner<'_> {
        Planner {
            engine: self,
            now,
            slis: Vec::new(),
        }
    }

    /// Adds a planned (or stored) increment. Increments made during a
    /// maintenance window count in the figures with maintenance only.
    pub fn apply(&mut self, inc: &Increment, in_maintenance: bool) -> Result<(), IngestError> {
        let Some(o) = self.objectives.get_mut(inc.series) else {
            return Ok(());
        };
        let (slo, window) = (o.slo.clone(), window_label(&o.window));
        let at = Timestamp::from_second(inc.minute * 60).unwrap_or(Timestamp::UNIX_EPOCH);
        let too_old = |_: SeriesError| IngestError::TooOld { at, slo, window };
        o.add(inc.minute, inc.counts, false)
            .map_err(too_old.clone())?;
        if !in_maintenance {
            o.add(inc.minute, inc.counts, true).map_err(too_old)?;
        }
        Ok(())
    }

    /// Records an observation for every objective whose indicator is `sli`.
    pub fn record(
        &mut self,
        sli: &str,
        at: Timestamp,
        obs: Observation,
        in_maintenance: bool,
        now: Timestamp,
    ) -> Result<(), IngestError> {
        for inc in self.plan(sli, at, obs, now)? {
            self.apply(&inc, in_maintenance)?;
        }
        Ok(())
    }

    /// The stable name of a series, `slo/objective`, under which its buckets
    /// are stored: it survives reloads as long as the SLO keeps its name.
    pub fn series_key(&self, series: usize) -> String {
        let o = &self.objectives[series];
        format!("{}/{}", o.slo, o.index)
    }

    /// The series a stored key names in this configuration, if any.
    pub fn series_index(&self, key: &str) -> Option<usize> {
        let (slo, index) = key.rsplit_once('/')?;
        let index: usize = index.parse().ok()?;
        self.objectives
            .iter()
            .position(|o| o.slo == slo && o.index == index)
    }

    /// How far back each series keeps data, in minutes: the longest of them
    /// bounds what must be reloaded from the store at start-up.
    pub fn max_retention_minutes(&self) -> i64 {
        self.objectives
            .iter()
            .map(Objective::retention_minutes)
            .max()
            .unwrap_or(0)
    }

    /// Evaluates every rule at `now` and returns the burn-rate alerts that
    /// changed state (see [`Engine::evaluate_all`] for no-data alerts too).
    pub fn evaluate(&mut self, now: Timestamp) -> Vec<AlertEvent> {
        self.evaluate_all(now).burn
    }

    /// Says that the pull of `sli` has found nothing since `since`, or,
    /// with `None`, that it finds data (or that it is not pulled).
    pub fn set_pull_empty(&mut self, sli: &str, since: Option<Timestamp>) {
        let Some(ids) = self.by_sli.get(sli) else {
            return;
        };
        for &i in ids {
            self.objectives[i].pull_empty_since = since;
        }
    }

    /// Evaluates every burn-rate and no-data rule at `now` and returns the
    /// alerts that changed state. A no-data alert fires at the first
    /// evaluation that finds its objective silent and resolves at the first
    /// that finds data again.
    pub fn evaluate_all(&mut self, now: Timestamp) -> Evaluation {
        let burn = self.evaluate_burn(now);
        let mut no_data = Vec::new();
        for o in &mut self.objectives {
            let Some(mut status) = o.no_data(now) else {
                continue;
            };
            let state = match (status.silent, o.no_data_firing) {
                (true, false) => AlertState::Firing,
                (false, true) => AlertState::Resolved,
                _ => continue,
            };
            o.no_data_firing = status.silent;
            status.firing = status.silent;
            no_data.push(NoDataEvent {
                at: now,
                slo: o.slo.clone(),
                service: o.service.clone(),
                objective: o.index,
                state,
                status,
            });
        }
        Evaluation { burn, no_data }
    }

    fn evaluate_burn(&mut self, now: Timestamp) -> Vec<AlertEvent> {
        let mut events = Vec::new();
        // One buffer for every objective's verdicts, and the budget read
        // only when an alert changes state: a pass over thousands of SLOs
        // allocates next to nothing.
        let mut verdicts: Vec<Verdict> = Vec::new();
        for o in &mut self.objectives {
            let ex = o.excludes_maintenance;
            verdicts.clear();
            verdicts.extend(o.rules.iter().map(|r| o.verdict(r, ex, now)));
            let mut budget: Option<(ErrorBudget, f64)> = None;
            for urgency in [Urgency::Page, Urgency::Ticket] {
                let mut any = false;
                // The holding rule with the highest long burn (the last of equals).
                let mut holding: Option<usize> = None;
                for (i, (r, v)) in o.rules.iter().zip(&verdicts).enumerate() {
                    if r.urgency != urgency {
                        continue;
                    }
                    any = true;
                    let burn = |i: usize| verdicts[i].long_burn.unwrap_or(0.0);
                    if v.holds && holding.is_none_or(|h| burn(h).total_cmp(&burn(i)).is_le()) {
                        holding = Some(i);
                    }
                }
                if !any {
                    continue;
                }
                let rules = &o.rules;
                let alert = o.alerts.entry(urgency).or_default();
                let change = match (holding, &alert.firing) {
                    (Some(i), None) => {
                        let name = &rules[i].name;
                        let after = rules
                            .iter()
                            .find(|x| &x.name == name)
                            .map_or(0, |x| x.alert_after_s);
                        let since = *alert.pending_since.get_or_insert(now);
                        if now.as_second() - since.as_second() >= after {
                            alert.firing = Some(name.clone());
                            alert.pending_since = None;
                            Some((i, AlertState::Firing))
                        } else {
                            None
                        }
                    }
                    (Some(i), Some(name)) => {
                        if *name != rules[i].name {
                            alert.firing = Some(rules[i].name.clone());
                        }
                        None
                    }
                    (None, Some(name)) => {
                        let of_urgency = || {
                            rules
                                .iter()
                                .enumerate()
                                .filter(|(_, r)| r.urgency == urgency)
                        };
                        let i = of_urgency()
                            .find(|(_, r)| &r.name == name)
                            .or_else(|| of_urgency().next())
                            .map_or(0, |(i, _)| i);
                        alert.firing = None;
                        Some((i, AlertState::Resolved))
                    }
                    (None, None) => {
                        alert.pending_since = None;
                        None
                    }
                };
                let Some((i, state)) = change else {
                    continue;
                };
                let (budget, period_s) =
                    *budget.get_or_insert_with(|| (o.budget(ex, now), o.window_at(now).2));
                let (r, v) = (&o.rules[i], verdicts[i]);
                events.push(AlertEvent {
                    at: now,
                    slo: o.slo.clone(),
                    service: o.service.clone(),
                    objective: o.index,
                    urgency,
                    state,
                    rule: r.name.clone(),
                    long_window_s: r.long_s,
                    short_window_s: r.short_s,
                    long_burn: v.long_burn,
                    short_burn: v.short_burn,
                    threshold: r.threshold,
                    budget_consumed: budget.consumed_ratio(),
                    time_to_exhaustion_s: v
                        .long_burn
                        .and_then(|b| time_to_exhaustion(budget.remaining_ratio(), b, period_s)),
                });
            }
        }
        events
    }

    pub fn status(&self, now: Timestamp) -> Vec<ObjectiveStatus> {
        self.objectives.iter().map(|o| o.status(now)).collect()
    }

    /// What some spans of time (a maintenance window's occurrences) cost
    /// each objective of `service`'s SLOs: the events (or slices) counted
    /// in them, maintenance included, and the share of the objective's
    /// budget (over the window in force at `now`) their bad ones spent.
    /// Spans are taken to the minute; only the part up to `now` counts.
    pub fn cost(
        &self,
        service: &str,
        spans: &[(Timestamp, Timestamp)],
        now: Timestamp,
    ) -> Vec<SpanCost> {
        self.objectives
            .iter()
            .filter(|o| o.service == service)
            .map(|o| {
                let mut counts = Counts::ZERO;
                for &(s, e) in spans {
                    let e = e.min(now);
                    if e <= s {
                        continue;
                    }
                    let c = o.counts(false, minute_of(s), window_minutes(e, 60).1);
                    counts = Counts::new(counts.good + c.good, counts.total + c.total);
                }
                let budget = o.budget(false, now);
                let allowed = budget.total_events();
                SpanCost {
                    slo: o.slo.clone(),
                    objective: o.index,
                    display_name: o.display_name.clone(),
                    counts,
                    budget_share: if allowed > 0.0 {
                        counts.bad() / allowed
                    } else {
                        0.0
                    },
                }
            })
            .collect()
    }
}

/// See [`Engine::cost`].
#[derive(Clone, Debug, PartialEq)]
pub struct SpanCost {
    pub slo: String,
    pub objective: usize,
    pub display_name: Option<String>,
    pub counts: Counts,
    /// The share of the objective's error budget the spans' bad events
    /// spent (0.25 = a quarter of it).
    pub budget_share: f64,
}

/// A window's length for scaling burn-rate thresholds: calendar months,
/// quarters and years at their average length (30.44, 91.31, 365.25 days).
fn nominal_seconds(w: &TimeWindow) -> i64 {
    let d = match w {
        TimeWindow::Rolling(d) => *d,
        TimeWindow::Calendar { length, .. } => *length,
    };
    let unit = match d.unit() {
        DurationUnit::Month => 2_629_800,
        DurationUnit::Quarter => 7_889_400,
        DurationUnit::Year => 31_557_600,
        u => fixed_seconds(DurationShorthand::new(1, u).unwrap_or(d)),
    };
    unit * i64::from(d.count())
}

fn window_label(w: &TimeWindow) -> String {
    match w {
        TimeWindow::Rolling(d) => format!("rolling {d}"),
        TimeWindow::Calendar { length, .. } => format!("calendar {length}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        AlertPolicy, Meta, MetricSource, Numerator, Objective as ModelObjective, Sli, Slo, Value,
    };

    fn catalog(target: &str, window: &str) -> Catalog {
        let source = MetricSource {
            source_ref: None,
            kind: Some("push".into()),
            spec: Value::Null,
        };
        let sli = Sli {
            meta: Meta {
                name: "requests".into(),
                ..Meta::default()
            },
            metric: SliMetric::Ratio {
                counter: false,
                numerator: Numerator::Good(source.clone()),
                total: source,
            },
        };
        let slo = Slo {
            meta: Meta {
                name: "api".into(),
                ..Meta::default()
            },
            service: "api".into(),
            indicator: Some(sli),
            time_window: TimeWindow::Rolling(DurationShorthand::parse(window).unwrap()),
            budgeting_method: BudgetingMethod::Occurrences,
            objectives: vec![ModelObjective {
                display_name: None,
                op: None,
                value: None,
                target: Target::parse(target).unwrap(),
                time_slice_target: None,
                time_slice_window: None,
                indicator: None,
                composite_weight: 1.0,
            }],
            alert_policies: vec![],
        };
        let mut c = Catalog::default();
        c.slos.insert("api".into(), slo);
        c
    }

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    /// Runs `errors(minute)` (error ratio per minute, 1000 requests a
    /// minute) from one day before t=0 until `until_s`, evaluating once a
    /// minute, and returns the alert events with their time from t=0.
    fn run(errors: impl Fn(i64) -> f64, until_s: i64) -> Vec<(i64, AlertEvent)> {
        let mut e = Engine::new(&catalog("99.9", "30d"));
        let mut out = Vec::new();
        for m in -24 * 60..until_s / 60 {
            let bad = 1000.0 * errors(m);
            let now = at((m + 1) * 60);
            e.record(
                "requests",
                at(m * 60),
                Observation::Counts {
                    good: 1000.0 - bad,
                    total: 1000.0,
                },
                false,
                now,
            )
            .unwrap();
            for ev in e.evaluate(now) {
                out.push(((m + 1) * 60, ev));
            }
        }
        out
    }

    proptest::proptest! {
        /// A batch planner answers what `plan` answers, event by event:
        /// the same increments, or the same refusal.
        #[test]
        fn the_batch_planner_agrees_with_plan(
            events in proptest::collection::vec(
                (0u8..3, -40i64 * 86_400..600, 0.0f64..200.0, proptest::bool::ANY),
                1..40,
            ),
        ) {
            let mut c = catalog("99.9", "30d");
            let mut other = catalog("99", "7d").slos.remove("api").unwrap();
            other.meta.name = "api-week".into();
            c.slos.insert("api-week".into(), other);
            let e = Engine::new(&c);
            let now = at(0);
            let mut planner = e.planner(now);
            for (kind, offset, x, ok) in events {
                let sli = if kind == 2 { "nope" } else { "requests" };
                let obs = if kind == 0 {
                    Observation::Counts { good: x / 2.0, total: x }
                } else {
                    Observation::Success(ok)
                };
                let mut got = Vec::new();
                let planned = planner.plan(sli, at(offset), obs, &mut got).map(|()| got);
                let expected = e.plan(sli, at(offset), obs, now);
                proptest::prop_assert_eq!(format!("{planned:?}"), format!("{expected:?}"));
            }
        }
    }

    #[test]
    fn workbook_full_outage_pages_within_one_step_of_51_84_s_and_129_6_s() {
        let events = run(|m| if m >= 0 { 1.0 } else { 0.0 }, 600);
        let page = &events[0];
        assert_eq!(page.1.urgency, Urgency::Page);
        assert_eq!(page.1.rule, "page-1h");
        assert!(
            page.0 as f64 >= 51.84 && (page.0 as f64) < 51.84 + 60.0,
            "{}",
            page.0
        );
        // The 6h/6x pair crosses at 129.6 s: check it at the first minute after.
        let mut e = Engine::new(&catalog("99.9", "30d"));
        let mut crossed = None;
        for m in -24 * 60..10 {
            let bad = if m >= 0 { 1000.0 } else { 0.0 };
            let now = at((m + 1) * 60);
            e.record(
                "requests",
                at(m * 60),
                Observation::Counts {
                    good: 1000.0 - bad,
                    total: 1000.0,
                },
                false,
                now,
            )
            .unwrap();
            let st = &e.status(now)[0];
            let six = st.burn_rates.iter().find(|r| r.rule == "page-6h").unwrap();
            if crossed.is_none() && six.verdict.holds {
                crossed = Some((m + 1) * 60);
            }
        }
        let c = crossed.unwrap() as f64;
        assert!((129.6..129.6 + 60.0).contains(&c), "{c}");
    }

    #[test]
    fn workbook_15_percent_errors_cross_14_4_after_5_76_minutes() {
        let events = run(|m| if (0..10).contains(&m) { 0.15 } else { 0.0 }, 3 * 3600);
        let fired = events
            .iter()
            .find(|(_, e)| e.state == AlertState::Firing && e.rule == "page-1h")
            .unwrap();
        assert!(
            fired.0 as f64 >= 345.6 && (fired.0 as f64) < 345.6 + 60.0,
            "{}",
            fired.0
        );
        let resolved = events
            .iter()
            .find(|(_, e)| e.state == AlertState::Resolved && e.urgency == Urgency::Page)
            .unwrap();
        // The 5-minute short window clears five minutes after the errors stop.
        assert!(resolved.0 <= 16 * 60, "{}", resolved.0);
        assert!(fired.1.long_burn.unwrap() >= 14.4);
        assert!(fired.1.time_to_exhaustion_s.is_some());
    }

    #[test]
    fn refuses_data_from_the_future_and_from_before_the_window() {
        let mut e = Engine::new(&catalog("99.9", "7d"));
        let now = at(0);
        let ok = Observation::Success(true);
        assert!(matches!(
            e.record("requests", at(3600), ok, false, now),
            Err(IngestError::InFuture { .. })
        ));
        assert!(matches!(
            e.record("requests", at(-8 * 86_400), ok, false, now),
            Err(IngestError::TooOld { .. })
        ));
        assert!(matches!(
            e.record("nope", now, ok, false, now),
            Err(IngestError::UnknownSli(_))
        ));
        assert!(matches!(
            e.record("requests", now, Observation::Value(3.0), false, now),
            Err(IngestError::ValueForRatio(_))
        ));
        e.record("requests", at(-6 * 86_400), ok, false, now)
            .unwrap();
    }

    #[test]
    fn maintenance_is_counted_by_default_and_both_figures_are_kept() {
        let mut e = Engine::new(&catalog("99", "1d"));
        let now = at(3600);
        e.record(
            "requests",
            at(0),
            Observation::Counts {
                good: 900.0,
                total: 1000.0,
            },
            false,
            now,
        )
        .unwrap();
        e.record(
            "requests",
            at(60),
            Observation::Counts {
                good: 0.0,
                total: 1000.0,
            },
            true,
            now,
        )
        .unwrap();
        let st = &e.status(now)[0];
        assert_eq!(st.with_maintenance.counts, Counts::new(900.0, 2000.0));
        assert_eq!(st.without_maintenance.counts, Counts::new(900.0, 1000.0));
        assert_eq!(st.budget, st.with_maintenance);
    }

    #[test]
    fn a_span_costs_the_bad_events_in_it_as_a_share_of_the_budget() {
        let mut e = Engine::new(&catalog("99", "1d"));
        let now = at(3600);
        for (t, good) in [(0, 1000.0), (60, 950.0), (120, 990.0), (180, 1000.0)] {
            e.record(
                "requests",
                at(t),
                Observation::Counts {
                    good,
                    total: 1000.0,
                },
                t == 60,
                now,
            )
            .unwrap();
        }
        // The window covered minutes 1 and 2: 60 bad events. The day's
        // budget is 1 % of 4000 = 40 events: the window spent 1.5 of it.
        let cost = e.cost("api", &[(at(60), at(180))], now);
        assert_eq!(cost.len(), 1);
        assert_eq!(cost[0].counts, Counts::new(1940.0, 2000.0));
        assert!((cost[0].budget_share - 1.5).abs() < 1e-9, "{cost:?}");
        // The part of a span after now does not count; other services have
        // no objectives here.
        assert_eq!(
            e.cost("api", &[(at(3600), at(7200))], now)[0].counts,
            Counts::ZERO
        );
        assert!(e.cost("web", &[(at(0), at(60))], now).is_empty());
    }

    #[test]
    fn log_normal_shares_are_sane() {
        let p = share_meeting(Op::Lt, 100.0, 100.0, 400.0);
        assert!((p - 0.5).abs() < 1e-6);
        let p99 = share_meeting(Op::Lt, 400.0, 100.0, 400.0);
        assert!((p99 - 0.99).abs() < 1e-4, "{p99}");
        assert!((share_meeting(Op::Gt, 400.0, 100.0, 400.0) - 0.01).abs() < 1e-4);
    }

    #[test]
    fn time_slices_count_good_slices_and_follow_late_data() {
        let mut c = catalog("99", "1d");
        let slo = c.slos.get_mut("api").unwrap();
        slo.budgeting_method = BudgetingMethod::Timeslices;
        slo.objectives[0].time_slice_target = Some(0.95);
        slo.objectives[0].time_slice_window = Some(DurationShorthand::parse("5m").unwrap());
        let mut e = Engine::new(&c);
        let now = at(3600);
        // Slice of minutes 0..5 is good (96 %), 5..10 is bad (90 %).
        e.record(
            "requests",
            at(0),
            Observation::Counts {
                good: 96.0,
                total: 100.0,
            },
            false,
            now,
        )
        .unwrap();
        e.record(
            "requests",
            at(300),
            Observation::Counts {
                good: 90.0,
                total: 100.0,
            },
            false,
            now,
        )
        .unwrap();
        assert_eq!(e.status(now)[0].budget.counts, Counts::new(1.0, 2.0));
        // Late data for the second slice makes it good again.
        e.record(
            "requests",
            at(360),
            Observation::Counts {
                good: 100.0,
                total: 100.0,
            },
            false,
            now,
        )
        .unwrap();
        assert_eq!(e.status(now)[0].budget.counts, Counts::new(2.0, 2.0));
    }

    fn with_no_data_policy(severity: &str, ask: bool) -> Catalog {
        use crate::model::{AlertCondition, BurnRateCondition};
        let mut c = catalog("99.9", "30d");
        let condition = |name: &str, window: &str| AlertCondition {
            meta: Meta {
                name: name.into(),
                ..Meta::default()
            },
            severity: severity.into(),
            burn_rate: BurnRateCondition {
                op: Op::Gte,
                threshold: 2.0,
                lookback_window: DurationShorthand::parse(window).unwrap(),
                alert_after: None,
            },
        };
        c.slos.get_mut("api").unwrap().alert_policies = vec![AlertPolicy {
            meta: Meta {
                name: "silence".into(),
                ..Meta::default()
            },
            alert_when_no_data: ask,
            alert_when_resolved: true,
            alert_when_breaching: true,
            conditions: vec![condition("slow", "2h"), condition("fast", "10m")],
            notification_targets: vec![],
        }];
        c
    }

    #[test]
    fn no_data_alerts_after_the_shortest_window_and_resolves_with_data() {
        let mut e = Engine::new(&with_no_data_policy("ticket", true));
        let ok = Observation::Counts {
            good: 10.0,
            total: 10.0,
        };
        e.record("requests", at(0), ok, false, at(60)).unwrap();
        let rule = NoDataRule {
            window_s: 600,
            urgency: Urgency::Ticket,
        };
        assert_eq!(e.status(at(60))[0].no_data_alert.unwrap().rule, rule);
        // Ten minutes after the last minute with data, the 10m window is empty.
        for m in 1..11 {
            let ev = e.evaluate_all(at(m * 60));
            assert!(ev.no_data.is_empty(), "minute {m}: {ev:?}");
        }
        let ev = e.evaluate_all(at(11 * 60));
        assert_eq!(ev.no_data.len(), 1, "{ev:?}");
        let fired = &ev.no_data[0];
        assert_eq!(fired.state, AlertState::Firing);
        assert_eq!(
            fired.status.since,
            Some(at(60)),
            "the end of the last minute with data"
        );
        assert!(!fired.status.pulled_empty);
        assert!(ev.burn.is_empty(), "no burn without data");
        assert!(e.status(at(11 * 60))[0].no_data_alert.unwrap().firing);
        // Still silent: nothing changes.
        assert!(e.evaluate_all(at(20 * 60)).no_data.is_empty());
        e.record("requests", at(20 * 60), ok, false, at(21 * 60))
            .unwrap();
        let ev = e.evaluate_all(at(21 * 60));
        assert_eq!(ev.no_data[0].state, AlertState::Resolved);
        assert!(!ev.no_data[0].status.silent);
        // A pull that finds nothing is no data at once, since its first empty minute.
        e.set_pull_empty("requests", Some(at(21 * 60)));
        let ev = e.evaluate_all(at(22 * 60));
        assert_eq!(ev.no_data[0].state, AlertState::Firing);
        assert!(ev.no_data[0].status.pulled_empty);
        assert_eq!(ev.no_data[0].status.since, Some(at(21 * 60)));
        e.set_pull_empty("requests", None);
        assert_eq!(
            e.evaluate_all(at(23 * 60)).no_data[0].state,
            AlertState::Resolved
        );
    }

    #[test]
    fn without_alert_when_no_data_nothing_alerts_and_the_status_says_no_data() {
        let mut e = Engine::new(&with_no_data_policy("ticket", false));
        assert!(e.evaluate_all(at(3600)).no_data.is_empty());
        let st = &e.status(at(3600))[0];
        assert!(st.no_data);
        assert_eq!(st.no_data_alert, None);
        // A policy with a paging condition pages.
        let e = Engine::new(&with_no_data_policy("page", true));
        assert_eq!(
            e.status(at(0))[0].no_data_alert.unwrap().rule.urgency,
            Urgency::Page
        );
        // The Workbook defaults (no policy) have no no-data rule.
        assert_eq!(
            Engine::new(&catalog("99.9", "30d")).status(at(0))[0].no_data_alert,
            None
        );
    }

    #[test]
    fn calendar_months_follow_the_calendar_in_their_zone() {
        let start = jiff::civil::date(2026, 1, 1).at(0, 0, 0, 0);
        let month = DurationShorthand::parse("1M").unwrap();
        let t: Timestamp = "2026-03-15T12:00:00Z".parse().unwrap();
        let (a, b) = calendar_period(start, "Europe/Paris", month, t);
        assert_eq!(a.to_string(), "2026-02-28T23:00:00Z");
        assert_eq!(
            b.to_string(),
            "2026-03-31T22:00:00Z",
            "DST starts on March 29 in Paris"
        );
    }
}
