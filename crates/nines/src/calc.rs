//! `nines calc`: downtime budgets and composed availability, for people and
//! for scripts (`--json`, seconds as numbers).

use std::fmt::Write as _;

use nines_core::availability::{
    Availability, PERIOD_CONVENTIONS, Period, Target, format_percent, format_seconds,
};
use nines_core::graph::{self, AvailabilitySource, Breakdown};
use serde_json::{Map, Value, json};

use crate::cli::CalcArgs;
use crate::exit;

use crate::Outcome;

fn fail(code: u8, message: String) -> Outcome {
    Outcome {
        stdout: String::new(),
        stderr: format!("error: {message}\n"),
        code,
    }
}

/// Rounds away binary noise (8.640000000000001 -> 8.64) without losing any
/// digit a person could care about.
fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

/// Keeps `digits` significant digits: enough for a tenth of a microsecond
/// of yearly downtime, and short of the last bits of float noise.
fn round_significant(x: f64, digits: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let magnitude = x.abs().log10().floor() as i32;
    round(x, digits - 1 - magnitude)
}

fn downtime_json(unavailability: f64) -> Value {
    let mut m = Map::new();
    for p in Period::ALL {
        m.insert(
            p.key().to_owned(),
            json!(round_significant(unavailability * p.seconds(), 10)),
        );
    }
    Value::Object(m)
}

fn downtime_table(out: &mut String, unavailability: f64) {
    let _ = writeln!(out, "Allowed downtime:");
    for p in Period::ALL {
        let _ = writeln!(
            out,
            "  {:<18} {}",
            p.label(),
            format_seconds(unavailability * p.seconds())
        );
    }
    let _ = writeln!(out, "\nConventions: {PERIOD_CONVENTIONS}.");
}

pub fn run(args: &CalcArgs) -> Outcome {
    if let Some(service) = &args.service {
        let Some(config) = &args.config else {
            return fail(exit::USAGE, "--service needs --config PATH".into());
        };
        return service_availability(service, config, args.json);
    }
    if !args.serial.is_empty() || !args.parallel_groups.is_empty() {
        return composition(&args.serial, &args.parallel_groups, args.json);
    }
    let Some(text) = &args.target else {
        return fail(
            exit::USAGE,
            "give a target (nines calc 99.9), --serial/--parallel targets, or --service NAME --config PATH; see nines calc --help".into(),
        );
    };
    match Target::parse(text) {
        Ok(t) => target(t, args.json),
        Err(e) => fail(exit::USAGE, e.to_string()),
    }
}

fn target(t: Target, as_json: bool) -> Outcome {
    let stdout = if as_json {
        let v = json!({
            "target": round(t.ratio(), 12),
            "percent": round(t.percent(), 10),
            "budget": round(t.budget(), 12),
            "downtime_s": downtime_json(t.budget()),
        });
        format!("{v}\n")
    } else {
        let mut out = format!(
            "Target {} ({}), error budget {} %\n\n",
            t,
            round(t.ratio(), 12),
            format_percent(t.budget() * 100.0)
        );
        downtime_table(&mut out, t.budget());
        out
    };
    Outcome {
        stdout,
        stderr: String::new(),
        code: exit::OK,
    }
}

fn composition(serial: &[String], parallel: &[Vec<String>], as_json: bool) -> Outcome {
    let parse = |s: &String| Target::parse(s).map(Availability::from);
    let serial: Vec<(String, Availability)> = match serial
        .iter()
        .map(|s| parse(s).map(|a| (s.clone(), a)))
        .collect::<Result<_, _>>()
    {
        Ok(v) => v,
        Err(e) => return fail(exit::USAGE, e.to_string()),
    };
    let mut groups = Vec::new();
    for g in parallel {
        match g.iter().map(parse).collect::<Result<Vec<_>, _>>() {
            Ok(members) => groups.push((members.clone(), Availability::parallel(members))),
            Err(e) => return fail(exit::USAGE, e.to_string()),
        }
    }
    let total = Availability::serial(
        serial
            .iter()
            .map(|(_, a)| *a)
            .chain(groups.iter().map(|(_, a)| *a)),
    );
    let stdout = if as_json {
        let v = json!({
            "availability": round(total.ratio(), 12),
            "percent": round(total.percent(), 10),
            "serial": serial.iter().map(|(_, a)| round(a.ratio(), 12)).collect::<Vec<_>>(),
            "parallel": groups.iter().map(|(m, a)| json!({
                "members": m.iter().map(|x| round(x.ratio(), 12)).collect::<Vec<_>>(),
                "availability": round(a.ratio(), 12),
            })).collect::<Vec<_>>(),
            "downtime_s": downtime_json(total.unavailability()),
        });
        format!("{v}\n")
    } else {
        let mut out = String::new();
        for (_, a) in &serial {
            let _ = writeln!(out, "  in series     {a}");
        }
        for (members, a) in &groups {
            let list: Vec<String> = members.iter().map(|m| m.to_string()).collect();
            let _ = writeln!(out, "  in parallel   {}  ->  {a}", list.join(" | "));
        }
        let _ = writeln!(
            out,
            "Availability {total} (series multiply; parallel replicas fail only together, assuming independent failures)\n"
        );
        downtime_table(&mut out, total.unavailability());
        out
    };
    Outcome {
        stdout,
        stderr: String::new(),
        code: exit::OK,
    }
}

