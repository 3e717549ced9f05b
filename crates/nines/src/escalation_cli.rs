//! `nines escalation show`: an escalation policy's steps, and whom each
//! would reach for an incident triggered at a given instant, read from the
//! configuration (stored overrides are the server's, and not seen here).

use std::fmt::Write as _;
use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use nines_core::oncall::{
    EscalationTarget, IncidentView, Plan, Progress, Roster, TargetMode, Urgency,
};

use crate::{Outcome, exit};

fn usage(message: String) -> Outcome {
    Outcome {
        stdout: String::new(),
        stderr: format!("error: {message}\n"),
        code: exit::USAGE,
    }
}

/// `+1h30m` from the trigger.
fn offset(d: SignedDuration) -> String {
    let m = d.as_mins();
    let (days, hours, mins) = (m / 1440, m % 1440 / 60, m % 60);
    let mut out = String::from("+");
    for (n, unit) in [(days, "d"), (hours, "h"), (mins, "m")] {
        if n > 0 {
            let _ = write!(out, "{n}{unit}");
        }
    }
    if m == 0 {
        out.push_str("0m");
    }
    out
}

fn targets(t: &[EscalationTarget]) -> String {
    t.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Prints the steps of policy `name` for an incident triggered at `at`
/// (default `now`), of `urgency`; with `service`, its support hours hold a
/// low-urgency incident's steps.
pub fn show(
    config: &Path,
    name: &str,
    at: Option<&str>,
    service: Option<&str>,
    urgency: &str,
    now: Timestamp,
) -> Outcome {
    let loaded = match nines_config::load(config) {
        Ok(l) => l,
        Err(e) => {
            let code = match e {
                nines_config::LoadError::Unreadable { .. } => exit::USAGE,
                nines_config::LoadError::Invalid { .. } => exit::FAILURE,
            };
            return Outcome {
                stdout: String::new(),
                stderr: e.render(),
                code,
            };
        }
    };
    let c = &loaded.catalog;
    let names = || c.escalation_policies.keys().cloned().collect::<Vec<_>>();
    let Some(policy) = c.escalation_policies.get(name) else {
        return usage(if c.escalation_policies.is_empty() {
            format!("unknown escalation policy `{name}`: the configuration defines none")
        } else {
            format!(
                "unknown escalation policy `{name}`; the policies are: {}",
                names().join(", ")
            )
        });
    };
    let since = match at {
        None => now,
        Some(s) => match crate::oncall_cli::instant(s).and_then(|t| {
            t.parse::<Timestamp>()
                .map_err(|e| format!("`{s}` is not a time: {e}"))
        }) {
            Ok(t) => t,
            Err(e) => return usage(e),
        },
    };
    let Some(urgency) = Urgency::parse(urgency) else {
        return usage(format!("urgency `{urgency}` is neither high nor low"));
    };
    let support_hours = match service {
        None => None,
        Some(s) => match c.services.get(s) {
            Some(svc) => svc.support_hours.as_ref(),
            None => return usage(format!("unknown service `{s}`")),
        },
    };
    let incident = IncidentView {
        progress: Progress::Triggered { since },
        urgency,
        support_hours,
        round_robin: 0,
    };
    let hours = match urgency {
        Urgency::High => None,
        Urgency::Low => support_hours,
    };
    let roster = Roster::new(c);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "escalation policy {name}: {} rule(s), run {} time(s) (loops: {}), {} step(s)",
        policy.rules().len(),
        policy.loops() + 1,
        policy.loops(),
        policy.step_count()
    );
    for (i, r) in policy.rules().iter().enumerate() {
        let mode = match r.mode() {
            TargetMode::All => "all of",
            TargetMode::RoundRobin => "one in turn of",
        };
        let _ = writeln!(
            out,
            "  rule {}: {mode} {}; then {} before the next",
            i + 1,
            targets(r.targets()),
            offset(r.delay().get()).trim_start_matches('+')
        );
    }
    let _ = writeln!(
        out,
        "\nan incident of {} urgency triggered at {since}:",
        urgency.as_str()
    );
    let timeline = policy.timeline(since, hours);
    for span in &timeline {
        let Plan::Notify(step) = policy.plan(&roster, &incident, span.starts_at) else {
            continue;
        };
        let waited = if span.starts_at > span.ready_at {
            " (waited for support hours)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  step {} (rule {}, pass {}) at {} ({}){waited}",
            step.index + 1,
            step.rule + 1,
            step.pass + 1,
            step.starts_at,
            offset(step.starts_at.duration_since(since))
        );
        for r in &step.recipients {
            let why: Vec<String> = r.why.iter().skip(1).map(ToString::to_string).collect();
            let _ = writeln!(out, "    {:<12} {}", r.person, why.join("; "));
        }
        for g in &step.gaps {
            let _ = writeln!(out, "    {:<12} {g}", "(nobody)");
        }
    }
    if let Some(last) = timeline.last() {
        let _ = writeln!(
            out,
            "  exhausted at {} ({}): nobody further is notified",
            last.ends_at,
            offset(last.ends_at.duration_since(since))
        );
    }
    Outcome {
        stdout: out,
        stderr: String::new(),
        code: exit::OK,
    }
}
