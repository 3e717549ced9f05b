//! Inhibition as Alertmanager 0.25 decides it: a firing source alert mutes
//! target alerts that share the `equal` labels with it.

use super::labels::{Fingerprint, LabelSet};
use super::matcher::{Matcher, matches_all};

/// One `inhibit_rules` entry. `source_match`/`target_match(_re)` from older
/// configurations are converted to matchers before they get here.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InhibitRule {
    pub source_matchers: Vec<Matcher>,
    pub target_matchers: Vec<Matcher>,
    /// Labels whose values must be the same on source and target; a label
    /// absent from both counts as the same (both are "").
    pub equal: Vec<String>,
}

impl InhibitRule {
    /// Whether the firing alert `source` inhibits `target` under this rule.
    ///
    /// Alertmanager's rule, including its guard against mutual inhibition:
    /// when the target also matches the source matchers, sources that also
    /// match the target matchers do not count. With rules such as
    /// `severity=critical` muting `alertname=Disk`, two critical Disk alerts
    /// do not mute each other, and no alert ever mutes itself.
    pub fn inhibits(&self, source: &LabelSet, target: &LabelSet) -> bool {
        matches_all(&self.target_matchers, target)
            && matches_all(&self.source_matchers, source)
            && self.equal_labels(source, target)
            && !(matches_all(&self.source_matchers, target)
                && matches_all(&self.target_matchers, source))
    }

    fn equal_labels(&self, source: &LabelSet, target: &LabelSet) -> bool {
        self.equal
            .iter()
            .all(|name| source.value(name) == target.value(name))
    }

    /// The fingerprints of the alerts in `firing` that inhibit `target`
    /// under this rule, in the order given. `firing` must hold only alerts
    /// that are firing now (Alertmanager skips resolved sources); the target
    /// itself may be among them.
    pub fn inhibited_by<'a>(
        &self,
        target: &LabelSet,
        firing: impl IntoIterator<Item = (Fingerprint, &'a LabelSet)>,
    ) -> Vec<Fingerprint> {
        // Checked once here rather than per source.
        if !matches_all(&self.target_matchers, target) {
            return Vec::new();
        }
        let target_fp = target.fingerprint();
        firing
            .into_iter()
            .filter(|(fp, source)| *fp != target_fp && self.inhibits(source, target))
            .map(|(fp, _)| fp)
            .collect()
    }
}

