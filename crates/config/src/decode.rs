//! From located YAML nodes to draft objects: one document at a time, every
//! problem reported with its position, nothing cross-checked yet (that is
//! [`crate::link`]'s job, once every file is read).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nines_core::availability::Target;
use nines_core::duration::{DurationShorthand, DurationUnit};
use nines_core::model::{
    AlertCondition, AlertPolicy, BudgetingMethod, BurnRateCondition, Channel, ContactKind,
    DataSource, Dependency, Heartbeat, IncidentPolicy, Integration, Member, Meta, MetricSource,
    NotificationTarget, Notify, Numerator, Objective, Op, RawType, Secret, Service, Sli, SliMetric,
    Slo, Team, Templates, Tier, TimeWindow, Value, WebhookFormat,
};

use crate::diag::{Diagnostic, Pos, closest};
use crate::yaml::{Node, NodeKind};

#[path = "decode_oncall.rs"]
mod oncall;
pub use oncall::{CoverageDraft, ScheduleDraft};

#[path = "decode_escalation.rs"]
mod escalation;
pub use escalation::{EscalationPolicyDraft, TargetDraft};

pub const OPENSLO_V1: &str = "openslo/v1";
pub const NINES_V1: &str = "nines/v1";
const OPENSLO_KINDS: [&str; 7] = [
    "Service",
    "SLO",
    "SLI",
    "DataSource",
    "AlertPolicy",
    "AlertCondition",
    "AlertNotificationTarget",
];
const NINES_KINDS: [&str; 5] = ["Service", "Team", "Person", "Schedule", "EscalationPolicy"];

/// Where something was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loc {
    pub file: PathBuf,
    pub pos: Pos,
}

/// A reference by name to another object, with where it was written.
#[derive(Clone, Debug)]
pub struct Ref {
    pub name: String,
    pub loc: Loc,
}

#[derive(Clone, Debug)]
pub enum Inline<T> {
    Inline(T),
    Ref(Ref),
}

#[derive(Clone, Debug)]
pub struct SliDraft {
    pub sli: Sli,
    /// `metricSourceRef`s, to be checked against the DataSources.
    pub source_refs: Vec<Ref>,
}

#[derive(Clone, Debug)]
pub struct PolicyDraft {
    /// With empty `conditions` and `notification_targets`, filled by linking.
    pub policy: AlertPolicy,
    pub conditions: Vec<Inline<AlertCondition>>,
    pub targets: Vec<Inline<NotificationTarget>>,
}

#[derive(Clone, Debug)]
pub struct SloDraft {
    /// With no indicators and no policies yet; linking fills them.
    pub slo: Slo,
    pub indicator: Option<Inline<SliDraft>>,
    pub objective_indicators: Vec<Option<Inline<SliDraft>>>,
    pub policies: Vec<Inline<PolicyDraft>>,
}

#[derive(Clone, Debug)]
pub struct ServiceDraft {
    pub service: Service,
    pub owner: Option<Ref>,
    pub escalation_policy: Option<Ref>,
    pub dependencies: Vec<Ref>,
}

/// Everything read from all files, before cross-checking.
#[derive(Debug, Default)]
pub struct Drafts {
    pub openslo_services: Vec<(Meta, Loc)>,
    pub nines_services: Vec<(ServiceDraft, Loc)>,
    pub slos: Vec<(SloDraft, Loc)>,
    pub slis: Vec<(SliDraft, Loc)>,
    pub data_sources: Vec<(DataSource, Loc)>,
    pub policies: Vec<(PolicyDraft, Loc)>,
    pub conditions: Vec<(AlertCondition, Loc)>,
    pub targets: Vec<(NotificationTarget, Loc)>,
    pub teams: Vec<(Team, Loc)>,
    pub people: Vec<(nines_core::model::Person, Loc)>,
    pub schedules: Vec<(ScheduleDraft, Loc)>,
    pub escalation_policies: Vec<(EscalationPolicyDraft, Loc)>,
    /// Every `escalationPolicy:` of a team or a service, checked once every
    /// policy is read.
    pub escalation_refs: Vec<Ref>,
    /// Files read on the way (imported calendars), for the digest and for
    /// showing their lines in diagnostics.
    pub extra_sources: Vec<(PathBuf, String)>,
}

pub struct Decoder<'a> {
    file: &'a Path,
    pub diags: Vec<Diagnostic>,
}

/// A mapping whose keys have been checked against the fields its kind allows.
struct Fields<'n> {
    node: &'n Node,
}

impl<'n> Fields<'n> {
    /// The value of `key`, treating an explicit `null` as absent.
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.node.get(key).filter(|n| !n.is_null())
    }

    fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

impl<'a> Decoder<'a> {
    pub fn new(file: &'a Path) -> Decoder<'a> {
        Decoder {
            file,
            diags: Vec::new(),
        }
    }

    fn loc(&self, pos: Pos) -> Loc {
        Loc {
            file: self.file.to_path_buf(),
            pos,
        }
    }

    fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.diags
            .push(Diagnostic::error(pos, message).in_file(self.file));
    }

    fn error_help(&mut self, pos: Pos, message: impl Into<String>, help: impl Into<String>) {
        self.diags.push(
            Diagnostic::error(pos, message)
                .with_help(help)
                .in_file(self.file),
        );
    }

    fn warning(&mut self, pos: Pos, message: impl Into<String>, help: impl Into<String>) {
        self.diags.push(
            Diagnostic::warning(pos, message)
                .with_help(help)
                .in_file(self.file),
        );
    }

