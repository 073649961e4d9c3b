//! Cron schedules: parsing (croner) and fire times in the job's timezone.
//!
//! Expressions have 5 fields (minute precision) or 6 (a leading seconds field), with
//! names, ranges, steps, `L`, `W`, `#` and the nicknames `@hourly @daily @weekly
//! @monthly @yearly`. Times follow the wall clock across DST changes: a local time that
//! spring-forward skips fires once at the first valid instant after the gap; on fall-back
//! a fixed hour fires once (the first copy) while `*` or stepped hours fire in both copies.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// Why an expression or timezone was refused; the message says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("invalid cron expression: {0}")]
    Expression(String),
    #[error("unknown timezone `{0}`: use an IANA name such as UTC or Europe/London")]
    Timezone(String),
    #[error("the cron expression never fires")]
    NeverFires,
}

/// A parsed expression read in one timezone.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    tz: Tz,
    /// Whether any date matches at all (see [`fires_at_all`]). croner looks for the next
    /// match until the year 5000; for `0 0 30 2 *` that walk took 180 ms of CPU per call.
    fires: bool,
}

const NICKNAMES: &[(&str, &str)] = &[
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// Parses an expression alone (no timezone).
pub fn parse_expression(expression: &str) -> Result<Cron, ScheduleError> {
    let trimmed = expression.trim();
    let lower = trimmed.to_ascii_lowercase();
    let expanded = NICKNAMES
        .iter()
        .find(|(nick, _)| *nick == lower)
        .map_or(trimmed, |(_, cron)| *cron);
    let fields = expanded.split_whitespace().count();
    if !(5..=6).contains(&fields) {
        return Err(ScheduleError::Expression(format!(
            "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (with a leading seconds field), got {fields}"
        )));
    }
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(expanded)
        .map_err(|e| ScheduleError::Expression(e.to_string()))
}

/// Parses an IANA timezone name.
pub fn parse_timezone(name: &str) -> Result<Tz, ScheduleError> {
    Tz::from_str(name.trim()).map_err(|_| ScheduleError::Timezone(name.to_owned()))
}

impl Schedule {
    /// Parses `expression` read in `timezone`.
    pub fn parse(expression: &str, timezone: &str) -> Result<Schedule, ScheduleError> {
        let cron = parse_expression(expression)?;
        Ok(Schedule {
            fires: fires_at_all(&cron),
            cron,
            tz: parse_timezone(timezone)?,
        })
    }

    /// Whether the expression ever fires (`0 0 30 2 *` does not).
    pub fn fires_at_all(&self) -> bool {
        self.fires
    }

    /// The first fire time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.fires {
            return None;
        }
        self.cron
            .find_next_occurrence(&after.with_timezone(&self.tz), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The next `count` fire times strictly after `after`.
    pub fn upcoming(&self, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        let mut times = Vec::with_capacity(count);
        let mut cursor = after;
        while times.len() < count {
            let Some(next) = self.next_after(cursor) else {
                break;
            };
            times.push(next);
            cursor = next;
        }
        times
    }

    /// The latest fire time at or before `at`, if one exists after `since` (exclusive).
    /// Used by the misfire rule: of the slots missed while no scheduler ran, only the
    /// latest fires.
    pub fn latest_between(&self, since: DateTime<Utc>, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.fires {
            return None;
        }
        let previous = self
            .cron
            .find_previous_occurrence(&at.with_timezone(&self.tz), true)
            .ok()?
            .with_timezone(&Utc);
        (previous > since).then_some(previous)
    }
}

/// Whether some date matches the expression's day and month fields. Times of day always
/// match (every field that parsed has a value), and the days of a month depend only on
/// its length and the weekday it starts on; every combination of the two that exists
/// occurs in any 28 consecutive years of one century, so looking at 2001-2028 decides for
/// all time. At most a few thousand bit tests, for an expression that never fires.
fn fires_at_all(cron: &Cron) -> bool {
    use chrono::{Datelike, NaiveDate};
    let pattern = &cron.pattern;
    (2001..=2028).any(|year| {
        (1..=12u32).any(|month| {
            if !pattern.month_match(month).unwrap_or(false) {
                return false;
            }
            let Some(first) = NaiveDate::from_ymd_opt(year, month, 1) else {
                return false;
            };
            let length = first
                .checked_add_months(chrono::Months::new(1))
                .map_or(31, |next| (next - first).num_days() as u32);
            (1..=length).any(|day| {
                let weekday = croner::Weekday::from_days_from_sunday(
                    first.weekday().num_days_from_sunday() + day - 1,
                );
                pattern
                    .day_match(year, month, day, weekday)
                    .unwrap_or(false)
            })
        })
    })
}

/// Schedules parsed once per distinct expression and timezone. A batch of runs repeats a
/// few expressions many times, and parsing each run's afresh was about a sixth of a busy
/// scheduler's CPU (perf, lateness scenario). Keyed by expression, then timezone, so that
/// a hit looks up by `&str` and allocates nothing.
#[derive(Debug, Default)]
pub struct Schedules(HashMap<String, HashMap<String, Result<Schedule, ScheduleError>>>);

impl Schedules {
    /// `expression` read in `timezone`, parsed on first use.
    pub fn get(&mut self, expression: &str, timezone: &str) -> Result<&Schedule, &ScheduleError> {
        let known = self
            .0
            .get(expression)
            .is_some_and(|zones| zones.contains_key(timezone));
        if !known {
            self.0
                .entry(expression.to_owned())
                .or_default()
                .insert(timezone.to_owned(), Schedule::parse(expression, timezone));
        }
        self.0[expression][timezone].as_ref()
    }
}

#[cfg(test)]
mod tests {
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
            let cached = schedules.get(expression, timezone).unwrap();
            assert_eq!(cached.upcoming(after, 3), fresh.upcoming(after, 3));
        }
        assert_eq!(schedules.0.values().map(HashMap::len).sum::<usize>(), 3);
        assert_eq!(
            schedules.get("61 * * * *", "UTC").unwrap_err(),
            &Schedule::parse("61 * * * *", "UTC").unwrap_err()
        );
        assert!(matches!(
            schedules.get("* * * * *", "Mars/Olympus"),
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
        let times =
            every_half_hour.upcoming(Utc.with_ymd_and_hms(2026, 10, 24, 23, 45, 0).unwrap(), 5);
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
}
