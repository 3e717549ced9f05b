//! SLO catalogs and engines for the benches.

use jiff::Timestamp;
use nines_core::availability::Target;
use nines_core::duration::DurationShorthand;
use nines_core::engine::{Engine, Observation};
use nines_core::model::{
    BudgetingMethod, Catalog, Meta, MetricSource, Numerator, Objective, Sli, SliMetric, Slo,
    TimeWindow, Value,
};

pub fn catalog(n: usize) -> Catalog {
    let mut c = Catalog::default();
    for i in 0..n {
        let source = MetricSource {
            source_ref: None,
            kind: Some("push".into()),
            spec: Value::Null,
        };
        let name = format!("slo-{i}");
        c.slos.insert(
            name.clone(),
            Slo {
                meta: Meta {
                    name: name.clone(),
                    ..Meta::default()
                },
                service: format!("svc-{}", i % 500),
                indicator: Some(Sli {
                    meta: Meta {
                        name: format!("sli-{i}"),
                        ..Meta::default()
                    },
                    metric: SliMetric::Ratio {
                        counter: false,
                        numerator: Numerator::Good(source.clone()),
                        total: source,
                    },
                }),
                time_window: TimeWindow::Rolling(DurationShorthand::parse("28d").unwrap()),
                budgeting_method: BudgetingMethod::Occurrences,
                objectives: vec![Objective {
                    display_name: None,
                    op: None,
                    value: None,
                    target: Target::parse("99.9").unwrap(),
                    time_slice_target: None,
                    time_slice_window: None,
                    indicator: None,
                    composite_weight: 1.0,
                }],
                alert_policies: vec![],
            },
        );
    }
    c
}

pub const T0: i64 = 1_800_000_000;

/// An engine of `n` SLOs, each with `minutes` of one-minute data.
pub fn engine(n: usize, minutes: i64) -> Engine {
    let mut e = Engine::new(&catalog(n));
    let now = Timestamp::from_second(T0).unwrap();
    for i in 0..n {
        let sli = format!("sli-{i}");
        for m in 0..minutes {
            let at = Timestamp::from_second(T0 - (m + 1) * 60).unwrap();
            e.record(
                &sli,
                at,
                Observation::Counts {
                    good: 999.0,
                    total: 1000.0,
                },
                false,
                now,
            )
            .unwrap();
        }
    }
    e
}
