//! The command line: every subcommand, its flags and its examples.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::logging::LogFormat;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9393";
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:9393";

const EXIT_CODES: &str = "\
Exit codes:
  0  success (or the answer is yes)
  1  the answer is no (an invalid config), or the server could not start
  2  bad usage, or input that cannot be read
  3  the nines server could not be reached, or answered with an error";

#[derive(Debug, Parser)]
#[command(
    name = "nines",
    version,
    about = "SLOs, error budgets and burn-rate alerts that tell a team when it must intervene, and who must.",
    after_help = EXIT_CODES,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses the process arguments, keeping each `--parallel` occurrence as
    /// its own group (clap's derive flattens them).
    pub fn parse_grouped() -> Cli {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command().get_matches();
        let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        if let Command::Calc(args) = &mut cli.command
            && let Some(m) = matches.subcommand_matches("calc")
            && let Some(groups) = m.get_occurrences::<String>("parallel")
        {
            args.parallel_groups = groups.map(|g| g.cloned().collect()).collect();
        }
        cli
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the nines server.
    #[command(after_help = "\
Examples:
  nines serve --config examples/shop
  nines serve --config /etc/nines --data /var/lib/nines --listen 0.0.0.0:9393
  nines serve --config /etc/nines --store postgres://nines@db.internal/nines --log-format json

Reload the configuration without a restart with SIGHUP or `POST /-/reload`
(`nines reload`): an invalid configuration is refused, its errors are
logged, and the running one stays in force.")]
    Serve(ServeArgs),

    /// Run the server on the example configuration with synthetic traffic and a bad spell.
    #[command(after_help = "\
Examples:
  nines demo
  nines demo --config examples/shop --listen 127.0.0.1:9393

The demo writes six hours of clean synthetic history, then live traffic; 30
seconds in, a three-minute bad spell burns the budgets: a burn-rate page
fires and `nines gate --service checkout` answers frozen. Its data lives in a
temporary directory deleted at exit.")]
    Demo {
        #[arg(long, short, default_value = "examples/shop")]
        config: PathBuf,
        #[arg(long, default_value = DEFAULT_LISTEN)]
        listen: SocketAddr,
    },

    /// Validate configuration files and print every problem with its location.
    #[command(after_help = "\
Examples:
  nines check examples/shop
  nines check slo.yaml
  nines check --alertmanager /etc/alertmanager/alertmanager.yml

With --alertmanager, the file is read as `serve --alertmanager-config` would
read it, and everything it cannot carry over is reported line by line.

Exit codes: 0 valid, 1 invalid, 2 could not read the input.")]
    Check {
        /// A YAML file, or a directory searched for *.yaml and *.yml files.
        #[arg(required_unless_present = "alertmanager")]
        path: Option<PathBuf>,
        /// An existing alertmanager.yml to check.
        #[arg(long, value_name = "FILE")]
        alertmanager: Option<PathBuf>,
        /// Print only problems, not the summary of what was found.
        #[arg(long, short)]
        quiet: bool,
    },

    /// Allowed downtime for a target, and availability of composed services.
    #[command(after_help = "\
Examples:
  nines calc 99.95                     allowed downtime per day, week, month, quarter, year
  nines calc \"three nines\"             the same for 99.9 %
  nines calc --serial 99.99 99.99      two services in a row: 99.98 %
  nines calc --parallel 99.9 99.9      two redundant replicas: 99.9999 %
  nines calc --serial 99.99 --parallel 99.9 99.9   both, combined
  nines calc --service checkout --config examples/shop
  nines calc 99.9 --json

Targets are written 99.95, 99.95%, 0.9995 or \"three and a half nines\".
Conventions: day = 24 h, month = 30 days, year = 365.25 days, quarter = year / 4.")]
    Calc(CalcArgs),

    /// Run the SLO engine over a scenario on a simulated clock.
    #[command(after_help = "\
Examples:
  nines simulate --config examples/shop --scenario examples/scenarios/bad-deploy.yaml
  nines simulate --config examples/shop --scenario month.yaml --json | jq 'select(.severity == \"page\")'

A scenario gives, per SLI, phases of traffic (rate per second and an error
ratio or a latency profile) and optional maintenance windows; every alert
that fires or resolves is printed with its time from the scenario's start,
then the final SLO figures. With --json, one object per line: alerts
(type alert: at_s, slo, severity, state, rule, windows, burn rates, budget
consumed, time to exhaustion), then one summary per objective (type summary).")]
    Simulate {
        /// The configuration whose SLOs to simulate.
        #[arg(long, short, env = "NINES_CONFIG")]
        config: PathBuf,
        /// The scenario file.
        #[arg(long, short)]
        scenario: PathBuf,
        #[arg(long)]
        json: bool,
    },

    /// May a change ship? Asks the server whether the service's error budgets allow it.
    #[command(after_help = "\
Examples:
  nines gate --service checkout && ./deploy.sh
  nines gate --service checkout --slo checkout-availability --json

  nines gate --service checkout --override --reason \"hotfix INC-42\" --for 2h

Exit codes: 0 go (or the override was recorded), 1 frozen (the SLO, its
remaining budget and since when are printed), 2 could not decide (server
unreachable, unknown service).")]
    Gate {
        /// The service about to change.
        #[arg(long)]
        service: String,
        /// Only this SLO of the service.
        #[arg(long)]
        slo: Option<String>,
        /// Let changes ship although the budget is spent (an emergency fix); needs --reason and --for.
        #[arg(long = "override", requires_all = ["reason", "for_"], conflicts_with = "slo")]
        override_: bool,
        /// Why the override is needed; kept with it.
        #[arg(long)]
        reason: Option<String>,
        /// How long the override lasts, such as 30m or 2h (at most 7d).
        #[arg(long = "for")]
        for_: Option<String>,
        /// Who asks for the override.
        #[arg(long, env = "USER")]
        by: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long)]
        json: bool,
    },

    /// List, show, acknowledge, resolve or annotate incidents.
    #[command(after_help = "\
