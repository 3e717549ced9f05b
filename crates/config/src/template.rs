//! Message templates from the configuration (`template:` and
//! `templateFile:` of a `notify:` entry): the engine's settings, and the
//! checks made when the configuration is loaded.
//!
//! The engine is minijinja (Jinja2 syntax). The settings live here so that
//! what `nines check` accepts is exactly what the server renders: the
//! `nines` crate builds its environment with [`environment`].

use minijinja::machinery::{CodeGenerator, Instruction, Instructions, parse};
use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};

/// A part of a channel's message that a template may give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// An email's subject.
    Subject,
    /// An email's plain-text part, or Slack's `text` (its fallback).
    Text,
    /// An email's HTML part: the only one escaped for HTML.
    Html,
    /// PagerDuty's `payload.summary`.
    Summary,
}

impl Part {
    pub const ALL: [Part; 4] = [Part::Subject, Part::Text, Part::Html, Part::Summary];

    pub fn name(self) -> &'static str {
        match self {
            Part::Subject => "subject",
            Part::Text => "text",
            Part::Html => "html",
            Part::Summary => "summary",
        }
    }

    pub fn parse(s: &str) -> Option<Part> {
        Part::ALL.into_iter().find(|p| p.name() == s)
    }

    /// The name the engine knows the template by: it appears in the
    /// engine's messages (`in html:3`) and decides escaping.
    fn template_name(self) -> &'static str {
        self.name()
    }
}

/// The engine as nines uses it: the builtin filters and tests; an
/// undefined value may be tested (`{% if alert.annotations.description %}`)
/// but not printed or iterated, so that a misspelt name is an error (the
/// caller falls back to the default rendering) rather than an empty
/// string; only the `html` part is escaped for HTML.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.set_auto_escape_callback(|name| {
        if name == Part::Html.template_name() {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    // Rendering runs in the delivery worker: a template that loops far too
    // long (nested loops over ranges) must not hold every notification.
    // Out of fuel, the part falls back to its default like any failure; a
    // message over the alerts of an incident needs a few thousand units.
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(64);
    env
}

/// The work one rendering may do (about one unit per instruction).
pub const FUEL: u64 = 1_000_000;

/// Renders `source` as `part` with `ctx`. The error is the engine's own
/// message, with where in the template it happened.
pub fn render(
    env: &Environment<'_>,
    part: Part,
    source: &str,
    ctx: minijinja::Value,
) -> Result<String, String> {
    let t = env
        .template_from_named_str(part.template_name(), source)
        .map_err(|e| e.to_string())?;
    t.render(ctx).map_err(|e| e.to_string())
}

/// The variables a template is given (the `nines` crate builds them, and
/// a test there keeps the two lists the same; the README documents them).
pub const CONTEXT: [&str; 11] = [
    "incident",
    "status",
    "alerts",
    "more",
    "common_labels",
    "common_annotations",
    "group_labels",
    "external_url",
    "why",
    "impacted",
    // Not ours: minijinja's loop variable, given by the engine.
    "loop",
];

/// The fields of `incident`.
pub const INCIDENT: [&str; 8] = [
    "id",
    "state",
    "urgency",
    "title",
    "service",
    "url",
    "ack_url",
    "resolve_url",
];

/// Whether `source` is a template nines can render as `part`: its syntax;
/// every variable it reads without defining it is one nines gives (and
/// `incident.x` a field of the incident); every filter and test it names
/// exists (the engine would find an unknown one only when rendering the
/// branch that uses it). The error is the engine's message, or names what
/// is unknown.
pub fn check(part: Part, source: &str) -> Result<(), String> {
    let env = environment();
    let t = env
        .template_from_named_str(part.template_name(), source)
        .map_err(|e| e.to_string())?;
    let mut undeclared: Vec<String> = t.undeclared_variables(true).into_iter().collect();
    undeclared.sort();
    for name in &undeclared {
        let (top, field) = match name.split_once('.') {
            Some((t, f)) => (t, Some(f)),
            None => (name.as_str(), None),
        };
        // Globals of the engine (`range`, `dict`, `namespace`) are defined.
        let global = env
            .compile_expression(top)
            .and_then(|e| e.eval(()))
            .is_ok_and(|v| !v.is_undefined());
        if !CONTEXT.contains(&top) && !global {
            return Err(format!(
                "unknown variable `{top}`: a template is given {}",
                CONTEXT[..CONTEXT.len() - 1].join(", ")
            ));
        }
        if let (true, Some(f)) = (top == "incident", field)
            && !INCIDENT.contains(&f)
        {
            return Err(format!(
                "unknown field `incident.{f}`: the incident has {}",
                INCIDENT.join(", ")
            ));
        }
    }
    let name = part.template_name();
    let ast = parse(source, name, SyntaxConfig::default()).map_err(|e| e.to_string())?;
    let mut codegen = CodeGenerator::new(name, source);
    codegen.compile_stmt(&ast);
    let (main, blocks) = codegen.finish();
    for ins in std::iter::once(&main).chain(blocks.values()) {
        unknown_names(&env, ins)?;
    }
    Ok(())
}

