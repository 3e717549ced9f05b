//! Scenario files for `nines simulate`:
//!
//! ```yaml
//! start: 2026-03-01T00:00:00Z     # optional; the simulated clock's zero
//! duration: 30d
//! step: 1m                         # evaluation step, at least 1m
//! slis:
//!   checkout-requests:             # an SLI name, as the SLOs' indicators call it
//!     - {from: -1d, to: 30d, rate: 20, errorRatio: 0.0005}
//!     - {from: 2d, to: 2d1h, rate: 20, errorRatio: 0.2}
//!   checkout-latency-ms:
//!     - {from: -1d, to: 30d, rate: 5, latency: {median: 120, p99: 250}}
//! maintenance:
//!   - {services: [checkout], from: 5d, to: 5d2h}
//! ```
//!
//! Times are offsets from `start` written as `2d1h30m`, negative for history
//! before the start.

use std::collections::BTreeSet;
use std::path::Path;

use nines_core::simulate::{Maintenance, Phase, Scenario, Shape};

use crate::diag::{Diagnostic, Pos};
use crate::yaml::{Node, NodeKind};
use crate::{LoadError, MAX_FILE_BYTES};

struct Reader<'a> {
    file: &'a Path,
    diags: Vec<Diagnostic>,
}

impl Reader<'_> {
    fn error(&mut self, pos: Pos, msg: impl Into<String>) {
        self.diags
            .push(Diagnostic::error(pos, msg).in_file(self.file));
    }

    fn keys(&mut self, node: &Node, what: &str, allowed: &[&str]) -> bool {
        let Some(entries) = node.as_map() else {
            self.error(
                node.pos,
                format!("{what} must be a mapping, found {}", node.type_name()),
            );
            return false;
        };
        for (k, _) in entries {
            let k = k.as_scalar().unwrap_or_default();
            if !allowed.contains(&k) {
                let pos = entries
                    .iter()
                    .find(|(x, _)| x.as_scalar() == Some(k))
                    .map_or(node.pos, |(x, _)| x.pos);
                self.error(
                    pos,
                    format!(
                        "unknown field `{k}` in {what}; expected one of: {}",
                        allowed.join(", ")
                    ),
                );
            }
        }
        true
    }

    fn offset(&mut self, node: &Node, what: &str) -> Option<i64> {
        let text = node.as_scalar().unwrap_or_default();
        match parse_offset(text) {
            Some(s) => Some(s),
            None => {
                self.error(
                    node.pos,
                    format!("{what} `{text}` is not a time offset: write 0, 90s, 30m, 2d1h or -1d"),
                );
                None
            }
        }
    }

    fn number(&mut self, node: &Node, what: &str, min: f64, max: f64) -> Option<f64> {
        match node.as_scalar().and_then(|s| s.parse::<f64>().ok()) {
            Some(x) if x.is_finite() && (min..=max).contains(&x) => Some(x),
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be a number from {min} to {max}"),
                );
                None
            }
        }
    }
}

/// `2d1h30m`, `-1d`, `90s`, `0`: seconds from the scenario's start.
pub fn parse_offset(text: &str) -> Option<i64> {
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    if t == "0" {
        return Some(0);
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return None,
        };
        let n: i64 = digits.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        digits.clear();
    }
    if !digits.is_empty() || t.is_empty() || total > 400 * 86_400 {
        return None;
    }
    Some(if neg { -total } else { total })
}

