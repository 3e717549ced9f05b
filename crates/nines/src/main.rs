use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use clap::CommandFactory;
use nines::cli::{Cli, Command};
use nines::{calc, check, client, clock, exit, logging, serve};

fn emit(out: calc::Outcome) -> ExitCode {
    let _ = std::io::stdout().write_all(out.stdout.as_bytes());
    let _ = std::io::stderr().write_all(out.stderr.as_bytes());
    ExitCode::from(out.code)
}

fn main() -> ExitCode {
    nines::install_crypto_provider();
    let cli = Cli::parse_grouped();
    match cli.command {
        Command::Check { path, quiet } => emit(check::run(&path, quiet)),
        Command::Calc(args) => emit(calc::run(&args)),
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
        Command::Status { server, json } => runtime(status_main(server.server, json)),
        Command::Reload { server } => runtime(reload_main(server.server)),
    }
}

fn runtime(f: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(f),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::from(exit::FAILURE)
        }
    }
}

async fn serve_main(args: nines::cli::ServeArgs) -> ExitCode {
    logging::init(args.log_format, &args.log_level);
    let opts = serve::Options {
        config_path: args.config,
        data_dir: args.data,
        store_url: args.store,
        listen: args.listen,
        max_body_bytes: args.max_body_bytes,
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
