//! Circuit breakers, one per delivery endpoint (a URL, an SMTP server): an
//! endpoint that failed `THRESHOLD` times in a row is not tried for
//! `COOL_DOWN`; then one notification probes it, and the breaker closes on
//! its success or opens again on its failure. Notifications held by an
//! open breaker are rescheduled to when it may be probed, each on its
//! incident's timeline, so that a dead receiver costs one timeout per
//! cool-down instead of one per notification. Time is passed in.

use std::collections::{BTreeMap, HashMap};

use jiff::{SignedDuration, Timestamp};

/// Consecutive failures that open a breaker.
pub const THRESHOLD: u32 = 5;
/// How long an open breaker holds before a probe.
pub const COOL_DOWN: SignedDuration = SignedDuration::from_secs(60);
/// How long a notification waits while another one probes its endpoint.
const WHILE_PROBING: SignedDuration = SignedDuration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Timestamp,
    },
    /// One probe is out.
    HalfOpen,
}

/// Whether a notification may be sent to its endpoint now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Go,
    /// The first attempt after the cool-down: its outcome decides.
    Probe,
    /// Not now: the breaker is open (or another notification probes).
    Wait {
        until: Timestamp,
        failures: u32,
    },
}

/// A change of a breaker's state, to log and count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Opened,
    Closed,
}

/// The breakers, by (channel, endpoint).
#[derive(Debug, Default)]
pub struct Breakers {
    map: HashMap<(String, String), (State, u32)>,
}

impl Breakers {
    pub fn admit(&mut self, channel: &str, endpoint: &str, now: Timestamp) -> Admit {
        let Some((state, failures)) = self.map.get_mut(&(channel.to_owned(), endpoint.to_owned()))
        else {
            return Admit::Go;
        };
        match *state {
            State::Closed { .. } => Admit::Go,
            State::Open { until } if now < until => Admit::Wait {
                until,
                failures: *failures,
            },
            State::Open { .. } => {
                *state = State::HalfOpen;
                Admit::Probe
            }
            State::HalfOpen => Admit::Wait {
                until: now.saturating_add(WHILE_PROBING).unwrap_or(now),
                failures: *failures,
            },
        }
    }

    /// The outcome of an attempt on `endpoint`: `ok` when it answered (a
    /// permanent refusal of one message is an answer too).
    pub fn record(
        &mut self,
        channel: &str,
        endpoint: &str,
        ok: bool,
        now: Timestamp,
    ) -> Option<Transition> {
        let entry = self
            .map
            .entry((channel.to_owned(), endpoint.to_owned()))
            .or_insert((State::Closed { failures: 0 }, 0));
        let (state, failures) = entry;
        if ok {
            let was_open = !matches!(state, State::Closed { .. });
            *state = State::Closed { failures: 0 };
            *failures = 0;
            return was_open.then_some(Transition::Closed);
        }
        *failures += 1;
        let open = State::Open {
            until: now.saturating_add(COOL_DOWN).unwrap_or(now),
        };
        match *state {
            State::Closed { failures: f } if f + 1 >= THRESHOLD => {
                *state = open;
                Some(Transition::Opened)
            }
            State::Closed { failures: f } => {
                *state = State::Closed { failures: f + 1 };
                None
            }
            State::HalfOpen => {
                *state = open;
                Some(Transition::Opened)
            }
            // An attempt started before the breaker opened.
            State::Open { .. } => None,
        }
    }

    /// Open (or probing) breakers, by channel, for `/metrics`.
    pub fn open_by_channel(&self) -> BTreeMap<String, i64> {
        let mut out = BTreeMap::new();
        for ((channel, _), (state, _)) in &self.map {
            let n = out.entry(channel.clone()).or_insert(0);
            if !matches!(state, State::Closed { .. }) {
                *n += 1;
            }
        }
        out
    }

    /// Forgets closed breakers of endpoints no longer failing, so that the
    /// map does not grow with every endpoint ever used.
    pub fn prune(&mut self) {
        self.map
            .retain(|_, (s, f)| !matches!(s, State::Closed { .. }) || *f > 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn opens_after_consecutive_failures_probes_after_the_cool_down_and_closes_on_success() {
        let mut b = Breakers::default();
        for i in 0..THRESHOLD - 1 {
            assert_eq!(b.admit("webhook", "u", at(0)), Admit::Go);
            assert_eq!(b.record("webhook", "u", false, at(i64::from(i))), None);
        }
        // A success in between starts the count again.
        assert_eq!(b.record("webhook", "u", true, at(5)), None);
        for _ in 0..THRESHOLD - 1 {
            b.record("webhook", "u", false, at(6));
        }
        assert_eq!(
            b.record("webhook", "u", false, at(10)),
            Some(Transition::Opened)
        );
        assert_eq!(
            b.admit("webhook", "u", at(69)),
            Admit::Wait {
                until: at(70),
                failures: THRESHOLD
            }
        );
        // Another endpoint is not held.
        assert_eq!(b.admit("webhook", "v", at(11)), Admit::Go);
        assert_eq!(b.open_by_channel()["webhook"], 1);
        // After the cool-down one probe goes; the others wait for it.
        assert_eq!(b.admit("webhook", "u", at(70)), Admit::Probe);
        assert!(matches!(
            b.admit("webhook", "u", at(70)),
            Admit::Wait { .. }
        ));
        // The probe fails: open again for a cool-down.
        assert_eq!(
            b.record("webhook", "u", false, at(71)),
            Some(Transition::Opened)
        );
        assert!(matches!(
            b.admit("webhook", "u", at(100)),
            Admit::Wait { until, .. } if until == at(131)
        ));
        assert_eq!(b.admit("webhook", "u", at(131)), Admit::Probe);
        assert_eq!(
            b.record("webhook", "u", true, at(132)),
            Some(Transition::Closed)
        );
        assert_eq!(b.admit("webhook", "u", at(132)), Admit::Go);
        assert_eq!(b.open_by_channel()["webhook"], 0);
        b.prune();
        assert!(b.open_by_channel().is_empty());
    }
}
