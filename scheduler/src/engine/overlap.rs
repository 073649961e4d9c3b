//! `overlapPolicy`: with `SKIP`, a slot due while its job's previous run is still out is
//! not fired but recorded as SKIPPED; with `BUFFER_ONE`, one such slot waits and fires
//! as soon as the previous run ends, and further ones are SKIPPED. Decided at the moment
//! of firing (runs are prepared
//! ahead, when the previous one may not even have left), from the runs in PostgreSQL,
//! so every instance sees the same: a run out is PREPARED, PENDING or RUNNING, and one
//! left by a dead instance is closed once its lease runs out, so it blocks no longer.

use chrono::Utc;
use db::models::ExecutionLog;
use db::models::execution_log::NewExecutionLog;
use db::{ExecutionStatus, ExecutionTrigger};

use super::Scheduler;
use super::fire::Fire;

/// A job's overlap policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Overlap {
    Allow,
    Skip,
    BufferOne,
}

impl Overlap {
    pub(super) fn of(job: &db::models::Job) -> Overlap {
        match job.overlap_policy.as_str() {
            "SKIP" => Overlap::Skip,
            "BUFFER_ONE" => Overlap::BufferOne,
            _ => Overlap::Allow,
        }
    }
}

/// What becomes of a group's runs: those that fire now, and those that wait for the run
/// still out (`BUFFER_ONE`).
pub(super) struct Sorted {
    pub fire: Vec<Fire>,
    pub buffered: Vec<Fire>,
}

impl Scheduler {
    /// Sorts a group's runs by their jobs' overlap policies: records as SKIPPED (and
    /// releases) the slots that may not fire while an earlier run is out, holds back one
    /// per `BUFFER_ONE` job, and keeps the rest. If PostgreSQL cannot say, all fire.
    pub(super) async fn skip_overlapping(&self, group: Vec<Fire>) -> Sorted {
        let all_fire = |fire| Sorted {
            fire,
            buffered: Vec::new(),
        };
        let candidates: Vec<(uuid::Uuid, chrono::DateTime<Utc>)> = group
            .iter()
            .filter(|f| f.overlap != Overlap::Allow && f.row.trigger == ExecutionTrigger::Schedule)
            .map(|f| (f.row.job_id, f.row.scheduled_for))
            .collect();
        if candidates.is_empty() {
            return all_fire(group);
        }
        let shared = &self.0;
        let looked = async {
            let mut conn = shared.db.get().await?;
            let out = db::models::execution_log::still_out_before(&mut conn, &candidates).await?;
            Ok::<_, db::Error>((conn, out))
        };
        let (mut conn, out) = match looked.await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "could not check for runs still out; firing as prepared");
                return all_fire(group);
            }
        };
        if out.is_empty() {
            return all_fire(group);
        }
        let now = Utc::now();
        let earlier_out = |f: &Fire| {
            out.iter()
                .find(|(job, slot, ..)| *job == f.row.job_id && *slot == f.row.scheduled_for)
                .map_or(0, |o| o.3)
        };
        let (mut keep, mut skipped, mut buffered) = (Vec::new(), Vec::new(), Vec::new());
        for fire in group {
            if fire.row.trigger != ExecutionTrigger::Schedule {
                keep.push(fire);
                continue;
            }
            match (fire.overlap, earlier_out(&fire)) {
                (Overlap::Allow, _) | (_, 0) => keep.push(fire),
                // The run out is the only one ahead: this slot is the one that waits.
                (Overlap::BufferOne, 1) => buffered.push(fire),
                _ => skipped.push(fire),
            }
        }
        if skipped.is_empty() {
            return Sorted {
                fire: keep,
                buffered,
            };
        }
        let records: Vec<NewExecutionLog> = skipped
            .iter()
            .map(|f| {
                let running = out
                    .iter()
                    .find(|(job, slot, ..)| *job == f.row.job_id && *slot == f.row.scheduled_for)
                    .map_or(f.row.scheduled_for, |o| o.2);
                let policy = match f.overlap {
                    Overlap::BufferOne => "BUFFER_ONE and a slot already waits",
                    _ => "SKIP",
                };
                NewExecutionLog {
                    id: f.row.id,
                    job_id: f.row.job_id,
                    user_id: f.row.user_id,
                    status: ExecutionStatus::Skipped,
                    trigger: f.row.trigger,
                    attempt: f.row.attempt,
                    scheduled_for: f.row.scheduled_for,
                    late: false,
                    started_at: f.row.started_at,
                    finished_at: Some(now),
                    error: Some(format!(
                        "not fired: the run of {} was still out, and the job's overlapPolicy is {policy}",
                        running.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                    )),
                }
            })
            .collect();
        let written = db::models::execution_log::skip_prepared(&mut conn, records).await;
        drop(conn);
        let written: Vec<ExecutionLog> = match written {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "could not record skipped slots; firing them");
                return Sorted {
                    fire: keep.into_iter().chain(skipped).collect(),
                    buffered,
                };
            }
        };
        let members: Vec<String> = skipped
            .iter()
            .filter(|f| written.iter().any(|r| r.id == f.row.id))
            .map(|f| f.member.clone())
            .collect();
        metrics::counter!("cronops_scheduler_overlaps_skipped_total")
            .increment(members.len() as u64);
        self.release_leases(members).await;
        Sorted {
            fire: keep,
            buffered,
        }
    }
}
