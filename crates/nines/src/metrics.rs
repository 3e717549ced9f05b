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

pub struct Metrics {
    registry: Mutex<Registry>,
    pub config_reloads: Family<ResultLabel, Counter>,
    pub config_last_reload_successful: Gauge,
    pub config_last_reload_success_seconds: Gauge<f64, AtomicU64>,
    pub config_objects: Family<KindLabel, Gauge>,
    pub http_requests: Family<RequestLabels, Counter>,
    pub http_request_duration: Family<RouteLabel, Histogram>,
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
            config_last_reload_successful: Gauge::default(),
            config_last_reload_success_seconds: Gauge::default(),
            config_objects: Family::default(),
            http_requests: Family::default(),
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
        *m.registry.lock().unwrap_or_else(|e| e.into_inner()) = registry;
        m
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}
