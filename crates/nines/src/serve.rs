//! `nines serve`: start-up, configuration reloads, signals and shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use nines_config::{LoadError, Loaded};
use nines_core::model::Catalog;
use nines_store::{NewConfigRevision, Store, StoreLocation};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, watch};

use crate::clock::Clock;
use crate::http;
use crate::metrics::{KindLabel, Metrics, ResultLabel};
use crate::slo::SloRuntime;

/// The configuration in force, swapped whole on each successful reload.
#[derive(Debug)]
pub struct Config {
    pub catalog: Catalog,
    pub digest: String,
    pub files: Vec<PathBuf>,
    pub loaded_at: jiff::Timestamp,
    /// The store's id for this revision.
    pub revision: i64,
}

/// What every request handler and background task shares.
pub struct AppState {
    pub config_path: PathBuf,
    pub config: watch::Receiver<Arc<Config>>,
    config_tx: watch::Sender<Arc<Config>>,
    /// Serialises reloads: two at once would race to record revisions.
    reload_lock: Mutex<()>,
    pub store: Arc<dyn Store>,
    pub metrics: Metrics,
    pub clock: Arc<dyn Clock>,
    pub started_at: jiff::Timestamp,
    pub max_body_bytes: usize,
    pub max_maintenance: jiff::SignedDuration,
    slo: std::sync::RwLock<Arc<SloRuntime>>,
    /// Ingest holds it shared from the store write to the engine update; a
    /// reload holds it exclusively while it replays the store into a new
    /// engine, so no acknowledged batch can fall between the two engines.
    pub ingest_gate: tokio::sync::RwLock<()>,
    /// SLIs pulled from Prometheus: baselines and the last result of each.
    pub puller: crate::pull::Puller,
    /// Alerts from every source, silences, and their intake.
    pub alerts: Arc<crate::alerts::AlertHub>,
    routing: std::sync::RwLock<Arc<crate::alerts::routing::Routing>>,
    /// How long a firing burn-rate alert lasts without a new evaluation.
    slo_alert_ttl: jiff::SignedDuration,
    pub heartbeats: crate::alerts::heartbeat::Heartbeats,
    alertmanager_config: Option<PathBuf>,
    /// Incidents and what to notify; flushed by the dispatcher task.
    pub incidents: tokio::sync::Mutex<crate::alerts::incidents::Incidents>,
    /// Wakes the delivery worker when the outbox has new work.
    pub outbox_wake: Arc<tokio::sync::Notify>,
    /// The SMTP server of the `email:` entries of nines' own configuration.
    pub smtp: Option<Arc<crate::alerts::channels::email::SmtpServer>>,
    /// How long one delivery attempt may take.
    pub delivery_timeout: std::time::Duration,
    /// One circuit breaker per delivery endpoint.
    pub breakers: std::sync::Mutex<crate::alerts::breaker::Breakers>,
    /// `serve --page-limit`: pages per person within a window.
    pub page_limit: Option<nines_core::model::PageLimit>,
    /// `Options::pace_machines`, kept for reloads.
    pub pace_machines: bool,
    /// Pages sent and held per person, for the page limit (in memory).
    pub page_limiter: std::sync::Mutex<crate::alerts::digest::PageLimiter>,
}

/// How long a delivery attempt may take by default (`serve --delivery-timeout`).
pub const DEFAULT_DELIVERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The longest maintenance window by default (`serve --max-maintenance`).
pub const DEFAULT_MAX_MAINTENANCE: jiff::SignedDuration =
    jiff::SignedDuration::from_secs(7 * 86_400);

pub struct Options {
    pub config_path: PathBuf,
    pub data_dir: PathBuf,
    pub store_url: Option<String>,
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    /// The longest maintenance window that may be opened.
    pub max_maintenance: jiff::SignedDuration,
    /// How often the SLO engine evaluates; `None` leaves it to the caller
    /// (tests drive evaluation with an injected clock).
    pub eval_interval: Option<std::time::Duration>,
    /// An alertmanager.yml to route alerts by (its route tree, receivers,
    /// inhibit rules, time intervals); without one, alerts go to the
    /// receiver `nines`, grouped by service.
    pub alertmanager_config: Option<PathBuf>,
    /// The SMTP server `email:` notifications are sent through.
    pub smtp: Option<crate::alerts::channels::email::SmtpServer>,
    /// How long one delivery attempt may take before it counts as failed
    /// (and is retried).
    pub delivery_timeout: std::time::Duration,
    /// Pages per person within a window before the rest wait for a
    /// digest (`--page-limit`); a person's `pageLimit` wins.
    pub page_limit: Option<nines_core::model::PageLimit>,
    /// Whether receivers read only by machines get an incident's changes
    /// as soon as its size allows (`--webhook-updates at-once`) rather
    /// than after `group_interval` (see `Routing::pace_machines`).
    pub pace_machines: bool,
}

