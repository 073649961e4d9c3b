//! When a job fires: the slots of its cron expression, or the one instant of `runAt`,
//! within its window (`startAt`, `endAt`) and its count (`maxRuns`); and the delay of
//! each slot (`jitterSeconds`).
//!
//! A slot keeps its nominal time everywhere a person sees it (`scheduledFor`,
//! `nextRunAt`, the run's id); only the instant it leaves moves. Redis holds that
//! instant, and the nominal slot is recovered from it ([`Timing::slot_of`]): the delay is
//! at most half the job's shortest interval, so the latest slot at or before the instant
//! is the one it belongs to.

use chrono::{DateTime, TimeDelta, Utc};
use db::models::Job;
use db::models::job::ActiveJob;
use uuid::Uuid;

use crate::cron::{Schedule, ScheduleError, Schedules};

/// The columns of a job that say when it fires.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    pub id: Uuid,
    pub cron_expression: Option<&'a str>,
    pub timezone: &'a str,
    pub run_at: Option<DateTime<Utc>>,
    pub start_at: Option<DateTime<Utc>>,
    pub end_at: Option<DateTime<Utc>>,
    pub max_runs: Option<i32>,
    /// Scheduled runs made so far (counted for jobs with `max_runs`).
    pub scheduled_runs: i32,
    pub jitter_seconds: i32,
}

/// `Fields` of a row type with the job's timing columns (a job, or the reconciler's view
/// of an ACTIVE one).
macro_rules! fields_of {
    ($row:ty) => {
        impl<'a> From<&'a $row> for Fields<'a> {
            fn from(job: &'a $row) -> Fields<'a> {
                Fields {
                    id: job.id,
                    cron_expression: job.cron_expression.as_deref(),
                    timezone: &job.timezone,
                    run_at: job.run_at,
                    start_at: job.start_at,
                    end_at: job.end_at,
                    max_runs: job.max_runs,
                    scheduled_runs: job.scheduled_runs,
                    jitter_seconds: job.jitter_seconds,
                }
            }
        }
    };
}

fields_of!(Job);
fields_of!(ActiveJob);

#[derive(Debug, Clone)]
enum Slots<'a> {
    /// A schedule parsed once for a batch of jobs.
    Cron(&'a Schedule),
    /// A schedule parsed for this job alone.
    Parsed(Box<Schedule>),
    Once(DateTime<Utc>),
}

impl Slots<'_> {
    /// The cron schedule, or the one instant.
    fn cron(&self) -> Result<&Schedule, DateTime<Utc>> {
        match self {
            Slots::Cron(schedule) => Ok(schedule),
            Slots::Parsed(schedule) => Ok(schedule),
            Slots::Once(at) => Err(*at),
        }
    }
}

/// A job's slots, as the scheduler and the API reckon them.
#[derive(Debug, Clone)]
pub struct Timing<'a> {
    slots: Slots<'a>,
    start_at: Option<DateTime<Utc>>,
    end_at: Option<DateTime<Utc>>,
    /// Scheduled runs it may still make; `None`: no limit.
    runs_left: Option<i32>,
    job_id: Uuid,
    jitter_ms: u64,
}

const MS: TimeDelta = TimeDelta::milliseconds(1);

impl Timing<'static> {
    /// Parses the job's expression (with its `H` resolved) in its timezone.
    pub fn of(fields: Fields<'_>) -> Result<Timing<'static>, ScheduleError> {
        let slots = match (fields.run_at, fields.cron_expression) {
            (Some(at), _) => Slots::Once(at),
            (None, Some(expression)) => Slots::Parsed(Box::new(Schedule::of_job(
                expression,
                fields.timezone,
                fields.id,
            )?)),
            (None, None) => {
                return Err(ScheduleError::Expression(
                    "a job needs a cron expression or runAt".to_owned(),
                ));
            }
        };
        Ok(Timing::with(slots, fields))
    }
}

