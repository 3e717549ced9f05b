//! Schedules at both of Europe/Paris' daylight-saving changes, across a
//! year boundary, and properties of the final schedule over any span.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use proptest::prelude::*;

use super::*;
use crate::model::Meta;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn civil(s: &str) -> DateTime {
    s.parse().unwrap()
}

fn names(members: &[&str]) -> Vec<String> {
    members.iter().map(|m| (*m).to_owned()).collect()
}

fn rotation(name: &str, start: &str, turn: Turn, members: &[&str]) -> Layer {
    Layer {
        name: name.to_owned(),
        coverage: Coverage::Rotation(
            Rotation::new(civil(start), turn, names(members), None).unwrap(),
        ),
        restrictions: Vec::new(),
    }
}

fn schedule(zone: &str, layers: Vec<Layer>) -> Schedule {
    Schedule {
        meta: Meta {
            name: "primary".into(),
            ..Meta::default()
        },
        zone: TimeZone::get(zone).unwrap(),
        zone_name: zone.to_owned(),
        team: None,
        layers,
        overrides: Vec::new(),
    }
}

/// (start, end, person) of each shift, in UTC, for compact assertions.
fn plain(shifts: &[Shift]) -> Vec<(String, String, Option<String>)> {
    shifts
        .iter()
        .map(|s| {
            (
                s.start.to_string(),
                s.end.to_string(),
                s.person().map(str::to_owned),
            )
        })
        .collect()
}

fn row(start: &str, end: &str, person: &str) -> (String, String, Option<String>) {
    (start.into(), end.into(), Some(person.into()))
}

#[test]
fn a_daily_handoff_stays_at_nine_when_the_clocks_go_forward() {
    // Paris goes from +01:00 to +02:00 at 02:00 on Sunday 29 March 2026:
    // 09:00 is 08:00Z before and 07:00Z after, and the turn across is 23 h.
    let s = schedule(
        "Europe/Paris",
        vec![rotation(
            "daily",
            "2026-03-27T09:00",
            Turn::DAILY,
            &["alice", "bob", "carol"],
        )],
    );
    let shifts = s.shifts(ts("2026-03-27T08:00Z"), ts("2026-03-30T07:00Z"), &[]);
    assert_eq!(
        plain(&shifts),
        vec![
            row("2026-03-27T08:00:00Z", "2026-03-28T08:00:00Z", "alice"),
            row("2026-03-28T08:00:00Z", "2026-03-29T07:00:00Z", "bob"),
            row("2026-03-29T07:00:00Z", "2026-03-30T07:00:00Z", "carol"),
        ]
    );
    let bob = &shifts[1];
    assert_eq!(bob.end.duration_since(bob.start).as_hours(), 23);
}

#[test]
fn a_daily_handoff_stays_at_nine_when_the_clocks_go_back() {
    // Paris goes from +02:00 to +01:00 at 03:00 on Sunday 25 October 2026;
    // the turn across is 25 h.
    let s = schedule(
        "Europe/Paris",
        vec![rotation(
            "daily",
            "2026-10-23T09:00",
            Turn::DAILY,
            &["alice", "bob", "carol"],
        )],
    );
    let shifts = s.shifts(ts("2026-10-23T07:00Z"), ts("2026-10-26T08:00Z"), &[]);
    assert_eq!(
        plain(&shifts),
        vec![
            row("2026-10-23T07:00:00Z", "2026-10-24T07:00:00Z", "alice"),
            row("2026-10-24T07:00:00Z", "2026-10-25T08:00:00Z", "bob"),
            row("2026-10-25T08:00:00Z", "2026-10-26T08:00:00Z", "carol"),
        ]
    );
    let handoffs = s.handoffs(ts("2026-10-23T07:00Z"), ts("2026-10-26T08:00Z"), &[]);
    assert_eq!(
        handoffs
            .iter()
            .map(|h| (h.at.to_string(), h.to.clone().unwrap()))
            .collect::<Vec<_>>(),
        vec![
            ("2026-10-24T07:00:00Z".to_owned(), "bob".to_owned()),
            ("2026-10-25T08:00:00Z".to_owned(), "carol".to_owned()),
        ]
    );
}