/// Why a reload did not take effect.
#[derive(Debug)]
pub enum ReloadError {
    Config(LoadError),
    Store(nines_store::StoreError),
}

impl std::fmt::Display for ReloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReloadError::Config(e) => write!(
                f,
                "the configuration has {} error(s); the previous one stays in force",
                e.error_count()
            ),
            ReloadError::Store(e) => write!(f, "{e}"),
        }
    }
}

async fn load_config(path: &Path) -> Result<Loaded, LoadError> {
    let path = path.to_path_buf();
    match tokio::task::spawn_blocking(move || nines_config::load(&path)).await {
        Ok(r) => r,
        Err(e) => Err(LoadError::Unreadable {
            path: PathBuf::new(),
            reason: format!("the configuration loader stopped: {e}"),
        }),
    }
}

async fn record(
    store: &dyn Store,
    loaded: Loaded,
    path: &Path,
    now: jiff::Timestamp,
) -> Result<Config, nines_store::StoreError> {
    let summary = loaded
        .catalog
        .counts()
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rev = store
        .record_config_revision(&NewConfigRevision {
            hash: loaded.digest.clone(),
            source: path.display().to_string(),
            loaded_at: now,
            objects: loaded.catalog.object_count() as u32,
            summary,
        })
        .await?;
    Ok(Config {
        catalog: loaded.catalog,
        digest: loaded.digest,
        files: loaded.files,
        loaded_at: now,
        revision: rev.id,
    })
}

fn log_diagnostics(e: &LoadError) {
    match e {
        LoadError::Unreadable { path, reason } => {
            tracing::error!(path = %path.display(), %reason, "cannot read the configuration");
        }
        LoadError::Invalid { diagnostics, .. } => {
            for d in diagnostics.iter().filter(|d| d.is_error()) {
                tracing::error!(
                    file = %d.file.display(),
                    line = d.pos.line,
                    column = d.pos.col,
                    help = d.help.as_deref().unwrap_or(""),
                    "config: {}", d.message
                );
            }
        }
    }
}

impl AppState {
    /// One pass of the incident dispatcher: the alerts changed since the
    /// last pass join their groups, and the groups that are due are flushed
    /// (incidents, timeline, outbox) in one transaction.
    pub async fn dispatch(&self) -> Result<(), nines_store::StoreError> {
        self.dispatch_pass(true).await
    }

    /// [`dispatch`](Self::dispatch), leaving the pass's write under way
    /// unless `settle`: the next pass applies it (the write wakes the
    /// dispatcher when it is done). The server's own dispatcher does not
    /// wait; a caller that reads the store next (a test) does, and has the
    /// writes under way applied before the pass, so that it passes every
    /// group (one with a write under way is otherwise passed later).
    pub async fn dispatch_pass(&self, settle: bool) -> Result<(), nines_store::StoreError> {
        let routing = self.routing();
        let now = self.clock.now();
        let mut incidents = self.incidents.lock().await;
        if settle {
            // Nothing under way while it looks: every group is passed now.
            incidents.finish(&self.alerts, &routing, now).await;
        }
        match self.alerts.take_changed() {
            None => incidents.mark_all_changed(),
            Some(list) => incidents.mark_changed(list),
        }
        let flushed = match incidents
            .flush(&self.alerts, &routing, now, &self.outbox_wake, !settle)
            .await
        {
            Ok(notified) => {
                if settle {
                    incidents
                        .finish(&self.alerts, &routing, self.clock.now())
                        .await;
                }
                incidents
                    .escalate(&self.alerts, &routing, now)
                    .await
                    .map(|paged| notified || paged)
            }
            Err(e) => Err(e),
        };
        // Whatever this pass wrote is there for the API now.
        self.alerts.progressed();
        match flushed {
            Ok(notified) => {
                if notified {
                    self.outbox_wake.notify_one();
                }
                Ok(())
            }
            Err(e) => {
                // Nothing of that pass was written: look at everything again.
                incidents.mark_all_changed();
                Err(e)
            }
        }
    }