    /// Checks that `node` is a mapping holding only `allowed` keys.
    fn fields<'n>(&mut self, node: &'n Node, what: &str, allowed: &[&str]) -> Option<Fields<'n>> {
        let Some(entries) = node.as_map() else {
            self.error(
                node.pos,
                format!("{what} must be a mapping, found {}", node.type_name()),
            );
            return None;
        };
        for (key, _) in entries {
            let k = key.as_scalar().unwrap_or("");
            if !allowed.contains(&k) {
                let help = match closest(k, allowed.iter().copied()) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!("{what} accepts: {}", allowed.join(", ")),
                };
                self.error_help(key.pos, format!("unknown field `{k}` in {what}"), help);
            }
        }
        Some(Fields { node })
    }

    fn required<'n>(&mut self, f: &Fields<'n>, key: &str, what: &str) -> Option<&'n Node> {
        let found = f.get(key);
        if found.is_none() {
            self.error(
                f.node.pos,
                format!("{what} is missing required field `{key}`"),
            );
        }
        found
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.kind {
            NodeKind::Scalar(s, _) => Some(s.clone()),
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be a string, found {}", node.type_name()),
                );
                None
            }
        }
    }

    fn opt_string(&mut self, f: &Fields, key: &str, what: &str) -> Option<String> {
        f.get(key)
            .and_then(|n| self.string(n, &format!("{what}.{key}")))
    }

    fn req_string(&mut self, f: &Fields, key: &str, what: &str) -> Option<String> {
        let n = self.required(f, key, what)?;
        self.string(n, &format!("{what}.{key}"))
    }

    fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        match &node.kind {
            NodeKind::Scalar(s, true) if s == "true" => Some(true),
            NodeKind::Scalar(s, true) if s == "false" => Some(false),
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be true or false, found {}", node.type_name()),
                );
                None
            }
        }
    }

    fn opt_bool(&mut self, f: &Fields, key: &str, what: &str) -> Option<bool> {
        f.get(key)
            .and_then(|n| self.bool(n, &format!("{what}.{key}")))
    }

    fn number(&mut self, node: &Node, what: &str) -> Option<f64> {
        if let NodeKind::Scalar(s, true) = &node.kind
            && let Ok(x) = s.parse::<f64>()
            && x.is_finite()
        {
            return Some(x);
        }
        self.error(
            node.pos,
            format!("{what} must be a number, found {}", node.type_name()),
        );
        None
    }

    fn opt_number(&mut self, f: &Fields, key: &str, what: &str) -> Option<f64> {
        f.get(key)
            .and_then(|n| self.number(n, &format!("{what}.{key}")))
    }

    fn name(&mut self, node: &Node, what: &str) -> Option<String> {
        let s = self.string(node, what)?;
        // RFC 1123 asks for lowercase, but the OpenSLO specification's own
        // examples use names such as `OnCallDevopsMailNotification`: accept
        // both cases so that those documents load unchanged.
        let valid = !s.is_empty()
            && s.len() <= 253
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric();
        if !valid {
            self.error_help(
                node.pos,
                format!("`{s}` is not a valid name for {what}"),
                "names use letters, digits, `-`, `_` and `.`, start and end with a letter or digit, and are at most 253 characters",
            );
            return None;
        }
        Some(s)
    }

    fn duration(&mut self, node: &Node, what: &str) -> Option<DurationShorthand> {
        let s = match &node.kind {
            NodeKind::Scalar(s, _) => s.clone(),
            _ => {
                self.error(
                    node.pos,
                    format!(
                        "{what} must be a duration such as 5m, found {}",
                        node.type_name()
                    ),
                );
                return None;
            }
        };
        match DurationShorthand::parse(&s) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(node.pos, format!("{what}: {e}"));
                None
            }
        }
    }

    fn list<'n>(&mut self, node: &'n Node, what: &str) -> &'n [Node] {
        match &node.kind {
            NodeKind::Seq(items) => items,
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be a list, found {}", node.type_name()),
                );
                &[]
            }
        }
    }

    fn value(&mut self, node: &Node) -> Value {
        match &node.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Scalar(s, true) if s == "true" => Value::Bool(true),
            NodeKind::Scalar(s, true) if s == "false" => Value::Bool(false),
            NodeKind::Scalar(s, true) if s.parse::<f64>().is_ok_and(f64::is_finite) => {
                Value::Number(s.parse().unwrap_or_default())
            }
            NodeKind::Scalar(s, _) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::List(items.iter().map(|n| self.value(n)).collect()),
            NodeKind::Map(entries) => Value::Map(
                entries
                    .iter()
                    .map(|(k, v)| (k.as_scalar().unwrap_or_default().to_owned(), self.value(v)))
                    .collect(),
            ),
        }
    }

    fn reference(&mut self, f: &Fields, key: &str, what: &str) -> Option<Ref> {
        let node = f.get(key)?;
        let name = self.name(node, &format!("{what}.{key}"))?;
        Some(Ref {
            name,
            loc: self.loc(node.pos),
        })
    }

    /// Decodes one top-level document (one object, or a list of them).
    pub fn document(&mut self, root: &Node, out: &mut Drafts) {
        match &root.kind {
            NodeKind::Null => {}
            NodeKind::Seq(items) => {
                for item in items {
                    self.object(item, out);
                }
            }
            NodeKind::Map(_) => self.object(root, out),
            NodeKind::Scalar(..) => self.error(
                root.pos,
                format!(
                    "expected an object (apiVersion, kind, metadata, spec) or a list of them, found {}",
                    root.type_name()
                ),
            ),
        }
    }

    fn object(&mut self, node: &Node, out: &mut Drafts) {
        let Some(f) = self.fields(
            node,
            "an object",
            &["apiVersion", "kind", "metadata", "spec"],
        ) else {
            return;
        };
        let Some(api) = self.req_string(&f, "apiVersion", "an object") else {
            return;
        };
        let api_pos = f.get("apiVersion").map_or(node.pos, |n| n.pos);
        let kinds: &[&str] = match api.as_str() {
            OPENSLO_V1 => &OPENSLO_KINDS,
            NINES_V1 => &NINES_KINDS,
            "openslo/v1alpha" | "openslo/v2alpha" | "openslo/v2" => {
                self.error_help(
                    api_pos,
                    format!("apiVersion `{api}` is not supported"),
                    "nines reads OpenSLO `openslo/v1` (and its own `nines/v1` kinds); convert the document to openslo/v1",
                );
                return;
            }
            other => {
                let help = match closest(other, [OPENSLO_V1, NINES_V1]) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!("use `{OPENSLO_V1}` or `{NINES_V1}`"),
                };
                self.error_help(api_pos, format!("unknown apiVersion `{other}`"), help);
                return;
            }
        };
        let Some(kind) = self.req_string(&f, "kind", "an object") else {
            return;
        };
        let kind_pos = f.get("kind").map_or(node.pos, |n| n.pos);
        if !kinds.contains(&kind.as_str()) {
            let help = match closest(&kind, kinds.iter().copied()) {
                Some(c) => format!("did you mean `{c}`?"),
                None => format!("{api} kinds are: {}", kinds.join(", ")),
            };
            self.error_help(kind_pos, format!("unknown kind `{kind}` for {api}"), help);
            return;
        }
        let what = kind.clone();
        let Some(meta) = self.metadata(&f, &what) else {
            return;
        };
        let loc = self.loc(f.get("metadata").map_or(node.pos, |n| n.pos));
        let spec = f.get("spec");
        let empty = Node {
            pos: node.pos,
            kind: NodeKind::Map(Vec::new()),
        };
        let spec = spec.unwrap_or(&empty);
        match (api.as_str(), kind.as_str()) {
            (OPENSLO_V1, "Service") => {
                if let Some(meta) = self.openslo_service(spec, meta) {
                    out.openslo_services.push((meta, loc));
                }
            }
            (OPENSLO_V1, "SLO") => {
                if let Some(d) = self.slo(spec, meta) {
                    out.slos.push((d, loc));
                }
            }
            (OPENSLO_V1, "SLI") => {
                if let Some(d) = self.sli_spec(spec, meta) {
                    out.slis.push((d, loc));
                }
            }
            (OPENSLO_V1, "DataSource") => {
                if let Some(d) = self.data_source(spec, meta) {
                    out.data_sources.push((d, loc));
                }
            }
            (OPENSLO_V1, "AlertPolicy") => {
                if let Some(d) = self.alert_policy(spec, meta) {
                    out.policies.push((d, loc));
                }
            }
            (OPENSLO_V1, "AlertCondition") => {
                if let Some(d) = self.alert_condition(spec, meta) {
                    out.conditions.push((d, loc));
                }
            }
            (OPENSLO_V1, "AlertNotificationTarget") => {
                if let Some(d) = self.notification_target(spec, meta) {
                    out.targets.push((d, loc));
                }
            }
            (NINES_V1, "Service") => {
                if let Some(d) = self.nines_service(spec, meta) {
                    out.escalation_refs.extend(d.escalation_policy.clone());
                    out.nines_services.push((d, loc));
                }
            }
            (NINES_V1, "Team") => {
                if let Some((d, policy)) = self.team(spec, meta) {
                    out.teams.push((d, loc));
                    out.escalation_refs.extend(policy);
                }
            }
            (NINES_V1, "EscalationPolicy") => {
                if let Some(d) = self.escalation_policy(spec, meta) {
                    out.escalation_policies.push((d, loc));
                }
            }
            (NINES_V1, "Person") => {
                if let Some(d) = self.person(spec, meta) {
                    out.people.push((d, loc));
                }
            }
            (NINES_V1, "Schedule") => {
                if let Some(d) = self.schedule(spec, meta, out) {
                    out.schedules.push((d, loc));
                }
            }
            _ => unreachable!("kinds are checked above"),
        }
    }

    fn metadata(&mut self, f: &Fields, what: &str) -> Option<Meta> {
        let node = self.required(f, "metadata", what)?;
        let what = format!("{what} metadata");
        let m = self.fields(
            node,
            &what,
            &["name", "displayName", "labels", "annotations"],
        )?;
        let name_node = self.required(&m, "name", &what)?;
        let name = self.name(name_node, &format!("{what}.name"))?;
        let display_name = self.opt_string(&m, "displayName", &what);
        let mut labels = BTreeMap::new();
        if let Some(l) = m.get("labels") {
            if let Some(entries) = l.as_map() {
                for (k, v) in entries {
                    let key = k.as_scalar().unwrap_or_default().to_owned();
                    let values = match &v.kind {
                        NodeKind::Seq(items) => items
                            .iter()
                            .filter_map(|i| self.string(i, &format!("label `{key}`")))
                            .collect(),
                        NodeKind::Null => Vec::new(),
                        _ => self
                            .string(v, &format!("label `{key}`"))
                            .into_iter()
                            .collect(),
                    };
                    labels.insert(key, values);
                }
            } else {
                self.error(
                    l.pos,
                    format!("{what}.labels must be a mapping, found {}", l.type_name()),
                );
            }
        }
        let mut annotations = BTreeMap::new();
        if let Some(a) = m.get("annotations") {
            if let Some(entries) = a.as_map() {
                for (k, v) in entries {
                    let key = k.as_scalar().unwrap_or_default().to_owned();
                    if let Some(s) = self.string(v, &format!("annotation `{key}`")) {
                        annotations.insert(key, s);
                    }
                }
            } else {
                self.error(
                    a.pos,
                    format!(
                        "{what}.annotations must be a mapping, found {}",
                        a.type_name()
                    ),
                );
            }
        }
        Some(Meta {
            name,
            display_name,
            description: None,
            labels,
            annotations,
        })
    }

    fn description(&mut self, f: &Fields, what: &str) -> Option<String> {
        let d = self.opt_string(f, "description", what)?;
        if d.chars().count() > 1050 {
            let pos = f.get("description").map_or(f.node.pos, |n| n.pos);
            self.error(
                pos,
                format!("{what}.description is longer than the 1050 characters OpenSLO allows"),
            );
        }
        Some(d)
    }

    fn openslo_service(&mut self, spec: &Node, mut meta: Meta) -> Option<Meta> {
        let f = self.fields(spec, "Service spec", &["description"])?;
        meta.description = self.description(&f, "Service spec");
        Some(meta)
    }

    fn data_source(&mut self, spec: &Node, mut meta: Meta) -> Option<DataSource> {
        let what = "DataSource spec";
        let f = self.fields(spec, what, &["description", "type", "connectionDetails"])?;
        meta.description = self.description(&f, what);
        let kind = self.req_string(&f, "type", what)?;
        let connection_details = f
            .get("connectionDetails")
            .map_or(Value::Null, |n| self.value(n));
        Some(DataSource {
            meta,
            kind,
            connection_details,
        })
    }

    fn notification_target(&mut self, spec: &Node, mut meta: Meta) -> Option<NotificationTarget> {
        let what = "AlertNotificationTarget spec";
        let f = self.fields(spec, what, &["description", "target"])?;
        meta.description = self.description(&f, what);
        let target = self.req_string(&f, "target", what)?;
        Some(NotificationTarget { meta, target })
    }

    fn alert_condition(&mut self, spec: &Node, mut meta: Meta) -> Option<AlertCondition> {
        let what = "AlertCondition spec";
        let f = self.fields(spec, what, &["description", "severity", "condition"])?;
        meta.description = self.description(&f, what);
        let severity = self.req_string(&f, "severity", what);
        let c = self.required(&f, "condition", what)?;
        let cw = "AlertCondition condition";
        let cf = self.fields(
            c,
            cw,
            &["kind", "op", "threshold", "lookbackWindow", "alertAfter"],
        )?;
        // OpenSLO: "defaults to burnrate".
        let kind = self
            .opt_string(&cf, "kind", cw)
            .unwrap_or_else(|| "burnrate".to_owned());
        if kind != "burnrate" {
            let pos = cf.get("kind").map_or(c.pos, |n| n.pos);
            self.error_help(
                pos,
                format!("unknown condition kind `{kind}`"),
                "OpenSLO v1 defines one condition kind: burnrate",
            );
            return None;
        }
        let op = self.op(&cf, cw, true);
        let threshold = self
            .required(&cf, "threshold", cw)
            .and_then(|n| self.number(n, &format!("{cw}.threshold")));
        if let (Some(t), Some(n)) = (threshold, cf.get("threshold"))
            && t <= 0.0
        {
            self.error(n.pos, format!("{cw}.threshold must be above 0, found {t}"));
        }
        let lookback = self
            .required(&cf, "lookbackWindow", cw)
            .and_then(|n| self.fixed_duration(n, &format!("{cw}.lookbackWindow")));
        // Optional, "defaults to 0m": alert as soon as the condition holds.
        let after = match cf.get("alertAfter") {
            Some(n) if n.as_scalar().is_some_and(is_zero_duration) => Some(None),
            Some(n) => self
                .fixed_duration(n, &format!("{cw}.alertAfter"))
                .map(Some),
            None => Some(None),
        };
        Some(AlertCondition {
            meta,
            severity: severity?,
            burn_rate: BurnRateCondition {
                op: op??,
                threshold: threshold?,
                lookback_window: lookback?,
                alert_after: after?,
            },
        })
    }

    fn fixed_duration(&mut self, node: &Node, what: &str) -> Option<DurationShorthand> {
        let d = self.duration(node, what)?;
        if d.unit().is_calendar() {
            self.error_help(
                node.pos,
                format!("{what} must have a fixed length, found `{d}`"),
                "use s, m, h, d or w here; months, quarters and years vary in length",
            );
            return None;
        }
        Some(d)
    }

    /// `Some(None)` when the op is absent and not required.
    fn op(&mut self, f: &Fields, what: &str, required: bool) -> Option<Option<Op>> {
        let node = if required {
            self.required(f, "op", what)?
        } else {
            match f.get("op") {
                Some(n) => n,
                None => return Some(None),
            }
        };
        let s = self.string(node, &format!("{what}.op"))?;
        let op = match s.as_str() {
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            _ => {
                self.error_help(
                    node.pos,
                    format!("unknown op `{s}` in {what}"),
                    "op is one of lt, lte, gt, gte",
                );
                return None;
            }
        };
        Some(Some(op))
    }

    fn alert_policy(&mut self, spec: &Node, mut meta: Meta) -> Option<PolicyDraft> {
        let what = "AlertPolicy spec";
        let f = self.fields(
            spec,
            what,
            &[
                "description",
                "alertWhenNoData",
                "alertWhenResolved",
                "alertWhenBreaching",
                "conditions",
                "notificationTargets",
            ],
        )?;
        meta.description = self.description(&f, what);
        let alert_when_no_data = self.opt_bool(&f, "alertWhenNoData", what).unwrap_or(false);
        let alert_when_resolved = self
            .opt_bool(&f, "alertWhenResolved", what)
            .unwrap_or(false);
        let alert_when_breaching = self
            .opt_bool(&f, "alertWhenBreaching", what)
            .unwrap_or(true);
        let mut conditions = Vec::new();
        match f.get("conditions") {
            None => self.error(
                spec.pos,
                format!("{what} is missing required field `conditions`"),
            ),
            Some(list) => {
                let items = self.list(list, &format!("{what}.conditions"));
                if items.len() != 1 {
                    self.error_help(
                        list.pos,
                        format!(
                            "{what}.conditions must hold exactly one condition, found {}",
                            items.len()
                        ),
                        "OpenSLO v1 allows one condition per alert policy; write one policy per condition",
                    );
                }
                for item in items {
                    if let Some(c) = self.inline_or_ref(
                        item,
                        "conditionRef",
                        "AlertCondition",
                        "alert policy condition",
                        Self::alert_condition,
                    ) {
                        conditions.push(c);
                    }
                }
            }
        }
        let mut targets = Vec::new();
        if let Some(list) = f.get("notificationTargets") {
            for item in self.list(list, &format!("{what}.notificationTargets")) {
                if let Some(t) = self.inline_or_ref(
                    item,
                    "targetRef",
                    "AlertNotificationTarget",
                    "alert policy notification target",
                    Self::notification_target,
                ) {
                    targets.push(t);
                }
            }
        }
        Some(PolicyDraft {
            policy: AlertPolicy {
                meta,
                alert_when_no_data,
                alert_when_resolved,
                alert_when_breaching,
                conditions: Vec::new(),
                notification_targets: Vec::new(),
            },
            conditions,
            targets,
        })
    }

    /// An item that is either `{<ref_key>: name}` or an inline object
    /// `{kind: <kind>, metadata, spec}` (apiVersion optional).
    fn inline_or_ref<T>(
        &mut self,
        item: &Node,
        ref_key: &str,
        kind: &str,
        what: &str,
        decode: impl FnOnce(&mut Self, &Node, Meta) -> Option<T>,
    ) -> Option<Inline<T>> {
        if item.get(ref_key).is_some() {
            let f = self.fields(item, what, &[ref_key])?;
            return self.reference(&f, ref_key, what).map(Inline::Ref);
        }
        let f = self.fields(
            item,
            what,
            &[ref_key, "apiVersion", "kind", "metadata", "spec"],
        )?;
        if !f.has("metadata") && !f.has("spec") {
            self.error_help(
                item.pos,
                format!("{what} is neither a `{ref_key}` nor an inline {kind}"),
                format!(
                    "write `{ref_key}: NAME`, or an inline object with kind, metadata and spec"
                ),
            );
            return None;
        }
        if let Some(k) = f.get("kind") {
            let k_s = self.string(k, &format!("{what}.kind"))?;
            if k_s != kind {
                self.error(
                    k.pos,
                    format!("{what} must be of kind {kind}, found `{k_s}`"),
                );
                return None;
            }
        }
        if let Some(a) = f.get("apiVersion") {
            let a_s = self.string(a, &format!("{what}.apiVersion"))?;
            if a_s != OPENSLO_V1 {
                self.error(
                    a.pos,
                    format!("{what}: apiVersion must be `{OPENSLO_V1}`, found `{a_s}`"),
                );
                return None;
            }
        }
        let meta = self.metadata(&f, &format!("inline {kind}"))?;
        let empty = Node {
            pos: item.pos,
            kind: NodeKind::Map(Vec::new()),
        };
        let spec = f.get("spec").unwrap_or(&empty);
        decode(self, spec, meta).map(Inline::Inline)
    }

    fn sli_spec(&mut self, spec: &Node, mut meta: Meta) -> Option<SliDraft> {
        let what = "SLI spec";
        let f = self.fields(
            spec,
            what,
            &["description", "thresholdMetric", "ratioMetric"],
        )?;
        meta.description = self.description(&f, what);
        let mut refs = Vec::new();
        let metric = match (f.get("thresholdMetric"), f.get("ratioMetric")) {
            (Some(_), Some(r)) => {
                self.error(
                    r.pos,
                    format!("{what} has both thresholdMetric and ratioMetric; keep one"),
                );
                return None;
            }
            (None, None) => {
                self.error(
                    spec.pos,
                    format!("{what} needs either thresholdMetric or ratioMetric"),
                );
                return None;
            }
            (Some(t), None) => {
                SliMetric::Threshold(self.metric_holder(t, "thresholdMetric", &mut refs)?)
            }
            (None, Some(r)) => self.ratio_metric(r, &mut refs)?,
        };
        Some(SliDraft {
            sli: Sli { meta, metric },
            source_refs: refs,
        })
    }

    fn ratio_metric(&mut self, node: &Node, refs: &mut Vec<Ref>) -> Option<SliMetric> {
        let what = "ratioMetric";
        let f = self.fields(
            node,
            what,
            &["counter", "good", "bad", "total", "rawType", "raw"],
        )?;
        let counter = self.opt_bool(&f, "counter", what).unwrap_or(false);
        if let Some(raw) = f.get("raw") {
            for k in ["good", "bad", "total"] {
                if let Some(n) = f.get(k) {
                    self.error(
                        n.pos,
                        format!("{what}: `raw` cannot be combined with `{k}`"),
                    );
                }
            }
            let raw_type_node = self.required(&f, "rawType", what)?;
            let raw_type = match self.string(raw_type_node, "ratioMetric.rawType")?.as_str() {
                "success" => RawType::Success,
                "failure" => RawType::Failure,
                other => {
                    self.error_help(
                        raw_type_node.pos,
                        format!("unknown rawType `{other}`"),
                        "rawType is `success` or `failure`",
                    );
                    return None;
                }
            };
            let raw = self.metric_holder(raw, "ratioMetric.raw", refs)?;
            return Some(SliMetric::RawRatio { raw_type, raw });
        }
        if let Some(rt) = f.get("rawType") {
            self.error(rt.pos, format!("{what}: `rawType` only goes with `raw`"));
        }
        let numerator = match (f.get("good"), f.get("bad")) {
            (Some(_), Some(b)) => {
                self.error(b.pos, format!("{what} has both `good` and `bad`; keep one"));
                return None;
            }
            (Some(g), None) => Numerator::Good(self.metric_holder(g, "ratioMetric.good", refs)?),
            (None, Some(b)) => Numerator::Bad(self.metric_holder(b, "ratioMetric.bad", refs)?),
            (None, None) => {
                self.error(
                    node.pos,
                    format!("{what} needs `good` or `bad` (with `total`), or `raw`"),
                );
                return None;
            }
        };
        let total_node = self.required(&f, "total", what)?;
        let total = self.metric_holder(total_node, "ratioMetric.total", refs)?;
        Some(SliMetric::Ratio {
            counter,
            numerator,
            total,
        })
    }

    /// `{metricSource: {metricSourceRef?, type?, spec?}}`.
    fn metric_holder(
        &mut self,
        node: &Node,
        what: &str,
        refs: &mut Vec<Ref>,
    ) -> Option<MetricSource> {
        let f = self.fields(node, what, &["metricSource"])?;
        let ms = self.required(&f, "metricSource", what)?;
        let w = format!("{what}.metricSource");
        let mf = self.fields(ms, &w, &["metricSourceRef", "type", "spec"])?;
        let source_ref = self.reference(&mf, "metricSourceRef", &w);
        if let Some(r) = &source_ref {
            refs.push(r.clone());
        }
        let kind = self.opt_string(&mf, "type", &w);
        if kind.is_none() && source_ref.is_none() {
            self.error_help(
                ms.pos,
                format!("{w} needs a `type` (such as Prometheus) or a `metricSourceRef`"),
                "name the kind of data source with `type:`, or point at a DataSource with `metricSourceRef:`",
            );
        }
        let spec = mf.get("spec").map_or(Value::Null, |n| self.value(n));
        Some(MetricSource {
            source_ref: source_ref.map(|r| r.name),
            kind,
            spec,
        })
    }

    fn slo(&mut self, spec: &Node, mut meta: Meta) -> Option<SloDraft> {
        let what = "SLO spec";
        let f = self.fields(
            spec,
            what,
            &[
                "description",
                "service",
                "indicator",
                "indicatorRef",
                "timeWindow",
                "budgetingMethod",
                "objectives",
                "alertPolicies",
            ],
        )?;
        meta.description = self.description(&f, what);
        let service = self
            .required(&f, "service", what)
            .and_then(|n| self.name(n, "SLO spec.service"));
        let indicator = match (f.get("indicator"), f.get("indicatorRef")) {
            (Some(_), Some(r)) => {
                self.error(
                    r.pos,
                    format!("{what} has both `indicator` and `indicatorRef`; keep one"),
                );
                None
            }
            (Some(i), None) => self.inline_sli(i).map(Inline::Inline),
            (None, Some(_)) => self.reference(&f, "indicatorRef", what).map(Inline::Ref),
            (None, None) => None,
        };
        // Both are required by the specification, yet one of its own examples
        // leaves them out: take the usual defaults and say so.
        let time_window = match f.get("timeWindow") {
            Some(n) => self.time_window(n),
            None => {
                self.warning(
                    spec.pos,
                    "SLO spec has no `timeWindow`: nines uses a rolling 28-day window",
                    "add `timeWindow: [{duration: 28d, isRolling: true}]` to say so explicitly",
                );
                DurationShorthand::new(28, DurationUnit::Day).map(TimeWindow::Rolling)
            }
        };
        let budgeting_method = match f.get("budgetingMethod") {
            Some(n) => self.budgeting_method(n),
            None => {
                self.warning(
                    spec.pos,
                    "SLO spec has no `budgetingMethod`: nines counts Occurrences",
                    "add `budgetingMethod: Occurrences` (or Timeslices, RatioTimeslices) to say so explicitly",
                );
                Some(BudgetingMethod::Occurrences)
            }
        };
        let mut objectives = Vec::new();
        let mut objective_indicators = Vec::new();
        if let Some(list) = self.required(&f, "objectives", what) {
            let items = self.list(list, "SLO spec.objectives");
            if items.is_empty() {
                self.error(
                    list.pos,
                    "SLO spec.objectives must hold at least one objective",
                );
            }
            for item in items {
                if let Some((o, ind)) = self.objective(item, budgeting_method) {
                    objectives.push(o);
                    objective_indicators.push(ind);
                }
            }
        }
        let composite = objective_indicators.iter().any(Option::is_some);
        if indicator.is_none()
            && !composite
            && f.get("indicator").is_none()
            && f.get("indicatorRef").is_none()
        {
            self.error_help(
                spec.pos,
                format!("{what} needs an `indicator` or an `indicatorRef`"),
                "write the SLI inline under `indicator:`, or name one with `indicatorRef: NAME`; composite SLOs put one on each objective instead",
            );
        }
        if composite {
            if let Some(n) = f.get("indicator").or(f.get("indicatorRef")) {
                self.error(
                    n.pos,
                    "a composite SLO (objectives with their own indicators) cannot also have an SLO-level indicator",
                );
            }
            if let Some(list) = f.get("objectives")
                && objective_indicators.iter().any(Option::is_none)
            {
                self.error(
                    list.pos,
                    "in a composite SLO every objective needs its own `indicator` or `indicatorRef`",
                );
            }
        }
        let mut policies = Vec::new();
        if let Some(list) = f.get("alertPolicies") {
            for item in self.list(list, "SLO spec.alertPolicies") {
                if let Some(p) = self.inline_or_ref(
                    item,
                    "alertPolicyRef",
                    "AlertPolicy",
                    "SLO alert policy",
                    Self::alert_policy,
                ) {
                    policies.push(p);
                }
            }
        }
        Some(SloDraft {
            slo: Slo {
                meta,
                service: service?,
                indicator: None,
                time_window: time_window?,
                budgeting_method: budgeting_method?,
                objectives,
                alert_policies: Vec::new(),
            },
            indicator,
            objective_indicators,
            policies,
        })
    }

    /// An SLI written inside an SLO or an objective: `metadata` and `spec`,
    /// optionally with `apiVersion` and `kind`.
    fn inline_sli(&mut self, node: &Node) -> Option<SliDraft> {
        let what = "inline SLI";
        let f = self.fields(node, what, &["apiVersion", "kind", "metadata", "spec"])?;
        if let Some(k) = f.get("kind") {
            let ks = self.string(k, "inline SLI kind")?;
            if ks != "SLI" {
                self.error(
                    k.pos,
                    format!("an indicator must be of kind SLI, found `{ks}`"),
                );
                return None;
            }
        }
        let meta = self.metadata(&f, what)?;
        let spec = self.required(&f, "spec", what)?;
        self.sli_spec(spec, meta)
    }

    fn time_window(&mut self, node: &Node) -> Option<TimeWindow> {
        let items = self.list(node, "SLO spec.timeWindow");
        if items.len() != 1 {
            self.error_help(
                node.pos,
                format!(
                    "SLO spec.timeWindow must hold exactly one window, found {}",
                    items.len()
                ),
                "OpenSLO v1 allows one time window per SLO; write one SLO per window",
            );
            return None;
        }
        let item = &items[0];
        let what = "timeWindow";
        let f = self.fields(item, what, &["duration", "isRolling", "calendar"])?;
        let dnode = self.required(&f, "duration", what)?;
        let duration = self.duration(dnode, "timeWindow.duration")?;
        let calendar = f.get("calendar");
        let rolling = match self.opt_bool(&f, "isRolling", what) {
            Some(r) => r,
            None => calendar.is_none(),
        };
        if rolling {
            if let Some(c) = calendar {
                self.error(c.pos, "a rolling time window cannot have a `calendar`");
                return None;
            }
            if duration.unit().is_calendar() {
                self.error_help(
                    dnode.pos,
                    format!("a rolling window must have a fixed length, found `{duration}`"),
                    "use m, h, d or w for rolling windows (28d, 4w), or make it a calendar window",
                );
                return None;
            }
            return Some(TimeWindow::Rolling(duration));
        }
        let Some(c) = calendar else {
            self.error_help(
                item.pos,
                "a calendar-aligned window (isRolling: false) needs a `calendar` with startTime and timeZone",
                "add `calendar: {startTime: 2024-01-01 00:00:00, timeZone: UTC}`, or set isRolling: true",
            );
            return None;
        };
        let cw = "timeWindow.calendar";
        let cf = self.fields(c, cw, &["startTime", "timeZone"])?;
        let start_node = self.required(&cf, "startTime", cw)?;
        let start_text = self.string(start_node, "timeWindow.calendar.startTime")?;
        let start = match start_text
            .trim()
            .replacen(' ', "T", 1)
            .parse::<jiff::civil::DateTime>()
        {
            Ok(d) => d,
            Err(_) => {
                self.error_help(
                    start_node.pos,
                    format!("`{start_text}` is not a date and time"),
                    "write it as 2024-01-01 00:00:00, without a zone (the zone goes in timeZone)",
                );
                return None;
            }
        };
        let tz_node = self.required(&cf, "timeZone", cw)?;
        let tz = self.time_zone(tz_node, "timeWindow.calendar.timeZone")?;
        if duration.unit() == DurationUnit::Minute && duration.count() == 1 {
            self.warning(
                dnode.pos,
                "a calendar window of one minute (`1m`)",
                "`m` is minutes; a month is `1M`",
            );
        }
        Some(TimeWindow::Calendar {
            length: duration,
            start,
            time_zone: tz,
        })
    }

    fn time_zone(&mut self, node: &Node, what: &str) -> Option<String> {
        let tz = self.string(node, what)?;
        if jiff::tz::TimeZone::get(&tz).is_err() {
            self.error_help(
                node.pos,
                format!("unknown time zone `{tz}` in {what}"),
                "use an IANA zone name such as Europe/Paris, America/New_York or UTC",
            );
            return None;
        }
        Some(tz)
    }

    fn budgeting_method(&mut self, node: &Node) -> Option<BudgetingMethod> {
        let s = self.string(node, "SLO spec.budgetingMethod")?;
        Some(match s.as_str() {
            "Occurrences" => BudgetingMethod::Occurrences,
            "Timeslices" => BudgetingMethod::Timeslices,
            "RatioTimeslices" => BudgetingMethod::RatioTimeslices,
            _ => {
                let all = ["Occurrences", "Timeslices", "RatioTimeslices"];
                let help = match closest(&s, all) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => "budgetingMethod is Occurrences, Timeslices or RatioTimeslices".into(),
                };
                self.error_help(node.pos, format!("unknown budgetingMethod `{s}`"), help);
                return None;
            }
        })
    }

    fn objective(
        &mut self,
        node: &Node,
        method: Option<BudgetingMethod>,
    ) -> Option<(Objective, Option<Inline<SliDraft>>)> {
        let what = "objective";
        let f = self.fields(
            node,
            what,
            &[
                "displayName",
                "op",
                "value",
                "target",
                "targetPercent",
                "timeSliceTarget",
                "timeSliceWindow",
                "indicator",
                "indicatorRef",
                "compositeWeight",
            ],
        )?;
        let display_name = self.opt_string(&f, "displayName", what);
        let op = self.op(&f, what, false)?;
        let value = self.opt_number(&f, "value", what);
        let target = match (f.get("target"), f.get("targetPercent")) {
            (Some(_), Some(p)) => {
                self.error(
                    p.pos,
                    "an objective has both `target` and `targetPercent`; keep one",
                );
                None
            }
            (Some(t), None) => self.target(t, false),
            (None, Some(p)) => self.target(p, true),
            (None, None) => {
                self.error_help(
                    node.pos,
                    "an objective needs a `target` (0.999) or a `targetPercent` (99.9)",
                    "add `target: 0.999`",
                );
                None
            }
        };
        let time_slice_target = match f.get("timeSliceTarget") {
            Some(n) => {
                let x = self.number(n, "objective.timeSliceTarget")?;
                if !(x > 0.0 && x <= 1.0) {
                    self.error(
                        n.pos,
                        format!(
                            "objective.timeSliceTarget must be above 0 and at most 1, found {x}"
                        ),
                    );
                    return None;
                }
                Some(x)
            }
            None => None,
        };
        let time_slice_window = match f.get("timeSliceWindow") {
            Some(n) => {
                // OpenSLO allows a bare number here, read as minutes.
                if let NodeKind::Scalar(s, true) = &n.kind
                    && let Ok(minutes) = s.parse::<u32>()
                {
                    match DurationShorthand::new(minutes, DurationUnit::Minute) {
                        Some(d) => Some(d),
                        None => {
                            self.error(n.pos, "objective.timeSliceWindow must be longer than zero");
                            return None;
                        }
                    }
                } else {
                    Some(self.fixed_duration(n, "objective.timeSliceWindow")?)
                }
            }
            None => None,
        };
        match method {
            Some(BudgetingMethod::Timeslices) => {
                if time_slice_target.is_none() {
                    self.error(
                        node.pos,
                        "with budgetingMethod Timeslices, an objective needs `timeSliceTarget`",
                    );
                }
                if time_slice_window.is_none() {
                    self.error(
                        node.pos,
                        "with budgetingMethod Timeslices, an objective needs `timeSliceWindow`",
                    );
                }
            }
            Some(BudgetingMethod::RatioTimeslices) if time_slice_window.is_none() => {
                self.error(
                    node.pos,
                    "with budgetingMethod RatioTimeslices, an objective needs `timeSliceWindow`",
                );
            }
            _ => {}
        }
        let composite_weight = match f.get("compositeWeight") {
            Some(n) => {
                let w = self.number(n, "objective.compositeWeight")?;
                if w <= 0.0 {
                    self.error(
                        n.pos,
                        format!("objective.compositeWeight must be above 0, found {w}"),
                    );
                    return None;
                }
                w
            }
            None => 1.0,
        };
        let indicator = match (f.get("indicator"), f.get("indicatorRef")) {
            (Some(_), Some(r)) => {
                self.error(
                    r.pos,
                    "an objective has both `indicator` and `indicatorRef`; keep one",
                );
                None
            }
            (Some(i), None) => self.inline_sli(i).map(Inline::Inline),
            (None, Some(_)) => self.reference(&f, "indicatorRef", what).map(Inline::Ref),
            (None, None) => None,
        };
        Some((
            Objective {
                display_name,
                op,
                value,
                target: target?,
                time_slice_target,
                time_slice_window,
                indicator: None,
                composite_weight,
            },
            indicator,
        ))
    }

    fn target(&mut self, node: &Node, percent: bool) -> Option<Target> {
        let key = if percent { "targetPercent" } else { "target" };
        let text = match &node.kind {
            NodeKind::Scalar(s, true) if s.parse::<f64>().is_ok() => s.clone(),
            _ => {
                self.error(
                    node.pos,
                    format!(
                        "objective.{key} must be a number, found {}",
                        node.type_name()
                    ),
                );
                return None;
            }
        };
        let parsed = if percent {
            Target::from_percent_text(&text).or_else(|_| {
                text.parse::<f64>()
                    .map_err(|_| ())
                    .and_then(|x| Target::from_percent(x).map_err(|_| ()))
                    .map_err(|_| nines_core::availability::TargetError::Unreadable(text.clone()))
            })
        } else {
            Target::from_ratio_text(&text).or_else(|e| match text.parse::<f64>() {
                Ok(x) => Target::from_ratio(x),
                Err(_) => Err(e),
            })
        };
        match parsed {
            Ok(t) => Some(t),
            Err(_) => {
                let (range, help) = if percent {
                    ("between 0 and 100, exclusive", "write 99.9 for 99.9 %")
                } else {
                    (
                        "between 0 and 1, exclusive",
                        "a target is a ratio: write 0.999 for 99.9 %, or use targetPercent: 99.9",
                    )
                };
                self.error_help(
                    node.pos,
                    format!("objective.{key} must be {range}, found {text}"),
                    help,
                );
                None
            }
        }
    }

    fn nines_service(&mut self, spec: &Node, mut meta: Meta) -> Option<ServiceDraft> {
        let what = "nines Service spec";
        let f = self.fields(
            spec,
            what,
            &[
                "description",
                "owner",
                "tier",
                "runbook",
                "alertLabel",
                "integrations",
                "incidents",
                "notify",
                "heartbeats",
                "availability",
                "dependencies",
                "escalationPolicy",
                "supportHours",
            ],
        )?;
        meta.description = self.description(&f, what);
        let owner = self.reference(&f, "owner", what);
        let escalation_policy = self.reference(&f, "escalationPolicy", what);
        let support_hours = f.get("supportHours").and_then(|n| self.support_hours(n));
        let tier = match f.get("tier") {
            Some(n) => match self.number(n, "Service spec.tier") {
                Some(t) if (1.0..=5.0).contains(&t) && t.fract() == 0.0 => Some(Tier(t as u8)),
                Some(t) => {
                    self.error_help(
                        n.pos,
                        format!("Service spec.tier must be a whole number from 1 to 5, found {t}"),
                        "tier 1 is the most critical",
                    );
                    None
                }
                None => None,
            },
            None => None,
        };
        let runbook = self.opt_string(&f, "runbook", what);
        if let (Some(r), Some(n)) = (&runbook, f.get("runbook"))
            && !(r.starts_with("https://") || r.starts_with("http://"))
        {
            self.error_help(
                n.pos,
                format!("Service spec.runbook must be a URL, found `{r}`"),
                "write a link a person can open at 3 a.m., such as https://wiki.example.com/runbooks/api",
            );
        }
        let mut alert_label = ("service".to_owned(), meta.name.clone());
        if let Some(n) = f.get("alertLabel") {
            let w = "Service spec.alertLabel";
            if let Some(lf) = self.fields(n, w, &["name", "value"]) {
                if let Some(name) = self.opt_string(&lf, "name", w) {
                    if !valid_label_name(&name) {
                        self.error_help(
                            lf.get("name").map_or(n.pos, |x| x.pos),
                            format!("`{name}` is not a valid label name"),
                            "label names match [a-zA-Z_][a-zA-Z0-9_]*",
                        );
                    }
                    alert_label.0 = name;
                }
                if let Some(value) = self.opt_string(&lf, "value", w) {
                    alert_label.1 = value;
                }
            }
        }
        let mut integrations = Vec::new();
        if let Some(n) = f.get("integrations") {
            let w = "Service spec.integrations[]";
            for item in self.list(n, "Service spec.integrations") {
                let Some(fi) = self.fields(item, w, &["name", "routingKey"]) else {
                    continue;
                };
                let name = self.opt_string(&fi, "name", w);
                let key = self.opt_string(&fi, "routingKey", w);
                match (name, key) {
                    (Some(name), Some(routing_key))
                        if !routing_key.is_empty()
                            && routing_key.chars().all(|c| c.is_ascii_graphic()) =>
                    {
                        integrations.push(Integration { name, routing_key });
                    }
                    (Some(_), Some(_)) => self.error_help(
                        fi.get("routingKey").map_or(item.pos, |x| x.pos),
                        "Service spec.integrations[].routingKey must be printable characters without spaces",
                        "a PagerDuty-style routing key, such as the 32 characters PagerDuty gives an integration",
                    ),
                    _ => self.error_help(
                        item.pos,
                        "Service spec.integrations[] needs a name and a routingKey",
                        "for example {name: prometheus, routingKey: 0123456789abcdef0123456789abcdef}",
                    ),
                }
            }
        }
        let incidents = f
            .get("incidents")
            .map(|n| self.incident_policy(n))
            .unwrap_or_default();
        let notify = f
            .get("notify")
            .map(|n| self.notify_list(n, "Service spec.notify"))
            .unwrap_or_default();
        let heartbeats = f
            .get("heartbeats")
            .map(|n| self.heartbeats(n))
            .unwrap_or_default();
        let availability = f.get("availability").and_then(|n| {
            let text = n.as_scalar().unwrap_or_default().to_owned();
            match Target::parse(&text) {
                Ok(t) if !matches!(n.kind, NodeKind::Seq(_) | NodeKind::Map(_)) => Some(t),
                Ok(_) | Err(_) => {
                    self.error_help(
                        n.pos,
                        format!("Service spec.availability `{text}` is not an availability"),
                        "write 99.95, \"99.95%\" or 0.9995",
                    );
                    None
                }
            }
        });
        let mut dependencies = Vec::new();
        let mut dep_refs = Vec::new();
        if let Some(list) = f.get("dependencies") {
            for item in self.list(list, "Service spec.dependencies") {
                let w = "a dependency";
                let Some(df) = self.fields(item, w, &["service", "redundancyGroup", "services"])
                else {
                    continue;
                };
                match (df.get("service"), df.get("redundancyGroup")) {
                    (Some(_), None) => {
                        if let Some(n) = df.get("services") {
                            self.error(n.pos, "`services` goes with `redundancyGroup`, not `service`");
                        }
                        if let Some(r) = self.reference(&df, "service", w) {
                            dependencies.push(Dependency::Service(r.name.clone()));
                            dep_refs.push(r);
                        }
                    }
                    (None, Some(g)) => {
                        let Some(group) = self.name(g, "dependency.redundancyGroup") else {
                            continue;
                        };
                        let Some(list) = df.get("services") else {
                            self.error(item.pos, format!("redundancy group `{group}` needs `services`: the replicas, of which one is enough"));
                            continue;
                        };
                        let mut members = Vec::new();
                        for m in self.list(list, "dependency.services") {
                            if let Some(name) = self.name(m, "dependency.services") {
                                members.push(name.clone());
                                dep_refs.push(Ref {
                                    name,
                                    loc: self.loc(m.pos),
                                });
                            }
                        }
                        if members.len() < 2 {
                            self.error_help(
                                list.pos,
                                format!("redundancy group `{group}` needs at least two services"),
                                "a group of one is a plain dependency: write `- service: NAME`",
                            );
                            continue;
                        }
                        dependencies.push(Dependency::Group {
                            name: group,
                            members,
                        });
                    }
                    (Some(_), Some(g)) => self.error(
                        g.pos,
                        "a dependency is either `service: NAME` or `redundancyGroup` with `services`, not both",
                    ),
                    (None, None) => self.error_help(
                        item.pos,
                        "a dependency needs `service`, or `redundancyGroup` with `services`",
                        "write `- service: db` or `- redundancyGroup: dns` with `services: [dns-a, dns-b]`",
                    ),
                }
            }
        }
        Some(ServiceDraft {
            service: Service {
                meta,
                owner: owner.as_ref().map(|r| r.name.clone()),
                tier,
                runbook,
                alert_label,
                integrations,
                incidents,
                notify,
                heartbeats,
                dependencies,
                availability,
                escalation_policy: escalation_policy.as_ref().map(|r| r.name.clone()),
                support_hours,
            },
            owner,
            escalation_policy,
            dependencies: dep_refs,
        })
    }

    fn team(&mut self, spec: &Node, mut meta: Meta) -> Option<(Team, Option<Ref>)> {
        let what = "Team spec";
        let f = self.fields(
            spec,
            what,
            &[
                "description",
                "timeZone",
                "members",
                "notify",
                "escalationPolicy",
            ],
        )?;
        let escalation_policy = self.reference(&f, "escalationPolicy", what);
        let notify = f
            .get("notify")
            .map(|n| self.notify_list(n, "Team spec.notify"))
            .unwrap_or_default();
        meta.description = self.description(&f, what);
        let time_zone = f
            .get("timeZone")
            .and_then(|n| self.time_zone(n, "Team spec.timeZone"));
        let mut members = Vec::new();
        if let Some(list) = f.get("members") {
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            for item in self.list(list, "Team spec.members") {
                let w = "a team member";
                let Some(mf) = self.fields(item, w, &["name", "timeZone", "contacts"]) else {
                    continue;
                };
                let Some(name) = self.req_string(&mf, "name", w) else {
                    continue;
                };
                if let Some(line) = seen.insert(name.clone(), item.pos.line) {
                    self.error(
                        item.pos,
                        format!("member `{name}` is listed twice (first at line {line})"),
                    );
                }
                let tz = mf
                    .get("timeZone")
                    .and_then(|n| self.time_zone(n, "member timeZone"));
                let contacts = mf
                    .get("contacts")
                    .map(|cl| self.contacts(cl))
                    .unwrap_or_default();
                members.push(Member {
                    name,
                    time_zone: tz,
                    contacts,
                });
            }
        }
        Some((
            Team {
                meta,
                time_zone,
                members,
                notify,
                escalation_policy: escalation_policy.as_ref().map(|r| r.name.clone()),
            },
            escalation_policy,
        ))
    }

    /// A duration of fixed length as a span of time; `0s` only where
    /// `zero_ok`.
    fn fixed_span(&mut self, n: &Node, what: &str, zero_ok: bool) -> Option<jiff::SignedDuration> {
        if zero_ok && n.as_scalar().is_some_and(is_zero_duration) {
            return Some(jiff::SignedDuration::ZERO);
        }
        let d = self.fixed_duration(n, what)?;
        d.seconds()
            .map(|s| jiff::SignedDuration::from_secs(s as i64))
    }

    /// A Service's `incidents:` block.
    fn incident_policy(&mut self, node: &Node) -> IncidentPolicy {
        let what = "Service spec.incidents";
        let mut p = IncidentPolicy::default();
        let Some(f) = self.fields(
            node,
            what,
            &[
                "groupBy",
                "groupWait",
                "groupInterval",
                "repeatInterval",
                "ackTimeout",
                "autoResolve",
                "correlationWindow",
                "groupWindow",
            ],
        ) else {
            return p;
        };
        if let Some(list) = f.get("groupBy") {
            for item in self.list(list, "Service spec.incidents.groupBy") {
                let Some(label) = self.string(item, "Service spec.incidents.groupBy[]") else {
                    continue;
                };
                if !valid_label_name(&label) {
                    self.error_help(
                        item.pos,
                        format!("`{label}` is not a valid label name"),
                        "label names match [a-zA-Z_][a-zA-Z0-9_]*",
                    );
                } else if !p.group_by.contains(&label) {
                    p.group_by.push(label);
                }
            }
        }
        let mut timing = |key: &str, zero_ok: bool| {
            let n = f.get(key)?;
            self.fixed_span(n, &format!("{what}.{key}"), zero_ok)
        };
        p.group_wait = timing("groupWait", true);
        p.group_interval = timing("groupInterval", false);
        p.repeat_interval = timing("repeatInterval", false);
        p.ack_timeout = timing("ackTimeout", false);
        p.correlation_window = timing("correlationWindow", true);
        p.group_window = timing("groupWindow", false);
        if let Some(b) = self.opt_bool(&f, "autoResolve", what) {
            p.auto_resolve = b;
        }
        p
    }

    /// A Service's `heartbeats:` list.
    fn heartbeats(&mut self, node: &Node) -> Vec<Heartbeat> {
        let what = "Service spec.heartbeats[]";
        let mut out: Vec<Heartbeat> = Vec::new();
        for item in self.list(node, "Service spec.heartbeats") {
            let Some(f) = self.fields(item, what, &["name", "every", "grace", "severity"]) else {
                continue;
            };
            let name = self
                .required(&f, "name", what)
                .and_then(|n| self.name(n, "a heartbeat"));
            let fixed = |me: &mut Self, key: &str, zero_ok: bool| {
                let n = f.get(key)?;
                me.fixed_span(n, &format!("{what}.{key}"), zero_ok)
            };
            if f.get("every").is_none() {
                self.error_help(
                    item.pos,
                    format!("{what} needs `every`: how often a ping is expected"),
                    "for a job that runs every night, write every: 1d",
                );
            }
            let every = fixed(self, "every", false);
            let grace = fixed(self, "grace", true);
            let severity = self.opt_string(&f, "severity", what);
            if let Some(s) = &severity
                && nines_core::alerting::model::Severity::parse(s).is_none()
            {
                self.error_help(
                    f.get("severity").map_or(item.pos, |n| n.pos),
                    format!(
                        "{what}.severity must be critical, error, warning or info, found `{s}`"
                    ),
                    "a missed heartbeat of severity critical or error pages with high urgency",
                );
            }
            let (Some(name), Some(every)) = (name, every) else {
                continue;
            };
            if out.iter().any(|h| h.name == name) {
                self.error(item.pos, format!("heartbeat `{name}` is listed twice"));
                continue;
            }
            out.push(Heartbeat {
                name,
                every,
                // By default a ping may be late by the period itself, at
                // most five minutes.
                grace: grace.unwrap_or(every.min(jiff::SignedDuration::from_mins(5))),
                severity: severity.unwrap_or_else(|| "critical".to_owned()),
            });
        }
        out
    }

    /// A `notify:` list: each entry one channel (`webhook`, `slack`,
    /// `email` or `pagerduty`) and how much it is told.
    fn notify_list(&mut self, node: &Node, what: &str) -> Vec<Notify> {
        const KINDS: [&str; 4] = ["webhook", "slack", "email", "pagerduty"];
        let mut out = Vec::new();
        let w = format!("{what}[]");
        for item in self.list(node, what) {
            let Some(f) = self.fields(
                item,
                &w,
                &[
                    "webhook",
                    "slack",
                    "email",
                    "pagerduty",
                    "format",
                    "sendResolved",
                    "maxAlerts",
                    "template",
                    "templateFile",
                ],
            ) else {
                continue;
            };
            let given: Vec<&str> = KINDS.iter().copied().filter(|k| f.has(k)).collect();
            let kind = match given.as_slice() {
                [one] => *one,
                [] => {
                    self.error_help(
                        item.pos,
                        format!("{w} needs one channel: webhook, slack, email or pagerduty"),
                        "for example `- webhook: https://hooks.example.com/nines` or `- email: oncall@example.com`",
                    );
                    continue;
                }
                [_, second, ..] => {
                    self.error_help(
                        f.get(second).map_or(item.pos, |n| n.pos),
                        format!("{w} has more than one channel ({})", given.join(", ")),
                        "write one list entry per channel",
                    );
                    continue;
                }
            };
            let Some(value) = f.get(kind) else { continue };
            let at = value.pos;
            if kind != "webhook"
                && let Some(n) = f.get("format")
            {
                self.error_help(
                    n.pos,
                    format!("{w}.format applies to a webhook only, not to {kind}"),
                    "remove it: Slack, email and PagerDuty have their own formats",
                );
            }
            let channel = match kind {
                "webhook" => {
                    let Some(url) = self.string(value, &format!("{w}.webhook")) else {
                        continue;
                    };
                    if !is_http_url(&url) {
                        self.error_help(
                            at,
                            format!("{w}.webhook `{url}` is not an http(s) URL"),
                            "write the receiver's full URL, such as https://hooks.example.com/nines",
                        );
                        continue;
                    }
                    let format = match f.get("format") {
                        None => WebhookFormat::Alertmanager,
                        Some(n) => match self.string(n, &format!("{w}.format")).as_deref() {
                            Some("alertmanager") => WebhookFormat::Alertmanager,
                            Some("json") => WebhookFormat::Json,
                            Some(other) => {
                                self.error_help(
                                    n.pos,
                                    format!("{w}.format must be alertmanager or json, found `{other}`"),
                                    "alertmanager: Alertmanager's webhook body (version 4); json: nines' own incident event",
                                );
                                continue;
                            }
                            None => continue,
                        },
                    };
                    Channel::Webhook { url, format }
                }
                "slack" => {
                    let Some(url) = self.secret(value, &format!("{w}.slack")) else {
                        continue;
                    };
                    if !is_http_url(url.expose()) {
                        self.error_help(
                            at,
                            format!("{w}.slack is not an http(s) URL (the value is not shown: it is a secret)"),
                            "write the incoming webhook's URL, such as https://hooks.slack.com/services/T000/B000/XXXX, or take it from {fromEnv: NAME} or {fromFile: PATH}",
                        );
                        continue;
                    }
                    Channel::Slack { url }
                }
                "email" => {
                    let Some(to) = self.string(value, &format!("{w}.email")) else {
                        continue;
                    };
                    if let Some(problem) = contact_problem(ContactKind::Email, &to) {
                        self.error_help(
                            at,
                            format!("{w}.email: {problem}"),
                            "write one address, such as oncall@example.com",
                        );
                        continue;
                    }
                    Channel::Email { to }
                }
                _ => {
                    let pw = format!("{w}.pagerduty");
                    let Some(pf) = self.fields(value, &pw, &["routingKey", "url"]) else {
                        continue;
                    };
                    let Some(key_node) = self.required(&pf, "routingKey", &pw) else {
                        continue;
                    };
                    let key_pos = key_node.pos;
                    let Some(routing_key) = self.secret(key_node, &format!("{pw}.routingKey"))
                    else {
                        continue;
                    };
                    if routing_key.expose().is_empty()
                        || !routing_key.expose().chars().all(|c| c.is_ascii_graphic())
                    {
                        self.error_help(
                            key_pos,
                            format!("{pw}.routingKey must be printable characters without spaces (the value is not shown: it is a secret)"),
                            "the 32-character integration key of a PagerDuty service's Events API v2 integration",
                        );
                        continue;
                    }
                    let url = match pf.get("url") {
                        None => DEFAULT_PAGERDUTY_BASE.to_owned(),
                        Some(n) => {
                            let Some(url) = self.string(n, &format!("{pw}.url")) else {
                                continue;
                            };
                            if !is_http_url(&url) {
                                self.error_help(
                                    n.pos,
                                    format!("{pw}.url `{url}` is not an http(s) URL"),
                                    "the Events API's base URL; events go to {url}/v2/enqueue (default https://events.pagerduty.com)",
                                );
                                continue;
                            }
                            url.trim_end_matches('/').to_owned()
                        }
                    };
                    Channel::PagerDuty { routing_key, url }
                }
            };
            let send_resolved = self.opt_bool(&f, "sendResolved", &w).unwrap_or(true);
            let max_alerts = match f.get("maxAlerts") {
                Some(n) => match self.number(n, &format!("{w}.maxAlerts")) {
                    Some(x) if x >= 0.0 && x.fract() == 0.0 && x <= f64::from(u32::MAX) => x as u32,
                    Some(x) => {
                        self.error_help(
                            n.pos,
                            format!("{w}.maxAlerts must be a whole number from 0, found {x}"),
                            "0 sends every alert of the incident",
                        );
                        0
                    }
                    None => 0,
                },
                None => 0,
            };
            let templates = self.templates(&f, &channel, &w);
            out.push(Notify {
                channel,
                send_resolved,
                max_alerts,
                templates,
            });
        }
        out
    }

    /// The `template:` (sources written inline) and `templateFile:` (files
    /// relative to this file, read now) of a `notify:` entry: only the
    /// parts its channel has, each parsed and checked by the engine the
    /// server renders with.
    fn templates(&mut self, f: &Fields, channel: &Channel, w: &str) -> Templates {
        use crate::template::Part;
        let mut out = Templates::default();
        let (parts, refusal): (&[Part], &str) = match channel {
            Channel::Webhook {
                format: WebhookFormat::Json,
                ..
            } => (
                &[],
                "nines' JSON event is data for programs, not a message: it has no template (use slack or email for words, or read the event's fields)",
            ),
            Channel::Webhook { .. } => (
                &[],
                "the Alertmanager webhook body is a fixed wire format: it has no template (add `format: json` for nines' event, or use slack or email)",
            ),
            Channel::Slack { .. } => (&[Part::Text], ""),
            Channel::Email { .. } => (&[Part::Subject, Part::Text, Part::Html], ""),
            Channel::PagerDuty { .. } => (&[Part::Summary], ""),
        };
        let mut seen: Vec<Part> = Vec::new();
        for key in ["template", "templateFile"] {
            let Some(node) = f.get(key) else { continue };
            let what = format!("{w}.{key}");
            if parts.is_empty() {
                let pos = key_pos(f.node, key).unwrap_or(node.pos);
                self.error_help(pos, format!("{what}: a webhook takes no template"), refusal);
                continue;
            }
            let Some(entries) = node.as_map() else {
                self.error_help(
                    node.pos,
                    format!("{what} must be a mapping, found {}", node.type_name()),
                    format!("for example {{{}: ...}}", parts[0].name()),
                );
                continue;
            };
            let names: Vec<&str> = parts.iter().map(|p| p.name()).collect();
            for (k, v) in entries {
                let name = k.as_scalar().unwrap_or("");
                let Some(part) = Part::parse(name).filter(|p| parts.contains(p)) else {
                    let help = if matches!(channel, Channel::PagerDuty { .. }) {
                        "a PagerDuty event is a fixed wire format: only its `summary` may be templated".to_owned()
                    } else if matches!(channel, Channel::Slack { .. }) {
                        "Slack's part is `text` (the notification's fallback text); its blocks keep the default layout".to_owned()
                    } else {
                        format!("this channel's parts: {}", names.join(", "))
                    };
                    self.error_help(
                        k.pos,
                        format!("unknown template part `{name}` in {what}"),
                        help,
                    );
                    continue;
                };
                if seen.contains(&part) {
                    self.error_help(
                        k.pos,
                        format!("{what}.{name}: the part `{name}` is given twice"),
                        "give each part once, in template or in templateFile",
                    );
                    continue;
                }
                seen.push(part);
                let Some(written) = self.string(v, &format!("{what}.{name}")) else {
                    continue;
                };
                let source = if key == "templateFile" {
                    let path = self
                        .file
                        .parent()
                        .map_or_else(|| PathBuf::from(&written), |d| d.join(&written));
                    match std::fs::read_to_string(&path) {
                        Ok(s) => s,
                        Err(e) => {
                            self.error_help(
                                v.pos,
                                format!("{what}.{name}: cannot read the file `{written}`: {e}"),
                                "a relative path is read from the directory of this configuration file",
                            );
                            continue;
                        }
                    }
                } else {
                    written
                };
                if let Err(e) = crate::template::check(part, &source) {
                    self.error_help(
                        v.pos,
                        format!("{what}.{name}: {e}"),
                        "templates use Jinja2 syntax; see \"Templates\" in the README for the variables",
                    );
                    continue;
                }
                let slot = match part {
                    Part::Subject => &mut out.subject,
                    Part::Text => &mut out.text,
                    Part::Html => &mut out.html,
                    Part::Summary => &mut out.summary,
                };
                *slot = Some(source);
            }
        }
        out
    }

    /// A secret: written as it is, or `{fromEnv: NAME}`, or
    /// `{fromFile: PATH}` (relative to this file), read now. A missing
    /// variable or file is an error at the place it is named; the value
    /// itself is never put in a diagnostic.
    fn secret(&mut self, node: &Node, what: &str) -> Option<Secret> {
        if let NodeKind::Scalar(s, _) = &node.kind {
            return Some(Secret::new(s.clone()));
        }
        let f = self.fields(node, what, &["fromEnv", "fromFile"])?;
        match (f.get("fromEnv"), f.get("fromFile")) {
            (Some(n), None) => {
                let name = self.string(n, &format!("{what}.fromEnv"))?;
                match std::env::var(&name) {
                    Ok(v) if !v.trim().is_empty() => Some(Secret::new(v.trim().to_owned())),
                    Ok(_) => {
                        self.error_help(
                            n.pos,
                            format!("{what}: the environment variable `{name}` is empty"),
                            format!("set {name} in the environment nines runs in"),
                        );
                        None
                    }
                    Err(_) => {
                        self.error_help(
                            n.pos,
                            format!("{what}: the environment variable `{name}` is not set"),
                            format!("set {name} in the environment nines runs in, or use {{fromFile: PATH}}"),
                        );
                        None
                    }
                }
            }
            (None, Some(n)) => {
                let written = self.string(n, &format!("{what}.fromFile"))?;
                let path = self
                    .file
                    .parent()
                    .map_or_else(|| PathBuf::from(&written), |d| d.join(&written));
                match std::fs::read_to_string(&path) {
                    Ok(v) if !v.trim().is_empty() => Some(Secret::new(v.trim().to_owned())),
                    Ok(_) => {
                        self.error(n.pos, format!("{what}: the file `{written}` is empty"));
                        None
                    }
                    Err(e) => {
                        self.error_help(
                            n.pos,
                            format!("{what}: cannot read the file `{written}`: {e}"),
                            "a relative path is read from the directory of this configuration file",
                        );
                        None
                    }
                }
            }
            _ => {
                self.error_help(
                    node.pos,
                    format!("{what} needs exactly one of fromEnv and fromFile"),
                    "for example {fromEnv: PAGERDUTY_ROUTING_KEY} or {fromFile: secrets/pagerduty-key}",
                );
                None
            }
        }
    }
}