Examples:
  nines incident list
  nines incident list --all
  nines incident show 12
  nines incident ack 12
  nines incident resolve 12 --by alice
  nines incident note 12 \"rolled back v1.4, error rate falling\"

Exit codes: 0 done, 1 refused (no such incident, already resolved),
3 the server could not be reached or answered with an error.")]
    Incident {
        #[command(subcommand)]
        action: IncidentAction,
        #[command(flatten)]
        server: ServerArgs,
        /// Print the server's JSON answer as it is.
        #[arg(long, global = true)]
        json: bool,
    },

    /// Who is on call now (or at --at) in every schedule, why, and until when.
    #[command(after_help = "\
Examples:
  nines oncall
  nines oncall --at 2026-12-25T03:00            (your local time)
  nines oncall --at 2026-12-25T03:00:00+01:00 --json

Each line: the schedule, the person on call, why (their layer, or an
override) and when their shift ends, in the schedule's time zone.")]
    Oncall {
        /// An instant: RFC 3339 with an offset, or a date and time on this machine's clock.
        #[arg(long)]
        at: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
        /// Print the server's JSON answer as it is.
        #[arg(long)]
        json: bool,
    },

    /// On-call schedules: their shifts and handoffs, and overrides.
    #[command(after_help = "\
Examples:
  nines schedule list
  nines schedule show payments-primary
  nines schedule show payments-primary --from 2026-12-21T00:00 --until 2027-01-04T00:00
  nines schedule override add payments-primary --person dave --start 2026-12-24T18:00 --for 15h --reason \"covers Christmas\"
  nines schedule override list payments-primary
  nines schedule override remove payments-primary 3

Times are RFC 3339 with an offset, or a date and time on this machine's
clock; shifts are shown in the schedule's time zone. Subscribe to a
schedule's shifts in a calendar app at
SERVER/api/v1/schedules/NAME/calendar.ics (one person's:
SERVER/api/v1/people/NAME/calendar.ics).

Exit codes: 0 done, 1 refused (unknown schedule, person or override, an
override that ends before it starts), 3 the server could not be reached.")]
    Schedule {
        #[command(subcommand)]
        action: ScheduleAction,
        #[command(flatten)]
        server: ServerArgs,
        /// Print the server's JSON answer as it is.
        #[arg(long, global = true)]
        json: bool,
    },

    /// Escalation policies: the steps of one, and whom each would reach.
    #[command(after_help = "\
