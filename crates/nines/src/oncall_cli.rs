//! `nines oncall` and `nines schedule`: on call, asked of a running server
//! and shown in each schedule's time zone.

use std::process::ExitCode;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::{OverrideAction, ScheduleAction};
use crate::client::{self, ClientError};
use crate::exit;

/// An instant as the user wrote it: RFC 3339 with an offset, or a civil
/// date and time on this machine's clock; sent to the server in UTC.
pub(crate) fn instant(s: &str) -> Result<String, String> {
    if let Ok(t) = s.trim().parse::<Timestamp>() {
        return Ok(t.to_string());
    }
    s.trim()
        .replacen(' ', "T", 1)
        .parse::<jiff::civil::DateTime>()
        .ok()
        .and_then(|dt| dt.to_zoned(TimeZone::system()).ok())
        .map(|z| z.timestamp().to_string())
        .ok_or_else(|| {
            format!("`{s}` is not a time: write 2026-12-25T10:00 (this machine's clock) or 2026-12-25T10:00:00+01:00")
        })
}

/// `t` on the wall clock of `zone`, such as `Fri 2026-12-25 10:00 CET`.
fn local(t: &Value, zone: &str) -> String {
    let Some(ts) = t.as_str().and_then(|s| s.parse::<Timestamp>().ok()) else {
        return "?".to_owned();
    };
    match TimeZone::get(zone) {
        Ok(tz) => ts.to_zoned(tz).strftime("%a %Y-%m-%d %H:%M %Z").to_string(),
        Err(_) => ts.to_string(),
    }
}

fn usage(message: String) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(exit::USAGE)
}