/// Where PagerDuty's Events API v2 is, unless a `url` says otherwise.
pub const DEFAULT_PAGERDUTY_BASE: &str = "https://events.pagerduty.com";

/// Where `key` is written in the mapping `node`.
fn key_pos(node: &Node, key: &str) -> Option<Pos> {
    node.as_map()?
        .iter()
        .find(|(k, _)| k.as_scalar() == Some(key))
        .map(|(k, _)| k.pos)
}

fn is_http_url(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://")) && has_host(url)
}

/// Whether an http(s) URL has a host after its scheme.
fn has_host(url: &str) -> bool {
    let rest = url.split_once("://").map_or("", |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    !host.is_empty() && !host.contains(char::is_whitespace) && !rest.contains(char::is_whitespace)
}

fn is_zero_duration(s: &str) -> bool {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    digits.len() < s.len() && !digits.is_empty() && digits.bytes().all(|b| b == b'0')
}

fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn contact_problem(kind: ContactKind, address: &str) -> Option<String> {
    match kind {
        ContactKind::Email => {
            let ok = address
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.contains('@'));
            (!ok).then(|| format!("`{address}` is not an email address"))
        }
        ContactKind::Webhook | ContactKind::Slack => {
            let ok = address.starts_with("https://") || address.starts_with("http://");
            (!ok).then(|| format!("`{address}` is not an http(s) URL"))
        }
        ContactKind::Phone => {
            let ok = address.starts_with('+')
                && address[1..]
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == ' ' || c == '-');
            (!ok).then(|| {
                format!(
                    "`{address}` is not a phone number in international form (+33 6 12 34 56 78)"
                )
            })
        }
    }
}
