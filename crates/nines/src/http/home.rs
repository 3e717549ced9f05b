//! The landing page a person opens first: what is configured, what each
//! target allows, and where to look next. Plain HTML, no JavaScript.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;
use nines_core::availability::{Period, format_seconds};
use nines_core::graph;

use crate::serve::AppState;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

pub async fn page(State(state): State<Arc<AppState>>) -> Html<String> {
    let config = state.current();
    let c = &config.catalog;
    let mut out = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>nines</title>\
<style>body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1d2433}\
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}th,td{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #dde}\
th{background:#f4f5f9}code{background:#f4f5f9;padding:0 .25rem}.muted{color:#667}</style></head><body>",
    );
    let _ = write!(
        out,
        "<h1>nines</h1><p class=\"muted\">Configuration revision {} from <code>{}</code>, loaded {}; store: {}.</p>",
        config.revision,
        esc(&state.config_path.display().to_string()),
        config.loaded_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        esc(&state.store.describe())
    );
    out.push_str("<h2>Services</h2><table><tr><th>Service</th><th>Owner</th><th>Tier</th><th>SLOs</th><th>Theoretical availability</th></tr>");
    for (name, s) in &c.services {
        let theoretical = match graph::theoretical_availability(c, name) {
            Ok(b) => b.availability.to_string(),
            Err(e) => format!("<span class=\"muted\">{}</span>", esc(&e.to_string())),
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(s.meta.display_name.as_deref().unwrap_or(name)),
            esc(s.owner.as_deref().unwrap_or("—")),
            s.tier.map_or("—".to_owned(), |t| t.0.to_string()),
            c.slos_of(name).count(),
            theoretical
        );
    }
    out.push_str("</table><h2>SLOs</h2><table><tr><th>SLO</th><th>Service</th><th>Objective</th><th>Downtime allowed per 30 days</th><th>SLI now</th><th>Budget left</th><th>Policy</th><th>Alerts</th></tr>");
    let statuses = state.slo().status(state.clock.now());
    for st in &statuses {
        let slo = c.slos.get(&st.slo);
        let name = slo
            .and_then(|s| s.meta.display_name.as_deref())
            .unwrap_or(&st.slo);
        let policy = crate::slo::BudgetPolicy::of(c, &st.slo);
        let firing: Vec<&str> = st.firing.iter().map(|u| u.as_str()).collect();
        let _ = write!(
            out,
            "<tr><td><a href=\"/api/v1/slos/{}\">{}</a></td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&st.slo),
            esc(name),
            esc(&st.service),
            st.target,
            st.display_name
                .as_deref()
                .map(|d| format!(" <span class=\"muted\">({})</span>", esc(d)))
                .unwrap_or_default(),
            format_seconds(st.target.downtime_seconds(Period::Days30)),
            st.budget
                .sli()
                .map_or("no data".to_owned(), |v| format!("{:.4} %", v * 100.0)),
            if st.no_data {
                "—".to_owned()
            } else {
                format!("{:.1} %", st.budget.remaining_ratio() * 100.0)
            },
            policy.state(st.budget.remaining_ratio(), st.no_data),
            if firing.is_empty() {
                "—".to_owned()
            } else {
                format!("<strong>{}</strong>", firing.join(", "))
            }
        );
    }
    out.push_str("</table><h2>Look further</h2><ul>\
<li><a href=\"/api/v1/slos\">/api/v1/slos</a>: every SLO's budget and burn rates; <a href=\"/api/v1/alerts\">/api/v1/alerts</a>: recent burn-rate alerts</li>\
<li><a href=\"/api/v1/status\">/api/v1/status</a>: version, configuration, store</li>\
<li><a href=\"/metrics\">/metrics</a>: nines' own metrics (Prometheus)</li>\
<li><a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>: the API</li>\
<li><a href=\"/api/v1/config/revisions\">/api/v1/config/revisions</a>: configuration history</li></ul>\
</body></html>");
    Html(out)
}