#[test]
fn a_handoff_in_the_skipped_hour_happens_when_the_clocks_jump() {
    let s = schedule(
        "Europe/Paris",
        vec![rotation(
            "night",
            "2026-03-28T02:30",
            Turn::DAILY,
            &["alice", "bob"],
        )],
    );
    // 02:30 does not exist on 29 March: bob takes over at 03:00 (01:00Z).
    assert_eq!(
        s.on_call_at(ts("2026-03-29T00:59:59Z"), &[])
            .unwrap()
            .person,
        "alice"
    );
    assert_eq!(
        s.on_call_at(ts("2026-03-29T01:00Z"), &[]).unwrap().person,
        "bob"
    );
    // and hands back at 02:30 the next night, now +02:00.
    assert_eq!(
        s.on_call_at(ts("2026-03-30T00:29Z"), &[]).unwrap().person,
        "bob"
    );
    assert_eq!(
        s.on_call_at(ts("2026-03-30T00:30Z"), &[]).unwrap().person,
        "alice"
    );
}

#[test]
fn a_handoff_in_the_repeated_hour_happens_the_first_time_round() {
    let s = schedule(
        "Europe/Paris",
        vec![rotation(
            "night",
            "2026-10-24T02:30",
            Turn::DAILY,
            &["alice", "bob"],
        )],
    );
    // 02:30 happens twice on 25 October; the handoff is at the first (00:30Z).
    assert_eq!(
        s.on_call_at(ts("2026-10-25T00:29Z"), &[]).unwrap().person,
        "alice"
    );
    assert_eq!(
        s.on_call_at(ts("2026-10-25T00:30Z"), &[]).unwrap().person,
        "bob"
    );
    assert_eq!(
        s.on_call_at(ts("2026-10-25T01:30Z"), &[]).unwrap().person,
        "bob"
    );
    let bob = s
        .shifts(ts("2026-10-24T00:00Z"), ts("2026-10-27T00:00Z"), &[])
        .into_iter()
        .find(|s| s.person() == Some("bob"))
        .unwrap();
    assert_eq!(bob.end.to_string(), "2026-10-26T01:30:00Z");
    assert_eq!(bob.end.duration_since(bob.start).as_hours(), 25);
}

fn business_hours() -> Schedule {
    let mut day = rotation(
        "business hours",
        "2026-01-05T09:00",
        Turn::WEEKLY,
        &["dana"],
    );
    day.restrictions = (0..5)
        .map(|d| Window::new(d * 1440 + 9 * 60, d * 1440 + 18 * 60).unwrap())
        .collect();
    schedule(
        "Europe/Paris",
        vec![
            rotation(
                "around the clock",
                "2026-01-05T09:00",
                Turn::WEEKLY,
                &["nick"],
            ),
            day,
        ],
    )
}

#[test]
fn restrictions_follow_the_wall_clock_on_both_sides_of_a_change() {
    let s = business_hours();
    let who = |t: &str| s.on_call_at(ts(t), &[]).unwrap();
    // Friday 27 March, +01:00: 09:00 is 08:00Z.
    assert_eq!(who("2026-03-27T07:59Z").person, "nick");
    assert_eq!(who("2026-03-27T08:00Z").person, "dana");
    assert_eq!(
        who("2026-03-27T08:00Z").reason,
        Reason::Layer {
            index: 1,
            name: "business hours".into()
        }
    );
    assert_eq!(who("2026-03-27T16:59Z").person, "dana");
    assert_eq!(who("2026-03-27T17:00Z").person, "nick");
    // The weekend: the lower layer shows through.
    assert_eq!(who("2026-03-28T12:00Z").person, "nick");
    // Monday 30 March, +02:00: 09:00 is 07:00Z.
    assert_eq!(who("2026-03-30T06:59Z").person, "nick");
    assert_eq!(who("2026-03-30T07:00Z").person, "dana");
    assert_eq!(who("2026-03-30T16:00Z").person, "nick");
    // Monday 26 October, back to +01:00.
    assert_eq!(who("2026-10-26T07:30Z").person, "nick");
    assert_eq!(who("2026-10-26T08:00Z").person, "dana");
    let shifts = s.shifts(ts("2026-03-30T00:00Z"), ts("2026-03-31T00:00Z"), &[]);
    assert_eq!(
        plain(&shifts),
        vec![
            row("2026-03-30T00:00:00Z", "2026-03-30T07:00:00Z", "nick"),
            row("2026-03-30T07:00:00Z", "2026-03-30T16:00:00Z", "dana"),
            row("2026-03-30T16:00:00Z", "2026-03-31T00:00:00Z", "nick"),
        ]
    );
}