impl<'s> Timing<'s> {
    /// Like [`Timing::of`], with the expression parsed once per batch in `schedules`.
    /// `None` when the expression or the timezone cannot be used.
    pub fn cached(fields: Fields<'_>, schedules: &'s mut Schedules) -> Option<Timing<'s>> {
        let slots = match (fields.run_at, fields.cron_expression) {
            (Some(at), _) => Slots::Once(at),
            (None, Some(expression)) => {
                Slots::Cron(schedules.get(expression, fields.timezone, fields.id).ok()?)
            }
            (None, None) => return None,
        };
        Some(Timing::with(slots, fields))
    }

    fn with(slots: Slots<'s>, fields: Fields<'_>) -> Timing<'s> {
        // Slots are whole milliseconds, as Redis and the runs hold them.
        let slots = match slots {
            Slots::Once(at) => Slots::Once(whole_ms(at)),
            cron => cron,
        };
        Timing {
            slots,
            start_at: fields.start_at.map(whole_ms),
            end_at: fields.end_at.map(whole_ms),
            runs_left: fields
                .max_runs
                .map(|max| max.saturating_sub(fields.scheduled_runs).max(0)),
            job_id: fields.id,
            jitter_ms: u64::try_from(fields.jitter_seconds).unwrap_or(0) * 1000,
        }
    }

    /// Whether the job runs out of slots some day (and is then COMPLETED).
    pub fn is_finite(&self) -> bool {
        matches!(self.slots, Slots::Once(_)) || self.end_at.is_some() || self.runs_left.is_some()
    }

    /// Scheduled runs it may still make (`None`: no limit).
    pub fn runs_left(&self) -> Option<i32> {
        self.runs_left
    }

    /// The same after `runs` more scheduled runs.
    pub fn spent(&self, runs: i32) -> Timing<'s> {
        Timing {
            runs_left: self.runs_left.map(|left| (left - runs).max(0)),
            ..self.clone()
        }
    }

    /// The first slot strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.runs_left == Some(0) {
            return None;
        }
        match self.slots.cron() {
            Err(at) => (at > after).then_some(at),
            Ok(schedule) => {
                let from = match self.start_at {
                    Some(start) if start > after => start - MS,
                    _ => after,
                };
                schedule
                    .next_after(from)
                    .filter(|slot| self.end_at.is_none_or(|end| *slot <= end))
            }
        }
    }

    /// The next `count` slots strictly after `after`.
    pub fn upcoming(&self, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        let count = self
            .runs_left
            .map_or(count, |left| count.min(usize::try_from(left).unwrap_or(0)));
        let mut slots = Vec::with_capacity(count);
        let mut cursor = after;
        while slots.len() < count {
            let Some(next) = self.next_after(cursor) else {
                break;
            };
            slots.push(next);
            cursor = next;
        }
        slots
    }

    /// The latest slot at or before `at`, if one exists after `since` (exclusive).
    pub fn latest_between(&self, since: DateTime<Utc>, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.runs_left == Some(0) {
            return None;
        }
        let since = match self.start_at {
            Some(start) => since.max(start - MS),
            None => since,
        };
        let at = self.end_at.map_or(at, |end| at.min(end));
        if at <= since {
            return None;
        }
        match self.slots.cron() {
            Err(once) => (once > since && once <= at).then_some(once),
            Ok(schedule) => schedule.latest_between(since, at),
        }
    }

    /// The instant `slot` leaves: `jitterSeconds` spread it by up to that many seconds,
    /// by a delay derived from the job and the slot, so that every instance (and every
    /// retry of the claim) reckons the same one.
    pub fn fire_at(&self, slot: DateTime<Utc>) -> DateTime<Utc> {
        slot + delay(self.job_id, slot, self.jitter_ms)
    }

    /// The slot an instant from [`Timing::fire_at`] belongs to: the latest slot at or
    /// before it, no further back than the longest delay. An instant that matches no
    /// slot (the schedule changed meanwhile) is its own slot.
    pub fn slot_of(&self, fire_at: DateTime<Utc>) -> DateTime<Utc> {
        if self.jitter_ms == 0 {
            return fire_at;
        }
        let since = fire_at - TimeDelta::milliseconds(self.jitter_ms as i64) - MS;
        let slot = match self.slots.cron() {
            Err(once) => (once > since && once <= fire_at).then_some(once),
            Ok(schedule) => schedule.latest_between(since, fire_at),
        };
        slot.unwrap_or(fire_at)
    }
}

/// `at` without its microseconds.
pub fn whole_ms(at: DateTime<Utc>) -> DateTime<Utc> {
    chrono::DurationRound::duration_trunc(at, MS).unwrap_or(at)
}

/// When `job`'s run of `slot` is due to leave: the slot, plus the job's jitter.
pub fn leaves(job: &Job, slot: DateTime<Utc>) -> DateTime<Utc> {
    slot + delay(
        job.id,
        slot,
        u64::try_from(job.jitter_seconds).unwrap_or(0) * 1000,
    )
}

/// The delay of `slot` of job `job_id`, in `[0, max_ms]` milliseconds.
pub fn delay(job_id: Uuid, slot: DateTime<Utc>, max_ms: u64) -> TimeDelta {
    if max_ms == 0 {
        return TimeDelta::zero();
    }
    let (high, low) = job_id.as_u64_pair();
    let mixed = crate::cron_hash::splitmix64(
        crate::cron_hash::splitmix64(low ^ high) ^ slot.timestamp_millis() as u64,
    );
    TimeDelta::milliseconds((mixed % (max_ms + 1)) as i64)
}

#[cfg(test)]
#[path = "timing_tests.rs"]
mod tests;