/// Anything but the expected answer: 4xx is a refusal (exit 1, the
/// server's message), the rest the server's fault or unreachable (exit 3).
fn refused(outcome: Result<(u16, Value), ClientError>) -> ExitCode {
    match outcome {
        Ok((status, v)) if (400..500).contains(&status) => {
            eprintln!("error: {}", v["message"].as_str().unwrap_or("refused"));
            ExitCode::from(exit::FAILURE)
        }
        Ok((status, v)) => {
            eprintln!(
                "error: nines answered {status}: {}",
                v["message"].as_str().unwrap_or("no message")
            );
            ExitCode::from(exit::UNREACHABLE)
        }
        Err(e) => {
            eprintln!("error: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

fn who(entry: &Value) -> String {
    let zone = entry["time_zone"].as_str().unwrap_or("UTC");
    match entry["on_call"].as_object() {
        None => "nobody on call".to_owned(),
        Some(o) => {
            let until = if entry["until"].is_null() {
                String::new()
            } else {
                format!(" until {}", local(&entry["until"], zone))
            };
            format!(
                "{:<12} ({}){until}",
                o["name"].as_str().unwrap_or("?"),
                o["why"].as_str().unwrap_or("?"),
            )
        }
    }
}

/// `nines oncall [--at TIME]`.
pub async fn oncall(server: String, at: Option<String>, as_json: bool) -> ExitCode {
    let mut path = "/api/v1/oncall".to_owned();
    if let Some(at) = &at {
        match instant(at) {
            Ok(t) => path.push_str(&format!("?at={}", client::urlencode(&t))),
            Err(e) => return usage(e),
        }
    }
    match client::call(&server, Method::GET, &path).await {
        Ok((200, v)) => {
            if as_json {
                println!("{v}");
                return ExitCode::SUCCESS;
            }
            let list = v["schedules"].as_array().cloned().unwrap_or_default();
            println!("on call at {}:", v["at"].as_str().unwrap_or("?"));
            if list.is_empty() {
                println!("  no schedules are configured");
            }
            for s in &list {
                println!("  {:<20} {}", s["schedule"].as_str().unwrap_or("?"), who(s));
            }
            ExitCode::SUCCESS
        }
        other => refused(other),
    }
}

/// `nines schedule ...`.
pub async fn schedule(server: String, action: ScheduleAction, as_json: bool) -> ExitCode {
    match action {
        ScheduleAction::List => {
            match client::call(&server, Method::GET, "/api/v1/schedules").await {
                Ok((200, v)) => {
                    if as_json {
                        println!("{v}");
                        return ExitCode::SUCCESS;
                    }
                    let list = v["schedules"].as_array().cloned().unwrap_or_default();
                    if list.is_empty() {
                        println!("no schedules are configured");
                    }
                    for s in &list {
                        println!(
                            "{:<20} {:<16} now: {}",
                            s["schedule"].as_str().unwrap_or("?"),
                            s["time_zone"].as_str().unwrap_or("?"),
                            who(s)
                        );
                    }
                    ExitCode::SUCCESS
                }
                other => refused(other),
            }
        }
        ScheduleAction::Show { name, from, until } => {
            let mut query = Vec::new();
            for (key, value) in [("from", from), ("until", until)] {
                if let Some(v) = value {
                    match instant(&v) {
                        Ok(t) => query.push(format!("{key}={}", client::urlencode(&t))),
                        Err(e) => return usage(e),
                    }
                }
            }
            let mut path = format!("/api/v1/schedules/{}", client::urlencode(&name));
            if !query.is_empty() {
                path.push('?');
                path.push_str(&query.join("&"));
            }
            match client::call(&server, Method::GET, &path).await {
                Ok((200, v)) => {
                    if as_json {
                        println!("{v}");
                    } else {
                        print!("{}", show(&v));
                    }
                    ExitCode::SUCCESS
                }
                other => refused(other),
            }
        }
        ScheduleAction::Override(o) => override_action(server, o, as_json).await,
    }
}

/// The text of `nines schedule show`.
pub fn show(v: &Value) -> String {
    use std::fmt::Write as _;
    let zone = v["time_zone"].as_str().unwrap_or("UTC");
    let mut out = String::new();
    let name = v["schedule"].as_str().unwrap_or("?");
    let mut head = name.to_owned();
    if let Some(d) = v["display_name"].as_str() {
        head.push_str(&format!(" ({d})"));
    }
    if let Some(t) = v["team"].as_str() {
        head.push_str(&format!(", team {t}"));
    }
    let _ = writeln!(out, "{head}, times in {zone}");
    let mut now = v.clone();
    now["until"] = v["on_call_until"].clone();
    let _ = writeln!(out, "on call now: {}", who(&now));
    for l in v["layers"].as_array().into_iter().flatten() {
        let what = match l["kind"].as_str() {
            Some("rotation") => {
                let minutes = l["turn_minutes"].as_i64().unwrap_or(0);
                let turn = match minutes {
                    1440 => "daily".to_owned(),
                    10080 => "weekly".to_owned(),
                    m if m % 1440 == 0 => format!("every {}d", m / 1440),
                    m if m % 60 == 0 => format!("every {}h", m / 60),
                    m => format!("every {m}m"),
                };
                let members: Vec<&str> = l["members"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let start = l["start"].as_str().unwrap_or("?").replace('T', " ");
                let start = start
                    .strip_suffix(":00")
                    .filter(|s| s.len() == 16)
                    .unwrap_or(&start);
                format!("{turn} from {start}, {}", members.join(", "))
            }
            _ => format!("calendar, {} event(s)", l["events"]),
        };
        let restricted: Vec<String> = l["restrictions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let (from, to) = (
                    r["from"].as_str().unwrap_or("?"),
                    r["to"].as_str().unwrap_or("?"),
                );
                // `mon 09:00-18:00` rather than `mon 09:00-mon 18:00`.
                match (from.split_once(' '), to.split_once(' ')) {
                    (Some((d1, _)), Some((d2, t2))) if d1 == d2 => format!("{from}-{t2}"),
                    _ => format!("{from}-{to}"),
                }
            })
            .collect();
        let only = if restricted.is_empty() {
            String::new()
        } else {
            format!(" (only {})", restricted.join(", "))
        };
        let _ = writeln!(
            out,
            "layer {:<16} {what}{only}",
            l["name"].as_str().unwrap_or("?")
        );
    }
    let _ = writeln!(
        out,
        "\nshifts from {} to {}:",
        local(&v["from"], zone),
        local(&v["until"], zone)
    );
    for s in v["shifts"].as_array().into_iter().flatten() {
        let why = match s["reason"]["kind"].as_str() {
            Some("layer") => format!("layer {}", s["reason"]["layer"].as_str().unwrap_or("?")),
            Some("override") => match s["reason"]["id"].as_i64() {
                Some(id) => format!("override #{id}"),
                None => "override (configuration)".to_owned(),
            },
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  {} - {}  {:<12} {why}",
            local(&s["start"], zone),
            local(&s["end"], zone),
            s["person"].as_str().unwrap_or("(nobody)"),
        );
    }
    let handoffs = v["handoffs"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(out, "\nhandoffs:");
    if handoffs.is_empty() {
        let _ = writeln!(out, "  none in this span");
    }
    for h in &handoffs {
        let _ = writeln!(
            out,
            "  {}  {} -> {}",
            local(&h["at"], zone),
            h["from"].as_str().unwrap_or("(nobody)"),
            h["to"].as_str().unwrap_or("(nobody)")
        );
    }
    out
}

async fn override_action(server: String, action: OverrideAction, as_json: bool) -> ExitCode {
    let base = |schedule: &str| {
        format!(
            "/api/v1/schedules/{}/overrides",
            client::urlencode(schedule)
        )
    };
    let print = |o: &Value| {
        format!(
            "#{:<4} {:<12} {} - {}  {}{}",
            o["id"].as_i64().map_or("cfg".to_owned(), |i| i.to_string()),
            o["person"].as_str().unwrap_or("?"),
            o["start"].as_str().unwrap_or("?"),
            o["end"].as_str().unwrap_or("?"),
            o["reason"].as_str().unwrap_or(""),
            o["by"]
                .as_str()
                .map(|b| format!(" (by {b})"))
                .unwrap_or_default(),
        )
    };
    match action {
        OverrideAction::List { schedule } => {
            match client::call(&server, Method::GET, &base(&schedule)).await {
                Ok((200, v)) => {
                    if as_json {
                        println!("{v}");
                        return ExitCode::SUCCESS;
                    }
                    let list = v["overrides"].as_array().cloned().unwrap_or_default();
                    if list.is_empty() {
                        println!("no overrides in force or to come on {schedule}");
                    }
                    for o in &list {
                        println!("{}", print(o));
                    }
                    ExitCode::SUCCESS
                }
                other => refused(other),
            }
        }
        OverrideAction::Add {
            schedule,
            person,
            start,
            end,
            for_,
            reason,
            by,
        } => {
            let mut body = json!({"person": person, "reason": reason, "by": by, "for": for_});
            for (key, value) in [("start", start), ("end", end)] {
                if let Some(v) = value {
                    match instant(&v) {
                        Ok(t) => body[key] = json!(t),
                        Err(e) => return usage(e),
                    }
                }
            }
            match client::send(&server, Method::POST, &base(&schedule), Some(&body)).await {
                Ok((201, v)) => {
                    if as_json {
                        println!("{v}");
                    } else {
                        println!("override added to {schedule}: {}", print(&v));
                    }
                    ExitCode::SUCCESS
                }
                other => refused(other),
            }
        }
        OverrideAction::Remove { schedule, id } => {
            let path = format!("{}/{id}", base(&schedule));
            match client::call(&server, Method::DELETE, &path).await {
                Ok((200, v)) => {
                    if as_json {
                        println!("{v}");
                    } else {
                        println!("override #{id} removed from {schedule}");
                    }
                    ExitCode::SUCCESS
                }
                other => refused(other),
            }
        }
    }
}