#[test]
fn a_weekly_rotation_runs_across_the_new_year() {
    let s = schedule(
        "Europe/Paris",
        vec![rotation(
            "weekly",
            "2026-12-21T10:00",
            Turn::WEEKLY,
            &["alice", "bob"],
        )],
    );
    let who = |t: &str| s.on_call_at(ts(t), &[]).unwrap().person;
    assert_eq!(who("2026-12-28T08:59Z"), "alice");
    assert_eq!(who("2026-12-28T09:00Z"), "bob");
    assert_eq!(who("2026-12-31T22:59:59Z"), "bob");
    assert_eq!(who("2027-01-01T00:00Z"), "bob");
    assert_eq!(who("2027-01-04T08:59:59Z"), "bob");
    assert_eq!(who("2027-01-04T09:00Z"), "alice");
    let handoffs = s.handoffs(ts("2026-12-24T00:00Z"), ts("2027-01-12T00:00Z"), &[]);
    assert_eq!(
        handoffs
            .iter()
            .map(|h| h.at.to_string())
            .collect::<Vec<_>>(),
        vec![
            "2026-12-28T09:00:00Z",
            "2027-01-04T09:00:00Z",
            "2027-01-11T09:00:00Z"
        ]
    );
    assert_eq!(handoffs[1].from.as_deref(), Some("bob"));
    assert_eq!(handoffs[1].to.as_deref(), Some("alice"));
}

#[test]
fn before_the_first_turn_nobody_is_on_call_and_a_shift_says_so() {
    let s = schedule(
        "UTC",
        vec![rotation(
            "daily",
            "2026-06-01T09:00",
            Turn::DAILY,
            &["alice"],
        )],
    );
    assert_eq!(s.on_call_at(ts("2026-06-01T08:59Z"), &[]), None);
    let shifts = s.shifts(ts("2026-06-01T00:00Z"), ts("2026-06-03T00:00Z"), &[]);
    assert_eq!(shifts.len(), 2);
    assert_eq!(shifts[0].on_call, None);
    // One member: the turns merge into one shift.
    assert_eq!(shifts[1].start, ts("2026-06-01T09:00Z"));
    assert_eq!(shifts[1].end, ts("2026-06-03T00:00Z"));
}

