//! A person's fallback contacts: a page to one of their primary contact
//! methods that keeps failing is sent to their fallback ones
//! (`fallback: true`) as well, once per page.
//!
//! "Keeps failing" is any of: the endpoint's circuit breaker is open (the
//! page is held, not attempted), the receiver refused it for good (a 4xx,
//! a permanent SMTP refusal) or the worker gave up, or
//! [`AFTER_ATTEMPTS`] attempts failed. The fallback pages are decided in
//! the transaction that records that attempt (`Store::record_attempt_with`),
//! with idempotency keys derived from the page, so a second failing
//! primary (or the next retry) decides nothing more and the timeline says
//! it once. The primary keeps being retried: the fallback is an addition,
//! not a replacement, so nothing is lost if the primary recovers.

use jiff::Timestamp;
use nines_store::{FollowUp, NewIncidentEvent, NewNotification, Notification};
use serde_json::{Value, json};

use super::routing::Routing;

/// Failed attempts of a page to a primary contact after which the
/// person's fallback contacts are paged: about three seconds of retries.
pub const AFTER_ATTEMPTS: i64 = 3;

/// The page a notification to a person's primary contact belongs to: its
/// idempotency key without the contact's index
/// (`{incident}-{trigger}-{step}-{person}`); `None` for anything else (a
/// fallback page, a group's notification, a digest).
pub fn page_of(note: &Notification) -> Option<&str> {
    let rest = note.idempotency_key.strip_prefix("nines-page-")?;
    let (page, i) = rest.rsplit_once('-')?;
    i.parse::<usize>().ok()?;
    Some(page)
}

/// Whether the page's primary keeps failing after this attempt (the
/// `attempts`th): held by an open breaker, refused for good or given up,
/// or [`AFTER_ATTEMPTS`] attempts.
pub fn keeps_failing(attempts: i64, gave_up: bool, breaker_open: bool) -> bool {
    breaker_open || gave_up || attempts >= AFTER_ATTEMPTS
}

