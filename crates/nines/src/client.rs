//! The CLI's side of talking to a running server.

use std::time::Duration;

use serde_json::Value;

use crate::exit;

pub struct ClientError {
    pub message: String,
    pub code: u8,
}

fn client() -> Result<reqwest::Client, ClientError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| ClientError {
            message: format!("cannot build an HTTP client: {e}"),
            code: exit::FAILURE,
        })
}

/// Sends a request and returns the status and JSON body, or an error that
/// says plainly that the server could not be reached, and how to point at it.
pub async fn call(
    server: &str,
    method: reqwest::Method,
    path: &str,
) -> Result<(u16, Value), ClientError> {
    send(server, method, path, None).await
}

/// [`call`] with a JSON body.
pub async fn send(
    server: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), ClientError> {
    let base = server.trim_end_matches('/');
    let url = format!("{base}{path}");
    let mut request = client()?.request(method, &url);
    if let Some(b) = body {
        request = request
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let response = request
        .send()
        .await
        .map_err(|e| {
            let mut cause = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                cause = s.to_string();
                source = s.source();
            }
            ClientError {
                message: format!(
                    "cannot reach nines at {base}: {cause}\n(is `nines serve` running there? point at it with --server URL or NINES_SERVER)"
                ),
                code: exit::UNREACHABLE,
            }
        })?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(|e| ClientError {
        message: format!("nines at {base} sent an unreadable answer: {e}"),
        code: exit::UNREACHABLE,
    })?;
    let json = serde_json::from_str(&body).map_err(|_| ClientError {
        message: format!(
            "{url} answered {status} with something that is not nines' JSON; is --server pointing at nines?"
        ),
        code: exit::UNREACHABLE,
    })?;
    Ok((status, json))
}

/// Percent-encodes a path segment or a query value.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