#[test]
fn overrides_win_and_the_latest_one_first() {
    let mut s = schedule(
        "Europe/Paris",
        vec![rotation(
            "weekly",
            "2026-12-21T10:00",
            Turn::WEEKLY,
            &["alice", "bob"],
        )],
    );
    s.overrides.push(
        Override::new(
            OverrideId::Config(0),
            "carol".into(),
            ts("2026-12-24T17:00Z"),
            ts("2026-12-26T08:00Z"),
        )
        .unwrap(),
    );
    let extra = [Override::new(
        OverrideId::Stored(7),
        "dave".into(),
        ts("2026-12-25T00:00Z"),
        ts("2026-12-25T12:00Z"),
    )
    .unwrap()];
    let at = |t: &str| s.on_call_at(ts(t), &extra).unwrap();
    assert_eq!(at("2026-12-24T16:59Z").person, "alice");
    assert_eq!(
        at("2026-12-24T17:00Z").reason,
        Reason::Override(OverrideId::Config(0))
    );
    assert_eq!(at("2026-12-25T06:00Z").person, "dave");
    assert_eq!(
        at("2026-12-25T06:00Z").reason,
        Reason::Override(OverrideId::Stored(7))
    );
    assert_eq!(at("2026-12-25T12:00Z").person, "carol");
    assert_eq!(at("2026-12-26T08:00Z").person, "alice");
    let shifts = s.shifts(ts("2026-12-24T00:00Z"), ts("2026-12-27T00:00Z"), &extra);
    assert_eq!(
        plain(&shifts),
        vec![
            row("2026-12-24T00:00:00Z", "2026-12-24T17:00:00Z", "alice"),
            row("2026-12-24T17:00:00Z", "2026-12-25T00:00:00Z", "carol"),
            row("2026-12-25T00:00:00Z", "2026-12-25T12:00:00Z", "dave"),
            row("2026-12-25T12:00:00Z", "2026-12-26T08:00:00Z", "carol"),
            row("2026-12-26T08:00:00Z", "2026-12-27T00:00:00Z", "alice"),
        ]
    );
}

#[test]
fn fixed_shifts_cover_their_spans_and_the_latest_start_wins() {
    let shift = |p: &str, a: &str, b: &str| FixedShift::new(p.into(), ts(a), ts(b)).unwrap();
    let s = schedule(
        "UTC",
        vec![Layer {
            name: "imported".into(),
            coverage: Coverage::Shifts(vec![
                shift("alice", "2026-05-01T00:00Z", "2026-05-03T00:00Z"),
                shift("bob", "2026-05-02T00:00Z", "2026-05-02T12:00Z"),
            ]),
            restrictions: Vec::new(),
        }],
    );
    assert_eq!(
        plain(&s.shifts(ts("2026-04-30T00:00Z"), ts("2026-05-04T00:00Z"), &[])),
        vec![
            (
                "2026-04-30T00:00:00Z".into(),
                "2026-05-01T00:00:00Z".into(),
                None
            ),
            row("2026-05-01T00:00:00Z", "2026-05-02T00:00:00Z", "alice"),
            row("2026-05-02T00:00:00Z", "2026-05-02T12:00:00Z", "bob"),
            row("2026-05-02T12:00:00Z", "2026-05-03T00:00:00Z", "alice"),
            (
                "2026-05-03T00:00:00Z".into(),
                "2026-05-04T00:00:00Z".into(),
                None
            ),
        ]
    );
}

#[test]
fn values_that_make_no_sense_cannot_be_built() {
    assert_eq!(
        Turn::from_minutes(30),
        Err(OnCallError::TurnLength { minutes: 30 })
    );
    assert!(Turn::from_minutes(12 * 60).is_ok());
    assert!(Window::new(18 * 60, 9 * 60).is_err());
    assert!(Window::new(600, 600).is_err());
    assert!(Window::daily(9 * 60, 1440).is_ok());
    assert!(Window::daily(9 * 60, 1441).is_err());
    assert_eq!(
        Rotation::new(civil("2026-01-01T09:00"), Turn::DAILY, vec![], None),
        Err(OnCallError::NoMembers)
    );
    let e = Override::new(
        OverrideId::Stored(1),
        "alice".into(),
        ts("2026-01-02T00:00Z"),
        ts("2026-01-01T00:00Z"),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "it ends (2026-01-01T00:00:00Z) before it starts (2026-01-02T00:00:00Z)"
    );
}

const ZONES: [&str; 5] = [
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "UTC",
];

