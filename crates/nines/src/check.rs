//! `nines check`: every problem, with its file, line and column.

use std::path::Path;

use nines_config::LoadError;

use crate::Outcome;
use crate::exit;

pub fn run(path: &Path, quiet: bool) -> Outcome {
    match nines_config::load(path) {
        Ok(loaded) => {
            let mut stderr = String::new();
            for w in &loaded.warnings {
                stderr.push_str(&loaded.render(w));
                stderr.push('\n');
            }
            let stdout = if quiet {
                String::new()
            } else {
                let counts: Vec<String> = loaded
                    .catalog
                    .counts()
                    .into_iter()
                    .filter(|(_, n)| *n > 0)
                    .map(|(k, n)| format!("{n} {}", k.replace('_', " ")))
                    .collect();
                format!(
                    "ok: {} file(s), {}; {} warning(s)\n",
                    loaded.files.len(),
                    if counts.is_empty() {
                        "no objects".to_owned()
                    } else {
                        counts.join(", ")
                    },
                    loaded.warnings.len()
                )
            };
            Outcome {
                stdout,
                stderr,
                code: exit::OK,
            }
        }
        Err(e @ LoadError::Unreadable { .. }) => Outcome {
            stdout: String::new(),
            stderr: e.render(),
            code: exit::USAGE,
        },
        Err(e) => Outcome {
            stdout: String::new(),
            stderr: format!("{}\n{} error(s) found\n", e.render(), e.error_count()),
            code: exit::FAILURE,
        },
    }
}

/// `nines check --alertmanager FILE`: the file as `serve
/// --alertmanager-config` reads it; what is not carried over is listed with
/// its line, and so is what of the receivers nines cannot send (an
/// unreadable secret file, a PagerDuty Events API v1 `service_key`).
pub fn run_alertmanager(file: &Path, quiet: bool) -> Outcome {
    match nines_config::alertmanager::load_alertmanager(file) {
        Ok(am) => {
            let mut stderr = String::new();
            for w in &am.warnings {
                stderr.push_str(&am.render(w));
                stderr.push('\n');
            }
            let (_, pending) =
                crate::alerts::routing::Routing::from_alertmanager(&am, String::new());
            for p in &pending {
                stderr.push_str(&format!("{}: note: {p}\n", file.display()));
            }
            let stdout = if quiet {
                String::new()
            } else {
                let count = |f: fn(&nines_config::alertmanager::Receiver) -> usize| -> usize {
                    am.receivers.iter().map(f).sum()
                };
                format!(
                    "ok: {}: {} receiver(s) ({} webhook(s), {} email(s), {} Slack, {} PagerDuty), {} route(s), {} inhibit rule(s), {} time interval(s); {} thing(s) not carried over\n",
                    file.display(),
                    am.receivers.len(),
                    count(|r| r.webhook_configs.len()),
                    count(|r| r.email_configs.len()),
                    count(|r| r.slack_configs.len()),
                    count(|r| r.pagerduty_configs.len()),
                    am.route_tree.routes().len(),
                    am.inhibit_rules.len(),
                    am.time_intervals.len(),
                    am.warnings.len() + pending.len(),
                )
            };
            Outcome {
                stdout,
                stderr,
                code: exit::OK,
            }
        }
        Err(e @ LoadError::Unreadable { .. }) => Outcome {
            stdout: String::new(),
            stderr: e.render(),
            code: exit::USAGE,
        },
        Err(e) => Outcome {
            stdout: String::new(),
            stderr: format!("{}\n{} error(s) found\n", e.render(), e.error_count()),
            code: exit::FAILURE,
        },
    }
}

/// Several checks as one: every output, and the worst exit code.
pub fn merge(outcomes: Vec<Outcome>) -> Outcome {
    let mut all = Outcome {
        stdout: String::new(),
        stderr: String::new(),
        code: exit::OK,
    };
    for o in outcomes {
        all.stdout.push_str(&o.stdout);
        all.stderr.push_str(&o.stderr);
        all.code = all.code.max(o.code);
    }
    all
}
