//! What a queue entry or lease stands for, encoded as the member string Redis stores.

use uuid::Uuid;

/// One unit of scheduler work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Task {
    /// The regular slot of a job at `slot_ms` (epoch ms).
    Slot { job_id: Uuid, slot_ms: i64 },
    /// Attempt `attempt` (2 or more) of the slot at `slot_ms`.
    Retry {
        job_id: Uuid,
        slot_ms: i64,
        attempt: i32,
    },
    /// A manual run whose PENDING row is `log_id`.
    Manual { log_id: Uuid },
}

impl Task {
    /// The member string: `s:<job>:<ms>`, `r:<job>:<ms>:<attempt>` or `m:<log>`.
    pub fn encode(&self) -> String {
        match self {
            Task::Slot { job_id, slot_ms } => format!("s:{job_id}:{slot_ms}"),
            Task::Retry {
                job_id,
                slot_ms,
                attempt,
            } => format!("r:{job_id}:{slot_ms}:{attempt}"),
            Task::Manual { log_id } => format!("m:{log_id}"),
        }
    }

    /// Reads a member string; `None` for anything malformed (which is then dropped).
    pub fn decode(member: &str) -> Option<Task> {
        let mut parts = member.split(':');
        let task = match parts.next()? {
            "s" => Task::Slot {
                job_id: parts.next()?.parse().ok()?,
                slot_ms: parse_ms(parts.next()?)?,
            },
            "r" => Task::Retry {
                job_id: parts.next()?.parse().ok()?,
                slot_ms: parse_ms(parts.next()?)?,
                attempt: parts.next()?.parse().ok()?,
            },
            "m" => Task::Manual {
                log_id: parts.next()?.parse().ok()?,
            },
            _ => return None,
        };
        parts.next().is_none().then_some(task)
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
        let job_id = Uuid::new_v4();
        for task in [
            Task::Slot {
                job_id,
                slot_ms: 1_764_000_000_000,
            },
            Task::Retry {
                job_id,
                slot_ms: 1_764_000_000_000,
                attempt: 3,
            },
            Task::Manual { log_id: job_id },
        ] {
            assert_eq!(Task::decode(&task.encode()), Some(task));
        }
        assert_eq!(
            Task::decode(&format!("s:{job_id}:1.764e12")),
            Some(Task::Slot {
                job_id,
                slot_ms: 1_764_000_000_000
            })
        );
        for bad in [
            "",
            "x:1",
            "s:not-a-uuid:1",
            &format!("s:{job_id}"),
            &format!("m:{job_id}:extra"),
        ] {
            assert_eq!(Task::decode(bad), None, "{bad}");
        }
    }
}
