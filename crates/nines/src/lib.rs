//! The `nines` binary's library half: the CLI commands, the HTTP server and
//! everything at the edge that talks to the world (sockets, signals, files,
//! the store, the wall clock). The domain itself lives in `nines-core`.

pub mod alerts;
pub mod calc;
pub mod check;
pub mod cli;
pub mod client;
pub mod clock;
pub mod demo;
pub mod escalation_cli;
pub mod http;
pub mod ingest;
pub mod logging;
pub mod maintenance_cmd;
pub mod metrics;
pub mod oncall;
pub mod oncall_cli;
pub mod pull;
pub mod serve;
pub mod simulate;
pub mod slo;

/// What a command that runs without a server prints, and the exit code to
/// leave with; `main` writes it out.
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub code: u8,
}

/// Installs the one TLS crypto provider of the process (ring). rustls panics
/// when two crates enable different providers and none is chosen, so every
/// entry point calls this first; calling it again is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Exit codes shared by every command, documented in the README and `--help`.
pub mod exit {
    /// Success: the command did what was asked, or the answer is "yes".
    pub const OK: u8 = 0;
    /// The answer is "no" (an invalid config), or the server could not start.
    pub const FAILURE: u8 = 1;
    /// The command could not run: bad usage, or input that cannot be read.
    pub const USAGE: u8 = 2;
    /// The nines server could not be reached, or answered with an error.
    pub const UNREACHABLE: u8 = 3;
}