    /// The routing in force.
    pub fn routing(&self) -> Arc<crate::alerts::routing::Routing> {
        self.routing
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn publish_config_metrics(&self, config: &Config) {
        self.metrics.config_last_reload_successful.set(1);
        self.metrics
            .config_last_reload_success_seconds
            .set(config.loaded_at.as_millisecond() as f64 / 1000.0);
        for (kind, n) in config.catalog.counts() {
            self.metrics
                .config_objects
                .get_or_create(&KindLabel { kind })
                .set(n as i64);
        }
    }

    /// Loads the configuration again. An invalid one is refused whole: its
    /// errors are logged and returned, and the running one stays in force.
    pub async fn reload(&self) -> Result<Arc<Config>, ReloadError> {
        let _guard = self.reload_lock.lock().await;
        let mut am = None;
        if let Some(path) = &self.alertmanager_config {
            match load_routing(path).await {
                Ok(routing) => am = Some(routing),
                Err(e) => {
                    tracing::error!(file = %path.display(), error = %e, "alertmanager configuration refused; the previous routing stays");
                }
            }
        }
        let outcome = match load_config(&self.config_path).await {
            Ok(loaded) => record(
                self.store.as_ref(),
                loaded,
                &self.config_path,
                self.clock.now(),
            )
            .await
            .map_err(ReloadError::Store),
            Err(e) => {
                log_diagnostics(&e);
                Err(ReloadError::Config(e))
            }
        };
        let outcome = match outcome {
            Ok(config) => {
                let ingest = self.ingest_gate.write().await;
                match SloRuntime::load(&config.catalog, self.store.as_ref(), self.clock.now()).await
                {
                    Ok(runtime) => {
                        runtime.adopt_unsaved(&self.slo());
                        *self.slo.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(runtime);
                        self.metrics.clear_slo_series();
                        drop(ingest);
                        Ok(config)
                    }
                    Err(e) => Err(ReloadError::Store(e)),
                }
            }
            Err(e) => Err(e),
        };
        let result = match outcome {
            Ok(config) => {
                let config = Arc::new(config);
                self.publish_config_metrics(&config);
                self.metrics
                    .config_reloads
                    .get_or_create(&ResultLabel { result: "success" })
                    .inc();
                self.config_tx.send_replace(config.clone());
                tracing::info!(revision = config.revision, digest = %config.digest, "configuration reloaded");
                Ok(config)
            }
            Err(e) => {
                self.metrics.config_last_reload_successful.set(0);
                self.metrics
                    .config_reloads
                    .get_or_create(&ResultLabel { result: "failure" })
                    .inc();
                tracing::error!(error = %e, "configuration reload refused");
                Err(e)
            }
        };
        if let Err(e) = self
            .heartbeats
            .load(
                self.store.as_ref(),
                &self.current().catalog,
                self.clock.now(),
            )
            .await
        {
            tracing::error!(error = %e, "heartbeats not reloaded; the next reload tries again");
        }
        // The routing follows the alertmanager.yml and the services' own
        // incident settings in force.
        let base = am.unwrap_or_else(|| (*self.routing()).clone());
        let routing = base
            .with_catalog(&self.current().catalog)
            .with_pacing(self.pace_machines);
        warn_without_smtp(&routing, self.smtp.is_some());
        *self.routing.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(routing);
        self.alerts.wake.notify_one();
        result
    }

    /// The SLO engine of the configuration in force.
    pub fn slo(&self) -> Arc<SloRuntime> {
        self.slo.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Evaluates every SLO now: alert state changes are logged and counted,
    /// the per-SLO metrics are refreshed, and the burn-rate and no-data
    /// alerts (firing ones refreshed, resolved ones ended) go into the alert
    /// intake like any other alert, to become incidents. Returns the
    /// burn-rate alerts that changed state.
    pub async fn evaluate(&self) -> Vec<nines_core::engine::AlertEvent> {
        let config = self.current();
        let now = self.clock.now();
        let slo = self.slo();
        slo.set_pull_empty(self.puller.empty_since(&config.catalog));
        let evaluation = slo.evaluate(&config.catalog, now);
        slo.save_exhaustions(self.store.as_ref()).await;
        let statuses = slo.status(now);
        let events = evaluation.burn;
        self.metrics.record_slo(&config.catalog, &statuses, &events);
        let external_url = self.incidents.lock().await.external_url.clone();
        let mut alerts = crate::alerts::slo::burn_alerts(
            &config.catalog,
            &statuses,
            &events,
            now,
            self.slo_alert_ttl,
            &external_url,
        );
        alerts.extend(crate::alerts::slo::no_data_alerts(
            &config.catalog,
            &statuses,
            &evaluation.no_data,
            now,
            self.slo_alert_ttl,
            &external_url,
        ));
        if let Err(e) = self.alerts.submit(alerts).await {
            tracing::error!(error = %e, "burn-rate alerts not stored; the next evaluation sends them again");
        }
        events
    }

    pub fn current(&self) -> Arc<Config> {
        self.config.borrow().clone()
    }
}

/// A server that is listening; dropping it does not stop it, `shutdown` does.
pub struct Running {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The delivery worker: awaited at shutdown, so that an attempt in
    /// flight is recorded before the store closes (else a page delivered
    /// just then would be delivered again after a restart).
    delivery: tokio::task::JoinHandle<()>,
    /// The incident dispatcher: stopped once the requests in flight are
    /// done (its last pass tells what they brought), and awaited, so that
    /// its last write is applied before the store closes.
    dispatcher: tokio::task::JoinHandle<()>,
    dispatcher_stop: watch::Sender<bool>,
}

impl Running {
    /// Stops accepting, lets requests in flight finish, closes the store.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        // The dispatcher stops once the server has (whatever its outcome).
        let served = self.task.await;
        let _ = self.dispatcher_stop.send(true);
        let _ = self.dispatcher.await;
        let _ = self.delivery.await;
        self.state.store.close().await;
        served.context("server task")??;
        Ok(())
    }

    /// Stops at once, as a kill would: the server, the dispatcher and the
    /// delivery worker are dropped where they are, with no last pass and
    /// nothing more written; what was committed stays. For tests of what a
    /// restart recovers, within one process (the store closes, so that the
    /// same data directory can be opened again).
    pub async fn abort(self) {
        for task in [&self.dispatcher, &self.delivery] {
            task.abort();
        }
        self.task.abort();
        let _ = self.dispatcher.await;
        let _ = self.delivery.await;
        let _ = self.task.await;
        self.state.store.close().await;
    }
}

/// Loads the configuration, opens the store and binds the listener; each
/// failure is one clear error. Serving starts in the background.
pub async fn start(opts: Options, clock: Arc<dyn Clock>) -> anyhow::Result<Running> {
    let loaded = load_config(&opts.config_path)
        .await
        .map_err(|e| anyhow::Error::new(ConfigRefused(e)))?;
    for w in &loaded.warnings {
        tracing::warn!(file = %w.file.display(), line = w.pos.line, column = w.pos.col, "config: {}", w.message);
    }
    let routing = match &opts.alertmanager_config {
        Some(path) => load_routing(path).await?,
        None => crate::alerts::routing::Routing::default(),
    };
    // Bind before touching the store, so that a port in use fails before
    // anything is written.
    let listener = TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let location = StoreLocation::parse(opts.store_url.as_deref(), &opts.data_dir)?;
    let store = nines_store::open(&location).await?;
    let now = clock.now();
    let config = record(store.as_ref(), loaded, &opts.config_path, now).await?;
    let slo = SloRuntime::load(&config.catalog, store.as_ref(), now).await?;
    let alerts = crate::alerts::AlertHub::load(store.clone(), now).await?;
    let mut incidents = crate::alerts::incidents::Incidents::default();
    let routing = routing
        .with_catalog(&config.catalog)
        .with_pacing(opts.pace_machines);
    warn_without_smtp(&routing, opts.smtp.is_some());
    // With what their timelines told before nines stopped (one read).
    let told = store
        .open_incident_events(crate::alerts::incidents::Told::KINDS)
        .await?;
    incidents.restore(store.incidents(true, 100_000).await?, told, &routing);
    // Notifications decided before the restart for later (a resolution
    // told at its group's next interval) wake the delivery worker then.
    let far = now
        .saturating_add(jiff::SignedDuration::from_secs(86_400 * 366))
        .unwrap_or(now);
    if let Some(n) = store.due_notifications(far, 1).await?.first() {
        incidents.defer_until(n.next_attempt_at);
    }
    let addr = listener.local_addr()?;
    let metrics = Metrics::new(&store.engine().to_string());
    let (config_tx, config_rx) = watch::channel(Arc::new(config));
    let state = Arc::new(AppState {
        config_path: opts.config_path,
        config: config_rx,
        config_tx,
        reload_lock: Mutex::new(()),
        store,
        metrics,
        clock,
        started_at: now,
        max_body_bytes: opts.max_body_bytes,
        max_maintenance: opts.max_maintenance,
        slo: std::sync::RwLock::new(Arc::new(slo)),
        ingest_gate: tokio::sync::RwLock::new(()),
        puller: crate::pull::Puller::default(),
        alerts,
        routing: std::sync::RwLock::new(Arc::new(routing)),
        alertmanager_config: opts.alertmanager_config,
        incidents: tokio::sync::Mutex::new(incidents),
        outbox_wake: Arc::new(tokio::sync::Notify::new()),
        smtp: opts.smtp.map(Arc::new),
        delivery_timeout: opts.delivery_timeout,
        breakers: Default::default(),
        page_limit: opts.page_limit,
        pace_machines: opts.pace_machines,
        page_limiter: Default::default(),
        slo_alert_ttl: slo_alert_ttl(opts.eval_interval),
        heartbeats: Default::default(),
    });
    state
        .heartbeats
        .load(state.store.as_ref(), &state.current().catalog, now)
        .await?;
    state.publish_config_metrics(&state.current());
    state
        .metrics
        .config_reloads
        .get_or_create(&ResultLabel { result: "success" })
        .inc();
    let (shutdown, mut shutdown_rx) = watch::channel(false);
    if let Some(every) = opts.eval_interval {
        let evaluator = state.clone();
        let mut stop = shutdown.subscribe();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
                evaluator.evaluate().await;
            }
        });
        let state = state.clone();
        let mut stop = shutdown.subscribe();
        tokio::spawn(async move {
            // Once a minute, 20 seconds after it closes, so that a Prometheus
            // scraping every 15 seconds has seen its end.
            loop {
                let now = state.clock.now().as_second();
                let wait = (60 - (now - 20).rem_euclid(60)).max(1) as u64;
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(wait)) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
                if crate::pull::has_pulled_slis(&state.current().catalog) {
                    let minute = nines_core::series::minute_of(state.clock.now()) - 1;
                    state.puller.pull_minute(&state, minute).await;
                }
            }
        });
    }
    state.incidents.lock().await.external_url = format!("http://{addr}");
    {
        // Heartbeats: wakes at the next deadline, on a ping and on a reload.
        let state = state.clone();
        let mut stop = shutdown.subscribe();
        tokio::spawn(async move {
            loop {
                let next = match state.check_heartbeats().await {
                    Ok(next) => next,
                    Err(e) => {
                        tracing::error!(error = %e, "heartbeat check failed; retrying");
                        Some(
                            state
                                .clock
                                .now()
                                .saturating_add(jiff::SignedDuration::from_secs(5))
                                .unwrap_or(state.clock.now()),
                        )
                    }
                };
                let wait = next.map_or(std::time::Duration::from_secs(60), |t| {
                    wait_until(state.clock.now(), t)
                });
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = state.heartbeats.wake.notified() => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        });
    }
    let (dispatcher_stop, mut stop) = watch::channel(false);
    let dispatcher = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut last_prune = state.clock.now();
            loop {
                if let Err(e) = state.dispatch_pass(false).await {
                    tracing::error!(error = %e, "incident dispatch failed; retrying");
                }
                // Alerts and silences that ended over an hour ago are
                // forgotten, in memory and in the store, every ten minutes.
                let now = state.clock.now();
                if now.duration_since(last_prune) >= jiff::SignedDuration::from_secs(600) {
                    last_prune = now;
                    if let Err(e) = state.alerts.prune(now).await {
                        tracing::error!(error = %e, "pruning old alerts failed");
                    }
                }
                let wait = match state.incidents.lock().await.next_due() {
                    Some(due) => wait_until(state.clock.now(), due),
                    None => std::time::Duration::from_secs(60),
                };
                tokio::select! {
                    _ = state.alerts.wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
            // The last pass's write is not left half done, and what the
            // timeline has not told yet (alerts joining, told once a
            // second) is told before nines stops.
            if let Err(e) = state.dispatch_pass(true).await {
                tracing::error!(error = %e, "the last incident dispatch failed");
            }
        })
    };
    let delivery = {
        let state = state.clone();
        let mut stop = shutdown.subscribe();
        let http = crate::alerts::deliver::client(state.delivery_timeout);
        // Alertmanager webhooks the dispatcher sends while it commits them.
        crate::alerts::early::connect(&state, http.clone());
        tokio::spawn(async move {
            loop {
                let attempted = crate::alerts::deliver::deliver_due(&state, &http).await;
                let wait = if attempted > 0 {
                    std::time::Duration::ZERO
                } else {
                    match crate::alerts::deliver::next_attempt(&state).await {
                        Some(at) => wait_until(state.clock.now(), at),
                        None => std::time::Duration::from_secs(30),
                    }
                };
                tokio::select! {
                    _ = state.outbox_wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        })
    };
    let app = http::router(state.clone());
    // Answers leave at once, as Go's servers (Alertmanager's) do.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on a connection");
        }
    });
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = shutdown_rx.wait_for(|stop| *stop).await;
            })
            .await
    });
    Ok(Running {
        addr,
        state,
        shutdown,
        task,
        delivery,
        dispatcher,
        dispatcher_stop,
    })
}

