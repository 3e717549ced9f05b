use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use clap::CommandFactory;
use nines::cli::{Cli, Command};
use nines::{calc, check, client, clock, exit, logging, serve};

fn emit(out: nines::Outcome) -> ExitCode {
    let _ = std::io::stdout().write_all(out.stdout.as_bytes());
    let _ = std::io::stderr().write_all(out.stderr.as_bytes());
    ExitCode::from(out.code)
}

fn main() -> ExitCode {
    nines::install_crypto_provider();
    let cli = Cli::parse_grouped();
    match cli.command {
        Command::Check {
            path,
            alertmanager,
            quiet,
        } => {
            let mut outcomes = Vec::new();
            if let Some(path) = path {
                outcomes.push(check::run(&path, quiet));
            }
            if let Some(file) = alertmanager {
                outcomes.push(check::run_alertmanager(&file, quiet));
            }
            emit(check::merge(outcomes))
        }
        Command::Calc(args) => emit(calc::run(&args)),
        Command::Escalation {
            action:
                nines::cli::EscalationAction::Show {
                    name,
                    config,
                    at,
                    service,
                    urgency,
                },
        } => emit(nines::escalation_cli::show(
            &config,
            &name,
            at.as_deref(),
            service.as_deref(),
            &urgency,
            jiff::Timestamp::now(),
        )),
        Command::Simulate {
            config,
            scenario,
            json,
        } => emit(nines::simulate::run(&config, &scenario, json)),
        Command::Completions { shell } => {
            // Generated into memory first: a reader that goes away (`| head`)
            // must not turn into a panic.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "nines", &mut script);
            let _ = std::io::stdout().write_all(&script);
            ExitCode::SUCCESS
        }
        Command::Serve(args) => runtime(serve_main(args)),
        Command::Demo { config, listen } => runtime(async move {
            logging::init(logging::LogFormat::Human, "info");
            match nines::demo::run(nines::demo::DemoArgs { config, listen }).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    if let Some(refused) = e.downcast_ref::<serve::ConfigRefused>() {
                        eprint!("{}", refused.0.render());
                    }
                    eprintln!("error: {e:#}");
                    ExitCode::from(exit::FAILURE)
                }
            }
        }),
        Command::Gate {
            service,
            server,
            override_: true,
            reason,
            for_,
            by,
            ..
        } => runtime(override_main(server.server, service, reason, for_, by)),
        Command::Gate {
            service,
            slo,
            server,
            json,
            ..
        } => runtime(gate_main(server.server, service, slo, json)),
        Command::Incident {
            action,
            server,
            json,
        } => runtime(incident_main(server.server, action, json)),
        Command::Maintenance {
            action,
            server,
            json,
        } => runtime(async move {
            ExitCode::from(nines::maintenance_cmd::run(&server.server, action, json).await)
        }),
        Command::Oncall { at, server, json } => {
            runtime(nines::oncall_cli::oncall(server.server, at, json))
        }
        Command::Schedule {
            action,
            server,
            json,
        } => runtime(nines::oncall_cli::schedule(server.server, action, json)),
        Command::Status { server, json } => runtime(status_main(server.server, json)),
        Command::Reload { server } => runtime(reload_main(server.server)),
    }
}

/// Threads for async tasks: one per core but one, left to the threads that
/// block (SQLite's writer above all, whose commits and syncs run on a
/// thread of their own), and at least one. On two cores, one: the
/// request, the intake and the dispatcher then hand work to each other on
/// one thread instead of waking a second one for each hand-over (at one
/// alert per request, 20-25 % less CPU per alert, and no less throughput,
/// than with two). `TOKIO_WORKER_THREADS` sets it otherwise.
fn async_threads() -> Option<usize> {
    if std::env::var_os("TOKIO_WORKER_THREADS").is_some() {
        return None;
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    Some(cores.saturating_sub(1).max(1))
}

fn runtime(f: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = async_threads() {
        builder.worker_threads(n);
    }
    match builder.enable_all().build() {
        Ok(rt) => rt.block_on(f),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::from(exit::FAILURE)
        }
    }
}