fn service_availability(service: &str, config: &std::path::Path, as_json: bool) -> Outcome {
    let loaded = match nines_config::load(config) {
        Ok(l) => l,
        Err(e @ nines_config::LoadError::Unreadable { .. }) => {
            return Outcome {
                stdout: String::new(),
                stderr: e.render(),
                code: exit::USAGE,
            };
        }
        Err(e) => {
            return Outcome {
                stdout: String::new(),
                stderr: format!(
                    "{}\nerror: the configuration has {} error(s); fix them first (nines check {})\n",
                    e.render(),
                    e.error_count(),
                    config.display()
                ),
                code: exit::FAILURE,
            };
        }
    };
    let b = match graph::theoretical_availability(&loaded.catalog, service) {
        Ok(b) => b,
        Err(e @ graph::GraphError::UnknownService(_)) => {
            let known: Vec<&str> = loaded.catalog.services.keys().map(String::as_str).collect();
            return fail(
                exit::USAGE,
                format!("{e}; known services: {}", known.join(", ")),
            );
        }
        Err(e) => return fail(exit::FAILURE, e.to_string()),
    };
    let stdout = if as_json {
        format!("{}\n", breakdown_json(&b))
    } else {
        breakdown_text(&b)
    };
    Outcome {
        stdout,
        stderr: String::new(),
        code: exit::OK,
    }
}

fn source_text(s: &AvailabilitySource) -> String {
    match s {
        AvailabilitySource::Declared => "spec.availability".into(),
        AvailabilitySource::SloTarget { slo } => format!("SLO {slo}"),
    }
}

fn breakdown_json(b: &Breakdown) -> Value {
    json!({
        "service": b.service,
        "availability": round(b.availability.ratio(), 12),
        "percent": round(b.availability.percent(), 10),
        "factors": b.factors.iter().map(|f| json!({
            "service": f.service,
            "availability": round(f.availability.ratio(), 12),
            "source": source_text(&f.source),
        })).collect::<Vec<_>>(),
        "redundancy_groups": b.groups.iter().map(|g| json!({
            "name": g.name,
            "declared_by": g.declared_by,
            "members": g.members.iter().map(|(n, a)| json!({"service": n, "availability": round(a.ratio(), 12)})).collect::<Vec<_>>(),
            "availability": round(g.availability.ratio(), 12),
        })).collect::<Vec<_>>(),
        "downtime_s": downtime_json(b.availability.unavailability()),
    })
}

fn breakdown_text(b: &Breakdown) -> String {
    let mut out = format!(
        "Theoretical availability of {}: {}\n\n",
        b.service, b.availability
    );
    let _ = writeln!(out, "Every service it needs (each counted once):");
    for f in &b.factors {
        let _ = writeln!(
            out,
            "  {:<24} {:>12}   from {}",
            f.service,
            f.availability.to_string(),
            source_text(&f.source)
        );
    }
    if !b.groups.is_empty() {
        let _ = writeln!(
            out,
            "\nRedundancy groups (fail only when every member fails):"
        );
        for g in &b.groups {
            let members: Vec<String> = g.members.iter().map(|(n, a)| format!("{n} {a}")).collect();
            let _ = writeln!(
                out,
                "  {:<24} {:>12}   {} (declared by {})",
                g.name,
                g.availability.to_string(),
                members.join(" | "),
                g.declared_by
            );
        }
    }
    let _ = writeln!(
        out,
        "\nProduct: {} (assumes independent failures; measured availability can only be lower)\n",
        b.availability
    );
    downtime_table(&mut out, b.availability.unavailability());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(target: Option<&str>) -> CalcArgs {
        CalcArgs {
            target: target.map(String::from),
            serial: vec![],
            parallel: vec![],
            parallel_groups: vec![],
            service: None,
            config: None,
            json: true,
        }
    }

    #[test]
    fn json_matches_the_documented_shape() {
        let out = run(&args(Some("99.99")));
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v["target"], json!(0.9999));
        assert_eq!(
            v["downtime_s"],
            json!({"day":8.64,"week":60.48,"28d":241.92,"30d":259.2,"quarter":788.94,"year":3155.76})
        );
    }

    #[test]
    fn serial_and_parallel_compose() {
        let mut a = args(None);
        a.serial = vec!["99.99".into(), "99.99".into()];
        let v: Value = serde_json::from_str(&run(&a).stdout).unwrap();
        assert_eq!(v["availability"], json!(0.99980001));
        let mut p = args(None);
        p.parallel_groups = vec![vec!["99.9".into(), "99.9".into()]];
        let v: Value = serde_json::from_str(&run(&p).stdout).unwrap();
        assert_eq!(v["availability"], json!(0.999999));
    }

    #[test]
    fn a_bad_target_is_a_usage_error() {
        let out = run(&args(Some("101")));
        assert_eq!(out.code, exit::USAGE);
        assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    }
}
