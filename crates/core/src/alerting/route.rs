//! The routing tree, as Alertmanager 0.25 walks it: which routes an alert
//! goes to, with which options, and the key of the group it joins.
//!
//! A [`Route`] is what a configuration says (options may be unset); a
//! [`RouteTree`] is the same tree with every option resolved from the
//! parent, ready to route alerts.

use std::fmt::{self, Write as _};

use jiff::SignedDuration;

use super::labels::LabelSet;
use super::matcher::{Matcher, matchers_to_string};

/// Alertmanager's defaults for the root route (`dispatch.DefaultRouteOpts`).
pub const DEFAULT_GROUP_WAIT: SignedDuration = SignedDuration::from_secs(30);
pub const DEFAULT_GROUP_INTERVAL: SignedDuration = SignedDuration::from_secs(5 * 60);
pub const DEFAULT_REPEAT_INTERVAL: SignedDuration = SignedDuration::from_secs(4 * 3600);

/// How alerts of a route are grouped into notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// By the values of these labels; no labels means one group for the
    /// route.
    Labels(Vec<String>),
    /// `group_by: ['...']`: by every label, so each alert is its own group.
    All,
}

impl GroupBy {
    /// No grouping labels: every alert of the route in one group.
    pub fn none() -> GroupBy {
        GroupBy::Labels(Vec::new())
    }
}

/// A route as configured: unset options are inherited from the parent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Route {
    pub receiver: Option<String>,
    pub group_by: Option<GroupBy>,
    pub group_wait: Option<SignedDuration>,
    pub group_interval: Option<SignedDuration>,
    pub repeat_interval: Option<SignedDuration>,
    /// All must match (an absent label is ""). `match` and `match_re` from
    /// older configurations are converted to matchers before they get here.
    pub matchers: Vec<Matcher>,
    /// Whether an alert matching this route goes on to its next siblings.
    pub continue_matching: bool,
    pub routes: Vec<Route>,
    /// Names of time intervals; not inherited (Alertmanager takes each
    /// route's own lists).
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
}

impl Route {
    /// The tree with every option resolved. See [`RouteTree::new`].
    pub fn resolve(&self) -> Result<RouteTree, RouteError> {
        RouteTree::new(self)
    }
}

/// What a route does with the alerts it gets, once inherited options are
/// filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteOptions {
    pub receiver: String,
    pub group_by: GroupBy,
    pub group_wait: SignedDuration,
    pub group_interval: SignedDuration,
    pub repeat_interval: SignedDuration,
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
}

/// Why a route tree cannot be used. Alertmanager refuses the same.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("root route must specify a default receiver")]
    NoRootReceiver,
    #[error("root route must not have any matchers")]
    RootMatchers,
    #[error("root route must not have any mute time intervals")]
    RootMuteTimeIntervals,
    #[error("root route must not have any active time intervals")]
    RootActiveTimeIntervals,
    #[error("{0} cannot be zero")]
    ZeroInterval(&'static str),
}

/// One node of a resolved tree.
#[derive(Debug, Clone)]
pub struct ResolvedRoute {
    /// Child indexes from the root: `[]` is the root, `[1, 0]` the first
    /// child of the root's second child. Stable while the configuration is.
    pub path: Vec<usize>,
    /// Alertmanager's route key (`Route.Key()`): the matchers of every route
    /// from the root down, `{}/{service="db"}`. Not unique in general; group
    /// keys are built from it.
    pub key: String,
    /// Alertmanager's route id (`Route.ID()`): the key and the position
    /// among its siblings, `{}/{service="db"}/0`.
    pub id: String,
    /// Sorted in Alertmanager's order.
    pub matchers: Vec<Matcher>,
    pub continue_matching: bool,
    pub options: RouteOptions,
    children: Vec<usize>,
}

impl ResolvedRoute {
    /// The labels that identify an alert's group on this route.
    pub fn group_labels(&self, labels: &LabelSet) -> LabelSet {
        match &self.options.group_by {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => labels.subset(names),
        }
    }

    /// Alertmanager's group key (`aggrGroup.GroupKey()`): the route key, a
    /// colon, and the group labels as Go prints a label set, e.g.
    /// `{}:{alertname="BenchAlert", service="svc-00"}`. Webhook payloads
    /// carry it as `groupKey`.
    pub fn group_key(&self, group_labels: &LabelSet) -> String {
        format!("{}:{}", self.key, go_label_set(group_labels))
    }

