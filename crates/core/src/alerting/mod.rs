//! Alerts from every source, in one model: labels and fingerprints,
//! matchers and silences, routing and grouping, incidents.

pub mod dependency;
pub mod inhibit;
pub mod labels;
pub mod maintenance;
pub mod matcher;
pub mod model;
pub mod route;
pub mod silence;
pub mod timeinterval;