/// The fingerprints of the firing alerts that inhibit `target` under any of
/// `rules`, sorted and without repeats; empty when the target is not
/// inhibited. Alertmanager reports only the first source it finds (in no
/// particular order) in `status.inhibitedBy`; callers that want the same
/// take the first of these.
pub fn inhibited_by<'a, I>(rules: &[InhibitRule], target: &LabelSet, firing: I) -> Vec<Fingerprint>
where
    I: IntoIterator<Item = (Fingerprint, &'a LabelSet)>,
    I::IntoIter: Clone,
{
    let firing = firing.into_iter();
    let mut out: Vec<Fingerprint> = rules
        .iter()
        .flat_map(|rule| rule.inhibited_by(target, firing.clone()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Whether any rule inhibits `target`; stops at the first source found.
pub fn is_inhibited<'a, I>(rules: &[InhibitRule], target: &LabelSet, firing: I) -> bool
where
    I: IntoIterator<Item = (Fingerprint, &'a LabelSet)>,
    I::IntoIter: Clone,
{
    let firing = firing.into_iter();
    let target_fp = target.fingerprint();
    rules.iter().any(|rule| {
        matches_all(&rule.target_matchers, target)
            && firing
                .clone()
                .any(|(fp, source)| fp != target_fp && rule.inhibits(source, target))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::matcher::parse_matchers;

    fn set(pairs: &[(&str, &str)]) -> LabelSet {
        LabelSet::new(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string()))).unwrap()
    }

    fn rule(source: &str, target: &str, equal: &[&str]) -> InhibitRule {
        InhibitRule {
            source_matchers: parse_matchers(source).unwrap(),
            target_matchers: parse_matchers(target).unwrap(),
            equal: equal.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn fps(alerts: &[LabelSet]) -> Vec<(Fingerprint, &LabelSet)> {
        alerts.iter().map(|a| (a.fingerprint(), a)).collect()
    }

    #[test]
    fn the_benchmark_rule() {
        let r = rule(
            r#"severity="critical""#,
            r#"severity="warning""#,
            &["alertname", "service"],
        );
        let crit = set(&[
            ("alertname", "A"),
            ("service", "s1"),
            ("severity", "critical"),
        ]);
        let other_service = set(&[
            ("alertname", "A"),
            ("service", "s2"),
            ("severity", "critical"),
        ]);
        let warn = set(&[
            ("alertname", "A"),
            ("service", "s1"),
            ("severity", "warning"),
        ]);
        let firing = [crit.clone(), other_service.clone(), warn.clone()];

        assert_eq!(
            r.inhibited_by(&warn, fps(&firing)),
            vec![crit.fingerprint()]
        );
        assert!(r.inhibited_by(&crit, fps(&firing)).is_empty());
        // Without the critical alert firing, nothing inhibits the warning.
        assert!(
            r.inhibited_by(&warn, fps(&[other_service, warn.clone()]))
                .is_empty()
        );
    }

    #[test]
    fn equal_labels_absent_on_both_sides_are_equal() {
        let r = rule("severity=critical", "severity=warning", &["cluster"]);
        let crit = set(&[("alertname", "A"), ("severity", "critical")]);
        let warn = set(&[("alertname", "B"), ("severity", "warning")]);
        assert!(r.inhibits(&crit, &warn));
        let warn_in_cluster = set(&[
            ("alertname", "B"),
            ("severity", "warning"),
            ("cluster", "c1"),
        ]);
        assert!(!r.inhibits(&crit, &warn_in_cluster));
    }

    #[test]
    fn no_self_or_mutual_inhibition() {
        // Both alerts match both sides: neither mutes the other (nor itself).
        let r = rule("severity=critical", "alertname=Disk", &["host"]);
        let a = set(&[
            ("alertname", "Disk"),
            ("severity", "critical"),
            ("host", "h"),
            ("dev", "sda"),
        ]);
        let b = set(&[
            ("alertname", "Disk"),
            ("severity", "critical"),
            ("host", "h"),
            ("dev", "sdb"),
        ]);
        let firing = [a.clone(), b.clone()];
        assert!(r.inhibited_by(&a, fps(&firing)).is_empty());
        assert!(r.inhibited_by(&b, fps(&firing)).is_empty());
        // A critical alert of another name, which does not match the target
        // side, does mute them.
        let c = set(&[
            ("alertname", "HostDown"),
            ("severity", "critical"),
            ("host", "h"),
        ]);
        let firing = [a.clone(), b.clone(), c.clone()];
        assert_eq!(r.inhibited_by(&a, fps(&firing)), vec![c.fingerprint()]);
        // A rule whose sides overlap cannot make an alert mute itself.
        let r = rule("alertname=X", "alertname=X", &[]);
        let x = set(&[("alertname", "X")]);
        assert!(r.inhibited_by(&x, fps(std::slice::from_ref(&x))).is_empty());
    }

    #[test]
    fn several_rules_sorted_and_deduplicated() {
        let rules = [
            rule("severity=critical", "severity=warning", &["service"]),
            rule("alertname=Outage", "severity=~\"warning|info\"", &[]),
        ];
        let outage = set(&[
            ("alertname", "Outage"),
            ("severity", "critical"),
            ("service", "s"),
        ]);
        let crit = set(&[
            ("alertname", "Other"),
            ("severity", "critical"),
            ("service", "s"),
        ]);
        let warn = set(&[
            ("alertname", "W"),
            ("severity", "warning"),
            ("service", "s"),
        ]);
        let firing = [outage.clone(), crit.clone(), warn.clone()];
        let mut want = vec![outage.fingerprint(), crit.fingerprint()];
        want.sort();
        assert_eq!(inhibited_by(&rules, &warn, fps(&firing)), want);
        assert!(is_inhibited(&rules, &warn, fps(&firing)));
        assert!(!is_inhibited(&rules, &outage, fps(&firing)));
        assert!(inhibited_by(&rules, &crit, fps(&firing)).is_empty());
        assert!(inhibited_by(&[], &warn, fps(&firing)).is_empty());
    }
}