    /// The path as text, `0` for the root and `0.2.1` below it: a compact,
    /// unique route identifier for storage and URLs.
    pub fn path_string(&self) -> String {
        let mut s = String::from("0");
        for i in &self.path {
            let _ = write!(s, ".{i}");
        }
        s
    }
}

/// A route tree with every option resolved.
#[derive(Debug, Clone)]
pub struct RouteTree {
    /// Depth-first, parents before children (Alertmanager's `Walk` order);
    /// the root is first.
    nodes: Vec<ResolvedRoute>,
}

impl RouteTree {
    /// Resolves `root`: children inherit the receiver, `group_by` and the
    /// three intervals they do not set; the root falls back to Alertmanager's
    /// defaults (group_wait 30s, group_interval 5m, repeat_interval 4h, no
    /// grouping). The root needs a receiver and may have neither matchers
    /// nor time intervals; no route may set a zero group_interval or
    /// repeat_interval.
    pub fn new(root: &Route) -> Result<RouteTree, RouteError> {
        if root.receiver.as_deref().is_none_or(str::is_empty) {
            return Err(RouteError::NoRootReceiver);
        }
        if !root.matchers.is_empty() {
            return Err(RouteError::RootMatchers);
        }
        if !root.mute_time_intervals.is_empty() {
            return Err(RouteError::RootMuteTimeIntervals);
        }
        if !root.active_time_intervals.is_empty() {
            return Err(RouteError::RootActiveTimeIntervals);
        }
        let defaults = RouteOptions {
            receiver: String::new(),
            group_by: GroupBy::none(),
            group_wait: DEFAULT_GROUP_WAIT,
            group_interval: DEFAULT_GROUP_INTERVAL,
            repeat_interval: DEFAULT_REPEAT_INTERVAL,
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
        };
        let mut tree = RouteTree { nodes: Vec::new() };
        tree.add(root, &defaults, None, Vec::new())?;
        Ok(tree)
    }

    fn add(
        &mut self,
        route: &Route,
        parent: &RouteOptions,
        parent_key: Option<&str>,
        path: Vec<usize>,
    ) -> Result<usize, RouteError> {
        if route.group_interval.is_some_and(|d| d.is_zero()) {
            return Err(RouteError::ZeroInterval("group_interval"));
        }
        if route.repeat_interval.is_some_and(|d| d.is_zero()) {
            return Err(RouteError::ZeroInterval("repeat_interval"));
        }
        let options = RouteOptions {
            receiver: route
                .receiver
                .clone()
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| parent.receiver.clone()),
            group_by: route
                .group_by
                .clone()
                .unwrap_or_else(|| parent.group_by.clone()),
            group_wait: route.group_wait.unwrap_or(parent.group_wait),
            group_interval: route.group_interval.unwrap_or(parent.group_interval),
            repeat_interval: route.repeat_interval.unwrap_or(parent.repeat_interval),
            mute_time_intervals: route.mute_time_intervals.clone(),
            active_time_intervals: route.active_time_intervals.clone(),
        };
        let mut matchers = route.matchers.clone();
        matchers.sort();
        let own = matchers_to_string(&matchers);
        let key = match parent_key {
            Some(p) => format!("{p}/{own}"),
            None => own,
        };
        let id = match path.last() {
            Some(i) => format!("{key}/{i}"),
            None => key.clone(),
        };
        let index = self.nodes.len();
        self.nodes.push(ResolvedRoute {
            path: path.clone(),
            key: key.clone(),
            id,
            matchers,
            continue_matching: route.continue_matching,
            options: options.clone(),
            children: Vec::with_capacity(route.routes.len()),
        });
        for (i, child) in route.routes.iter().enumerate() {
            let mut child_path = path.clone();
            child_path.push(i);
            let c = self.add(child, &options, Some(&key), child_path)?;
            self.nodes[index].children.push(c);
        }
        Ok(index)
    }

    pub fn root(&self) -> &ResolvedRoute {
        &self.nodes[0]
    }

    /// Every route, depth-first, parents before children.
    pub fn routes(&self) -> &[ResolvedRoute] {
        &self.nodes
    }

    /// The route at `path` (see [`ResolvedRoute::path`]).
    pub fn get(&self, path: &[usize]) -> Option<&ResolvedRoute> {
        let mut node = &self.nodes[0];
        for i in path {
            node = &self.nodes[*node.children.get(*i)?];
        }
        Some(node)
    }

    /// The routes an alert with `labels` goes to, in Alertmanager's order:
    /// depth-first, left to right; a matching child stops the search among
    /// its siblings unless it has `continue`; a matching route none of whose
    /// children match is itself a destination. The root matches everything,
    /// so the result is never empty.
    pub fn route(&self, labels: &LabelSet) -> Vec<&ResolvedRoute> {
        let mut out = Vec::new();
        self.collect(0, labels, &mut out);
        if out.is_empty() {
            // Unreachable for a tree built by `new` (the root has no
            // matchers), kept so that the promise above holds.
            out.push(&self.nodes[0]);
        }
        out
    }

    /// Alertmanager's `Route.Match`: whether node `i` matched (and what it
    /// added to `out`).
    fn collect<'a>(
        &'a self,
        i: usize,
        labels: &LabelSet,
        out: &mut Vec<&'a ResolvedRoute>,
    ) -> bool {
        let node = &self.nodes[i];
        if !node.matchers.iter().all(|m| m.matches_labels(labels)) {
            return false;
        }
        let before = out.len();
        for &c in &node.children {
            if self.collect(c, labels, out) && !self.nodes[c].continue_matching {
                break;
            }
        }
        if out.len() == before {
            out.push(node);
        }
        true
    }
}