fn unknown_names(env: &Environment<'_>, ins: &Instructions<'_>) -> Result<(), String> {
    let mut idx = 0;
    while let Some(i) = ins.get(idx) {
        let (what, name, probe, kind) = match i {
            Instruction::ApplyFilter(name, ..) => (
                "filter",
                *name,
                format!("none|{name}"),
                ErrorKind::UnknownFilter,
            ),
            Instruction::PerformTest(name, ..) => (
                "test",
                *name,
                format!("none is {name}"),
                ErrorKind::UnknownTest,
            ),
            _ => {
                idx += 1;
                continue;
            }
        };
        // The environment does not list its filters: evaluating one on
        // `none` tells whether it exists (builtins have no side effects).
        let known = env
            .compile_expression(&probe)
            .and_then(|e| e.eval(()))
            .map_or_else(|e| e.kind() != kind, |_| true);
        if !known {
            let line = ins.get_line(idx).unwrap_or(1);
            return Err(format!(
                "unknown {what}: {what} {name} is unknown (in {}:{line})",
                ins.name()
            ));
        }
        idx += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_and_unknown_filters_are_found_at_load() {
        assert!(check(Part::Subject, "[{{ status|upper }}] {{ incident.title }}").is_ok());
        let e = check(Part::Subject, "{{ incident.title ").unwrap_err();
        assert!(e.starts_with("syntax error"), "{e}");
        // In a branch that would not run with most incidents.
        let e = check(Part::Text, "a\n{% if why %}{{ why|shout }}{% endif %}").unwrap_err();
        assert_eq!(e, "unknown filter: filter shout is unknown (in text:2)");
        let e = check(Part::Text, "{% if status is loud %}x{% endif %}").unwrap_err();
        assert!(e.starts_with("unknown test"), "{e}");
        // Filters with arguments, and filters applied to a block.
        assert!(
            check(
                Part::Text,
                "{{ alerts|map(attribute='status')|join(', ') }}"
            )
            .is_ok()
        );
        assert!(check(Part::Text, "{% filter upper %}x{% endfilter %}").is_ok());
    }

    #[test]
    fn unknown_variables_and_incident_fields_are_found_at_load() {
        let ok = "{% for a in alerts %}{{ loop.index }} {{ a.labels.x }}{% endfor %}\
            {% set n = namespace(k=1) %}{% for i in range(2) %}{{ i }}{% endfor %}\
            {{ incident.ack_url }} {{ common_labels.service }} {{ why }} {{ more }}";
        assert_eq!(check(Part::Text, ok), Ok(()));
        let e = check(Part::Text, "{{ incidnet.title }}").unwrap_err();
        assert!(
            e.starts_with(
                "unknown variable `incidnet`: a template is given incident, status, alerts"
            ),
            "{e}"
        );
        let e = check(Part::Subject, "{{ incident.titel }}").unwrap_err();
        assert!(
            e.starts_with("unknown field `incident.titel`: the incident has id, state"),
            "{e}"
        );
    }

    #[test]
    fn only_html_is_escaped_and_undefined_values_are_errors() {
        let env = environment();
        let ctx = minijinja::Value::from_pairs([("t", "<b>&</b>")]);
        let html = render(&env, Part::Html, "<p>{{ t }}</p>", ctx.clone()).unwrap();
        assert_eq!(html, "<p>&lt;b&gt;&amp;&lt;&#x2f;b&gt;</p>");
        let text = render(&env, Part::Text, "{{ t }}", ctx.clone()).unwrap();
        assert_eq!(text, "<b>&</b>");
        assert_eq!(
            render(&env, Part::Text, "{% if nope %}x{% endif %}y", ctx.clone()).unwrap(),
            "y"
        );
        let e = render(&env, Part::Text, "{{ nope }}", ctx.clone()).unwrap_err();
        assert!(e.contains("undefined"), "{e}");
        // A template that would run far too long stops with an error.
        let e = render(
            &env,
            Part::Text,
            "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
            ctx,
        )
        .unwrap_err();
        assert!(e.contains("fuel"), "{e}");
    }
}
