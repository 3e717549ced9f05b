//! The HTTP API. Only this module (and the CLI client) knows JSON on the
//! wire; handlers translate between it and the domain.

mod error;
mod home;
mod limit;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

pub use error::ApiError;

use crate::metrics::{RequestLabels, RouteLabel};
use crate::serve::{AppState, ReloadError};

/// The OpenAPI document of this API, served at [`OPENAPI_PATH`].
pub const OPENAPI: &str = include_str!("openapi.json");
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.max_body_bytes;
    Router::new()
        .route("/", get(home::page))
        .route("/-/healthy", get(healthy).head(healthy))
        .route("/-/ready", get(ready).head(ready))
        .route("/-/reload", post(reload))
        .route("/metrics", get(metrics))
        .route(OPENAPI_PATH, get(openapi))
        .route("/api/v1/status", get(status))
        .route("/api/v1/config/revisions", get(revisions))
        .route("/api/v1/sli/events", post(crate::slo::ingest))
        .route("/api/v1/sli/sources", get(crate::pull::sources))
        .route("/api/v1/slos", get(crate::slo::list))
        .route("/api/v1/slos/{name}", get(crate::slo::one))
        .route("/api/v1/alerts", get(crate::slo::alerts))
        .route("/api/v1/gate/{service}", get(crate::slo::gate_handler))
        .route(
            "/api/v1/gate/{service}/overrides",
            post(crate::slo::create_override),
        )
        .route(
            "/api/v2/alerts",
            get(crate::alerts::am::get_alerts).post(crate::alerts::am::post_alerts),
        )
        .route("/api/v2/alerts/groups", get(crate::alerts::am::get_groups))
        .route("/api/v2/receivers", get(crate::alerts::am::get_receivers))
        .route("/api/v2/status", get(crate::alerts::am::get_status))
        .route(
            "/api/v2/silences",
            get(crate::alerts::am::get_silences).post(crate::alerts::am::post_silences),
        )
        .route(
            "/api/v2/silence/{id}",
            get(crate::alerts::am::get_silence).delete(crate::alerts::am::delete_silence),
        )
        .route("/api/v1/heartbeats", get(crate::alerts::heartbeat::list))
        .route(
            "/api/v1/heartbeats/{service}/{name}/ping",
            get(crate::alerts::heartbeat::ping).post(crate::alerts::heartbeat::ping),
        )
        .route(
            "/api/v1/maintenance",
            get(crate::alerts::maintenance::list).post(crate::alerts::maintenance::open),
        )
        .route(
            "/api/v1/maintenance/{id}",
            get(crate::alerts::maintenance::show).delete(crate::alerts::maintenance::cancel),
        )
        .route(
            "/api/v1/maintenance/{id}/end",
            post(crate::alerts::maintenance::end),
        )
        .route(
            "/api/v1/maintenance/{id}/extend",
            post(crate::alerts::maintenance::extend),
        )
        .route("/api/v1/incidents", get(crate::alerts::api::list))
        .route("/api/v1/incidents/{id}", get(crate::alerts::api::show))
        .route("/api/v1/incidents/{id}/ack", post(crate::alerts::api::ack))
        .route(
            "/api/v1/incidents/{id}/resolve",
            post(crate::alerts::api::resolve),
        )
        .route(
            "/api/v1/incidents/{id}/notes",
            post(crate::alerts::api::note),
        )
        .route("/api/v1/oncall", get(crate::oncall::now))
        .route("/api/v1/schedules", get(crate::oncall::list))
        .route("/api/v1/schedules/{name}", get(crate::oncall::one))
        .route(
            "/api/v1/schedules/{name}/overrides",
            get(crate::oncall::list_overrides).post(crate::oncall::add_override),
        )
        .route(
            "/api/v1/schedules/{name}/overrides/{id}",
            axum::routing::delete(crate::oncall::delete_override),
        )
        .route(
            "/api/v1/schedules/{name}/calendar.ics",
            get(crate::oncall::schedule_calendar),
        )
        .route(
            "/api/v1/people/{name}/calendar.ics",
            get(crate::oncall::person_calendar),
        )
        .route("/v2/enqueue", post(crate::alerts::pagerduty::enqueue))
        .route("/v2/change/enqueue", post(crate::alerts::pagerduty::change))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Extractors' own limit (axum's default is 2 MB) raised to ours;
        // `limit_body` refuses what is over it first.
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limit::limit_body,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Counts and times every request by its route template.
async fn observe(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    state
        .metrics
        .http_requests
        .get_or_create(&RequestLabels {
            method,
            route: route.clone(),
            status: response.status().as_u16(),
        })
        .inc();
    state
        .metrics
        .http_request_duration
        .get_or_create(&RouteLabel { route })
        .observe(started.elapsed().as_secs_f64());
    response
}

async fn healthy() -> &'static str {
    "nines is healthy\n"
}

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "nines is ready\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: store ping failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("nines is not ready: {e}\n"),
            )
                .into_response()
        }
    }
}

async fn reload(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    match state.reload().await {
        Ok(config) => Ok(Json(json!({
            "status": "reloaded",
            "revision": config.revision,
            "digest": config.digest,
            "loaded_at": config.loaded_at.to_string(),
        }))),
        Err(ReloadError::Config(e)) => Err(ApiError::invalid_config(&e)),
        Err(ReloadError::Store(e)) => Err(ApiError::store(&e)),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        state.metrics.encode(),
    )
        .into_response()
}

async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI,
    )
        .into_response()
}

async fn status(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let config = state.current();
    let schema = state
        .store
        .schema_version()
        .await
        .map_err(|e| ApiError::store(&e))?;
    let counts: serde_json::Map<String, Value> = config
        .catalog
        .counts()
        .into_iter()
        .map(|(k, n)| (k.to_owned(), json!(n)))
        .collect();
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": state.started_at.to_string(),
        "now": state.clock.now().to_string(),
        "config": {
            "path": state.config_path.display().to_string(),
            "files": config.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
            "revision": config.revision,
            "digest": config.digest,
            "loaded_at": config.loaded_at.to_string(),
            "objects": counts,
        },
        "store": {
            "engine": state.store.engine().to_string(),
            "location": state.store.describe(),
            "schema_version": schema,
        },
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevisionsQuery {
    limit: Option<u32>,
}

async fn revisions(
    State(state): State<Arc<AppState>>,
    query: Result<Query<RevisionsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be between 1 and 1000, got {limit}"),
        ));
    }
    let revs = state
        .store
        .config_revisions(limit)
        .await
        .map_err(|e| ApiError::store(&e))?;
    Ok(Json(json!({
        "revisions": revs.iter().map(|r| json!({
            "id": r.id,
            "digest": r.hash,
            "source": r.source,
            "loaded_at": r.loaded_at.to_string(),
            "objects": r.objects,
            "summary": r.summary,
        })).collect::<Vec<_>>()
    })))
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no such endpoint: {}; the API is described at {OPENAPI_PATH}",
            uri.path()
        ),
    )
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{method} is not allowed on {}; see {OPENAPI_PATH}",
            uri.path()
        ),
    )
}
