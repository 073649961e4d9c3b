//! What a claimed batch reads before deciding: its jobs, and the rows already written for
//! its items (a manual run's, or the rows of work taken back from a dead holder), and the
//! secrets their requests are signed with.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use db::models::secret::StoredSecret;
use db::models::{ExecutionLog, Job, SigningSecret};
use db::{AsyncPgConnection, ExecutionTrigger};
use uuid::Uuid;

use super::ms_to_time;
use super::request::{Owner, uses_secrets};
use crate::Error;
use crate::queue::Claimed;
use crate::secrets::{Keyring, Sealed};
use crate::signing::Secrets;
use crate::task::Task;

/// What one claimed batch reads before deciding.
pub(super) struct Loaded {
    pub(super) jobs: HashMap<Uuid, Job>,
    /// The row already written for an item, by lease member.
    pub(super) rows: HashMap<String, ExecutionLog>,
    /// The signing secrets of the jobs' owners.
    pub(super) secrets: HashMap<Uuid, Arc<Secrets>>,
    /// The secrets' values of the owners of jobs that use them.
    pub(super) values: HashMap<Uuid, Arc<HashMap<String, String>>>,
}

impl Loaded {
    pub(super) async fn read(
        conn: &mut AsyncPgConnection,
        claimed: &[Claimed],
        keyring: &Keyring,
    ) -> Result<Loaded, Error> {
        let manual_ids: Vec<Uuid> = claimed
            .iter()
            .filter_map(|c| match c.task {
                Task::Manual { log_id, .. } => Some(log_id),
                _ => None,
            })
            .collect();
        let manual = if manual_ids.is_empty() {
            Vec::new()
        } else {
            ExecutionLog::load_batch(conn, &manual_ids)
                .await
                .map_err(db::Error::from)?
        };
        let mut rows: HashMap<String, ExecutionLog> = HashMap::new();
        let mut job_ids: Vec<Uuid> = manual.iter().map(|row| row.job_id).collect();
        let mut taken_back = Vec::new();
        for c in claimed {
            match c.task {
                Task::Manual { log_id, .. } => {
                    if let Some(row) = manual.iter().find(|row| row.id == log_id) {
                        rows.insert(c.member.clone(), row.clone());
                    }
                }
                Task::Slot {
                    job_id, slot_ms, ..
                } => {
                    job_ids.push(job_id);
                    if c.recovered {
                        taken_back.push((c.member.clone(), job_id, ms_to_time(slot_ms)));
                    }
                }
                Task::CatchUp {
                    job_id, slot_ms, ..
                }
                | Task::Backfill {
                    job_id, slot_ms, ..
                } => {
                    job_ids.push(job_id);
                    let trigger = if matches!(c.task, Task::Backfill { .. }) {
                        ExecutionTrigger::Backfill
                    } else {
                        ExecutionTrigger::Schedule
                    };
                    let id = ExecutionLog::slot_id(job_id, ms_to_time(slot_ms), trigger, 1);
                    if c.recovered
                        && let Some(row) = ExecutionLog::find(conn, id)
                            .await
                            .map_err(db::Error::from)?
                    {
                        rows.insert(c.member.clone(), row);
                    }
                }
                Task::Retry {
                    job_id,
                    slot_ms,
                    attempt,
                    ..
                } => {
                    job_ids.push(job_id);
                    let id = ExecutionLog::slot_id(
                        job_id,
                        ms_to_time(slot_ms),
                        ExecutionTrigger::Retry,
                        attempt,
                    );
                    if c.recovered
                        && let Some(row) = ExecutionLog::find(conn, id)
                            .await
                            .map_err(db::Error::from)?
                    {
                        rows.insert(c.member.clone(), row);
                    }
                }
            }
        }
        let jobs: HashMap<Uuid, Job> = Job::load_batch(conn, &job_ids)
            .await
            .map_err(db::Error::from)?
            .into_iter()
            .map(|j| (j.id, j))
            .collect();
        // A slot taken back from a dead holder: its row, if it wrote one, says how far it
        // got (the misfire rule may have fired a later slot than claimed). The claim holds
        // the instant the slot leaves, up to the job's jitter after the slot itself.
        for (member, job_id, fire_at) in taken_back {
            let jitter = jobs.get(&job_id).map_or(0, |job| job.jitter_seconds);
            let from = fire_at - chrono::TimeDelta::seconds(i64::from(jitter));
            if let Some(row) =
                db::models::execution_log::first_schedule_run_from(conn, job_id, from)
                    .await
                    .map_err(db::Error::from)?
            {
                rows.insert(member, row);
            }
        }
        let users: Vec<Uuid> = jobs
            .values()
            .map(|job| job.user_id)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let secrets = SigningSecret::of_users(conn, &users, crate::signing::new_secret)
            .await
            .map_err(db::Error::from)?
            .into_iter()
            .map(|(user, s)| {
                let secrets = Secrets {
                    current: s.current,
                    next: s.next,
                };
                (user, Arc::new(secrets))
            })
            .collect();
        let values = open_values(conn, &jobs, keyring).await?;
        Ok(Loaded {
            jobs,
            rows,
            secrets,
            values,
        })
    }

    /// What `user`'s requests are signed and filled with.
    pub(super) fn owner(&self, user: Uuid) -> Owner {
        Owner {
            signing: self.secrets.get(&user).cloned(),
            values: self.values.get(&user).cloned(),
        }
    }

    pub(super) fn job_of(&self, claimed: &Claimed) -> Option<&Job> {
        let job_id = match claimed.task {
            Task::Slot { job_id, .. }
            | Task::Retry { job_id, .. }
            | Task::CatchUp { job_id, .. }
            | Task::Backfill { job_id, .. } => job_id,
            Task::Manual { .. } => self.rows.get(&claimed.member)?.job_id,
        };
        self.jobs.get(&job_id)
    }
}

/// The secrets' values of the owners of `jobs` that write secrets into their requests,
/// opened. A value that does not open is left out (and logged, without it): the runs
/// that need it fail, saying which secret is missing.
async fn open_values(
    conn: &mut AsyncPgConnection,
    jobs: &HashMap<Uuid, Job>,
    keyring: &Keyring,
) -> Result<HashMap<Uuid, Arc<HashMap<String, String>>>, Error> {
    let users: Vec<Uuid> = jobs
        .values()
        .filter(|job| uses_secrets(job))
        .map(|job| job.user_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    if users.is_empty() {
        return Ok(HashMap::new());
    }
    let stored = StoredSecret::of_users(conn, &users)
        .await
        .map_err(db::Error::from)?;
    let mut values: HashMap<Uuid, HashMap<String, String>> = HashMap::new();
    for secret in stored {
        let sealed = Sealed {
            key_id: secret.key_id,
            nonce: secret.nonce,
            ciphertext: secret.ciphertext,
        };
        match keyring.open(secret.user_id, &secret.name, &sealed) {
            Ok(value) => {
                values
                    .entry(secret.user_id)
                    .or_default()
                    .insert(secret.name, value);
            }
            Err(e) => {
                tracing::error!(user_id = %secret.user_id, name = %secret.name, error = %e, "a secret does not open");
            }
        }
    }
    Ok(values
        .into_iter()
        .map(|(user, values)| (user, Arc::new(values)))
        .collect())
}