/// A label set as Go's `model.LabelSet.String()` prints it: sorted names,
/// `name="value"` with Go's `%q` quoting, joined by ", ".
pub fn go_label_set(labels: &LabelSet) -> String {
    let mut s = String::from("{");
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(name);
        s.push('=');
        go_quote_into(&mut s, value);
    }
    s.push('}');
    s
}

/// Go's `strconv.Quote`: printable characters as they are, `\"` and `\\`,
/// the named escapes for control characters, `\xNN` for other ASCII
/// controls and `\uNNNN` / `\UNNNNNNNN` for other unprintable characters.
fn go_quote_into(out: &mut String, s: &str) {
    out.push('"');
    // Most values need no escape at all.
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_ascii() || printable(c) => out.push(c),
            c if (c as u32) < 0x1_0000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
}

/// Whether a non-ASCII character is printable, by Rust's own tables (what
/// `escape_debug` leaves alone outside the first position), which agree with
/// Go's `unicode.IsPrint` on letters, marks, numbers, punctuation and
/// symbols.
fn printable(c: char) -> bool {
    let mut probe = String::with_capacity(8);
    probe.push('a');
    probe.push(c);
    let mut escaped = probe.escape_debug();
    escaped.next();
    escaped.eq(std::iter::once(c))
}

