//! Cron schedules: parsing (croner) and fire times in the job's timezone.
//!
//! Expressions have 5 fields (minute precision) or 6 (a leading seconds field), with
//! names, ranges, steps, `L`, `W`, `#`, `H` (a value derived from the job's id,
//! [`crate::cron_hash`]) and the nicknames `@hourly @daily @weekly @monthly @yearly`. Times follow the wall clock across DST changes: a local time that
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

    /// A job's schedule: its expression with any `H` resolved for the job (see
    /// [`crate::cron_hash`]), read in its timezone.
    pub fn of_job(
        expression: &str,
        timezone: &str,
        job_id: uuid::Uuid,
    ) -> Result<Schedule, ScheduleError> {
        Schedule::parse(&crate::cron_hash::resolve(expression, job_id)?, timezone)
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
    /// Job `job_id`'s `expression` read in `timezone`, parsed on first use. An expression
    /// with `H` is keyed by its resolved form (its own for each job).
    pub fn get(
        &mut self,
        expression: &str,
        timezone: &str,
        job_id: uuid::Uuid,
    ) -> Result<&Schedule, &ScheduleError> {
        // A malformed H form stays as written, and croner refuses it with the reason.
        let expression = crate::cron_hash::resolve(expression, job_id)
            .unwrap_or(std::borrow::Cow::Borrowed(expression));
        let known = self
            .0
            .get(expression.as_ref())
            .is_some_and(|zones| zones.contains_key(timezone));
        if !known {
            self.0
                .entry(expression.clone().into_owned())
                .or_default()
                .insert(timezone.to_owned(), Schedule::parse(&expression, timezone));
        }
        self.0[expression.as_ref()][timezone].as_ref()
    }
}

#[cfg(test)]
#[path = "cron_tests.rs"]
mod tests;
