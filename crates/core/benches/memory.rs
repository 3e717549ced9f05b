//! Memory per SLO: the resident set size of a fresh process before and
//! after building an engine of 10,000 SLOs, without data and with one day
//! of one-minute buckets. Printed, not asserted: `cargo bench -p nines-core --bench memory`.

#[allow(dead_code)]
mod common;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    const N: usize = 10_000;
    let before = rss_bytes();
    let empty = common::engine(N, 0);
    let after_empty = rss_bytes();
    let with_day = common::engine(N, 24 * 60);
    let after_day = rss_bytes();
    println!(
        "memory per SLO: {:.0} bytes without data; {:.0} bytes with one day of one-minute buckets ({} SLOs, RSS deltas)",
        after_empty.saturating_sub(before) as f64 / N as f64,
        after_day.saturating_sub(after_empty) as f64 / N as f64,
        N
    );
    drop((empty, with_day));
}
