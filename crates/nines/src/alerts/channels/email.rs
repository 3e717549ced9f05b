//! Email: one multipart message (plain text and HTML) per notification,
//! sent over SMTP with lettre (rustls for STARTTLS or implicit TLS).

use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message as Mail, Tokio1Executor};
use nines_core::model::Secret;

use super::text::{Message, escape_html};

/// An SMTP server nines sends through: `nines serve --smtp-*` for the
/// `email:` entries of nines' own configuration, or an alertmanager.yml
/// email config's `smarthost`, `from`, `auth_*` and `require_tls`.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
    pub from: String,
    /// The name given in EHLO.
    pub hello: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// STARTTLS is required (port 465: TLS from the first byte). Without
    /// it, STARTTLS is used when the server offers it.
    pub require_tls: bool,
}

impl std::fmt::Debug for SmtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpServer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from)
            .field("hello", &self.hello)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("require_tls", &self.require_tls)
            .finish()
    }
}

impl SmtpServer {
    /// `host:port`, as Alertmanager's `smarthost` writes it.
    pub fn parse_smarthost(s: &str) -> Result<(String, u16), String> {
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("`{s}` is not host:port (such as smtp.example.com:587)"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("`{s}`: the port must be a number from 1 to 65535"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 {
            return Err(format!(
                "`{s}` is not host:port (such as smtp.example.com:587)"
            ));
        }
        Ok((host.to_owned(), port))
    }

    /// Where this server is, for the timeline (no credentials).
    pub fn describe(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// A rendered email, ready to send.
#[derive(Debug, Clone)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub headers: Vec<(String, String)>,
    /// The outbox's idempotency key, as the Message-ID: a duplicate
    /// delivery is recognisable as one.
    pub message_id: String,
}

/// The email for `msg`.
pub fn render(
    msg: &Message,
    to: &str,
    headers: &[(String, String)],
    idempotency_key: &str,
) -> Email {
    Email {
        to: to.to_owned(),
        subject: msg.subject.clone(),
        text: msg.plain_text(),
        html: html(msg),
        headers: headers
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "Subject" | "To" | "From"))
            .cloned()
            .collect(),
        message_id: format!("<{idempotency_key}@nines>"),
    }
}

fn html(msg: &Message) -> String {
    let mut out = String::with_capacity(2048);
    out.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
    out.push_str(&escape_html(&msg.subject));
    out.push_str("</title></head>\n<body style=\"font-family: sans-serif; line-height: 1.4\">\n");
    out.push_str(&format!(
        "<h2 style=\"margin: 0 0 .5em\">{}</h2>\n",
        escape_html(&msg.subject)
    ));
    if let Some(lead) = &msg.lead {
        out.push_str(&format!("<p>{}</p>\n", escape_html(lead)));
    }
    for a in &msg.alerts {
        out.push_str(&format!(
            "<h3 style=\"margin: 1em 0 .25em\">[{}] {}</h3>\n",
            escape_html(&a.status.to_uppercase()),
            escape_html(&a.name)
        ));
        for p in a.summary.iter().chain(&a.description) {
            out.push_str(&format!(
                "<p style=\"margin: .25em 0\">{}</p>\n",
                escape_html(p)
            ));
        }
        if !a.facts.is_empty() {
            out.push_str("<table style=\"border-collapse: collapse\">\n");
            for (k, v) in &a.facts {
                out.push_str(&format!(
                    "<tr><th style=\"text-align: left; padding-right: 1em\">{}</th><td>{}</td></tr>\n",
                    escape_html(k),
                    escape_html(v)
                ));
            }
            out.push_str("</table>\n");
        }
        for (label, url) in &a.links {
            out.push_str(&format!(
                "<p style=\"margin: .25em 0\">{}: <a href=\"{}\">{}</a></p>\n",
                escape_html(label),
                escape_html(url),
                escape_html(url)
            ));
        }
    }
    if msg.more > 0 {
        out.push_str(&format!(
            "<p>… and {} more alert(s), not shown.</p>\n",
            msg.more
        ));
    }
    if !msg.links.is_empty() {
        out.push_str("<ul>\n");
        for l in &msg.links {
            out.push_str(&format!(
                "<li>{}: <a href=\"{}\">{}</a>{}</li>\n",
                escape_html(l.label),
                escape_html(&l.url),
                escape_html(&l.url),
                if l.post { " (POST)" } else { "" }
            ));
        }
        out.push_str("</ul>\n");
    }
    out.push_str(
        "<p style=\"color: #666; font-size: smaller\">Sent by nines.</p>\n</body></html>\n",
    );
    out
}

/// How an email failed: a permanent refusal (5xx) is not retried.
#[derive(Debug)]
pub struct SendFailure {
    pub message: String,
    pub permanent: bool,
}

/// Sends `email` through `server`.
pub async fn send(
    server: &SmtpServer,
    email: &Email,
    timeout: Duration,
) -> Result<(), SendFailure> {
    let fail = |message: String, permanent: bool| SendFailure { message, permanent };
    let from: Mailbox = server.from.parse().map_err(|e| {
        fail(
            format!("the sender `{}` is not an address: {e}", server.from),
            true,
        )
    })?;
    let mut builder = Mail::builder().from(from);
    // Alertmanager's `to` may list several addresses, comma-separated.
    for one in email.to.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let to: Mailbox = one.parse().map_err(|e| {
            fail(
                format!("the recipient `{one}` is not an address: {e}"),
                true,
            )
        })?;
        builder = builder.to(to);
    }
    let mut builder = builder
        .subject(email.subject.clone())
        .message_id(Some(email.message_id.clone()))
        .date_now();
    for (name, value) in &email.headers {
        if let Ok(name) = HeaderName::new_from_ascii(name.clone()) {
            builder = builder.raw_header(HeaderValue::new(name, value.clone()));
        }
    }
    let message = builder
        .multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            email.html.clone(),
        ))
        .map_err(|e| fail(format!("cannot build the email: {e}"), true))?;
    let tls = |host: &str| {
        TlsParameters::new(host.to_owned()).map_err(|e| fail(format!("TLS: {e}"), false))
    };
    let mode = if server.port == 465 {
        Tls::Wrapper(tls(&server.host)?)
    } else if server.require_tls {
        Tls::Required(tls(&server.host)?)
    } else {
        Tls::Opportunistic(tls(&server.host)?)
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&server.host)
        .port(server.port)
        .tls(mode)
        .hello_name(ClientId::Domain(server.hello.clone()))
        .timeout(Some(timeout));
    if let (Some(user), Some(password)) = (&server.username, &server.password) {
        transport =
            transport.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
    }
    transport
        .build()
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| {
            fail(
                format!("the SMTP server {} answered: {e}", server.describe()),
                e.is_permanent(),
            )
        })
}