Examples:
  nines escalation show payments --config examples/shop
  nines escalation show payments --config examples/shop --at 2026-12-25T03:00:00+01:00
  nines escalation show payments --config examples/shop --service payments-api --urgency low

Read from the configuration, without a server: schedules are resolved with
their configured overrides only. With --urgency low and --service, steps
wait for the service's support hours.

Exit codes: 0 shown, 1 invalid configuration, 2 unknown policy or service, bad time.")]
    Escalation {
        #[command(subcommand)]
        action: EscalationAction,
    },

    /// Open, end, extend, cancel and list maintenance windows: while one is
    /// active, its services' alerts are recorded but page nobody.
    #[command(after_help = "\
Examples:
  nines maintenance start --service api,worker --for 5m --reason \"deploy v1.4\"
  ID=$(nines maintenance start --service api --for 10m --reason deploy --key \"deploy-$CI_PIPELINE_ID\")
  nines maintenance end \"$ID\"
  nines maintenance start --team payments --at 2026-12-01T22:00:00Z --until 2026-12-01T23:30:00Z --reason \"database upgrade\"
  nines maintenance start --service db-primary --every 'FREQ=WEEKLY;BYDAY=SU' --tz Europe/Paris \\
      --at 2026-11-22T02:00:00+01:00 --for 1h --reason \"weekly vacuum\"
  nines maintenance start --match 'cluster=~\"eu-.*\"' --for 2h --reason \"EU network work\"
  nines maintenance list
  nines maintenance extend \"$ID\" --for 15m
  nines maintenance cancel \"$ID\"

`start` prints the window's id alone on standard output, so a deploy
script can keep it and end the window when it is done; the window also
ends by itself (after one hour unless --for or --until says otherwise).
With --key, a retried `start` finds the window the first one opened
instead of opening a second.

Exit codes: 0 done; 1 refused (no such window, or not in a state that
allows it: ending one that is not active, extending one that is over);
2 bad usage, or a window nines will not open (unknown service, ends
before it starts, longer than the server's --max-maintenance, a rule
that never occurs); 3 the server could not be reached or answered with
an error.")]
    Maintenance {
        #[command(subcommand)]
        action: MaintenanceAction,
        #[command(flatten)]
        server: ServerArgs,
        /// Print the server's JSON answer as it is.
        #[arg(long, global = true)]
        json: bool,
    },

    /// Show a running server's status: version, configuration, store.
    #[command(after_help = "\
Examples:
  nines status
  nines status --server http://nines.internal:9393 --json")]
    Status {
        #[command(flatten)]
        server: ServerArgs,
        /// Print the server's JSON answer as it is.
        #[arg(long)]
        json: bool,
    },

    /// Ask a running server to reload its configuration.
    #[command(after_help = "\
Examples:
  nines reload
  NINES_SERVER=http://nines.internal:9393 nines reload

Exit codes: 0 reloaded, 1 the new configuration was refused (its errors are
printed; the old one keeps running), 3 the server could not be reached.")]
    Reload {
        #[command(flatten)]
        server: ServerArgs,
    },

    /// Print a shell completion script.
    #[command(after_help = "\
Examples:
  nines completions bash > /etc/bash_completion.d/nines
  nines completions zsh > \"${fpath[1]}/_nines\"
  nines completions fish > ~/.config/fish/completions/nines.fish")]
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A YAML file, or a directory of them.
    #[arg(long, short, env = "NINES_CONFIG")]
    pub config: PathBuf,
    /// Where the embedded store (SQLite) keeps its files.
    #[arg(long, env = "NINES_DATA", default_value = "data")]
    pub data: PathBuf,
    /// Address and port to listen on.
    #[arg(long, env = "NINES_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// An existing Alertmanager configuration (alertmanager.yml) whose
    /// routes, receivers, inhibit rules and time intervals nines follows.
    #[arg(long, env = "NINES_ALERTMANAGER_CONFIG", value_name = "FILE")]
    pub alertmanager_config: Option<PathBuf>,
    /// Use another store than the embedded one: postgres://user@host/db.
    #[arg(long, env = "NINES_STORE")]
    pub store: Option<String>,
    #[arg(long, value_enum, env = "NINES_LOG_FORMAT", default_value = "human")]
    pub log_format: LogFormat,
    /// Log level or filter (RUST_LOG syntax), such as `info` or `nines=debug`.
    #[arg(long, env = "NINES_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// How often the SLO engine evaluates budgets and burn-rate alerts.
    #[arg(long, default_value = "15s", value_parser = parse_interval)]
    pub eval_every: std::time::Duration,
    /// The largest request body accepted, in bytes; larger ones get a 413.
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// The longest maintenance window (or occurrence of a recurring one)
    /// that may be opened.
    #[arg(long, default_value = "7d", value_parser = parse_max_maintenance)]
    pub max_maintenance: jiff::SignedDuration,
    /// How long one notification delivery (an HTTP request, an SMTP
    /// session) may take before it counts as failed and is retried.
    #[arg(long, default_value = "10s", value_parser = parse_delivery_timeout)]
    pub delivery_timeout: std::time::Duration,
    /// When an incident that has notified changes (an alert joins or
    /// resolves), receivers read only by programs (webhooks, JSON events)
    /// hear of it as soon as the group's size allows (0.5 ms per alert, at
    /// most group_interval): `at-once`. `interval` makes them wait for
    /// group_interval, as people's channels and Alertmanager do (for a
    /// webhook that feeds a chat read by people, say).
    #[arg(long, value_enum, default_value = "at-once")]
    pub webhook_updates: WebhookUpdates,
    /// At most this many pages per person within a window, such as 3/5m;
    /// further pages in the window (except the first page of each
    /// high-urgency incident) are held and sent as one digest at its end.
    /// A person's own `pageLimit` wins. Unset: no limit.
    #[arg(long, value_name = "PAGES/WINDOW", value_parser = nines_core::model::PageLimit::parse)]
    pub page_limit: Option<nines_core::model::PageLimit>,
    /// The SMTP server (host:port) the `email:` notifications of the
    /// configuration are sent through; port 465 is TLS from the start.
    #[arg(long, env = "NINES_SMTP_SMARTHOST", value_name = "HOST:PORT")]
    pub smtp_smarthost: Option<String>,
    /// The sender of nines' emails.
    #[arg(long, env = "NINES_SMTP_FROM", value_name = "ADDRESS")]
    pub smtp_from: Option<String>,
    /// The name nines gives in EHLO.
    #[arg(long, env = "NINES_SMTP_HELLO", default_value = "localhost")]
    pub smtp_hello: String,
    /// The SMTP user name, with the password from NINES_SMTP_PASSWORD or
    /// --smtp-password-file.
    #[arg(long, env = "NINES_SMTP_USERNAME")]
    pub smtp_username: Option<String>,
    /// A file holding the SMTP password (the variable NINES_SMTP_PASSWORD
    /// is read when this is not given).
    #[arg(long, env = "NINES_SMTP_PASSWORD_FILE", value_name = "FILE")]
    pub smtp_password_file: Option<PathBuf>,
    /// Refuse to send unless the server offers STARTTLS (false: use it
    /// when offered).
    #[arg(long, env = "NINES_SMTP_REQUIRE_TLS", default_value_t = true, action = clap::ArgAction::Set)]
    pub smtp_require_tls: bool,
}

