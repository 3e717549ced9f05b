//! One error type for the HTTP boundary: a status, a stable code, and a
//! message a person can act on, as `{"message", "code", "type", "details"}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nines_config::LoadError;
use serde_json::{Value, json};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A refused reload: every diagnostic, located, so the caller can fix them.
    pub fn invalid_config(e: &LoadError) -> ApiError {
        let details = match e {
            LoadError::Unreadable { path, reason } => {
                json!([{ "file": path.display().to_string(), "message": reason }])
            }
            LoadError::Invalid { diagnostics, .. } => Value::Array(
                diagnostics
                    .iter()
                    .filter(|d| d.is_error())
                    .map(|d| {
                        json!({
                            "file": d.file.display().to_string(),
                            "line": d.pos.line,
                            "column": d.pos.col,
                            "message": d.message,
                            "help": d.help,
                        })
                    })
                    .collect(),
            ),
        };
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_config",
            message: format!(
                "the new configuration has {} error(s) and was not applied; the previous one stays in force",
                e.error_count()
            ),
            details: Some(details),
        }
    }

    pub fn store(e: &nines_store::StoreError) -> ApiError {
        if let nines_store::StoreError::InvalidInput { .. } = e {
            return ApiError::bad_request("invalid_input", e.to_string());
        }
        tracing::error!(error = %e, "store error");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e.to_string(),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = if self.status.is_client_error() {
            "invalid_request"
        } else {
            "internal"
        };
        let mut body = json!({
            "message": self.message,
            "code": self.code,
            "type": kind,
        });
        if let Some(d) = self.details {
            body["details"] = d;
        }
        (self.status, Json(body)).into_response()
    }
}