impl fmt::Display for GroupBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupBy::All => f.write_str("[...]"),
            GroupBy::Labels(names) => write!(f, "[{}]", names.join(", ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::matcher::parse_matchers;

    fn set(pairs: &[(&str, &str)]) -> LabelSet {
        LabelSet::new(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string()))).unwrap()
    }

    fn route(receiver: Option<&str>, matchers: &str, routes: Vec<Route>) -> Route {
        Route {
            receiver: receiver.map(str::to_string),
            matchers: parse_matchers(matchers).unwrap(),
            routes,
            ..Route::default()
        }
    }

    fn receivers(tree: &RouteTree, labels: &LabelSet) -> Vec<String> {
        tree.route(labels)
            .iter()
            .map(|r| r.options.receiver.clone())
            .collect()
    }

    #[test]
    fn root_defaults_and_inheritance() {
        let mut child = route(
            None,
            "team=db",
            vec![route(Some("db-pager"), "severity=critical", vec![])],
        );
        child.group_wait = Some(SignedDuration::from_secs(10));
        child.group_by = Some(GroupBy::Labels(vec!["alertname".into(), "cluster".into()]));
        let mut root = route(Some("default"), "", vec![child]);
        root.repeat_interval = Some(SignedDuration::from_secs(3600));
        root.mute_time_intervals = vec![];
        let tree = root.resolve().unwrap();

        let r = tree.root();
        assert_eq!(r.options.receiver, "default");
        assert_eq!(r.options.group_by, GroupBy::none());
        assert_eq!(r.options.group_wait, DEFAULT_GROUP_WAIT);
        assert_eq!(r.options.group_interval, DEFAULT_GROUP_INTERVAL);
        assert_eq!(r.options.repeat_interval, SignedDuration::from_secs(3600));

        let leaf = tree.get(&[0, 0]).unwrap();
        assert_eq!(leaf.options.receiver, "db-pager");
        assert_eq!(leaf.options.group_wait, SignedDuration::from_secs(10));
        assert_eq!(
            leaf.options.repeat_interval,
            SignedDuration::from_secs(3600)
        );
        assert_eq!(
            leaf.options.group_by,
            GroupBy::Labels(vec!["alertname".into(), "cluster".into()])
        );
        assert_eq!(tree.get(&[0]).unwrap().options.receiver, "default");
        assert!(tree.get(&[1]).is_none());
        assert_eq!(tree.routes().len(), 3);
    }

    #[test]
    fn time_intervals_are_not_inherited() {
        let mut child = route(None, "a=1", vec![route(None, "b=2", vec![])]);
        child.mute_time_intervals = vec!["nights".into()];
        child.active_time_intervals = vec!["office".into()];
        let tree = route(Some("r"), "", vec![child]).resolve().unwrap();
        assert_eq!(
            tree.get(&[0]).unwrap().options.mute_time_intervals,
            ["nights"]
        );
        assert_eq!(
            tree.get(&[0]).unwrap().options.active_time_intervals,
            ["office"]
        );
        assert!(
            tree.get(&[0, 0])
                .unwrap()
                .options
                .mute_time_intervals
                .is_empty()
        );
        assert!(
            tree.get(&[0, 0])
                .unwrap()
                .options
                .active_time_intervals
                .is_empty()
        );
    }

    #[test]
    fn depth_first_with_continue() {
        let mut first = route(
            Some("a"),
            "service=~\"api|web\"",
            vec![route(Some("a-critical"), "severity=critical", vec![])],
        );
        first.continue_matching = true;
        let second = route(Some("b"), "service=api", vec![]);
        let third = route(Some("c"), "service=~\".+\"", vec![]);
        let tree = route(Some("root"), "", vec![first, second, third])
            .resolve()
            .unwrap();

        // `first` continues, `second` matches and stops.
        assert_eq!(
            receivers(&tree, &set(&[("service", "api"), ("severity", "critical")])),
            ["a-critical", "b"]
        );
        // `first` matches (itself, no child), continues; `second` does not
        // match; `third` does.
        assert_eq!(receivers(&tree, &set(&[("service", "web")])), ["a", "c"]);
        assert_eq!(receivers(&tree, &set(&[("service", "db")])), ["c"]);
        // Nothing below the root matches: the root is the destination.
        assert_eq!(receivers(&tree, &set(&[("alertname", "x")])), ["root"]);
    }

    #[test]
    fn a_child_without_continue_stops_its_siblings_even_through_its_children() {
        let parent = route(
            Some("p"),
            "team=db",
            vec![
                route(Some("p1"), "severity=critical", vec![]),
                route(Some("p2"), "severity=~\"critical|warning\"", vec![]),
            ],
        );
        let after = route(Some("after"), "team=db", vec![]);
        let tree = route(Some("root"), "", vec![parent, after])
            .resolve()
            .unwrap();
        assert_eq!(
            receivers(&tree, &set(&[("team", "db"), ("severity", "critical")])),
            ["p1"]
        );
        // No child of `p` matches: `p` itself is the destination, and it
        // has no `continue`, so `after` is not tried.
        assert_eq!(receivers(&tree, &set(&[("team", "db")])), ["p"]);
    }

    #[test]
    fn keys_ids_and_group_keys_follow_alertmanager() {
        let child = route(
            Some("x"),
            r#"service="api", alertname=~"High.*""#,
            vec![route(None, "severity!=info", vec![])],
        );
        let mut root = route(Some("bench"), "", vec![child]);
        root.group_by = Some(GroupBy::Labels(vec!["alertname".into(), "service".into()]));
        let tree = root.resolve().unwrap();

        let r = tree.root();
        assert_eq!(r.key, "{}");
        assert_eq!(r.id, "{}");
        assert_eq!(r.path_string(), "0");
        let alert = set(&[
            ("alertname", "BenchAlert"),
            ("service", "svc-00"),
            ("instance", "i1"),
        ]);
        let g = r.group_labels(&alert);
        assert_eq!(
            g,
            set(&[("alertname", "BenchAlert"), ("service", "svc-00")])
        );
        assert_eq!(
            r.group_key(&g),
            r#"{}:{alertname="BenchAlert", service="svc-00"}"#
        );

        // Matchers sorted by name in the key, joined without spaces.
        let c = tree.get(&[0]).unwrap();
        assert_eq!(c.key, r#"{}/{alertname=~"High.*",service="api"}"#);
        assert_eq!(c.id, r#"{}/{alertname=~"High.*",service="api"}/0"#);
        let leaf = tree.get(&[0, 0]).unwrap();
        assert_eq!(
            leaf.key,
            r#"{}/{alertname=~"High.*",service="api"}/{severity!="info"}"#
        );
        assert_eq!(leaf.path_string(), "0.0.0");
        let hit = tree.route(&set(&[("alertname", "HighCPU"), ("service", "api")]));
        assert_eq!(hit.len(), 1);
        assert_eq!(hit[0].path, [0, 0]);
        assert_eq!(
            hit[0].group_key(
                &hit[0].group_labels(&set(&[("alertname", "HighCPU"), ("service", "api")]))
            ),
            r#"{}/{alertname=~"High.*",service="api"}/{severity!="info"}:{alertname="HighCPU", service="api"}"#
        );
    }

    #[test]
    fn group_by_all_and_none() {
        let mut all = route(None, "a=1", vec![route(None, "b=2", vec![])]);
        all.group_by = Some(GroupBy::All);
        let mut labelled = route(None, "a=1", vec![]);
        labelled.group_by = Some(GroupBy::Labels(vec!["a".into()]));
        let tree = route(Some("r"), "", vec![all, labelled]).resolve().unwrap();
        let labels = set(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let leaf = tree.get(&[0, 0]).unwrap();
        assert_eq!(leaf.options.group_by, GroupBy::All);
        assert_eq!(leaf.group_labels(&labels), labels);
        assert_eq!(tree.root().group_labels(&labels), LabelSet::default());
        assert_eq!(tree.root().group_key(&LabelSet::default()), "{}:{}");
    }

    #[test]
    fn group_keys_quote_as_go_does() {
        let g = set(&[
            ("a", "x\"y\\z"),
            ("b", "é\u{1}\t\u{7f}\u{ad}"),
            ("c", "日本\u{301}"),
        ]);
        assert_eq!(
            go_label_set(&g),
            "{a=\"x\\\"y\\\\z\", b=\"é\\x01\\t\\x7f\\u00ad\", c=\"日本\u{301}\"}"
        );
    }

    #[test]
    fn the_root_is_checked() {
        assert_eq!(
            route(None, "", vec![]).resolve().unwrap_err(),
            RouteError::NoRootReceiver
        );
        assert_eq!(
            route(Some(""), "", vec![]).resolve().unwrap_err(),
            RouteError::NoRootReceiver
        );
        assert_eq!(
            route(Some("r"), "a=1", vec![]).resolve().unwrap_err(),
            RouteError::RootMatchers
        );
        let mut r = route(Some("r"), "", vec![]);
        r.mute_time_intervals = vec!["x".into()];
        assert_eq!(r.resolve().unwrap_err(), RouteError::RootMuteTimeIntervals);
        let mut r = route(Some("r"), "", vec![route(None, "a=1", vec![])]);
        r.routes[0].repeat_interval = Some(SignedDuration::ZERO);
        assert_eq!(
            r.resolve().unwrap_err(),
            RouteError::ZeroInterval("repeat_interval")
        );
        // A zero group_wait is fine (the benchmark configuration uses it).
        let mut r = route(Some("r"), "", vec![]);
        r.group_wait = Some(SignedDuration::ZERO);
        assert!(r.resolve().is_ok());
    }
}
