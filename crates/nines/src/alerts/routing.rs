//! Which receivers an alert goes to and which group (incident) it joins.
//!
//! Without an Alertmanager configuration every alert goes to the built-in
//! receiver `nines` and alerts group by their `service` label; with one
//! (`serve --alertmanager-config`), its route tree decides.

use jiff::SignedDuration;
use nines_core::alerting::labels::LabelSet;

/// The receiver every alert reaches when no route tree is configured.
pub const DEFAULT_RECEIVER: &str = "nines";

/// Where a group's notifications go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Alertmanager webhook format, version 4.
    Webhook {
        url: String,
        send_resolved: bool,
        max_alerts: usize,
    },
}

#[derive(Debug, Clone)]
pub struct Receiver {
    pub name: String,
    pub targets: Vec<Target>,
}

/// One group an alert belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    pub receiver: String,
    /// Alertmanager's group key: `{route matchers}:{group labels}`.
    pub key: String,
    pub labels: LabelSet,
    pub group_wait: SignedDuration,
    pub group_interval: SignedDuration,
    pub repeat_interval: SignedDuration,
}

#[derive(Debug, Clone)]
pub struct Routing {
    pub receivers: Vec<Receiver>,
    pub group_by: Vec<String>,
    pub group_wait: SignedDuration,
    pub group_interval: SignedDuration,
    pub repeat_interval: SignedDuration,
    pub original: String,
}

impl Default for Routing {
    fn default() -> Self {
        Routing {
            receivers: vec![Receiver {
                name: DEFAULT_RECEIVER.to_owned(),
                targets: Vec::new(),
            }],
            group_by: vec!["service".to_owned()],
            group_wait: SignedDuration::from_secs(0),
            group_interval: SignedDuration::from_secs(60),
            repeat_interval: SignedDuration::from_secs(4 * 3600),
            original: "# no alertmanager.yml: every alert goes to the receiver \"nines\", grouped by service\n".to_owned(),
        }
    }
}

impl Routing {
    pub fn groups(&self, labels: &LabelSet) -> Vec<GroupRef> {
        let group_labels = labels.subset(&self.group_by);
        vec![GroupRef {
            receiver: self.receivers[0].name.clone(),
            key: format!("{{}}:{}", group_labels.to_am_string()),
            labels: group_labels,
            group_wait: self.group_wait,
            group_interval: self.group_interval,
            repeat_interval: self.repeat_interval,
        }]
    }

    pub fn receivers(&self, labels: &LabelSet) -> Vec<String> {
        let mut names: Vec<String> = self
            .groups(labels)
            .into_iter()
            .map(|g| g.receiver)
            .collect();
        names.dedup();
        names
    }

    pub fn receiver_names(&self) -> Vec<String> {
        self.receivers.iter().map(|r| r.name.clone()).collect()
    }

    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }

    pub fn original(&self) -> &str {
        &self.original
    }
}