pub fn load_scenario(path: &Path) -> Result<Scenario, LoadError> {
    let unreadable = |reason: String| LoadError::Unreadable {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| unreadable(e.to_string()))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(unreadable(format!(
            "the scenario is larger than {} MiB",
            MAX_FILE_BYTES / 1024 / 1024
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| unreadable(e.to_string()))?;
    parse_scenario(path, &text)
}

pub fn parse_scenario(path: &Path, text: &str) -> Result<Scenario, LoadError> {
    let invalid = |diagnostics: Vec<Diagnostic>| LoadError::Invalid {
        diagnostics,
        sources: [(path.to_path_buf(), text.to_owned())]
            .into_iter()
            .collect(),
    };
    let docs = crate::yaml::parse(text).map_err(|d| invalid(vec![d.in_file(path)]))?;
    let Some(root) = docs.first().map(|d| &d.root) else {
        return Err(invalid(vec![
            Diagnostic::error(Pos::new(1, 1), "the scenario is empty").in_file(path),
        ]));
    };
    let mut r = Reader {
        file: path,
        diags: Vec::new(),
    };
    let mut scenario = Scenario {
        start: "2026-01-01T00:00:00Z"
            .parse()
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
        duration_s: 0,
        step_s: 60,
        phases: Vec::new(),
        maintenance: Vec::new(),
    };
    if r.keys(
        root,
        "a scenario",
        &["start", "duration", "step", "slis", "maintenance"],
    ) {
        if let Some(n) = root.get("start").filter(|n| !n.is_null()) {
            match n
                .as_scalar()
                .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            {
                Some(t) => scenario.start = t,
                None => r.error(
                    n.pos,
                    "start must be a UTC timestamp such as 2026-03-01T00:00:00Z",
                ),
            }
        }
        match root.get("duration") {
            Some(n) => match r.offset(n, "duration") {
                Some(d) if d > 0 => scenario.duration_s = d,
                Some(_) => r.error(n.pos, "duration must be longer than zero"),
                None => {}
            },
            None => r.error(root.pos, "a scenario needs a `duration`, such as 30d"),
        }
        if let Some(n) = root.get("step") {
            match r.offset(n, "step") {
                Some(s) if s >= 60 && s % 60 == 0 => scenario.step_s = s,
                Some(_) => r.error(
                    n.pos,
                    "step must be a whole number of minutes (SLI buckets are one minute)",
                ),
                None => {}
            }
        }
        match root.get("slis").and_then(Node::as_map) {
            Some(slis) => {
                for (name, phases) in slis {
                    let sli = name.as_scalar().unwrap_or_default().to_owned();
                    let NodeKind::Seq(items) = &phases.kind else {
                        r.error(
                            phases.pos,
                            format!("the traffic of `{sli}` must be a list of phases"),
                        );
                        continue;
                    };
                    for item in items {
                        if let Some(p) = phase(&mut r, &sli, item) {
                            scenario.phases.push(p);
                        }
                    }
                }
            }
            None => r.error(
                root.pos,
                "a scenario needs `slis`: traffic phases per SLI name",
            ),
        }
        if let Some(NodeKind::Seq(items)) = root.get("maintenance").map(|n| &n.kind) {
            for item in items {
                if !r.keys(item, "a maintenance window", &["services", "from", "to"]) {
                    continue;
                }
                let services: BTreeSet<String> = match item.get("services").map(|n| &n.kind) {
                    Some(NodeKind::Seq(s)) => s
                        .iter()
                        .filter_map(|x| x.as_scalar().map(String::from))
                        .collect(),
                    _ => {
                        r.error(
                            item.pos,
                            "a maintenance window needs `services`: a list of service names",
                        );
                        continue;
                    }
                };
                let (Some(f), Some(t)) = (item.get("from"), item.get("to")) else {
                    r.error(item.pos, "a maintenance window needs `from` and `to`");
                    continue;
                };
                if let (Some(from_s), Some(to_s)) = (r.offset(f, "from"), r.offset(t, "to")) {
                    if to_s <= from_s {
                        r.error(t.pos, "a maintenance window must end after it starts");
                    } else {
                        scenario.maintenance.push(Maintenance {
                            services,
                            from_s,
                            to_s,
                        });
                    }
                }
            }
        }
    }
    if r.diags.is_empty() {
        Ok(scenario)
    } else {
        Err(invalid(r.diags))
    }
}

fn phase(r: &mut Reader, sli: &str, item: &Node) -> Option<Phase> {
    if !r.keys(
        item,
        "a traffic phase",
        &["from", "to", "rate", "errorRatio", "latency"],
    ) {
        return None;
    }
    let (Some(f), Some(t), Some(rate)) = (item.get("from"), item.get("to"), item.get("rate"))
    else {
        r.error(
            item.pos,
            format!(
                "a traffic phase of `{sli}` needs `from`, `to` and `rate` (requests per second)"
            ),
        );
        return None;
    };
    let from_s = r.offset(f, "from")?;
    let to_s = r.offset(t, "to")?;
    if to_s <= from_s {
        r.error(t.pos, "a phase must end after it starts");
        return None;
    }
    let rate = r.number(rate, "rate", 0.0, 1e9)?;
    let shape = match (item.get("errorRatio"), item.get("latency")) {
        (Some(e), None) => Shape::ErrorRatio(r.number(e, "errorRatio", 0.0, 1.0)?),
        (None, Some(l)) => {
            if !r.keys(l, "latency", &["median", "p99"]) {
                return None;
            }
            let (Some(m), Some(p)) = (l.get("median"), l.get("p99")) else {
                r.error(l.pos, "latency needs `median` and `p99`, in milliseconds");
                return None;
            };
            let median_ms = r.number(m, "latency.median", 0.0, 1e9)?;
            let p99_ms = r.number(p, "latency.p99", median_ms, 1e9)?;
            Shape::Latency { median_ms, p99_ms }
        }
        _ => {
            r.error(
                item.pos,
                "a phase needs exactly one of `errorRatio` (0 to 1) or `latency` ({median, p99})",
            );
            return None;
        }
    };
    Some(Phase {
        sli: sli.to_owned(),
        from_s,
        to_s,
        rate,
        shape,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("0"), Some(0));
        assert_eq!(parse_offset("2d1h30m"), Some(2 * 86_400 + 5400));
        assert_eq!(parse_offset("-1d"), Some(-86_400));
        assert_eq!(parse_offset("90s"), Some(90));
        assert_eq!(parse_offset("1x"), None);
        assert_eq!(parse_offset("5"), None);
        assert_eq!(parse_offset(""), None);
    }

    #[test]
    fn reads_a_scenario_and_names_its_mistakes() {
        let ok = "duration: 1d\nslis:\n  api:\n    - {from: -1h, to: 1d, rate: 10, errorRatio: 0.01}\nmaintenance:\n  - {services: [api], from: 1h, to: 2h}\n";
        let s = parse_scenario(Path::new("s.yaml"), ok).unwrap();
        assert_eq!(s.duration_s, 86_400);
        assert_eq!(s.phases[0].from_s, -3600);
        assert_eq!(s.maintenance.len(), 1);
        let bad =
            "duration: 1d\nslis:\n  api:\n    - {from: 2h, to: 1h, rate: 10, errorRatio: 2}\n";
        let e = parse_scenario(Path::new("s.yaml"), bad)
            .unwrap_err()
            .render();
        assert!(e.contains("s.yaml:4:"), "{e}");
        assert!(e.contains("must end after it starts"), "{e}");
    }
}
