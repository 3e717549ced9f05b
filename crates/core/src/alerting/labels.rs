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

/// The first name in `pairs` (in the order given) that is not a valid
/// label name, as an error.
fn check_names<S: AsRef<str>>(pairs: &[(S, S)]) -> Result<(), LabelError> {
    match pairs.iter().find(|(n, _)| !valid_label_name(n.as_ref())) {
        Some((name, _)) => Err(LabelError::InvalidName(name.as_ref().to_owned())),
        None => Ok(()),
    }
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
///
/// Held compactly, as one allocation: every name and value in name order,
/// each preceded by its length (see [`put_len`]). An alert keeps two of these
/// (labels and annotations), so this is most of an alert's memory; a vector
/// of string pairs took an allocation per name and per value (about 460
/// bytes for four labels, against 80 here).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct LabelSet(Box<str>);

/// Lengths are written as characters, so the text stays a `str` and every
/// name and value is a plain slice of it: each character carries 14 bits of
/// the length, lowest first, with `CONTINUED` set on all but the last. A
/// length under 128 is one byte, under 16,384 at most three.
const DIGIT_BITS: u32 = 14;
const CONTINUED: u32 = 1 << DIGIT_BITS;

fn put_len(out: &mut String, mut n: usize) {
    loop {
        let digit = (n & (CONTINUED as usize - 1)) as u32;
        n >>= DIGIT_BITS;
        let c = if n == 0 { digit } else { digit | CONTINUED };
        // Below 0x8000: always a character (no surrogate).
        out.push(char::from_u32(c).unwrap_or('\0'));
        if n == 0 {
            return;
        }
    }
}

fn len_len(mut n: usize) -> usize {
    let mut bytes = 0;
    loop {
        let digit = (n & (CONTINUED as usize - 1)) as u32;
        n >>= DIGIT_BITS;
        let c = if n == 0 { digit } else { digit | CONTINUED };
        bytes += char::from_u32(c).map_or(1, char::len_utf8);
        if n == 0 {
            return bytes;
        }
    }
}

/// Reads a length written by [`put_len`] at the start of `s`, and the rest.
fn take_len(s: &str) -> (usize, &str) {
    // Most lengths are under 128: one ASCII character, its own value.
    if let Some(&b) = s.as_bytes().first()
        && b < 0x80
    {
        return (usize::from(b), &s[1..]);
    }
    let mut n = 0usize;
    let mut shift = 0;
    let mut chars = s.chars();
    for c in chars.by_ref() {
        let c = c as u32;
        n |= ((c & (CONTINUED - 1)) as usize) << shift;
        shift += DIGIT_BITS;
        if c & CONTINUED == 0 {
            break;
        }
    }
    (n, chars.as_str())
}

/// Reads one length-prefixed string at the start of `s`, and the rest.
fn take_str(s: &str) -> (&str, &str) {
    let (n, rest) = take_len(s);
    rest.split_at(n)
}

/// The pairs of a [`LabelSet`], in name order.
#[derive(Clone)]
pub struct Iter<'a>(&'a str);

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        if self.0.is_empty() {
            return None;
        }
        let (name, rest) = take_str(self.0);
        let (value, rest) = take_str(rest);
        self.0 = rest;
        Some((name, value))
    }
}

impl fmt::Debug for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LabelSet")
            .field(&self.iter().collect::<Vec<_>>())
            .finish()
    }
}

/// Ordered as the list of its pairs (name, then value), as before it was
/// held compactly.
impl PartialOrd for LabelSet {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for LabelSet {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.iter().cmp(other.iter())
    }
}

