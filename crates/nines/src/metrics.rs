//! nines' own metrics, in the Prometheus text format on `/metrics`.
//!
//! One registry per server (not a global), so that tests running several
//! servers in one process do not mix their figures.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// The route template (`/api/v1/status`), never the raw path, so that
    /// label cardinality stays bounded whatever clients send.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: &'static str,
    pub store: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SloLabels {
    pub slo: String,
    pub objective: String,
    pub service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BurnLabels {
    pub slo: String,
    pub objective: String,
    pub service: String,
    pub rule: String,
    pub window: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabels {
    pub slo: String,
    pub objective: String,
    pub service: String,
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertLabels {
    pub slo: String,
    pub severity: &'static str,
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SliLabel {
    pub sli: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PullLabels {
    pub sli: String,
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabel {
    pub channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub channel: String,
    /// `delivered`, `retry`, `failed` (given up), `held` (by an open
    /// circuit breaker) or `skipped` (nothing to send on this channel).
    pub result: &'static str,
}

type GaugeF = Gauge<f64, AtomicU64>;

pub struct Metrics {
    registry: Mutex<Registry>,
    pub config_reloads: Family<ResultLabel, Counter>,
    /// Alerts accepted from Alertmanager and PagerDuty clients.
    pub alerts_received: Counter,
    pub config_last_reload_successful: Gauge,
    pub config_last_reload_success_seconds: Gauge<f64, AtomicU64>,
    pub config_objects: Family<KindLabel, Gauge>,
    pub http_requests: Family<RequestLabels, Counter>,
    pub http_request_duration: Family<RouteLabel, Histogram>,
    pub slo_sli: Family<SloLabels, GaugeF>,
    pub slo_objective: Family<SloLabels, GaugeF>,
    pub slo_budget_remaining: Family<SloLabels, GaugeF>,
    pub slo_burn_rate: Family<BurnLabels, GaugeF>,
    pub slo_policy_state: Family<PolicyLabels, Gauge>,
    pub slo_no_data_alert: Family<SloLabels, Gauge>,
    pub slo_alerts: Family<AlertLabels, Counter>,
    pub sli_pull_up: Family<SliLabel, Gauge>,
    pub sli_pulls: Family<PullLabels, Counter>,
    pub notification_attempts: Family<DeliveryLabels, Counter>,
    pub notification_duration: Family<ChannelLabel, Histogram>,
    pub notification_breakers_open: Family<ChannelLabel, Gauge>,
    /// Pages sent to a person's fallback contacts, by the failed primary's channel.
    pub page_fallbacks: Family<ChannelLabel, Counter>,
    /// Pages held by a person's page limit for a digest, by channel.
    pub pages_held_for_digest: Family<ChannelLabel, Counter>,
}

impl Metrics {
    pub fn new(store: &str) -> Metrics {
        let mut registry = Registry::with_prefix("nines");
        let build: Family<BuildLabels, Gauge> = Family::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                store: store.to_owned(),
            })
            .set(1);
        registry.register(
            "build_info",
            "Version of nines and the store engine in use",
            build,
        );
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            config_reloads: Family::default(),
            alerts_received: Counter::default(),
            config_last_reload_successful: Gauge::default(),
            config_last_reload_success_seconds: Gauge::default(),
            config_objects: Family::default(),
            http_requests: Family::default(),
            slo_sli: Family::default(),
            slo_objective: Family::default(),
            slo_budget_remaining: Family::default(),
            slo_burn_rate: Family::default(),
            slo_policy_state: Family::default(),
            slo_no_data_alert: Family::default(),
            slo_alerts: Family::default(),
            sli_pull_up: Family::default(),
            sli_pulls: Family::default(),
            notification_attempts: Family::default(),
            notification_breakers_open: Family::default(),
            page_fallbacks: Family::default(),
            pages_held_for_digest: Family::default(),
            notification_duration: Family::new_with_constructor(|| {
                Histogram::new([
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
            }),
            http_request_duration: Family::new_with_constructor(|| {
                Histogram::new([
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ])
            }),
        };
        registry.register(
            "config_reloads",
            "Configuration loads, by result (success or failure)",
            m.config_reloads.clone(),
        );
        registry.register(
            "alerts_received",
            "Alerts accepted (committed) from Alertmanager and PagerDuty clients",
            m.alerts_received.clone(),
        );
        registry.register(
            "config_last_reload_successful",
            "1 when the last configuration load succeeded, 0 when it was refused",
            m.config_last_reload_successful.clone(),
        );
        registry.register(
            "config_last_reload_success_timestamp_seconds",
            "When the configuration in force was loaded, in seconds since the Unix epoch",
            m.config_last_reload_success_seconds.clone(),
        );
        registry.register(
            "config_objects",
            "Objects in the configuration in force, by kind",
            m.config_objects.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            m.http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests, by route",
            m.http_request_duration.clone(),
        );
        registry.register(
            "slo_sli",
            "SLI over the SLO's window (maintenance counted as the SLO says); absent without data",
            m.slo_sli.clone(),
        );
        registry.register(
            "slo_objective",
            "The SLO's target ratio",
            m.slo_objective.clone(),
        );
        registry.register(
            "slo_budget_remaining_ratio",
            "Share of the error budget left over the SLO's window; negative when overspent",
            m.slo_budget_remaining.clone(),
        );
        registry.register(
            "slo_burn_rate",
            "Burn rate over each alert window (1 spends the budget exactly over the SLO's window)",
            m.slo_burn_rate.clone(),
        );
        registry.register(
            "slo_policy_state",
            "1 for the budget policy state the SLO is in (healthy, at_risk, exhausted, no_data)",
            m.slo_policy_state.clone(),
        );
        registry.register(
            "slo_no_data_alert_firing",
            "1 while the SLO's no-data alert (alertWhenNoData) fires, else 0; only for SLOs that ask for one",
            m.slo_no_data_alert.clone(),
        );
        registry.register(
            "slo_alerts",
            "Burn-rate alert state changes, by SLO, severity and state",
            m.slo_alerts.clone(),
        );
        registry.register(
            "sli_pull_up",
            "1 when the last pull of a Prometheus-sourced SLI returned data, 0 on no data or error",
            m.sli_pull_up.clone(),
        );
        registry.register(
            "sli_pulls",
            "Pulls of Prometheus-sourced SLIs, by result (ok, baseline, no_data, error)",
            m.sli_pulls.clone(),
        );
        registry.register(
            "notification_attempts",
            "Notification delivery attempts, by channel and result (delivered, retry, failed, held by an open circuit breaker, skipped)",
            m.notification_attempts.clone(),
        );
        registry.register(
            "notification_duration_seconds",
            "How long a notification's delivery attempt took, by channel",
            m.notification_duration.clone(),
        );
        registry.register(
            "notification_breakers_open",
            "Delivery endpoints whose circuit breaker is open or probing, by channel",
            m.notification_breakers_open.clone(),
        );
        registry.register(
            "page_fallbacks",
            "Pages sent to a person's fallback contacts because the page to a primary one kept failing, by the failed channel",
            m.page_fallbacks.clone(),
        );
        registry.register(
            "pages_held_for_digest",
            "Page notifications held by a person's page limit and told in a digest at the end of the window, by channel",
            m.pages_held_for_digest.clone(),
        );
        *m.registry.lock().unwrap_or_else(|e| e.into_inner()) = registry;
        m
    }

    /// One pull of one SLI: its result, logged by the caller.
    pub fn record_pull(&self, sli: &str, state: &'static str) {
        self.sli_pull_up
            .get_or_create(&SliLabel {
                sli: sli.to_owned(),
            })
            .set(i64::from(state == "ok"));
        self.sli_pulls
            .get_or_create(&PullLabels {
                sli: sli.to_owned(),
                state,
            })
            .inc();
    }

    /// Forgets per-SLO series, so that SLOs removed by a reload disappear.
    pub fn clear_slo_series(&self) {
        self.slo_sli.clear();
        self.slo_objective.clear();
        self.slo_budget_remaining.clear();
        self.slo_burn_rate.clear();
        self.slo_policy_state.clear();
        self.slo_no_data_alert.clear();
    }

    /// Publishes the figures of one evaluation.
    pub fn record_slo(
        &self,
        catalog: &nines_core::model::Catalog,
        statuses: &[nines_core::engine::ObjectiveStatus],
        events: &[nines_core::engine::AlertEvent],
    ) {
        for s in statuses {
            let labels = SloLabels {
                slo: s.slo.clone(),
                objective: s.objective.to_string(),
                service: s.service.clone(),
            };
            match s.budget.sli() {
                Some(v) => {
                    self.slo_sli.get_or_create(&labels).set(v);
                }
                None => {
                    self.slo_sli.remove(&labels);
                }
            }
            self.slo_objective
                .get_or_create(&labels)
                .set(s.target.ratio());
            self.slo_budget_remaining
                .get_or_create(&labels)
                .set(s.budget.remaining_ratio());
            if let Some(n) = s.no_data_alert {
                self.slo_no_data_alert
                    .get_or_create(&labels)
                    .set(i64::from(n.firing));
            }
            for r in &s.burn_rates {
                let windows = [
                    (r.long_window_s, r.verdict.long_burn),
                    (r.short_window_s.unwrap_or(0), r.verdict.short_burn),
                ];
                for (w, burn) in windows {
                    if w == 0 {
                        continue;
                    }
                    let l = BurnLabels {
                        slo: s.slo.clone(),
                        objective: s.objective.to_string(),
                        service: s.service.clone(),
                        rule: r.rule.clone(),
                        window: nines_core::burn::human_window(w),
                    };
                    self.slo_burn_rate
                        .get_or_create(&l)
                        .set(burn.unwrap_or(0.0));
                }
            }
            let policy = crate::slo::BudgetPolicy::of(catalog, &s.slo);
            let current = policy.state(s.budget.remaining_ratio(), s.no_data);
            for state in ["healthy", "at_risk", "exhausted", "no_data"] {
                self.slo_policy_state
                    .get_or_create(&PolicyLabels {
                        slo: s.slo.clone(),
                        objective: s.objective.to_string(),
                        service: s.service.clone(),
                        state,
                    })
                    .set(i64::from(state == current));
            }
        }
        for e in events {
            self.slo_alerts
                .get_or_create(&AlertLabels {
                    slo: e.slo.clone(),
                    severity: e.urgency.as_str(),
                    state: e.state.as_str(),
                })
                .inc();
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}