impl ServeArgs {
    /// The SMTP server the flags describe, if any; the password is read
    /// from its file or from NINES_SMTP_PASSWORD, never from a flag.
    pub fn smtp(&self) -> Result<Option<crate::alerts::channels::email::SmtpServer>, String> {
        let Some(smarthost) = &self.smtp_smarthost else {
            return Ok(None);
        };
        let (host, port) = crate::alerts::channels::email::SmtpServer::parse_smarthost(smarthost)
            .map_err(|e| format!("--smtp-smarthost {e}"))?;
        let from = self
            .smtp_from
            .clone()
            .ok_or("--smtp-from (NINES_SMTP_FROM) is needed with --smtp-smarthost")?;
        let password = match &self.smtp_password_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("--smtp-password-file {}: {e}", path.display()))?
                    .trim()
                    .to_owned(),
            ),
            None => std::env::var("NINES_SMTP_PASSWORD").ok(),
        };
        Ok(Some(crate::alerts::channels::email::SmtpServer {
            host,
            port,
            from,
            hello: self.smtp_hello.clone(),
            username: self.smtp_username.clone(),
            password: password.map(nines_core::model::Secret::new),
            require_tls: self.smtp_require_tls,
        }))
    }
}

fn parse_max_maintenance(s: &str) -> Result<jiff::SignedDuration, String> {
    let d = nines_core::duration::DurationShorthand::parse(s).map_err(|e| e.to_string())?;
    let secs = d
        .seconds()
        .filter(|s| (60..=366 * 86_400).contains(s))
        .ok_or("the longest maintenance window must be between 1m and 366d")?;
    Ok(jiff::SignedDuration::from_secs(secs as i64))
}

