//! The pure domain of nines.
//!
//! Plain Rust: no I/O, no async, no wire formats, and no clock. Time is
//! always passed in by the caller. That is what lets tests be exact about
//! time and lets a simulation run thirty days in seconds.

pub mod alerting;
pub mod availability;
pub mod budget;
pub mod burn;
pub mod duration;
pub mod engine;
pub mod graph;
pub mod model;
pub mod oncall;
pub mod recur;
pub mod series;
pub mod simulate;
