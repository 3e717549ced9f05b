//! Slack-compatible incoming-webhook JSON: `text` (the notification's
//! fallback, shown where blocks are not) and Block Kit `blocks`: a header,
//! a section per alert, and the incident's links.

use serde_json::{Value, json};

use super::text::Message;

/// Slack's limits: a header's text, a section's text, blocks in a message.
const HEADER_MAX: usize = 150;
const SECTION_MAX: usize = 3000;
const BLOCKS_MAX: usize = 50;

/// `&`, `<` and `>` are Slack's markup (`<!channel>` notifies everyone):
/// what comes from alerts is escaped.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn link(url: &str, label: &str) -> String {
    format!("<{}|{}>", escape(url), escape(label))
}

pub fn render(msg: &Message) -> Value {
    let icon = if msg.alerts.is_empty() && msg.subject.starts_with("[NOTICE]") {
        ":information_source:"
    } else if !msg.firing {
        ":white_check_mark:"
    } else if msg.urgency == "high" {
        ":red_circle:"
    } else {
        ":large_orange_circle:"
    };
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": cut(&msg.subject, HEADER_MAX), "emoji": true},
    })];
    if let Some(lead) = &msg.lead {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": cut(&format!("{icon} {}", escape(lead)), SECTION_MAX)},
        }));
    }
    // Room is kept for the links and a "more" line.
    let room = BLOCKS_MAX - blocks.len() - 2;
    let mut more = msg.more;
    for (i, a) in msg.alerts.iter().enumerate() {
        if i >= room {
            more += msg.alerts.len() - room;
            break;
        }
        let mut t = format!("*[{}] {}*", a.status.to_uppercase(), escape(&a.name));
        for p in a.summary.iter().chain(&a.description) {
            t.push('\n');
            t.push_str(&escape(p));
        }
        if !a.facts.is_empty() {
            t.push('\n');
            let facts: Vec<String> = a
                .facts
                .iter()
                .map(|(k, v)| format!("*{}:* {}", escape(k), escape(v)))
                .collect();
            t.push_str(&facts.join(" · "));
        }
        if !a.links.is_empty() {
            t.push('\n');
            let links: Vec<String> = a.links.iter().map(|(k, v)| link(v, k)).collect();
            t.push_str(&links.join(" · "));
        }
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": cut(&t, SECTION_MAX)},
        }));
    }
    if more > 0 {
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": format!("… and {more} more alert(s), not shown")}],
        }));
    }
    if !msg.links.is_empty() {
        let links: Vec<String> = msg
            .links
            .iter()
            .map(|l| {
                if l.post {
                    format!("{} (POST)", link(&l.url, l.label))
                } else {
                    link(&l.url, l.label)
                }
            })
            .collect();
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": links.join(" · ")}],
        }));
    }
    json!({
        "text": format!("{icon} {}", escape(&msg.subject)),
        "blocks": blocks,
    })
}
