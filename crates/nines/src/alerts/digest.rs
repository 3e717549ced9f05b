//! A per-person page limit that turns bursts into one digest.
//!
//! A person's limit (`pageLimit: {pages: 3, window: 5m}` on the Person,
//! else `serve --page-limit 3/5m`; unset, no limit) counts the pages the
//! delivery worker lets through to them in a sliding window, one per page
//! whatever the number of their contact methods. When a page is about to
//! go out for the first time:
//!
//! - the first page of each high-urgency incident to this person always
//!   goes out at once (it counts, but is never held behind a digest);
//! - otherwise, while fewer than `pages` went out in the window and no
//!   digest is open for them, it goes out;
//! - otherwise it is held: its outbox rows are done ("held for the digest
//!   of alice at ..."), on its incident's timeline, and the person's open
//!   digest (one outbox row per primary contact, first attempt at the end
//!   of the window, one idempotency key per digest and contact) gains the
//!   incident, in the same transaction. A digest opens when the first page
//!   is held and ends one window after the oldest page counted then.
//!
//! Nothing is dropped: every held page is in a digest that is in the
//! outbox before the page is marked done, so a restart keeps it. What is
//! kept in memory ([`PageLimiter`], like the circuit breakers) is only the
//! count; after a restart it starts from zero and a page held later opens
//! a new digest. Retries and fallback pages are never held.

use std::collections::{HashMap, VecDeque};

use jiff::{SignedDuration, Timestamp};
use nines_core::model::PageLimit;
use nines_store::{Attempt, FollowUp, NewIncidentEvent, NewNotification, Notification};
use serde_json::{Value, json};

use super::fallback::page_of;
use super::routing::Routing;
use crate::serve::AppState;

/// What the limit says of one page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Send,
    /// Held for the person's open digest.
    Hold(OpenDigest),
}

/// A person's digest while its window runs: where held pages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenDigest {
    /// The idempotency key of its rows, without the contact's index.
    pub key: String,
    pub until: Timestamp,
    /// The held pages' incidents, as the digest lists them.
    pub items: Vec<Value>,
}

#[derive(Debug, Default)]
struct Log {
    /// Pages let through within the window, oldest first.
    sent: VecDeque<Timestamp>,
    /// Pages judged (any of their contact rows), so the other rows of a
    /// page get the same verdict.
    judged: HashMap<String, (Timestamp, bool)>,
    /// Incidents this person was paged for, and when: the first page of a
    /// high-urgency one is never held.
    incidents: HashMap<i64, Timestamp>,
    open: Option<OpenDigest>,
}

/// One page to one person, as the limit judges it.
#[derive(Debug, Clone, Copy)]
pub struct PageRef<'a> {
    pub person: &'a str,
    /// The page (its idempotency key without the contact's index).
    pub page: &'a str,
    pub incident: i64,
    pub high_urgency: bool,
}

/// Pages sent and held per person. Pure: time is passed in.
#[derive(Debug, Default)]
pub struct PageLimiter {
    people: HashMap<String, Log>,
}

/// How long an incident's first page is remembered.
const REMEMBER_INCIDENTS: SignedDuration = SignedDuration::from_hours(24);

impl PageLimiter {
    /// The verdict on page `p` under `limit` at `now`; a held page's
    /// `item` joins the open digest (once per page).
    pub fn judge(
        &mut self,
        p: PageRef<'_>,
        item: Value,
        limit: PageLimit,
        now: Timestamp,
    ) -> Verdict {
        let PageRef {
            person,
            page,
            incident,
            high_urgency: high,
        } = p;
        let log = self.people.entry(person.to_owned()).or_default();
        let start = now - limit.window;
        while log.sent.front().is_some_and(|t| *t <= start) {
            log.sent.pop_front();
        }
        let keep = limit.window.max(REMEMBER_INCIDENTS);
        log.judged.retain(|_, (t, _)| *t > now - keep);
        log.incidents.retain(|_, t| *t > now - keep);
        if log.open.as_ref().is_some_and(|d| d.until <= now) {
            log.open = None;
        }
        let held = match log.judged.get(page) {
            Some((_, held)) => *held,
            None => {
                let first_high = high && !log.incidents.contains_key(&incident);
                let over = log.open.is_some() || log.sent.len() >= limit.pages as usize;
                let held = over && !first_high;
                log.judged.insert(page.to_owned(), (now, held));
                log.incidents.entry(incident).or_insert(now);
                if !held {
                    log.sent.push_back(now);
                }
                held
            }
        };
        if !held {
            return Verdict::Send;
        }
        let open = log.open.get_or_insert_with(|| {
            let until = log.sent.front().map_or(now, |t| *t) + limit.window;
            OpenDigest {
                key: format!("nines-digest-{person}-{}", until.as_microsecond()),
                until,
                items: Vec::new(),
            }
        });
        if !open.items.iter().any(|i| i["page"] == page) {
            let mut item = item;
            item["page"] = json!(page);
            open.items.push(item);
        }
        Verdict::Hold(open.clone())
    }
}

