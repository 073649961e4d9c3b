//! Windows, counts, one-time jobs and jitter.

use chrono::{TimeZone, Utc};

use super::*;

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, h, m, s).unwrap()
}

fn fields(cron: Option<&'static str>) -> Fields<'static> {
    Fields {
        id: Uuid::from_u128(7),
        cron_expression: cron,
        timezone: "UTC",
        run_at: None,
        start_at: None,
        end_at: None,
        max_runs: None,
        scheduled_runs: 0,
        jitter_seconds: 0,
    }
}

fn hourly() -> Fields<'static> {
    fields(Some("0 * * * *"))
}

#[test]
fn a_window_bounds_every_slot() {
    let timing = Timing::of(Fields {
        start_at: Some(at(10, 30, 0)),
        end_at: Some(at(13, 0, 0)),
        ..hourly()
    })
    .unwrap();
    assert_eq!(
        timing.upcoming(at(8, 0, 0), 10),
        vec![at(11, 0, 0), at(12, 0, 0), at(13, 0, 0)],
        "none before startAt, the last at endAt"
    );
    assert_eq!(timing.next_after(at(13, 0, 0)), None);
    assert_eq!(
        timing.latest_between(at(8, 0, 0), at(15, 0, 0)),
        Some(at(13, 0, 0))
    );
    assert_eq!(timing.latest_between(at(8, 0, 0), at(10, 59, 0)), None);
    assert!(timing.is_finite());
    let started = Timing::of(Fields {
        start_at: Some(at(12, 0, 0)),
        ..hourly()
    })
    .unwrap();
    assert_eq!(
        started.next_after(at(8, 0, 0)),
        Some(at(12, 0, 0)),
        "startAt itself is a slot"
    );
    assert!(!started.is_finite(), "a start alone never ends");
}

#[test]
fn max_runs_counts_the_runs_made() {
    let timing = Timing::of(Fields {
        max_runs: Some(5),
        scheduled_runs: 3,
        ..hourly()
    })
    .unwrap();
    assert_eq!(timing.runs_left(), Some(2));
    assert_eq!(
        timing.upcoming(at(8, 0, 0), 10),
        vec![at(9, 0, 0), at(10, 0, 0)]
    );
    assert_eq!(timing.spent(1).upcoming(at(8, 0, 0), 10), vec![at(9, 0, 0)]);
    assert_eq!(timing.spent(2).next_after(at(8, 0, 0)), None);
    assert_eq!(
        timing.spent(2).latest_between(at(8, 0, 0), at(12, 0, 0)),
        None
    );
    assert!(timing.is_finite());
}

#[test]
fn a_one_time_job_has_one_slot() {
    let timing = Timing::of(Fields {
        run_at: Some(at(9, 15, 30)),
        ..fields(None)
    })
    .unwrap();
    assert_eq!(timing.upcoming(at(8, 0, 0), 5), vec![at(9, 15, 30)]);
    assert_eq!(timing.next_after(at(9, 15, 30)), None);
    assert_eq!(
        timing.latest_between(at(9, 0, 0), at(12, 0, 0)),
        Some(at(9, 15, 30))
    );
    assert!(timing.is_finite());
    assert!(
        Timing::of(fields(None)).is_err(),
        "neither a cron expression nor runAt"
    );
}

#[test]
fn jitter_is_the_same_for_a_slot_and_spread_over_slots() {
    let jittered = Fields {
        jitter_seconds: 20,
        ..fields(Some("* * * * *"))
    };
    let timing = Timing::of(jittered).unwrap();
    let again = Timing::of(jittered).unwrap();
    let slots = timing.upcoming(at(8, 0, 0), 200);
    let mut delays = std::collections::HashSet::new();
    for slot in slots {
        let leaves = timing.fire_at(slot);
        assert_eq!(leaves, again.fire_at(slot), "the same on every instance");
        let delay = leaves - slot;
        assert!(
            delay >= TimeDelta::zero() && delay <= TimeDelta::seconds(20),
            "{delay}"
        );
        assert_eq!(timing.slot_of(leaves), slot, "the slot is recovered");
        delays.insert(delay.num_seconds());
    }
    assert!(delays.len() > 15, "spread over the range: {delays:?}");
    let other = Timing::of(Fields {
        id: Uuid::from_u128(8),
        ..jittered
    })
    .unwrap();
    assert_ne!(
        (0..10)
            .map(|m| timing.fire_at(at(9, m, 0)))
            .collect::<Vec<_>>(),
        (0..10)
            .map(|m| other.fire_at(at(9, m, 0)))
            .collect::<Vec<_>>(),
        "another job, other delays"
    );
    let plain = Timing::of(hourly()).unwrap();
    assert_eq!(plain.fire_at(at(9, 0, 0)), at(9, 0, 0));
    assert_eq!(plain.slot_of(at(9, 0, 0)), at(9, 0, 0));
}
