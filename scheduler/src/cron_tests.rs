//! The schedules of `cron.rs`: fields, names, nicknames, DST in two zones, misfires and expressions that never fire.

use super::*;
use chrono::TimeZone;

#[test]
fn cached_schedules_fire_as_freshly_parsed_ones_and_keep_their_errors() {
    let mut schedules = Schedules::default();
    let after = utc("2026-03-29T00:30:00Z");
    for (expression, timezone) in [
        ("*/5 * * * *", "UTC"),
        ("0 2 * * *", "Europe/London"),
        ("*/5 * * * *", "Europe/London"),
        ("*/5 * * * *", "UTC"),
    ] {
        let fresh = Schedule::parse(expression, timezone).unwrap();
        let cached = schedules
            .get(expression, timezone, uuid::Uuid::nil())
            .unwrap();
        assert_eq!(cached.upcoming(after, 3), fresh.upcoming(after, 3));
    }
    assert_eq!(schedules.0.values().map(HashMap::len).sum::<usize>(), 3);
    assert_eq!(
        schedules
            .get("61 * * * *", "UTC", uuid::Uuid::nil())
            .unwrap_err(),
        &Schedule::parse("61 * * * *", "UTC").unwrap_err()
    );
    assert!(matches!(
        schedules.get("* * * * *", "Mars/Olympus", uuid::Uuid::nil()),
        Err(ScheduleError::Timezone(_))
    ));
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn local(schedule: &Schedule, times: &[DateTime<Utc>]) -> Vec<String> {
    times
        .iter()
        .map(|t| {
            t.with_timezone(&schedule.tz)
                .format("%Y-%m-%d %H:%M:%S %Z")
                .to_string()
        })
        .collect()
}

#[test]
fn five_and_six_fields() {
    let five = Schedule::parse("*/15 * * * *", "UTC").unwrap();
    assert_eq!(
        five.upcoming(utc("2026-01-01T00:07:30Z"), 2),
        [utc("2026-01-01T00:15:00Z"), utc("2026-01-01T00:30:00Z")]
    );
    let six = Schedule::parse("*/10 * * * * *", "UTC").unwrap();
    assert_eq!(
        six.upcoming(utc("2026-01-01T00:00:05Z"), 2),
        [utc("2026-01-01T00:00:10Z"), utc("2026-01-01T00:00:20Z")]
    );
    for bad in ["* * * *", "* * * * * * *", "61 * * * *", "* * * * FOO", ""] {
        assert!(
            matches!(
                Schedule::parse(bad, "UTC"),
                Err(ScheduleError::Expression(_))
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        Schedule::parse("* * * * *", "Mars/Olympus"),
        Err(ScheduleError::Timezone(_))
    ));
}

#[test]
fn names_l_w_hash_and_nicknames() {
    let names = Schedule::parse("0 9 * JAN MON-FRI", "UTC").unwrap();
    // 2026-01-03 is a Saturday: next is Monday the 5th.
    assert_eq!(
        names.next_after(utc("2026-01-03T00:00:00Z")),
        Some(utc("2026-01-05T09:00:00Z"))
    );
    let last_day = Schedule::parse("0 0 L * *", "UTC").unwrap();
    assert_eq!(
        last_day.next_after(utc("2026-02-01T00:00:00Z")),
        Some(utc("2026-02-28T00:00:00Z"))
    );
    let weekday = Schedule::parse("0 0 15W * *", "UTC").unwrap();
    // 2026-08-15 is a Saturday: the nearest weekday is Friday the 14th.
    assert_eq!(
        weekday.next_after(utc("2026-08-01T00:00:00Z")),
        Some(utc("2026-08-14T00:00:00Z"))
    );
    let second_tuesday = Schedule::parse("0 12 * * 2#2", "UTC").unwrap();
    assert_eq!(
        second_tuesday.next_after(utc("2026-03-01T00:00:00Z")),
        Some(utc("2026-03-10T12:00:00Z"))
    );
    let last_friday = Schedule::parse("0 12 * * 5L", "UTC").unwrap();
    assert_eq!(
        last_friday.next_after(utc("2026-03-01T00:00:00Z")),
        Some(utc("2026-03-27T12:00:00Z"))
    );
    for (nick, expected) in [
        ("@hourly", "2026-03-01T01:00:00Z"),
        ("@daily", "2026-03-02T00:00:00Z"),
        ("@weekly", "2026-03-08T00:00:00Z"),
        ("@monthly", "2026-04-01T00:00:00Z"),
        ("@yearly", "2027-01-01T00:00:00Z"),
        ("@DAILY", "2026-03-02T00:00:00Z"),
    ] {
        let schedule = Schedule::parse(nick, "UTC").unwrap();
        assert_eq!(
            schedule.next_after(utc("2026-03-01T00:30:00Z")),
            Some(utc(expected)),
            "{nick}"
        );
    }
}

#[test]
fn new_york_spring_forward_fires_once_at_the_end_of_the_gap() {
    // 2026-03-08: 02:00 EST jumps to 03:00 EDT.
    let schedule = Schedule::parse("30 2 * * *", "America/New_York").unwrap();
    let times = schedule.upcoming(utc("2026-03-07T12:00:00Z"), 3);
    assert_eq!(
        local(&schedule, &times),
        [
            "2026-03-08 03:00:00 EDT",
            "2026-03-09 02:30:00 EDT",
            "2026-03-10 02:30:00 EDT"
        ]
    );
}

#[test]
fn new_york_fall_back_fixed_hour_once_wildcard_hour_twice() {
    // 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:00-02:00 happens twice.
    let fixed = Schedule::parse("30 1 * * *", "America/New_York").unwrap();
    let times = fixed.upcoming(utc("2026-10-31T12:00:00Z"), 2);
    assert_eq!(
        local(&fixed, &times),
        ["2026-11-01 01:30:00 EDT", "2026-11-02 01:30:00 EST"]
    );

    let hourly = Schedule::parse("0 30 * * * *", "America/New_York").unwrap();
    let times = hourly.upcoming(utc("2026-11-01T04:00:00Z"), 3);
    assert_eq!(
        local(&hourly, &times),
        [
            "2026-11-01 00:30:00 EDT",
            "2026-11-01 01:30:00 EDT",
            "2026-11-01 01:30:00 EST"
        ]
    );
    let stepped = Schedule::parse("15 */1 * * *", "America/New_York").unwrap();
    let times = stepped.upcoming(utc("2026-11-01T05:00:00Z"), 2);
    assert_eq!(
        local(&stepped, &times),
        ["2026-11-01 01:15:00 EDT", "2026-11-01 01:15:00 EST"]
    );
}

#[test]
fn london_spring_forward_and_fall_back() {
    // 2026-03-29: 01:00 GMT jumps to 02:00 BST. 2026-10-25: 02:00 BST falls back to 01:00 GMT.
    let skipped = Schedule::parse("30 1 * * *", "Europe/London").unwrap();
    let times = skipped.upcoming(utc("2026-03-28T12:00:00Z"), 2);
    assert_eq!(
        local(&skipped, &times),
        ["2026-03-29 02:00:00 BST", "2026-03-30 01:30:00 BST"]
    );

    let fixed = Schedule::parse("30 1 * * *", "Europe/London").unwrap();
    let times = fixed.upcoming(utc("2026-10-24T12:00:00Z"), 2);
    assert_eq!(
        local(&fixed, &times),
        ["2026-10-25 01:30:00 BST", "2026-10-26 01:30:00 GMT"]
    );

    let every_half_hour = Schedule::parse("*/30 * * * *", "Europe/London").unwrap();
    let times = every_half_hour.upcoming(Utc.with_ymd_and_hms(2026, 10, 24, 23, 45, 0).unwrap(), 5);
    assert_eq!(
        local(&every_half_hour, &times),
        [
            "2026-10-25 01:00:00 BST",
            "2026-10-25 01:30:00 BST",
            "2026-10-25 01:00:00 GMT",
            "2026-10-25 01:30:00 GMT",
            "2026-10-25 02:00:00 GMT"
        ]
    );
}

#[test]
fn expressions_that_never_fire_answer_at_once() {
    for expression in [
        "0 0 30 2 *",
        "0 0 31 4,6,9,11 *",
        "0 0 31 2 *",
        "* * 30 2 *",
    ] {
        let schedule = Schedule::parse(expression, "UTC").unwrap();
        assert!(!schedule.fires_at_all(), "{expression}");
        assert!(
            schedule
                .upcoming(utc("0001-01-01T00:00:00Z"), 50)
                .is_empty()
        );
        assert_eq!(
            schedule.latest_between(utc("2000-01-01T00:00:00Z"), utc("2026-01-01T00:00:00Z")),
            None
        );
    }
    // Rare is not never: February 29th, and a fifth Monday in February (leap years
    // whose February starts on a Monday), fire.
    let leap = Schedule::parse("0 0 29 2 *", "UTC").unwrap();
    assert_eq!(
        leap.next_after(utc("2026-12-01T00:00:00Z")),
        Some(utc("2028-02-29T00:00:00Z"))
    );
    let fifth_monday = Schedule::parse("0 0 * 2 1#5", "UTC").unwrap();
    assert!(fifth_monday.fires_at_all());
    assert_eq!(
        fifth_monday.next_after(utc("2026-12-01T00:00:00Z")),
        Some(utc("2044-02-29T00:00:00Z"))
    );
    for expression in ["0 0 L 2 *", "0 0 31 * *", "0 0 30 1-3 *", "0 0 15W 2 *"] {
        assert!(
            Schedule::parse(expression, "UTC").unwrap().fires_at_all(),
            "{expression}"
        );
    }
}

#[test]
fn latest_missed_slot() {
    let schedule = Schedule::parse("* * * * *", "UTC").unwrap();
    let since = utc("2026-01-01T00:00:00Z");
    assert_eq!(
        schedule.latest_between(since, utc("2026-01-01T00:10:30Z")),
        Some(utc("2026-01-01T00:10:00Z"))
    );
    assert_eq!(
        schedule.latest_between(since, utc("2026-01-01T00:00:30Z")),
        None
    );
}

/// Spring-forward for jobs that run every hour: the skipped hour has no run, and the job
/// goes on every real hour (as cronie treats wildcard hours). Only a fixed hour inside the
/// gap is moved to its end (see the test above).
#[test]
fn new_york_spring_forward_hourly_jobs_skip_the_missing_hour() {
    // 2026-03-08: 01:59:59 EST is followed by 03:00:00 EDT.
    for expression in ["30 * * * *", "30 */1 * * *"] {
        let hourly = Schedule::parse(expression, "America/New_York").unwrap();
        let times = hourly.upcoming(utc("2026-03-08T05:00:00Z"), 3);
        assert_eq!(
            local(&hourly, &times),
            [
                "2026-03-08 00:30:00 EST",
                "2026-03-08 01:30:00 EST",
                "2026-03-08 03:30:00 EDT"
            ],
            "{expression}"
        );
    }
}

/// `W` with a day the month lacks follows Quartz, where `W` comes from: that month has no
/// run (`31W` skips February and the 30-day months; it never moves to the 30th).
#[test]
fn nearest_weekday_of_a_day_the_month_lacks_is_no_run() {
    let schedule = Schedule::parse("0 0 31W * *", "UTC").unwrap();
    assert_eq!(
        schedule.upcoming(utc("2027-01-30T00:00:00Z"), 2),
        [utc("2027-03-31T00:00:00Z"), utc("2027-05-31T00:00:00Z")]
    );
    // 2027-01-31 is a Sunday: the nearest weekday in January is Friday the 29th.
    assert_eq!(
        schedule.next_after(utc("2027-01-01T00:00:00Z")),
        Some(utc("2027-01-29T00:00:00Z"))
    );
    assert!(
        !Schedule::parse("0 0 31W 2 *", "UTC")
            .unwrap()
            .fires_at_all()
    );
}

#[test]
fn h_expressions_are_cached_per_job() {
    let mut schedules = Schedules::default();
    let after = utc("2026-03-29T00:30:00Z");
    let (a, b) = (uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2));
    for id in [a, b, a] {
        let cached = schedules
            .get("H(0-9)/10 * * * * *", "UTC", id)
            .unwrap()
            .upcoming(after, 3);
        let fresh = Schedule::of_job("H(0-9)/10 * * * * *", "UTC", id)
            .unwrap()
            .upcoming(after, 3);
        assert_eq!(cached, fresh);
    }
}