/// The pages to the fallback contacts of the person `note` (a page to a
/// primary contact that keeps failing with `error`) pages, with the
/// timeline entry that says so; `None` when it is no page or the person
/// has no fallback contact.
///
/// A person without fallback contacts is covered by their escalation
/// policy's `fallback` people (`policy_fallback`, the policy of the
/// incident's service), paged on their primary contacts.
pub fn decide(
    routing: &Routing,
    note: &Notification,
    policy_fallback: &[String],
    error: &str,
    now: Timestamp,
) -> Option<FollowUp> {
    let page = page_of(note)?;
    let mut decision: Value = serde_json::from_str(&note.body).ok()?;
    let person = decision.get("person")?.as_str()?.to_owned();
    let (targets, whom) = match routing.fallbacks.get(&person).filter(|t| !t.is_empty()) {
        Some(own) => (own.clone(), format!("{person}'s fallback contact(s)")),
        None => {
            let others: Vec<&String> = policy_fallback.iter().filter(|p| **p != person).collect();
            let targets: Vec<_> = others
                .iter()
                .filter_map(|p| routing.people.get(*p))
                .flatten()
                .cloned()
                .collect();
            if targets.is_empty() {
                return None;
            }
            let names: Vec<&str> = others.iter().map(|p| p.as_str()).collect();
            (
                targets,
                format!("the escalation policy's fallback {}", names.join(", ")),
            )
        }
    };
    let short: String = error.chars().take(200).collect();
    let why = decision
        .get("why")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    decision["why"] = json!(format!(
        "{why}; through a fallback contact, because the page to {} kept failing ({short})",
        note.target
    ));
    decision["fallbackFor"] =
        json!({"channel": note.channel, "target": note.target, "error": short});
    let body = decision.to_string();
    let notifications: Vec<NewNotification> = targets
        .iter()
        .enumerate()
        .map(|(j, t)| NewNotification {
            idempotency_key: format!("nines-fallback-{page}-{j}"),
            channel: t.channel().to_owned(),
            target: t.address(),
            body: body.clone(),
            created_at: now,
            not_before: None,
        })
        .collect();
    let addresses: Vec<String> = notifications.iter().map(|n| n.target.clone()).collect();
    let event = NewIncidentEvent {
        at: now,
        kind: "fallback_used".to_owned(),
        actor: "nines".to_owned(),
        body: json!({
            "person": person,
            "failed": {
                "channel": note.channel,
                "target": note.target,
                "attempts": note.attempts + 1,
                "error": short,
            },
            "targets": addresses,
            "fallback": whom,
            "text": format!(
                "the page to {person} through {} kept failing ({short}); paged {whom}: {}",
                note.target,
                addresses.join(", ")
            ),
        })
        .to_string(),
    };
    Some(FollowUp {
        incident_id: note.incident_id,
        notifications,
        replace: false,
        event_if_new: Some(event),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(key: &str) -> Notification {
        Notification {
            id: 1,
            idempotency_key: key.to_owned(),
            incident_id: Some(4),
            channel: "json".to_owned(),
            target: "http://down/alice".to_owned(),
            body: json!({"kind": "incident", "person": "alice-b", "why": "escalation step 1 of 1"})
                .to_string(),
            created_at: Timestamp::UNIX_EPOCH,
            next_attempt_at: Timestamp::UNIX_EPOCH,
            attempts: 2,
            state: "pending".to_owned(),
            last_error: String::new(),
        }
    }

    #[test]
    fn fallback_contacts_wait_unless_no_primary_one_can_be_delivered_to() {
        use nines_core::model::{Catalog, ContactKind, ContactMethod, Meta, Person};
        let contact = |kind, address: &str, fallback| ContactMethod {
            kind,
            address: address.to_owned(),
            fallback,
        };
        let person = |name: &str, contacts| Person {
            meta: Meta {
                name: name.to_owned(),
                ..Meta::default()
            },
            time_zone: None,
            contacts,
            teams: Vec::new(),
            page_limit: None,
        };
        let mut c = Catalog::default();
        c.people.insert(
            "alice".to_owned(),
            person(
                "alice",
                vec![
                    contact(ContactKind::Webhook, "http://a/1", false),
                    contact(ContactKind::Email, "alice@example.com", true),
                ],
            ),
        );
        c.people.insert(
            "bob".to_owned(),
            person(
                "bob",
                vec![
                    contact(ContactKind::Phone, "+33100000000", false),
                    contact(ContactKind::Email, "bob@example.com", true),
                ],
            ),
        );
        let r = Routing::default().with_catalog(&c);
        let addresses =
            |m: &std::collections::BTreeMap<String, Vec<super::super::routing::Target>>,
             p: &str| {
                m.get(p)
                    .into_iter()
                    .flatten()
                    .map(|t| t.address())
                    .collect::<Vec<_>>()
            };
        assert_eq!(addresses(&r.people, "alice"), ["http://a/1"]);
        assert_eq!(
            addresses(&r.fallbacks, "alice"),
            ["mailto:alice@example.com"]
        );
        // bob's phone has no channel here: his fallback is where he is paged.
        assert_eq!(addresses(&r.people, "bob"), ["mailto:bob@example.com"]);
        assert!(addresses(&r.fallbacks, "bob").is_empty());
    }

    #[test]
    fn pages_are_told_apart_from_other_notifications() {
        assert_eq!(
            page_of(&note("nines-page-4-17-0-alice-b-1")),
            Some("4-17-0-alice-b")
        );
        assert_eq!(page_of(&note("nines-fallback-4-17-0-alice-b-0")), None);
        assert_eq!(page_of(&note("nines-3f2a-17-notice-0")), None);
    }

    #[test]
    fn the_fallback_is_used_when_the_breaker_is_open_or_after_three_failures() {
        assert!(!keeps_failing(1, false, false));
        assert!(!keeps_failing(2, false, false));
        assert!(keeps_failing(3, false, false));
        assert!(keeps_failing(1, true, false));
        assert!(keeps_failing(1, false, true));
    }

    #[test]
    fn a_fallback_page_carries_the_page_and_says_why() {
        let mut routing = Routing::default();
        routing.fallbacks.insert(
            "alice-b".to_owned(),
            vec![super::super::routing::Target::Json {
                url: "http://up/alice".to_owned(),
                send_resolved: true,
                max_alerts: 0,
            }],
        );
        let f = decide(
            &routing,
            &note("nines-page-4-17-0-alice-b-0"),
            &[],
            "refused",
            Timestamp::UNIX_EPOCH,
        )
        .unwrap();
        assert_eq!(f.incident_id, Some(4));
        assert_eq!(f.notifications.len(), 1);
        let n = &f.notifications[0];
        assert_eq!(n.idempotency_key, "nines-fallback-4-17-0-alice-b-0");
        assert_eq!(n.target, "http://up/alice");
        let body: Value = serde_json::from_str(&n.body).unwrap();
        assert_eq!(body["person"], "alice-b");
        assert!(
            body["why"]
                .as_str()
                .unwrap()
                .contains("kept failing (refused)")
        );
        let ev: Value = serde_json::from_str(&f.event_if_new.unwrap().body).unwrap();
        assert_eq!(ev["failed"]["target"], "http://down/alice");
        // Without fallback contacts, the policy's fallback people are
        // paged on their primary contacts (never the failing person).
        let mut routing = Routing::default();
        routing.people.insert(
            "dave".to_owned(),
            vec![super::super::routing::Target::Json {
                url: "http://up/dave".to_owned(),
                send_resolved: true,
                max_alerts: 0,
            }],
        );
        let policy = ["alice-b".to_owned(), "dave".to_owned()];
        let f = decide(
            &routing,
            &note("nines-page-4-17-0-alice-b-0"),
            &policy,
            "x",
            Timestamp::UNIX_EPOCH,
        )
        .unwrap();
        let targets: Vec<&str> = f.notifications.iter().map(|n| n.target.as_str()).collect();
        assert_eq!(targets, ["http://up/dave"]);
        let ev: Value = serde_json::from_str(&f.event_if_new.unwrap().body).unwrap();
        assert_eq!(ev["fallback"], "the escalation policy's fallback dave");
        // Nobody to fall back on: nothing is decided.
        let nobody = |policy: &[String]| {
            decide(
                &Routing::default(),
                &note("nines-page-4-17-0-alice-b-0"),
                policy,
                "x",
                Timestamp::UNIX_EPOCH,
            )
        };
        assert!(nobody(&[]).is_none());
        assert!(nobody(&["alice-b".to_owned()]).is_none());
    }
}