async fn serve_main(args: nines::cli::ServeArgs) -> ExitCode {
    logging::init(args.log_format, &args.log_level);
    let smtp = match args.smtp() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let opts = serve::Options {
        config_path: args.config,
        data_dir: args.data,
        store_url: args.store,
        listen: args.listen,
        max_body_bytes: args.max_body_bytes,
        max_maintenance: args.max_maintenance,
        eval_interval: Some(args.eval_every),
        alertmanager_config: args.alertmanager_config,
        smtp,
        delivery_timeout: args.delivery_timeout,
        page_limit: args.page_limit,
        pace_machines: args.webhook_updates == nines::cli::WebhookUpdates::AtOnce,
    };
    let signals = match serve::Signals::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot handle signals: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let running = match serve::start(opts, Arc::new(clock::SystemClock)).await {
        Ok(r) => r,
        Err(e) => {
            if let Some(refused) = e.downcast_ref::<serve::ConfigRefused>() {
                eprint!("{}", refused.0.render());
            }
            eprintln!("error: {e:#}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let addr = running.addr;
    let config = running.state.current();
    tracing::info!(
        listen = %addr,
        store = %running.state.store.describe(),
        revision = config.revision,
        objects = config.catalog.object_count(),
        "nines is up: open http://{addr}/ (status at /api/v1/status, metrics at /metrics)"
    );
    match serve::run_until_signalled(running, signals).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::FAILURE)
        }
    }
}

async fn status_main(server: String, as_json: bool) -> ExitCode {
    match client::call(&server, reqwest::Method::GET, "/api/v1/status").await {
        Ok((200, v)) => {
            if as_json {
                println!("{v}");
            } else {
                let c = &v["config"];
                println!("nines {} at {server}", v["version"].as_str().unwrap_or("?"));
                println!(
                    "  up since      {}",
                    v["started_at"].as_str().unwrap_or("?")
                );
                println!(
                    "  config        revision {} from {} (loaded {})",
                    c["revision"],
                    c["path"].as_str().unwrap_or("?"),
                    c["loaded_at"].as_str().unwrap_or("?")
                );
                println!(
                    "  store         {} (schema {})",
                    v["store"]["location"].as_str().unwrap_or("?"),
                    v["store"]["schema_version"]
                );
            }
            ExitCode::SUCCESS
        }
        other => failed(other),
    }
}

