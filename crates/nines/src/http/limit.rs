//! The request body limit (`--max-body-bytes`), ahead of every handler.
//!
//! A body over the limit gets a 413 that names the limit, in the format of
//! the API it was sent to, and is never parsed. Most clients (Python's
//! `http.client` and `requests`, many others) send their whole body before
//! they read an answer: had nines closed the connection at once, they would
//! see a reset ("broken pipe") instead of the 413. So the rest of the body
//! is read and thrown away, up to [`DRAIN_BYTES`] and [`DRAIN_TIME`], as
//! nginx's lingering close does (a draining connection can hold a graceful
//! shutdown back that long); a client that announced
//! `Expect: 100-continue` and was not asked for its body has sent nothing
//! yet and is not read from.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::ApiError;
use crate::serve::AppState;

/// At most this much of a refused body is read away before the connection
/// is closed.
const DRAIN_BYTES: u64 = 256 << 20;

/// And for at most this long.
const DRAIN_TIME: Duration = Duration::from_secs(10);

pub async fn limit_body(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let limit = state.max_body_bytes;
    // A chunked body is read as chunked even if it also gives a length
    // (RFC 9112, 6.3): only a length on its own is trusted.
    let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|_| !chunked);
    match declared {
        Some(n) if n > limit as u64 => refuse(req, Some(n), limit, false),
        Some(_) => next.run(req).await,
        // No length given: a chunked body, or none. Read it here, up to the
        // limit, so that one over it is refused the same way.
        None if req.body().is_end_stream() => next.run(req).await,
        None => {
            let (parts, mut body) = req.into_parts();
            let mut buf = Vec::new();
            loop {
                match frame(&mut body).await {
                    Some(Ok(data)) => {
                        if buf.len() + data.len() > limit {
                            let req = Request::from_parts(parts, body);
                            return refuse(req, None, limit, true);
                        }
                        buf.extend_from_slice(&data);
                    }
                    Some(Err(e)) => {
                        return ApiError::new(
                            StatusCode::BAD_REQUEST,
                            "unreadable_body",
                            format!("the request body could not be read: {e}"),
                        )
                        .into_response();
                    }
                    None => break,
                }
            }
            next.run(Request::from_parts(parts, Body::from(buf))).await
        }
    }
}

/// The next data of `body` (trailers are skipped); `None` at its end.
async fn frame(body: &mut Body) -> Option<Result<Bytes, axum::Error>> {
    loop {
        let next = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await?;
        match next {
            Ok(f) => {
                if let Ok(data) = f.into_data() {
                    return Some(Ok(data));
                }
            }
            Err(e) => return Some(Err(e)),
        }
    }
}

/// The 413, and the rest of the body read away behind it; `started` when
/// part of it was read already (a client waiting for 100-continue was then
/// told to send it).
fn refuse(req: Request, declared: Option<u64>, limit: usize, started: bool) -> Response {
    let path = req.uri().path().to_owned();
    let expects = req
        .headers()
        .get(header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    if started || !expects {
        let mut body = req.into_body();
        tokio::spawn(async move {
            let drain = async {
                let mut read = 0u64;
                while let Some(Ok(data)) = frame(&mut body).await {
                    read += data.len() as u64;
                    if read > DRAIN_BYTES {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
        });
    }
    let message = match declared {
        Some(n) => format!("the request body is {n} bytes, over the limit of {limit}"),
        None => format!("the request body runs past the limit of {limit} bytes"),
    } + " (nines serve --max-body-bytes): send it in smaller requests";
    let mut response = if path.starts_with("/api/v2/") {
        // Alertmanager's API layer answers errors as {code, message}.
        let body = json!({ "code": 413, "message": message }).to_string() + "\n";
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    } else if path.starts_with("/v2/") {
        // PagerDuty's Events API answers {status, message, errors}.
        let body = json!({
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": [message],
        })
        .to_string();
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    } else {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", message).into_response()
    };
    // What is left of the body is not a next request.
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
