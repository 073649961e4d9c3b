//! Where a job missing from Redis resumes.

use super::*;

fn job(next_run_at: Option<DateTime<Utc>>) -> ActiveJob {
    ActiveJob {
        id: Uuid::new_v4(),
        user_id: Uuid::new_v4(),
        plan: Plan::Free,
        next_run_at,
        cron_expression: Some("0 * * * *".to_owned()),
        timezone: "UTC".to_owned(),
        run_at: None,
        start_at: None,
        end_at: None,
        max_runs: None,
        scheduled_runs: 0,
        jitter_seconds: 0,
    }
}

fn resume_at(
    job: &ActiveJob,
    latest: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    super::resume_at(
        &Timing::of(job.into()).unwrap(),
        job.next_run_at,
        latest,
        now,
    )
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

#[test]
fn a_job_resumes_after_the_latest_slot_it_reached() {
    // Its runs went past the slot it was created for: the slot after the latest run.
    let created_for = Some(at("2026-12-01T08:00:00Z"));
    let now = at("2026-12-01T12:30:00Z");
    assert_eq!(
        resume_at(&job(created_for), Some(at("2026-12-01T10:00:00Z")), now),
        Some(at("2026-12-01T11:00:00Z")),
        "the 11:00 slot, missed while Redis was empty, fires (late)"
    );
}

#[test]
fn a_job_resumed_by_its_user_skips_the_slots_of_its_pause() {
    let resumed_for = Some(at("2026-12-01T13:00:00Z"));
    let now = at("2026-12-01T12:30:00Z");
    assert_eq!(
        resume_at(&job(resumed_for), Some(at("2026-12-01T09:00:00Z")), now),
        resumed_for
    );
}

#[test]
fn a_job_that_never_ran_starts_at_its_first_slot_or_the_next_one() {
    let now = at("2026-12-01T12:30:00Z");
    let first = Some(at("2026-12-01T12:00:00Z"));
    assert_eq!(resume_at(&job(first), None, now), first);
    assert_eq!(
        resume_at(&job(None), None, now),
        Some(at("2026-12-01T13:00:00Z"))
    );
}

#[test]
fn a_job_past_its_bounds_resumes_nowhere() {
    let now = at("2026-12-01T12:30:00Z");
    let ended = ActiveJob {
        end_at: Some(at("2026-12-01T12:00:00Z")),
        ..job(Some(at("2026-12-01T12:00:00Z")))
    };
    assert_eq!(
        resume_at(&ended, Some(at("2026-12-01T12:00:00Z")), now),
        None
    );
    let spent = ActiveJob {
        max_runs: Some(3),
        scheduled_runs: 3,
        ..job(Some(at("2026-12-01T13:00:00Z")))
    };
    assert_eq!(
        resume_at(&spent, None, now),
        None,
        "its slot set before is past its count"
    );
    let once = ActiveJob {
        cron_expression: None,
        run_at: Some(at("2026-12-01T12:10:00Z")),
        ..job(Some(at("2026-12-01T12:10:00Z")))
    };
    assert_eq!(
        resume_at(&once, None, now),
        Some(at("2026-12-01T12:10:00Z")),
        "a one-time job whose run never happened fires (late)"
    );
    assert_eq!(
        resume_at(&once, Some(at("2026-12-01T12:10:00Z")), now),
        None
    );
}