async fn incident_main(
    server: String,
    action: nines::cli::IncidentAction,
    as_json: bool,
) -> ExitCode {
    use nines::cli::IncidentAction as A;
    use reqwest::Method;
    let who =
        |by: Option<String>| serde_json::json!({ "by": by.unwrap_or_else(|| "cli".to_owned()) });
    let outcome = match &action {
        A::List { all } => {
            let q = if *all { "?state=all" } else { "" };
            client::call(&server, Method::GET, &format!("/api/v1/incidents{q}")).await
        }
        A::Show { id } => {
            client::call(&server, Method::GET, &format!("/api/v1/incidents/{id}")).await
        }
        A::Ack { id, by } => {
            client::send(
                &server,
                Method::POST,
                &format!("/api/v1/incidents/{id}/ack"),
                Some(&who(by.clone())),
            )
            .await
        }
        A::Resolve { id, by } => {
            client::send(
                &server,
                Method::POST,
                &format!("/api/v1/incidents/{id}/resolve"),
                Some(&who(by.clone())),
            )
            .await
        }
        A::Note { id, text, by } => {
            let mut body = who(by.clone());
            body["text"] = serde_json::json!(text);
            client::send(
                &server,
                Method::POST,
                &format!("/api/v1/incidents/{id}/notes"),
                Some(&body),
            )
            .await
        }
    };
    match outcome {
        Ok((200, v)) => {
            if as_json {
                println!("{v}");
                return ExitCode::SUCCESS;
            }
            let line = |i: &serde_json::Value| {
                format!(
                    "#{:<5} {:<13} {:<5} {:<16} {}  (opened {})",
                    i["id"],
                    i["state"].as_str().unwrap_or("?"),
                    i["urgency"].as_str().unwrap_or("?"),
                    i["service"].as_str().unwrap_or("?"),
                    i["title"].as_str().unwrap_or(""),
                    i["opened_at"].as_str().unwrap_or("?"),
                )
            };
            match &action {
                A::List { .. } => {
                    let list = v["incidents"].as_array().cloned().unwrap_or_default();
                    if list.is_empty() {
                        println!("no incidents");
                    }
                    for i in &list {
                        println!("{}", line(i));
                    }
                }
                A::Show { .. } => {
                    println!("{}", line(&v));
                    for h in v["held_back"].as_array().into_iter().flatten() {
                        println!(
                            "  not paged: {} ({}, {} alert(s)): {}",
                            h["service"].as_str().unwrap_or("?"),
                            h["owner"]
                                .as_str()
                                .map_or_else(|| "no owner".to_owned(), |o| format!("team {o}")),
                            h["alerts"],
                            h["reason"].as_str().unwrap_or("")
                        );
                    }
                    for c in v["changes"].as_array().into_iter().flatten() {
                        println!(
                            "  change   {}  {}",
                            c["at"].as_str().unwrap_or("?"),
                            c["summary"].as_str().unwrap_or("")
                        );
                    }
                    for e in v["timeline"].as_array().into_iter().flatten() {
                        let d = &e["details"];
                        let what = d["text"]
                            .as_str()
                            .or(d["title"].as_str())
                            .or(d["reason"].as_str())
                            .map(str::to_owned)
                            .or_else(|| {
                                let n = d["count"].as_u64()?;
                                let first = d["alerts"][0]["labels"].as_object()?;
                                let labels = first
                                    .iter()
                                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                                    .collect::<Vec<_>>()
                                    .join(" ");
                                Some(if n > 1 {
                                    format!("{labels} (and {} more)", n - 1)
                                } else {
                                    labels
                                })
                            })
                            .or_else(|| {
                                d["labels"].as_object().map(|l| {
                                    l.iter()
                                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                                        .collect::<Vec<_>>()
                                        .join(" ")
                                })
                            })
                            .or_else(|| d["target"].as_str().map(str::to_owned))
                            .or_else(|| {
                                d["until"]
                                    .as_str()
                                    .map(|u| format!("back to triggered at {u} unless resolved"))
                            })
                            .unwrap_or_default();
                        println!(
                            "  {}  {:<24} {:<22} {}",
                            e["at"].as_str().unwrap_or("?"),
                            e["kind"].as_str().unwrap_or("?"),
                            e["actor"].as_str().unwrap_or("?"),
                            what
                        );
                    }
                }
                A::Ack { id, .. } => println!("incident #{id} acknowledged"),
                A::Resolve { id, .. } => println!("incident #{id} resolved"),
                A::Note { id, .. } => println!("note added to incident #{id}"),
            }
            ExitCode::SUCCESS
        }
        Ok((404 | 409, v)) => {
            eprintln!("error: {}", v["message"].as_str().unwrap_or("refused"));
            ExitCode::from(exit::FAILURE)
        }
        other => failed(other),
    }
}