/// Reads an alertmanager.yml into the routing nines follows; what is not
/// carried over is logged, line by line; an invalid file is refused.
async fn load_routing(path: &Path) -> anyhow::Result<crate::alerts::routing::Routing> {
    let p = path.to_path_buf();
    let loaded = tokio::task::spawn_blocking(move || {
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        nines_config::alertmanager::load_alertmanager(&p).map(|am| (am, text))
    })
    .await?;
    match loaded {
        Ok((am, text)) => {
            for w in &am.warnings {
                tracing::warn!("{}", am.render(w).trim_end());
            }
            // The text is shown by `GET /api/v2/status`: without its secrets.
            let shown = nines_config::alertmanager::redact_secrets(&text);
            let (routing, warnings) =
                crate::alerts::routing::Routing::from_alertmanager(&am, shown);
            for w in warnings {
                tracing::warn!(file = %path.display(), "{w}");
            }
            Ok(routing)
        }
        Err(e) => Err(anyhow::Error::new(ConfigRefused(e))),
    }
}

/// Emails with nowhere to go are said at start-up and on each reload
/// (each delivery fails too, on its incident's timeline).
fn warn_without_smtp(routing: &crate::alerts::routing::Routing, have_smtp: bool) {
    if !have_smtp && routing.needs_smtp() {
        tracing::warn!(
            "the configuration sends email but no SMTP server is given: start nines with --smtp-smarthost and --smtp-from (or NINES_SMTP_SMARTHOST, NINES_SMTP_FROM)"
        );
    }
}

