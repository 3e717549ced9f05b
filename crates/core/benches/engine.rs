//! The SLO engine's hot paths: one evaluation pass over 10,000 SLOs with
//! the four default alert-window pairs each, and recording SLI data.
//! Memory per SLO is measured by the `memory` bench, in a process of its own.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use jiff::Timestamp;
use nines_core::engine::Observation;

mod common;
use common::{T0, engine};

fn evaluation(c: &mut Criterion) {
    let mut g = c.benchmark_group("evaluate");
    g.sample_size(10);
    // A day of data: every alert window holds buckets, the 28-day one is partly filled.
    let mut e = engine(10_000, 24 * 60);
    let mut t = T0;
    g.bench_function("10k_slos_4_window_pairs", |b| {
        b.iter(|| {
            t += 60;
            black_box(e.evaluate(Timestamp::from_second(t).unwrap()))
        })
    });
    g.finish();
}

fn record(c: &mut Criterion) {
    let mut e = engine(1000, 60);
    let now = Timestamp::from_second(T0).unwrap();
    let at = Timestamp::from_second(T0 - 30).unwrap();
    c.bench_function("record_one_observation", |b| {
        b.iter(|| {
            e.record(
                black_box("sli-7"),
                at,
                Observation::Success(true),
                false,
                now,
            )
            .unwrap()
        })
    });
}

criterion_group!(benches, evaluation, record);
criterion_main!(benches);