impl LabelSet {
    /// Encodes pairs already sorted by name, names unique.
    fn from_sorted<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)> + Clone) -> LabelSet {
        let size: usize = pairs
            .clone()
            .map(|(n, v)| len_len(n.len()) + n.len() + len_len(v.len()) + v.len())
            .sum();
        let mut text = String::with_capacity(size);
        for (n, v) in pairs {
            put_len(&mut text, n.len());
            text.push_str(n);
            put_len(&mut text, v.len());
            text.push_str(v);
        }
        LabelSet(text.into_boxed_str())
    }

    /// Builds a label set: checks every name, drops empty values, and keeps
    /// the last value of a repeated name. An empty result is an error: an
    /// alert needs at least one label.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Self, LabelError> {
        Self::from_pairs(&mut pairs.into_iter().collect::<Vec<_>>())
    }

    /// Like [`LabelSet::new`] but an empty set is allowed (annotations,
    /// group labels).
    pub fn any(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Self, LabelError> {
        let mut pairs: Vec<_> = pairs.into_iter().collect();
        check_names(&pairs)?;
        Ok(Self::sorted_last(&mut pairs, false))
    }

    /// [`LabelSet::new`] from borrowed pairs, in the order given (a name
    /// given twice keeps its last value), without copying them on the way.
    pub fn from_pairs<S: AsRef<str>>(pairs: &mut [(S, S)]) -> Result<Self, LabelError> {
        check_names(pairs)?;
        let set = Self::sorted_last(pairs, false);
        if set.0.is_empty() {
            return Err(LabelError::Empty);
        }
        Ok(set)
    }

    /// A map of free text (annotations): names are not checked, empty values
    /// are kept, sorted by name; a repeated name keeps its last value.
    pub fn free(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Self::free_pairs(&mut pairs.into_iter().collect::<Vec<_>>())
    }

    /// [`LabelSet::free`] from borrowed pairs, in the order given.
    pub fn free_pairs<S: AsRef<str>>(pairs: &mut [(S, S)]) -> Self {
        Self::sorted_last(pairs, true)
    }

    /// Sorts `pairs` by name (stable: a repeated name's pairs stay in the
    /// order given) and keeps each name's last value, and empty ones only
    /// when `keep_empty`.
    fn sorted_last<S: AsRef<str>>(pairs: &mut [(S, S)], keep_empty: bool) -> Self {
        pairs.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        let last = |i: usize| {
            pairs
                .get(i + 1)
                .is_none_or(|next| next.0.as_ref() != pairs[i].0.as_ref())
        };
        let kept = (0..pairs.len())
            .filter(|&i| last(i) && (keep_empty || !pairs[i].1.as_ref().is_empty()))
            .map(|i| (pairs[i].0.as_ref(), pairs[i].1.as_ref()));
        Self::from_sorted(kept)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        for (n, v) in self.iter() {
            match n.cmp(name) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return Some(v),
                std::cmp::Ordering::Greater => return None,
            }
        }
        None
    }

    /// The value of `name`, or "" when absent (how matchers see it).
    pub fn value(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter(&self.0)
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// The bytes its names and values take, with a byte or so per length:
    /// about what it takes written out, to size a buffer.
    pub fn text_len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labels named in `names` that this set has.
    pub fn subset(&self, names: &[String]) -> LabelSet {
        LabelSet::from_sorted(self.iter().filter(|(n, _)| names.iter().any(|m| m == n)))
    }

    /// The labels every set in `sets` has with the same value.
    pub fn common<'a>(sets: impl Iterator<Item = &'a LabelSet>) -> LabelSet {
        let mut common = Common::default();
        for s in sets {
            if !common.add(s) {
                break;
            }
        }
        common.finish()
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
        for (n, v) in self.iter() {
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
        for (i, (n, v)) in self.iter().enumerate() {
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

/// The labels common to the sets given so far ([`LabelSet::common`], one
/// set at a time: a caller that goes through the sets anyway need not go
/// through them twice).
#[derive(Default)]
pub struct Common<'a>(Option<Vec<(&'a str, &'a str)>>);

impl<'a> Common<'a> {
    /// Narrows to the labels `s` has too; returns whether any are left.
    pub fn add(&mut self, s: &'a LabelSet) -> bool {
        if matches!(&self.0, Some(v) if v.is_empty()) {
            return false;
        }
        self.add_each(s, |_, _| {})
    }

    /// As [`Common::add`], and hands each pair of `s` to `each` in name
    /// order on the way: a caller that writes the set out walks it once.
    pub fn add_each(&mut self, s: &'a LabelSet, mut each: impl FnMut(&'a str, &'a str)) -> bool {
        match &mut self.0 {
            None => self.0 = Some(s.iter().inspect(|&(n, v)| each(n, v)).collect()),
            Some(v) => {
                // Both in name order: one walk through `s`, keeping at the
                // front of `v` the pairs `s` has with the same value.
                let (mut kept, mut j) = (0, 0);
                for (m, w) in s.iter() {
                    each(m, w);
                    while j < v.len() && v[j].0 < m {
                        j += 1;
                    }
                    if j < v.len() && v[j].0 == m {
                        if v[j].1 == w {
                            v[kept] = v[j];
                            kept += 1;
                        }
                        j += 1;
                    }
                }
                v.truncate(kept);
            }
        }
        self.0.as_ref().is_none_or(|v| !v.is_empty())
    }

    pub fn finish(self) -> LabelSet {
        LabelSet::from_sorted(self.0.unwrap_or_default().into_iter())
    }
}

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
    fn held_compactly_reads_back_whatever_the_lengths() {
        let long = "x".repeat(20_000);
        let huge = "é".repeat(300_000);
        let pairs = [
            ("", ""),
            ("a", "1"),
            ("b", long.as_str()),
            ("c", huge.as_str()),
            (long.as_str(), "\0\u{7f}\u{80}\u{3fff}\u{4000}"),
            ("zz", ""),
        ];
        let ls = LabelSet::free(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())));
        assert_eq!(ls.iter().collect::<Vec<_>>(), pairs.to_vec());
        assert_eq!(ls.len(), pairs.len());
        assert_eq!(ls.get("c"), Some(huge.as_str()));
        assert_eq!(ls.get("zz"), Some(""));
        assert_eq!(ls.get("bb"), None);
        assert_eq!(ls.get("zzz"), None);
        for n in [0, 1, 127, 128, 16_383, 16_384, 1 << 28, usize::MAX >> 1] {
            let mut s = String::new();
            put_len(&mut s, n);
            assert_eq!(s.len(), len_len(n), "{n}");
            s.push('!');
            assert_eq!(take_len(&s), (n, "!"), "{n}");
        }
    }

    #[test]
    fn label_sets_order_as_their_pairs() {
        let sets = [
            set(&[("a", "1")]),
            set(&[("a", "1"), ("b", "1")]),
            set(&[("a", "10")]),
            set(&[("a", "2")]),
            set(&[("aa", "0")]),
            set(&[("b", "0")]),
        ];
        for (i, x) in sets.iter().enumerate() {
            for (j, y) in sets.iter().enumerate() {
                let pairs = |s: &LabelSet| {
                    s.iter()
                        .map(|(a, b)| (a.to_owned(), b.to_owned()))
                        .collect::<Vec<_>>()
                };
                assert_eq!(x.cmp(y), pairs(x).cmp(&pairs(y)), "{x:?} {y:?}");
                assert_eq!(x.cmp(y), i.cmp(&j));
            }
        }
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
        // Names missing on either side, values that differ, and none left.
        let d = set(&[("b", "1"), ("c", "2"), ("e", "3")]);
        let e = set(&[("a", "0"), ("c", "2"), ("d", "9"), ("e", "4")]);
        assert_eq!(LabelSet::common([&d, &e].into_iter()), set(&[("c", "2")]));
        assert_eq!(LabelSet::common([&a, &d].into_iter()), LabelSet::default());
        assert_eq!(
            LabelSet::common([&d, &e, &a].into_iter()),
            LabelSet::default()
        );
        assert_eq!(LabelSet::common(std::iter::empty()), LabelSet::default());
        assert_eq!(LabelSet::common([&e].into_iter()), e);
    }

    proptest::proptest! {
        #[test]
        fn borrowed_pairs_make_the_same_sets(
            pairs in proptest::collection::vec(("[a-d]|1x|_", "[xy]?"), 0..8)
        ) {
            // The model: a map in which a later pair replaces an earlier
            // one; labels drop empty values and refuse the first bad name.
            let owned = || pairs.iter().map(|(n, v)| (n.clone(), v.clone()));
            let map: std::collections::BTreeMap<String, String> = owned().collect();
            let free = LabelSet::from_sorted(map.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            let labels = match pairs.iter().find(|(n, _)| !valid_label_name(n)) {
                Some((n, _)) => Err(LabelError::InvalidName(n.clone())),
                None => Some(LabelSet::from_sorted(
                    map.iter().filter(|(_, v)| !v.is_empty()).map(|(n, v)| (n.as_str(), v.as_str())),
                ))
                .filter(|s| !s.is_empty())
                .ok_or(LabelError::Empty),
            };
            let mut borrowed: Vec<(&str, &str)> =
                pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            proptest::prop_assert_eq!(LabelSet::from_pairs(&mut borrowed.clone()), labels.clone());
            proptest::prop_assert_eq!(LabelSet::new(owned()), labels);
            proptest::prop_assert_eq!(LabelSet::free_pairs(&mut borrowed), free.clone());
            proptest::prop_assert_eq!(LabelSet::free(owned()), free);
        }
    }

    proptest::proptest! {
        #[test]
        fn common_labels_are_those_every_set_has_with_the_same_value(
            sets in proptest::collection::vec(
                proptest::collection::btree_map("[a-e]", "[xy]", 1..5), 1..5)
        ) {
            let sets: Vec<LabelSet> = sets
                .iter()
                .map(|m| set(&m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>()))
                .collect();
            let naive: Vec<(&str, &str)> = sets[0]
                .iter()
                .filter(|(n, v)| sets.iter().all(|s| s.get(n) == Some(*v)))
                .collect();
            let want = if naive.is_empty() { LabelSet::default() } else { set(&naive) };
            proptest::prop_assert_eq!(LabelSet::common(sets.iter()), want.clone());
            // Walking each set whole while narrowing finds the same, and
            // hands over every pair of every set in order.
            let mut common = Common::default();
            for s in &sets {
                let mut seen = Vec::new();
                common.add_each(s, |n, v| seen.push((n, v)));
                proptest::prop_assert_eq!(seen, s.iter().collect::<Vec<_>>());
            }
            proptest::prop_assert_eq!(common.finish(), want);
        }
    }
}
