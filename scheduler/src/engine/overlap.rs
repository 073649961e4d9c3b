//! `overlapPolicy: SKIP`: a slot due while its job's previous run is still out is not
//! fired but recorded as SKIPPED. Decided at the moment of firing (runs are prepared
//! ahead, when the previous one may not even have left), from the runs in PostgreSQL,
//! so every instance sees the same: a run out is PREPARED, PENDING or RUNNING, and one
//! left by a dead instance is closed once its lease runs out, so it blocks no longer.

use chrono::Utc;
use db::models::ExecutionLog;
use db::models::execution_log::NewExecutionLog;
use db::{ExecutionStatus, ExecutionTrigger};

use super::Scheduler;
use super::fire::Fire;
use crate::queue;

impl Scheduler {
    /// Keeps the runs that may fire; records as SKIPPED the slots of `SKIP` jobs whose
    /// previous run is still out, and releases them. If PostgreSQL cannot say, all fire.
    pub(super) async fn skip_overlapping(&self, group: Vec<Fire>) -> Vec<Fire> {
        let candidates: Vec<(uuid::Uuid, chrono::DateTime<Utc>)> = group
            .iter()
            .filter(|f| f.skips_overlap && f.row.trigger == ExecutionTrigger::Schedule)
            .map(|f| (f.row.job_id, f.row.scheduled_for))
            .collect();
        if candidates.is_empty() {
            return group;
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
                return group;
            }
        };
        if out.is_empty() {
            return group;
        }
        let now = Utc::now();
        let (skipped, keep): (Vec<Fire>, Vec<Fire>) = group.into_iter().partition(|f| {
            f.skips_overlap
                && out
                    .iter()
                    .any(|(job, slot, _)| *job == f.row.job_id && *slot == f.row.scheduled_for)
        });
        let records: Vec<NewExecutionLog> = skipped
            .iter()
            .map(|f| {
                let running = out
                    .iter()
                    .find(|(job, slot, _)| *job == f.row.job_id && *slot == f.row.scheduled_for)
                    .map(|o| o.2)
                    .unwrap_or(f.row.scheduled_for);
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
                        "not fired: the run of {} was still out, and the job's overlapPolicy is SKIP",
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
                return keep.into_iter().chain(skipped).collect();
            }
        };
        let members: Vec<String> = skipped
            .iter()
            .filter(|f| written.iter().any(|r| r.id == f.row.id))
            .map(|f| f.member.clone())
            .collect();
        metrics::counter!("cronops_scheduler_overlaps_skipped_total")
            .increment(members.len() as u64);
        if let Err(e) = queue::release(
            &shared.redis,
            &shared.keys,
            &shared.config.concurrency,
            &members,
            &[],
        )
        .await
        {
            tracing::warn!(error = %e, "could not release skipped slots; their leases will expire");
        }
        shared.held.forget(members);
        keep
    }
}