/// An answer the command does not expect, or none: said plainly, with the
/// exit code for "the server could not be reached, or answered with an error".
fn failed(outcome: Result<(u16, serde_json::Value), client::ClientError>) -> ExitCode {
    match outcome {
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

async fn reload_main(server: String) -> ExitCode {
    match client::call(&server, reqwest::Method::POST, "/-/reload").await {
        Ok((200, v)) => {
            println!("reloaded: configuration revision {}", v["revision"]);
            ExitCode::SUCCESS
        }
        Ok((422, v)) => {
            eprintln!("error: {}", v["message"].as_str().unwrap_or("refused"));
            for d in v["details"].as_array().into_iter().flatten() {
                let file = d["file"].as_str().unwrap_or("?");
                let message = d["message"].as_str().unwrap_or("");
                match (d["line"].as_u64(), d["column"].as_u64()) {
                    (Some(line), Some(col)) => eprintln!("{file}:{line}:{col}: error: {message}"),
                    _ => eprintln!("{file}: error: {message}"),
                }
            }
            ExitCode::from(exit::FAILURE)
        }
        other => failed(other),
    }
}

async fn gate_main(
    server: String,
    service: String,
    slo: Option<String>,
    as_json: bool,
) -> ExitCode {
    // The gate's own convention: 2 means "could not decide", whatever the cause.
    const UNDECIDED: u8 = 2;
    let mut path = format!("/api/v1/gate/{}", client::urlencode(&service));
    if let Some(s) = &slo {
        path.push_str(&format!("?slo={}", client::urlencode(s)));
    }
    match client::call(&server, reqwest::Method::GET, &path).await {
        Ok((200, v)) => {
            let frozen = v["decision"] == "frozen";
            if as_json {
                println!("{v}");
            } else if !v["override"].is_null() {
                let o = &v["override"];
                println!(
                    "GO (override): {service} may ship until {}: {} (by {})",
                    o["expires_at"].as_str().unwrap_or("?"),
                    o["reason"].as_str().unwrap_or(""),
                    o["by"].as_str().unwrap_or("?")
                );
            } else if frozen {
                println!("FROZEN: {service} may not ship now");
                for f in v["frozen_by"].as_array().into_iter().flatten() {
                    println!(
                        "  SLO {} (objective {}): {:.2} % of its error budget left; exhausted since {}",
                        f["slo"].as_str().unwrap_or("?"),
                        f["objective"],
                        f["remaining_ratio"].as_f64().unwrap_or(0.0) * 100.0,
                        f["exhausted_since"]
                            .as_str()
                            .unwrap_or("the last evaluation")
                    );
                }
            } else {
                let n = v["checked"].as_array().map_or(0, Vec::len);
                println!("GO: {service} may ship ({n} SLO objective(s) checked, none frozen)");
            }
            ExitCode::from(if frozen { exit::FAILURE } else { exit::OK })
        }
        Ok((status, v)) => {
            eprintln!(
                "error: cannot decide: nines answered {status}: {}",
                v["message"].as_str().unwrap_or("no message")
            );
            ExitCode::from(UNDECIDED)
        }
        Err(e) => {
            eprintln!("error: cannot decide: {}", e.message);
            ExitCode::from(UNDECIDED)
        }
    }
}

async fn override_main(
    server: String,
    service: String,
    reason: Option<String>,
    length: Option<String>,
    by: Option<String>,
) -> ExitCode {
    const UNDECIDED: u8 = 2;
    let body = serde_json::json!({"reason": reason, "for": length, "by": by});
    let path = format!("/api/v1/gate/{}/overrides", client::urlencode(&service));
    match client::send(&server, reqwest::Method::POST, &path, Some(&body)).await {
        Ok((201, v)) => {
            println!(
                "override {} recorded: {service} may ship until {} ({})",
                v["id"],
                v["expires_at"].as_str().unwrap_or("?"),
                v["reason"].as_str().unwrap_or("")
            );
            ExitCode::SUCCESS
        }
        Ok((status, v)) => {
            eprintln!(
                "error: override refused: nines answered {status}: {}",
                v["message"].as_str().unwrap_or("no message")
            );
            ExitCode::from(UNDECIDED)
        }
        Err(e) => {
            eprintln!("error: {}", e.message);
            ExitCode::from(UNDECIDED)
        }
    }
}
