//! What a queue entry or lease stands for, encoded as the member string Redis stores.

use uuid::Uuid;

/// One unit of scheduler work, always of one user: what the user's concurrency counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Task {
    /// The regular slot of a job at `slot_ms` (epoch ms).
    Slot {
        user_id: Uuid,
        job_id: Uuid,
        slot_ms: i64,
    },
    /// Attempt `attempt` (2 or more) of the slot at `slot_ms`.
    Retry {
        user_id: Uuid,
        job_id: Uuid,
        slot_ms: i64,
        attempt: i32,
    },
    /// A manual run whose PENDING row is `log_id`.
    Manual { user_id: Uuid, log_id: Uuid },
    /// The slot at `slot_ms` fired on request (`backfillJob`), as trigger BACKFILL.
    Backfill {
        user_id: Uuid,
        job_id: Uuid,
        slot_ms: i64,
    },
    /// The slot at `slot_ms`, missed in a gap and replayed later (`catchUpPolicy: ALL`):
    /// its run is the slot's own, as if fired on time.
    CatchUp {
        user_id: Uuid,
        job_id: Uuid,
        slot_ms: i64,
    },
}

impl Task {
    /// The member string: `s:<user>:<job>:<ms>`, `r:<user>:<job>:<ms>:<attempt>`,
    /// `m:<user>:<log>`, `c:<user>:<job>:<ms>` or `b:<user>:<job>:<ms>`. The user comes second in each, where the Lua scripts find it.
    pub fn encode(&self) -> String {
        match self {
            Task::Slot {
                user_id,
                job_id,
                slot_ms,
            } => format!("s:{user_id}:{job_id}:{slot_ms}"),
            Task::Retry {
                user_id,
                job_id,
                slot_ms,
                attempt,
            } => format!("r:{user_id}:{job_id}:{slot_ms}:{attempt}"),
            Task::Manual { user_id, log_id } => format!("m:{user_id}:{log_id}"),
            Task::CatchUp {
                user_id,
                job_id,
                slot_ms,
            } => format!("c:{user_id}:{job_id}:{slot_ms}"),
            Task::Backfill {
                user_id,
                job_id,
                slot_ms,
            } => format!("b:{user_id}:{job_id}:{slot_ms}"),
        }
    }

    /// Reads a member string; `None` for anything malformed (which is then dropped).
    pub fn decode(member: &str) -> Option<Task> {
        let mut parts = member.split(':');
        let kind = parts.next()?;
        let user_id = parts.next()?.parse().ok()?;
        let task = match kind {
            "s" => Task::Slot {
                user_id,
                job_id: parts.next()?.parse().ok()?,
                slot_ms: parse_ms(parts.next()?)?,
            },
            "r" => Task::Retry {
                user_id,
                job_id: parts.next()?.parse().ok()?,
                slot_ms: parse_ms(parts.next()?)?,
                attempt: parts.next()?.parse().ok()?,
            },
            "m" => Task::Manual {
                user_id,
                log_id: parts.next()?.parse().ok()?,
            },
            "c" => Task::CatchUp {
                user_id,
                job_id: parts.next()?.parse().ok()?,
                slot_ms: parse_ms(parts.next()?)?,
            },
            "b" => Task::Backfill {
                user_id,
                job_id: parts.next()?.parse().ok()?,
                slot_ms: parse_ms(parts.next()?)?,
            },
            _ => return None,
        };
        parts.next().is_none().then_some(task)
    }

    /// The user whose work this is.
    pub fn user_id(&self) -> Uuid {
        match *self {
            Task::Slot { user_id, .. }
            | Task::Retry { user_id, .. }
            | Task::Manual { user_id, .. }
            | Task::CatchUp { user_id, .. }
            | Task::Backfill { user_id, .. } => user_id,
        }
    }
}

/// Scores come back from Lua as strings, possibly in float form (`1.7e12`).
pub(crate) fn parse_ms(raw: &str) -> Option<i64> {
    raw.parse::<i64>()
        .ok()
        .or_else(|| raw.parse::<f64>().ok().map(|f| f as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_round_trip() {
        let user_id = Uuid::new_v4();
        let job_id = Uuid::new_v4();
        for task in [
            Task::Slot {
                user_id,
                job_id,
                slot_ms: 1_764_000_000_000,
            },
            Task::Retry {
                user_id,
                job_id,
                slot_ms: 1_764_000_000_000,
                attempt: 3,
            },
            Task::Manual {
                user_id,
                log_id: job_id,
            },
            Task::CatchUp {
                user_id,
                job_id,
                slot_ms: 1_764_000_000_000,
            },
            Task::Backfill {
                user_id,
                job_id,
                slot_ms: 1_764_000_000_000,
            },
        ] {
            assert_eq!(Task::decode(&task.encode()), Some(task));
            assert_eq!(task.user_id(), user_id);
        }
        assert_eq!(
            Task::decode(&format!("s:{user_id}:{job_id}:1.764e12")),
            Some(Task::Slot {
                user_id,
                job_id,
                slot_ms: 1_764_000_000_000
            })
        );
        for bad in [
            "",
            "x:1",
            &format!("s:{user_id}:not-a-uuid:1"),
            &format!("s:not-a-uuid:{job_id}:1"),
            &format!("s:{user_id}:{job_id}"),
            &format!("m:{user_id}:{job_id}:extra"),
            &format!("m:{job_id}"),
        ] {
            assert_eq!(Task::decode(bad), None, "{bad}");
        }
    }
}
