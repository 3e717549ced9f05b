//! `nines simulate`: the real engine on a simulated clock.

use std::fmt::Write as _;
use std::path::Path;

use nines_core::availability::format_seconds;
use nines_core::simulate::{self, TimedEvent};
use serde_json::json;

use crate::Outcome;
use crate::exit;

fn offset(s: i64) -> String {
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    format!("{d}d{h:02}h{m:02}m")
}

fn burn(b: Option<f64>) -> String {
    b.map_or("-".into(), |b| format!("{b:.1}"))
}

fn round(x: f64, d: i32) -> f64 {
    let f = 10f64.powi(d);
    (x * f).round() / f
}

fn load_error(e: nines_config::LoadError) -> Outcome {
    let code = match e {
        nines_config::LoadError::Unreadable { .. } => exit::USAGE,
        nines_config::LoadError::Invalid { .. } => exit::FAILURE,
    };
    Outcome {
        stdout: String::new(),
        stderr: e.render(),
        code,
    }
}

pub fn run(config: &Path, scenario_path: &Path, as_json: bool) -> Outcome {
    let loaded = match nines_config::load(config) {
        Ok(l) => l,
        Err(e) => return load_error(e),
    };
    let scenario = match nines_config::scenario::load_scenario(scenario_path) {
        Ok(s) => s,
        Err(e) => return load_error(e),
    };
    let outcome = match simulate::run(&loaded.catalog, &scenario) {
        Ok(o) => o,
        Err(e) => {
            let engine = nines_core::engine::Engine::new(&loaded.catalog);
            let known: Vec<&str> = engine.sli_names().collect();
            return Outcome {
                stdout: String::new(),
                stderr: format!(
                    "error: {e}; the SLIs of this configuration are: {}\n",
                    known.join(", ")
                ),
                code: exit::USAGE,
            };
        }
    };
    let mut out = String::new();
    if as_json {
        for TimedEvent { at_s, event: e } in &outcome.events {
            let line = json!({
                "type": "alert",
                "at_s": at_s,
                "slo": e.slo,
                "objective": e.objective,
                "service": e.service,
                "severity": e.urgency.as_str(),
                "state": e.state.as_str(),
                "rule": e.rule,
                "long_window_s": e.long_window_s,
                "short_window_s": e.short_window_s,
                "long_burn_rate": e.long_burn.map(|b| round(b, 6)),
                "short_burn_rate": e.short_burn.map(|b| round(b, 6)),
                "threshold": round(e.threshold, 6),
                "budget_consumed": round(e.budget_consumed, 6),
                "time_to_exhaustion_s": e.time_to_exhaustion_s.map(|t| round(t, 1)),
            });
            let _ = writeln!(out, "{line}");
        }
        for s in &outcome.end {
            let line = json!({
                "type": "summary",
                "at_s": scenario.duration_s,
                "slo": s.slo,
                "objective": s.objective,
                "service": s.service,
                "target": s.target.ratio(),
                "sli": s.with_maintenance.sli(),
                "sli_without_maintenance": s.without_maintenance.sli(),
                "maintenance_excluded": s.excludes_maintenance,
                "budget_consumed": round(s.budget.consumed_ratio(), 6),
                "budget_remaining": round(s.budget.remaining_ratio(), 6),
                "no_data": s.no_data,
            });
            let _ = writeln!(out, "{line}");
        }
    } else {
        let _ = writeln!(
            out,
            "Simulated traffic (not real data): {} from {}, evaluated every {}.\n",
            format_seconds(scenario.duration_s as f64),
            scenario.start,
            format_seconds(scenario.step_s as f64)
        );
        if outcome.events.is_empty() {
            let _ = writeln!(out, "No alert fired or resolved.");
        } else {
            let _ = writeln!(
                out,
                "{:<11} {:<28} {:<7} {:<9} {:<11} {:<9} {:>14} {:>9} {:>14}",
                "at",
                "slo",
                "sev",
                "state",
                "rule",
                "windows",
                "burn long/short",
                "budget",
                "exhausted in"
            );
        }
        for TimedEvent { at_s, event: e } in &outcome.events {
            let windows = match e.short_window_s {
                Some(s) => format!(
                    "{}/{}",
                    nines_core::burn::human_window(e.long_window_s),
                    nines_core::burn::human_window(s)
                ),
                None => nines_core::burn::human_window(e.long_window_s),
            };
            let _ = writeln!(
                out,
                "{:<11} {:<28} {:<7} {:<9} {:<11} {:<9} {:>15} {:>8.1}% {:>14}",
                offset(*at_s),
                e.slo,
                e.urgency.as_str(),
                e.state.as_str(),
                e.rule,
                windows,
                format!("{} / {}", burn(e.long_burn), burn(e.short_burn)),
                e.budget_consumed * 100.0,
                e.time_to_exhaustion_s.map_or("-".into(), format_seconds),
            );
        }
        let _ = writeln!(out, "\nAt the end ({}):", offset(scenario.duration_s));
        for s in &outcome.end {
            let pct =
                |x: Option<f64>| x.map_or("no data".into(), |v| format!("{:.4} %", v * 100.0));
            let _ = writeln!(
                out,
                "  {:<28} objective {:<9} SLI {} ({} without maintenance); budget left {:.1} %{}",
                s.slo,
                s.target.to_string(),
                pct(s.with_maintenance.sli()),
                pct(s.without_maintenance.sli()),
                s.budget.remaining_ratio() * 100.0,
                if s.budget.attained() { "" } else { "  MISSED" }
            );
        }
    }
    Outcome {
        stdout: out,
        stderr: String::new(),
        code: exit::OK,
    }
}
