//! Label sets and their fingerprints, as Prometheus and Alertmanager define
//! them, so an alert has the same identity here as in the tools it came from.

use std::fmt;

/// A label name is valid when it matches `[a-zA-Z_][a-zA-Z0-9_]*` (the
/// Prometheus rule Alertmanager 0.25 applies to alerts).
pub fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Why a set of labels is not a label set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error(
        "invalid label name {0:?}: a label name is letters, digits and '_', not starting with a digit"
    )]
    InvalidName(String),
    #[error("at least one label pair required")]
    Empty,
}

/// A set of labels: sorted by name, names unique, no empty values (an empty
/// value means the label is absent, as in Prometheus).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct LabelSet(Vec<(String, String)>);

impl LabelSet {
    /// Builds a label set: checks every name, drops empty values, and keeps
    /// the last value of a repeated name. An empty result is an error: an
    /// alert needs at least one label.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Self, LabelError> {
        let set = Self::any(pairs)?;
        if set.0.is_empty() {
            return Err(LabelError::Empty);
        }
        Ok(set)
    }

    /// Like [`LabelSet::new`] but an empty set is allowed (annotations,
    /// group labels).
    pub fn any(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Self, LabelError> {
        let mut v: Vec<(String, String)> = Vec::new();
        for (name, value) in pairs {
            if !valid_label_name(&name) {
                return Err(LabelError::InvalidName(name));
            }
            if value.is_empty() {
                v.retain(|(n, _)| *n != name);
                continue;
            }
            match v.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = value,
                None => v.push((name, value)),
            }
        }
        v.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Self(v))
    }

    /// A map of free text (annotations): names are not checked, empty values
    /// are kept, sorted by name.
    pub fn free(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut v: Vec<(String, String)> = pairs.into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                std::mem::swap(&mut earlier.1, &mut later.1);
                true
            } else {
                false
            }
        });
        Self(v)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// The value of `name`, or "" when absent (how matchers see it).
    pub fn value(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labels named in `names` that this set has.
    pub fn subset(&self, names: &[String]) -> LabelSet {
        LabelSet(
            self.0
                .iter()
                .filter(|(n, _)| names.iter().any(|m| m == n))
                .cloned()
                .collect(),
        )
    }

    /// The labels every set in `sets` has with the same value.
    pub fn common<'a>(mut sets: impl Iterator<Item = &'a LabelSet>) -> LabelSet {
        let Some(first) = sets.next() else {
            return LabelSet::default();
        };
        let mut v = first.0.clone();
        for s in sets {
            v.retain(|(n, val)| s.get(n) == Some(val.as_str()));
        }
        LabelSet(v)
    }

    /// The fingerprint Prometheus and Alertmanager give this label set
    /// (`model.LabelSet.Fingerprint`): FNV-1a 64 over each name and value in
    /// name order, each followed by the byte 0xff.
    pub fn fingerprint(&self) -> Fingerprint {
        const OFFSET: u64 = 14_695_981_039_346_656_037;
        const PRIME: u64 = 1_099_511_628_211;
        let mut h = OFFSET;
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                h ^= u64::from(*b);
                h = h.wrapping_mul(PRIME);
            }
        };
        for (n, v) in &self.0 {
            eat(n.as_bytes());
            eat(&[0xff]);
            eat(v.as_bytes());
            eat(&[0xff]);
        }
        Fingerprint(h)
    }

    /// Alertmanager's rendering: `{a="1", b="2"}`.
    pub fn to_am_string(&self) -> String {
        let mut s = String::from("{");
        for (i, (n, v)) in self.0.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            s.push_str(n);
            s.push('=');
            s.push_str(&format!("{v:?}"));
        }
        s.push('}');
        s
    }
}

/// The identity of an alert: a 64-bit hash of its labels, printed as 16 hex
/// digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub u64);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(Fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, &str)]) -> LabelSet {
        LabelSet::new(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string()))).unwrap()
    }

    #[test]
    fn names_follow_the_prometheus_rule() {
        for ok in ["a", "_", "alertname", "A_1", "__name__"] {
            assert!(valid_label_name(ok), "{ok}");
        }
        for bad in ["", "0abc", "bad-name", "näme", "a b", "a.b"] {
            assert!(!valid_label_name(bad), "{bad}");
        }
    }

    #[test]
    fn empty_values_are_dropped_and_order_does_not_matter() {
        let a = set(&[("b", "2"), ("a", "1"), ("c", "")]);
        let b = set(&[("a", "1"), ("b", "2")]);
        assert_eq!(a, b);
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(
            LabelSet::new([("x".to_string(), String::new())]),
            Err(LabelError::Empty)
        );
    }

    #[test]
    fn fingerprint_matches_prometheus() {
        // Values from github.com/prometheus/common model/signature_test.go.
        assert_eq!(
            LabelSet::default().fingerprint().0,
            14_695_981_039_346_656_037
        );
        let ls = set(&[("name", "garland, briggs"), ("fear", "love is not enough")]);
        assert_eq!(ls.fingerprint().0, 5_799_056_148_416_392_346);
        assert_eq!(
            ls.fingerprint().to_string(),
            format!("{:016x}", 5_799_056_148_416_392_346u64)
        );
    }

    #[test]
    fn common_labels_and_subsets() {
        let a = set(&[("alertname", "A"), ("service", "x"), ("pod", "1")]);
        let b = set(&[("alertname", "A"), ("service", "x"), ("pod", "2")]);
        let c = LabelSet::common([&a, &b].into_iter());
        assert_eq!(c, set(&[("alertname", "A"), ("service", "x")]));
        assert_eq!(
            a.subset(&["service".into(), "nope".into()]),
            set(&[("service", "x")])
        );
        assert_eq!(c.to_am_string(), r#"{alertname="A", service="x"}"#);
    }
}