/// The digest's rows (one per primary contact of `person`), to be written
/// (replacing a pending one's body) with the page that joins it.
pub fn follow_up(routing: &Routing, person: &str, d: &OpenDigest, now: Timestamp) -> FollowUp {
    let body = json!({
        "kind": "digest",
        "person": person,
        "until": d.until.to_string(),
        "items": d.items,
    })
    .to_string();
    let notifications = routing
        .people
        .get(person)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, t)| NewNotification {
            idempotency_key: format!("{}-{i}", d.key),
            channel: t.channel().to_owned(),
            target: t.address(),
            body: body.clone(),
            created_at: now,
            not_before: Some(d.until),
        })
        .collect();
    FollowUp {
        incident_id: None,
        notifications,
        replace: true,
        event_if_new: None,
    }
}

/// A page held for a digest: its attempt, its timeline entry and the
/// digest it joins.
pub struct Held {
    pub attempt: Attempt,
    pub event: NewIncidentEvent,
    pub follow: FollowUp,
    pub person: String,
    pub until: Timestamp,
}

/// Whether the page `note`, due for its first attempt, is held by its
/// person's page limit; `None` sends it.
pub async fn hold(state: &AppState, note: &Notification, now: Timestamp) -> Option<Held> {
    if note.attempts > 0 {
        return None;
    }
    let page = page_of(note)?;
    let decision: Value = serde_json::from_str(&note.body).ok()?;
    let person = decision.get("person")?.as_str()?;
    let routing = state.routing();
    // A digest goes to the person's primary contacts; without any there
    // is nothing to carry it, and the page goes as it is.
    if routing.people.get(person).is_none_or(Vec::is_empty) {
        return None;
    }
    let limit = routing
        .page_limits
        .get(person)
        .copied()
        .or(state.page_limit)?;
    let id = note.incident_id?;
    let inc = state.store.incident(id).await.ok().flatten()?;
    let title = serde_json::from_str::<Value>(&inc.body)
        .ok()
        .and_then(|b| b.get("title").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default();
    let external = decision
        .get("externalURL")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let item = json!({
        "incident": id,
        "title": title,
        "service": inc.service,
        "urgency": inc.urgency,
        "heldAt": now.to_string(),
        "url": super::channels::text::incident_url(external, id),
    });
    let verdict = state
        .page_limiter
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .judge(
            PageRef {
                person,
                page,
                incident: id,
                high_urgency: inc.urgency == "high",
            },
            item,
            limit,
            now,
        );
    let Verdict::Hold(open) = verdict else {
        return None;
    };
    let text = format!(
        "held for the digest of {person} at {} ({person} was paged more than {} time(s) within {:#})",
        open.until, limit.pages, limit.window
    );
    Some(Held {
        attempt: Attempt::Held {
            at: now,
            note: format!("{text}: {}", open.key),
        },
        event: NewIncidentEvent {
            at: now,
            kind: "held_for_digest".to_owned(),
            actor: "nines".to_owned(),
            body: json!({
                "person": person,
                "until": open.until.to_string(),
                "digest": open.key,
                "channel": note.channel,
                "target": note.target,
                "text": text,
            })
            .to_string(),
        },
        follow: follow_up(&routing, person, &open, now),
        person: person.to_owned(),
        until: open.until,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(min: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH + SignedDuration::from_mins(min)
    }

    #[test]
    fn beyond_the_limit_pages_wait_for_one_digest_but_high_urgency_first_pages_go() {
        let limit = PageLimit::new(2, SignedDuration::from_mins(5)).unwrap();
        let mut l = PageLimiter::default();
        let mut judge = |page: &str, inc: i64, high: bool, min: i64| {
            let p = PageRef {
                person: "alice",
                page,
                incident: inc,
                high_urgency: high,
            };
            l.judge(p, json!({"incident": inc}), limit, at(min))
        };
        assert_eq!(judge("p1", 1, false, 0), Verdict::Send);
        // Another contact row of the same page: the same verdict, not counted.
        assert_eq!(judge("p1", 1, false, 0), Verdict::Send);
        assert_eq!(judge("p2", 2, false, 1), Verdict::Send);
        let Verdict::Hold(d) = judge("p3", 3, false, 2) else {
            panic!("held")
        };
        // The window of the oldest page counted ends at +5m.
        assert_eq!(d.until, at(5));
        // A high-urgency incident's first page still goes, its next one waits.
        assert_eq!(judge("p4", 4, true, 3), Verdict::Send);
        let Verdict::Hold(d) = judge("p4-step2", 4, true, 4) else {
            panic!("held")
        };
        assert_eq!(d.items.len(), 2);
        assert_eq!(d.until, at(5));
        // The window ended: the digest is told, pages count again.
        assert_eq!(judge("p5", 5, false, 9), Verdict::Send);
    }
}
