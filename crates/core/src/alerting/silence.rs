//! Silences, with Alertmanager's rules: when they may be changed in place,
//! and when a change expires the old one and creates another.

use jiff::Timestamp;

use super::labels::LabelSet;
use super::matcher::{Matcher, matches_all, matches_only_empty};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub updated_at: Timestamp,
    pub created_by: String,
    pub comment: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SilenceError {
    #[error("a silence needs at least one matcher")]
    NoMatchers,
    #[error(
        "at least one matcher must not match the empty string, or the silence would mute every alert"
    )]
    MatchesEverything,
    #[error("start time must be before end time (startsAt {starts_at}, endsAt {ends_at})")]
    EndsBeforeStart {
        starts_at: Timestamp,
        ends_at: Timestamp,
    },
    #[error("end time can't be in the past (endsAt {ends_at}, now {now})")]
    EndsInPast { ends_at: Timestamp, now: Timestamp },
    #[error("createdBy is required: say who set the silence")]
    NoAuthor,
    #[error("comment is required: say why the alerts are silenced")]
    NoComment,
}

/// What storing a silence does.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A new silence, or an existing one changed in place.
    Put(Silence),
    /// The existing silence cannot take this change (its matchers differ, it
    /// has started, or it has expired): it is expired and a new one created.
    Replace { expired: Silence, created: Silence },
}

impl Silence {
    pub fn state(&self, now: Timestamp) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    /// Whether this silence mutes an alert with `labels` at `now`.
    pub fn mutes(&self, labels: &LabelSet, now: Timestamp) -> bool {
        self.state(now) == SilenceState::Active && matches_all(&self.matchers, labels)
    }

    fn check(&self, now: Timestamp) -> Result<(), SilenceError> {
        if self.matchers.is_empty() {
            return Err(SilenceError::NoMatchers);
        }
        if matches_only_empty(&self.matchers) {
            return Err(SilenceError::MatchesEverything);
        }
        if self.ends_at < self.starts_at {
            return Err(SilenceError::EndsBeforeStart {
                starts_at: self.starts_at,
                ends_at: self.ends_at,
            });
        }
        if self.ends_at < now {
            return Err(SilenceError::EndsInPast {
                ends_at: self.ends_at,
                now,
            });
        }
        if self.created_by.trim().is_empty() {
            return Err(SilenceError::NoAuthor);
        }
        if self.comment.trim().is_empty() {
            return Err(SilenceError::NoComment);
        }
        Ok(())
    }

    /// Stores `new` (with `new_id` as the id it gets if one must be made),
    /// given the silence it updates, if any. A start in the past is moved to
    /// `now`, as Alertmanager does.
    pub fn set(
        existing: Option<&Silence>,
        mut new: Silence,
        new_id: String,
        now: Timestamp,
    ) -> Result<Change, SilenceError> {
        new.check(now)?;
        new.updated_at = now;
        let Some(old) = existing else {
            new.id = new_id;
            if new.starts_at < now {
                new.starts_at = now;
            }
            return Ok(Change::Put(new));
        };
        if can_update(old, &new, now) {
            new.id = old.id.clone();
            return Ok(Change::Put(new));
        }
        let expired = old.expired(now);
        new.id = new_id;
        if new.starts_at < now {
            new.starts_at = now;
        }
        Ok(Change::Replace {
            expired,
            created: new,
        })
    }

    /// This silence ended at `now` (a pending one never starts). An expired
    /// one is returned unchanged.
    pub fn expired(&self, now: Timestamp) -> Silence {
        let mut s = self.clone();
        match self.state(now) {
            SilenceState::Expired => return s,
            SilenceState::Pending => {
                s.starts_at = now;
                s.ends_at = now;
            }
            SilenceState::Active => s.ends_at = now,
        }
        s.updated_at = now;
        s
    }
}

fn can_update(old: &Silence, new: &Silence, now: Timestamp) -> bool {
    if old.matchers != new.matchers {
        return false;
    }
    match old.state(now) {
        SilenceState::Active => new.starts_at == old.starts_at && new.ends_at >= now,
        SilenceState::Pending => new.starts_at >= now,
        SilenceState::Expired => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::matcher::parse_matchers;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn silence(m: &str, start: i64, end: i64) -> Silence {
        Silence {
            id: String::new(),
            matchers: parse_matchers(m).unwrap(),
            starts_at: ts(start),
            ends_at: ts(end),
            updated_at: ts(0),
            created_by: "alice".into(),
            comment: "deploy".into(),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        LabelSet::new(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string()))).unwrap()
    }

    #[test]
    fn refuses_what_alertmanager_refuses() {
        let now = ts(0);
        let set = |s: Silence| Silence::set(None, s, "id".into(), now);
        assert_eq!(
            set(silence("a=b", 10, 5))
                .unwrap_err()
                .to_string()
                .split(' ')
                .next(),
            Some("start")
        );
        assert!(matches!(
            set(silence("a=b", -20, -10)),
            Err(SilenceError::EndsInPast { .. })
        ));
        assert_eq!(
            set(silence("a=~\".*\"", 0, 10)),
            Err(SilenceError::MatchesEverything)
        );
        let mut none = silence("a=b", 0, 10);
        none.matchers.clear();
        assert_eq!(set(none), Err(SilenceError::NoMatchers));
        let mut anonymous = silence("a=b", 0, 10);
        anonymous.created_by = " ".into();
        assert_eq!(set(anonymous), Err(SilenceError::NoAuthor));
    }

    #[test]
    fn states_and_muting() {
        let Change::Put(s) =
            Silence::set(None, silence("alertname=Foo", -10, 100), "x".into(), ts(0)).unwrap()
        else {
            panic!()
        };
        assert_eq!(s.starts_at, ts(0), "a start in the past moves to now");
        assert_eq!(s.state(ts(-1)), SilenceState::Pending);
        assert_eq!(s.state(ts(50)), SilenceState::Active);
        assert_eq!(s.state(ts(100)), SilenceState::Expired);
        assert!(s.mutes(&labels(&[("alertname", "Foo")]), ts(50)));
        assert!(!s.mutes(&labels(&[("alertname", "Bar")]), ts(50)));
        assert!(!s.mutes(&labels(&[("alertname", "Foo")]), ts(100)));
        let e = s.expired(ts(50));
        assert_eq!(
            (e.ends_at, e.state(ts(50))),
            (ts(50), SilenceState::Expired)
        );
    }

    #[test]
    fn updates_in_place_or_replaces() {
        let now = ts(0);
        let Change::Put(active) =
            Silence::set(None, silence("a=b", 0, 100), "one".into(), now).unwrap()
        else {
            panic!()
        };
        // Extending an active silence keeps its id.
        let mut longer = active.clone();
        longer.ends_at = ts(200);
        let Change::Put(kept) = Silence::set(Some(&active), longer, "two".into(), ts(10)).unwrap()
        else {
            panic!()
        };
        assert_eq!((kept.id.as_str(), kept.ends_at), ("one", ts(200)));
        // Other matchers: the old one expires and a new one is made.
        let mut other = active.clone();
        other.matchers = parse_matchers("a=c").unwrap();
        match Silence::set(Some(&active), other, "two".into(), ts(10)).unwrap() {
            Change::Replace { expired, created } => {
                assert_eq!((expired.id.as_str(), expired.ends_at), ("one", ts(10)));
                assert_eq!((created.id.as_str(), created.starts_at), ("two", ts(10)));
            }
            other => panic!("{other:?}"),
        }
    }
}
