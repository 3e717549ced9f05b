//! `nines maintenance ...`: maintenance windows from a shell or a deploy
//! script, through a running server's API.

use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::MaintenanceAction as A;
use crate::client;
use crate::exit;

/// Runs one maintenance command; returns the exit code.
pub async fn run(server: &str, action: A, as_json: bool) -> u8 {
    let outcome = match &action {
        A::Start {
            services,
            teams,
            selector,
            for_,
            until,
            at,
            every,
            tz,
            reason,
            by,
            key,
        } => {
            let mut body = json!({
                "services": services,
                "teams": teams,
                "description": reason,
                "createdBy": by.clone().unwrap_or_else(|| "cli".to_owned()),
            });
            let mut set = |k: &str, v: &Option<String>| {
                if let Some(v) = v {
                    body[k] = json!(v);
                }
            };
            set("selector", selector);
            set("duration", for_);
            set("endsAt", until);
            set("startsAt", at);
            set("rrule", every);
            set("timeZone", tz);
            set("idempotencyKey", key);
            client::send(server, Method::POST, "/api/v1/maintenance", Some(&body)).await
        }
        A::End { id } => {
            let path = format!("/api/v1/maintenance/{}/end", client::urlencode(id));
            client::send(server, Method::POST, &path, Some(&json!({}))).await
        }
        A::Extend { id, for_, until } => {
            let body = match (for_, until) {
                (Some(f), _) => json!({ "by": f }),
                (None, u) => json!({ "endsAt": u }),
            };
            let path = format!("/api/v1/maintenance/{}/extend", client::urlencode(id));
            client::send(server, Method::POST, &path, Some(&body)).await
        }
        A::Cancel { id } => {
            let path = format!("/api/v1/maintenance/{}", client::urlencode(id));
            client::call(server, Method::DELETE, &path).await
        }
        A::List { all } => {
            let q = if *all { "?state=all" } else { "" };
            client::call(server, Method::GET, &format!("/api/v1/maintenance{q}")).await
        }
        A::Show { id } => {
            let path = format!("/api/v1/maintenance/{}", client::urlencode(id));
            client::call(server, Method::GET, &path).await
        }
    };
    match outcome {
        Ok((200 | 201, v)) => {
            if as_json {
                println!("{v}");
                return exit::OK;
            }
            match &action {
                A::Start { .. } => {
                    // The id alone on stdout, for `ID=$(nines maintenance start ...)`.
                    println!("{}", v["id"].as_str().unwrap_or_default());
                    eprintln!("{}", summary(&v));
                }
                A::List { .. } => {
                    let list = v["windows"].as_array().cloned().unwrap_or_default();
                    if list.is_empty() {
                        println!("no maintenance windows");
                    }
                    for w in &list {
                        println!("{}", summary(w));
                    }
                }
                A::Show { .. } => print_show(&v),
                A::End { .. } | A::Extend { .. } | A::Cancel { .. } => println!("{}", summary(&v)),
            }
            exit::OK
        }
        Ok((400 | 413 | 422, v)) => {
            eprintln!(
                "error: {}",
                v["message"].as_str().unwrap_or("the request was refused")
            );
            exit::USAGE
        }
        Ok((404 | 409, v)) => {
            eprintln!("error: {}", v["message"].as_str().unwrap_or("refused"));
            exit::FAILURE
        }
        Ok((status, v)) => {
            eprintln!(
                "error: nines answered {status}: {}",
                v["message"].as_str().unwrap_or("no message")
            );
            exit::UNREACHABLE
        }
        Err(e) => {
            eprintln!("error: {}", e.message);
            e.code
        }
    }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// One line: id, state, what it covers, when, why.
fn summary(w: &Value) -> String {
    let mut scope: Vec<String> = Vec::new();
    let list = |k: &str| -> Vec<String> {
        w[k].as_array()
            .into_iter()
            .flatten()
            .map(|x| s(x).to_owned())
            .collect()
    };
    let services = list("services");
    if !services.is_empty() {
        scope.push(services.join(","));
    }
    let teams = list("teams");
    if !teams.is_empty() {
        scope.push(format!("team {}", teams.join(",")));
    }
    if let Some(sel) = w["selector"].as_str() {
        scope.push(sel.to_owned());
    }
    let when = match (&w["current"], &w["next"]) {
        (c, _) if c.is_object() => format!("until {}", s(&c["endsAt"])),
        (_, n) if n.is_object() => format!("from {} to {}", s(&n["startsAt"]), s(&n["endsAt"])),
        _ => match w["stoppedAt"].as_str() {
            Some(t) => format!("stopped {t}"),
            None => format!("ended {}", s(&w["endsAt"])),
        },
    };
    let every = w["rrule"]
        .as_str()
        .map(|r| format!(" every {r} ({})", s(&w["timeZone"])))
        .unwrap_or_default();
    format!(
        "{}  {:<9} {}  {}{}  \"{}\" by {}",
        s(&w["id"]),
        s(&w["state"]),
        scope.join(" + "),
        when,
        every,
        s(&w["description"]),
        s(&w["createdBy"]),
    )
}

fn print_show(v: &Value) {
    println!("{}", summary(v));
    println!(
        "  opened   {} by {}",
        s(&v["createdAt"]),
        s(&v["createdBy"])
    );
    println!(
        "  span     {} to {} ({})",
        s(&v["startsAt"]),
        s(&v["endsAt"]),
        s(&v["duration"])
    );
    if let Some(r) = v["rrule"].as_str() {
        println!("  repeats  {r} in {}", s(&v["timeZone"]));
    }
    if v["next"].is_object() {
        println!(
            "  next     {} to {}",
            s(&v["next"]["startsAt"]),
            s(&v["next"]["endsAt"])
        );
    }
    let held = &v["held"];
    println!(
        "  holding  {} alert(s)",
        held["count"].as_u64().unwrap_or(0)
    );
    for a in held["alerts"].as_array().into_iter().flatten() {
        let labels = a["labels"]
            .as_object()
            .map(|l| {
                l.iter()
                    .map(|(k, v)| format!("{k}={}", s(v)))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        println!("    {}  {}", s(&a["fingerprint"]), labels);
    }
    let budget = v["budget"].as_array().cloned().unwrap_or_default();
    if budget.is_empty() {
        println!("  budget   no SLO of its services measured it");
    }
    for b in &budget {
        println!(
            "  budget   {} objective {}: {} bad of {} events during the window, {:.2} % of the error budget",
            s(&b["slo"]),
            b["objective"],
            b["bad"],
            b["total"],
            b["budgetShare"].as_f64().unwrap_or(0.0) * 100.0
        );
    }
}