fn arb_schedule() -> impl Strategy<Value = Schedule> {
    let layer = (
        0i64..365 * 96,
        prop_oneof![
            Just(1440i64),
            Just(10080),
            (1i64..=336).prop_map(|h| h * 60),
            (2i64..=96).prop_map(|q| q * 30)
        ],
        1usize..4,
        proptest::collection::vec((0u32..WEEK_MINUTES / 15, 1u32..200), 0..3),
    )
        .prop_map(|(start_q, turn, n, windows)| {
            let start = civil("2026-01-01T00:00")
                .checked_add(jiff::SignedDuration::from_mins(start_q * 15))
                .unwrap();
            let members: Vec<String> = ["ann", "ben", "cat"][..n]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            Layer {
                name: format!("l{start_q}"),
                coverage: Coverage::Rotation(
                    Rotation::new(start, Turn::from_minutes(turn).unwrap(), members, None).unwrap(),
                ),
                restrictions: windows
                    .into_iter()
                    .filter_map(|(from, len)| {
                        let from = from * 15;
                        Window::new(from, (from + len * 15).min(WEEK_MINUTES)).ok()
                    })
                    .collect(),
            }
        });
    (
        proptest::sample::select(&ZONES[..]),
        proptest::collection::vec(layer, 1..4),
        proptest::collection::vec((0i64..365 * 24, 1i64..72), 0..3),
    )
        .prop_map(|(zone, layers, overrides)| {
            let mut s = schedule(zone, layers);
            s.overrides = overrides
                .into_iter()
                .enumerate()
                .map(|(i, (h, len))| {
                    let start = ts("2026-01-01T00:00Z") + jiff::SignedDuration::from_hours(h);
                    Override::new(
                        OverrideId::Config(i),
                        "ovr".into(),
                        start,
                        start + jiff::SignedDuration::from_hours(len),
                    )
                    .unwrap()
                })
                .collect();
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The shifts over any span tile it, and at every instant sampled they
    /// say what `on_call_at` says.
    #[test]
    fn shifts_tile_the_span_and_agree_with_who_is_on_call(
        s in arb_schedule(),
        from_min in 0i64..400 * 1440,
        len_min in 1i64..21 * 1440,
        samples in proptest::collection::vec(0.0f64..1.0, 20),
    ) {
        let from = ts("2026-01-01T00:00Z") + jiff::SignedDuration::from_mins(from_min);
        let until = from + jiff::SignedDuration::from_mins(len_min);
        let shifts = s.shifts(from, until, &[]);
        prop_assert!(!shifts.is_empty());
        prop_assert_eq!(shifts[0].start, from);
        prop_assert_eq!(shifts[shifts.len() - 1].end, until);
        for w in shifts.windows(2) {
            prop_assert_eq!(w[0].end, w[1].start);
            prop_assert_ne!(&w[0].on_call, &w[1].on_call);
        }
        for sh in &shifts {
            prop_assert!(sh.start < sh.end);
            prop_assert_eq!(&s.on_call_at(sh.start, &[]), &sh.on_call);
            let last = sh.end - jiff::SignedDuration::from_secs(1);
            if last >= sh.start {
                prop_assert_eq!(&s.on_call_at(last, &[]), &sh.on_call, "at {}", last);
            }
        }
        let span = until.duration_since(from).as_secs();
        for f in samples {
            let t = from + jiff::SignedDuration::from_secs((span as f64 * f) as i64);
            let sh = shifts.iter().find(|sh| sh.start <= t && t < sh.end).unwrap();
            prop_assert_eq!(&s.on_call_at(t, &[]), &sh.on_call, "at {}", t);
        }
    }

    /// Handoffs are exactly the shift boundaries where the person changes.
    #[test]
    fn handoffs_change_the_person(s in arb_schedule(), from_min in 0i64..365 * 1440) {
        let from = ts("2026-01-01T00:00Z") + jiff::SignedDuration::from_mins(from_min);
        let until = from + jiff::SignedDuration::from_hours(24 * 14);
        for h in s.handoffs(from, until, &[]) {
            prop_assert!(from < h.at && h.at < until);
            prop_assert_ne!(&h.from, &h.to);
            let before = s.on_call_at(h.at - jiff::SignedDuration::from_secs(1), &[]);
            prop_assert_eq!(before.map(|o| o.person), h.from.clone());
            prop_assert_eq!(s.on_call_at(h.at, &[]).map(|o| o.person), h.to.clone());
        }
    }
}