/// How long a firing burn-rate alert lasts unless the next evaluations send
/// it again: four evaluations, and at least five minutes.
fn slo_alert_ttl(every: Option<std::time::Duration>) -> jiff::SignedDuration {
    let four = every.map_or(0, |d| d.as_secs().saturating_mul(4));
    jiff::SignedDuration::from_secs(four.clamp(300, 86_400) as i64)
}

/// How long to sleep until `due` (at most a minute, so a clock that jumps
/// is noticed).
fn wait_until(now: jiff::Timestamp, due: jiff::Timestamp) -> std::time::Duration {
    let d = due.duration_since(now);
    if d.is_negative() {
        return std::time::Duration::ZERO;
    }
    std::time::Duration::try_from(d)
        .unwrap_or(std::time::Duration::ZERO)
        .min(std::time::Duration::from_secs(60))
}

/// The configuration could not be used at start-up; its diagnostics are
/// printed as they are, before the one-line verdict.
#[derive(Debug)]
pub struct ConfigRefused(pub LoadError);

impl std::fmt::Display for ConfigRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the configuration has {} error(s); nines did not start",
            self.0.error_count()
        )
    }
}

impl std::error::Error for ConfigRefused {}

/// The signals `nines serve` handles. They are taken over before the server
/// starts, so that a SIGHUP sent the moment it is ready reloads rather than
/// kills it, and an early SIGTERM still shuts down gracefully.
pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }
}

/// Runs until SIGTERM or SIGINT; SIGHUP reloads the configuration.
pub async fn run_until_signalled(running: Running, mut signals: Signals) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            _ = signals.term.recv() => { tracing::info!("SIGTERM: shutting down"); break; }
            _ = signals.int.recv() => { tracing::info!("SIGINT: shutting down"); break; }
            _ = signals.hup.recv() => {
                tracing::info!("SIGHUP: reloading the configuration");
                // The outcome is logged and counted by reload itself.
                let _ = running.state.reload().await;
            }
        }
    }
    running.shutdown().await?;
    tracing::info!("stopped");
    Ok(())
}