fn parse_delivery_timeout(s: &str) -> Result<std::time::Duration, String> {
    let ms = if let Some(v) = s.strip_suffix("ms") {
        v.parse::<u64>()
            .map_err(|_| format!("`{s}` is not a duration such as 500ms or 10s"))?
    } else {
        let d = nines_core::duration::DurationShorthand::parse(s).map_err(|e| e.to_string())?;
        d.seconds()
            .ok_or("the delivery timeout must be a fixed duration such as 500ms or 10s")?
            .saturating_mul(1000)
    };
    if !(100..=300_000).contains(&ms) {
        return Err("the delivery timeout must be between 100ms and 5m".to_owned());
    }
    Ok(std::time::Duration::from_millis(ms))
}

fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    let d = nines_core::duration::DurationShorthand::parse(s).map_err(|e| e.to_string())?;
    let secs = d
        .seconds()
        .filter(|s| (1..=3600).contains(s))
        .ok_or("the evaluation interval must be between 1s and 1h")?;
    Ok(std::time::Duration::from_secs(secs))
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The nines server to talk to.
    #[arg(long, global = true, env = "NINES_SERVER", default_value = DEFAULT_SERVER)]
    pub server: String,
}

#[derive(Debug, Args)]
pub struct CalcArgs {
    /// A target: 99.95, 99.95%, 0.9995 or "three nines".
    #[arg(conflicts_with_all = ["serial", "parallel", "service"])]
    pub target: Option<String>,
    /// Availabilities of components that must all work (they multiply).
    #[arg(long, num_args = 1.., value_name = "TARGET")]
    pub serial: Vec<String>,
    /// Availabilities of redundant replicas, one enough (repeat for several groups).
    #[arg(long, num_args = 2.., value_name = "TARGET", action = clap::ArgAction::Append)]
    pub parallel: Vec<String>,
    /// `--parallel` grouped by occurrence, filled from the raw matches by
    /// [`Cli::parse_grouped`]: each `--parallel a b` is one redundancy group.
    #[arg(skip)]
    pub parallel_groups: Vec<Vec<String>>,
    /// A configured service: its theoretical availability from its dependency graph.
    #[arg(long, requires = "config", conflicts_with_all = ["serial", "parallel"])]
    pub service: Option<String>,
    /// The configuration that defines --service.
    #[arg(long, short, env = "NINES_CONFIG")]
    pub config: Option<PathBuf>,
    /// Machine-readable output; durations in seconds.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum IncidentAction {
    /// The open incidents, newest first (--all for resolved ones too).
    List {
        #[arg(long)]
        all: bool,
    },
    /// One incident with its timeline.
    Show { id: i64 },
    /// Acknowledge: someone is on it.
    Ack {
        id: i64,
        /// Who acknowledges.
        #[arg(long, env = "USER")]
        by: Option<String>,
    },
    /// Resolve it.
    Resolve {
        id: i64,
        #[arg(long, env = "USER")]
        by: Option<String>,
    },
    /// Add a note to its timeline.
    Note {
        id: i64,
        text: String,
        #[arg(long, env = "USER")]
        by: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum EscalationAction {
    /// A policy's rules, and whom each step reaches for an incident triggered now (or at --at).
    Show {
        name: String,
        /// The configuration: a YAML file or a directory.
        #[arg(long, short, env = "NINES_CONFIG")]
        config: PathBuf,
        /// When the incident is triggered: RFC 3339 with an offset, or a date and time on this machine's clock (default now).
        #[arg(long)]
        at: Option<String>,
        /// The incident's service, whose support hours hold low-urgency steps.
        #[arg(long)]
        service: Option<String>,
        /// high (never waits) or low (waits for the service's support hours).
        #[arg(long, default_value = "high")]
        urgency: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ScheduleAction {
    /// Every schedule, and who is on call in it now.
    List,
    /// A schedule's shifts and upcoming handoffs (two weeks from now by default).
    Show {
        name: String,
        /// From this instant (default now).
        #[arg(long)]
        from: Option<String>,
        /// Until this instant (default two weeks after --from; at most 366 days).
        #[arg(long)]
        until: Option<String>,
    },
    /// Someone covers a schedule for a span: add, list or remove overrides.
    #[command(subcommand)]
    Override(OverrideAction),
}

#[derive(Debug, Subcommand)]
pub enum OverrideAction {
    /// The schedule's overrides that are not over yet.
    List { schedule: String },
    /// Add one; --end or --for says when it ends.
    Add {
        schedule: String,
        /// Who covers.
        #[arg(long)]
        person: String,
        /// From (default now).
        #[arg(long)]
        start: Option<String>,
        /// Until.
        #[arg(long, required_unless_present = "for_", conflicts_with = "for_")]
        end: Option<String>,
        /// How long, such as 4h or 2d.
        #[arg(long = "for")]
        for_: Option<String>,
        /// Why; kept with it.
        #[arg(long)]
        reason: Option<String>,
        /// Who adds it.
        #[arg(long, env = "USER")]
        by: Option<String>,
    },
    /// Remove one added at run time, by its id.
    Remove { schedule: String, id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum MaintenanceAction {
    /// Open a window (now unless --at says when); prints its id.
    Start {
        /// Services it covers (comma-separated or repeated).
        #[arg(long = "service", value_delimiter = ',')]
        services: Vec<String>,
        /// Every service of these teams (comma-separated or repeated).
        #[arg(long = "team", value_delimiter = ',')]
        teams: Vec<String>,
        /// Alerts matching this label selector, such as 'cluster="eu-1"'.
        #[arg(long = "match")]
        selector: Option<String>,
        /// How long it lasts, such as 5m or 2h (default 1h).
        #[arg(long = "for", conflicts_with = "until")]
        for_: Option<String>,
        /// When it ends (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// When it starts (RFC 3339; default now).
        #[arg(long)]
        at: Option<String>,
        /// Repeat with an RFC 5545 rule, such as 'FREQ=WEEKLY;BYDAY=SU'.
        #[arg(long)]
        every: Option<String>,
        /// The time zone the rule follows (IANA name; default UTC).
        #[arg(long, requires = "every")]
        tz: Option<String>,
        /// Why: shown on every alert the window holds.
        #[arg(long)]
        reason: String,
        /// Who opens it.
        #[arg(long, env = "USER")]
        by: Option<String>,
        /// An idempotency key: a retry with the same key opens no second window.
        #[arg(long, env = "NINES_MAINTENANCE_KEY")]
        key: Option<String>,
    },
    /// End the window (its occurrence in progress) now.
    End { id: String },
    /// Move a one-off window's end: later by --for, or to --until.
    Extend {
        id: String,
        #[arg(
            long = "for",
            conflicts_with = "until",
            required_unless_present = "until"
        )]
        for_: Option<String>,
        #[arg(long)]
        until: Option<String>,
    },
    /// Cancel a window not yet started, or stop a recurring one for good.
    Cancel { id: String },
    /// The windows active or to come (--all for every one).
    List {
        #[arg(long)]
        all: bool,
    },
    /// One window: its occurrences, the alerts it holds, its budget cost.
    Show { id: String },
}

/// `serve --webhook-updates`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum WebhookUpdates {
    /// As soon as the group's size allows.
    AtOnce,
    /// After group_interval.
    Interval,
}
