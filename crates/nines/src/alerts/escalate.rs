//! Paging people: an open incident of a service with an escalation policy
//! notifies, step by step, the people the policy reaches (on call in a
//! schedule, or named), through their contact methods, until someone
//! acknowledges.
//!
//! The planner (`nines_core::oncall::EscalationPolicy::plan`) keeps no
//! state; what this keeps is in the incident's body, written in the same
//! transaction as the pages it decides, so a restart neither repeats nor
//! skips a step: `triggeredAt` (the incident's last trigger: its opening,
//! or an acknowledgement that timed out) and `escalation` (`since`, the
//! trigger the steps count from; `step`, the last step paged; whether the
//! deferral to support hours and the exhaustion were recorded).

use std::collections::BTreeMap;

use jiff::Timestamp;
use nines_core::oncall::{IncidentView, Override, OverrideId, Plan, Progress, Roster, Urgency};
use nines_store::{
    IncidentRow, IncidentWrite, NewIncidentEvent, NewNotification, ScheduleOverride,
};
use serde_json::{Value, json};

use super::routing::{GroupRef, Routing};

/// Stored schedule overrides as the planner takes them, by schedule.
pub fn overrides(rows: &[ScheduleOverride]) -> BTreeMap<String, Vec<Override>> {
    let mut out: BTreeMap<String, Vec<Override>> = BTreeMap::new();
    for r in rows {
        if let Ok(o) = Override::new(
            OverrideId::Stored(r.id),
            r.person.clone(),
            r.starts_at,
            r.ends_at,
        ) {
            out.entry(r.schedule.clone()).or_default().push(o);
        }
    }
    out
}

/// What escalation asks of one open incident now.
pub struct Escalation {
    /// The incident with its escalation state, the timeline entries and
    /// the pages, to write; `None` when nothing changed.
    pub write: Option<IncidentWrite>,
    /// When to look again, if ever (before a state change).
    pub wake: Option<Timestamp>,
}

fn event(at: Timestamp, kind: &str, body: Value) -> NewIncidentEvent {
    NewIncidentEvent {
        at,
        kind: kind.to_owned(),
        actor: "nines".to_owned(),
        body: body.to_string(),
    }
}

/// Runs the service's escalation policy for `inc` (open) at `now`:
/// `firing` are its group's firing alerts (hex fingerprints), which the
/// pages carry.
pub fn escalate(
    routing: &Routing,
    roster: &Roster<'_>,
    group: &GroupRef,
    inc: &IncidentRow,
    firing: &[String],
    external_url: &str,
    now: Timestamp,
) -> Escalation {
    let idle = Escalation {
        write: None,
        wake: None,
    };
    let catalog = &routing.catalog;
    let Some(policy) = catalog.escalation_policy_of(&inc.service) else {
        return idle;
    };
    let mut body: Value = serde_json::from_str(&inc.body).unwrap_or_else(|_| json!({}));
    let since = body["triggeredAt"]
        .as_str()
        .and_then(|t| t.parse::<Timestamp>().ok())
        .unwrap_or(inc.opened_at);
    let progress = match inc.state.as_str() {
        "triggered" => Progress::Triggered { since },
        // The incident dispatcher triggers an incident again when its
        // acknowledgement times out; until then nobody more is paged.
        "acknowledged" => Progress::Acknowledged {
            at: now,
            timeout: None,
        },
        _ => Progress::Resolved,
    };
    let view = IncidentView {
        progress,
        urgency: Urgency::parse(&inc.urgency).unwrap_or(Urgency::High),
        support_hours: catalog
            .services
            .get(&inc.service)
            .and_then(|s| s.support_hours.as_ref()),
        // Successive incidents start round-robin rules at successive targets.
        round_robin: inc.id.unsigned_abs(),
    };
    let plan = policy.plan(roster, &view, now);
    let wake = plan.wake_at();
    let state = &body["escalation"];
    let same = state["since"].as_str() == Some(since.to_string().as_str());
    let last_step = if same {
        state["step"].as_u64().map(|s| s as usize)
    } else {
        None
    };
    let flag = |k: &str| same && state[k].as_bool() == Some(true);
    let mut events = Vec::new();
    let mut notifications = Vec::new();
    let mut next = json!({
        "policy": policy.name(),
        "since": since.to_string(),
        "step": last_step,
        "deferred": flag("deferred"),
        "exhausted": flag("exhausted"),
    });
    match &plan {
        Plan::Notify(step) if last_step.is_none_or(|l| step.index > l) => {
            let steps = format!("escalation step {} of {}", step.index + 1, step.count);
            for r in &step.recipients {
                let why = r.reasons();
                let targets = routing
                    .people
                    .get(&r.person)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                if targets.is_empty() {
                    events.push(event(
                        now,
                        "escalation_gap",
                        json!({
                            "step": step.index + 1,
                            "person": r.person,
                            "text": format!("{steps}: {} has no contact method nines can deliver to (email, webhook or slack)", r.person),
                        }),
                    ));
                    continue;
                }
                let mut addresses = Vec::new();
                for (i, target) in targets.iter().enumerate() {
                    let decision = json!({
                        "kind": "incident",
                        "receiver": group.receiver,
                        "groupKey": group.key,
                        "groupLabels": super::map(&group.labels),
                        "externalURL": external_url,
                        "firing": firing,
                        "resolved": [],
                        "maxAlerts": 0,
                        "person": r.person,
                        "why": why,
                    });
                    notifications.push(NewNotification {
                        // Derived from the incident, its trigger, the step
                        // and the person: a page decided twice is one.
                        idempotency_key: format!(
                            "nines-page-{}-{}-{}-{}-{i}",
                            inc.id,
                            since.as_microsecond(),
                            step.index,
                            r.person
                        ),
                        channel: target.channel().to_owned(),
                        target: target.address(),
                        body: decision.to_string(),
                        created_at: now,
                        not_before: None,
                    });
                    addresses.push(target.address());
                }
                events.push(event(
                    now,
                    "paged",
                    json!({
                        "person": r.person,
                        "step": step.index + 1,
                        "steps": step.count,
                        "why": why,
                        "targets": addresses,
                        "text": format!("paged {} ({why})", r.person),
                    }),
                ));
            }
            for gap in &step.gaps {
                events.push(event(
                    now,
                    "escalation_gap",
                    json!({"step": step.index + 1, "text": format!("{steps}: {gap}")}),
                ));
            }
            next["step"] = json!(step.index);
        }
        Plan::Deferred { until, .. } if !flag("deferred") && inc.urgency == "low" => {
            events.push(event(
                now,
                "escalation_deferred",
                json!({
                    "until": until.to_string(),
                    "text": format!("low urgency: nobody is paged before the service's support hours, at {until}"),
                }),
            ));
            next["deferred"] = json!(true);
        }
        Plan::Exhausted { steps, .. } if !flag("exhausted") => {
            events.push(event(
                now,
                "escalation_exhausted",
                json!({
                    "steps": steps,
                    "text": format!("all {steps} escalation steps of policy {} ran and nobody acknowledged; the incident stays open", policy.name()),
                }),
            ));
            next["exhausted"] = json!(true);
        }
        _ => {}
    }
    if events.is_empty() && same {
        return Escalation { write: None, wake };
    }
    body["escalation"] = next;
    let mut inc = inc.clone();
    inc.body = body.to_string();
    inc.updated_at = now;
    Escalation {
        write: Some(IncidentWrite {
            incident: inc,
            events,
            notifications,
        }),
        wake,
    }
}
