//! What a job does with the slots it missed in a gap: no scheduler claimed it for more
//! than [`crate::engine::MISFIRE_AFTER`] (every scheduler was down, or Redis lost the
//! schedule). A slot claimed late within that time is a backlog and always fires.

use chrono::{DateTime, Utc};

use crate::timing::Timing;

/// Most missed slots `ALL` replays; older ones are recorded as skipped.
pub const MAX_REPLAYED: usize = 100;

/// A job's catch-up policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CatchUp {
    /// Only the latest missed slot fires, once (the misfire rule).
    #[default]
    LatestOnce,
    /// No missed slot fires; the job resumes at its next slot.
    Skip,
    /// Every missed slot fires, oldest first, at the job's own pace, at most
    /// [`MAX_REPLAYED`].
    All,
}

impl CatchUp {
    pub fn as_str(self) -> &'static str {
        match self {
            CatchUp::LatestOnce => "LATEST_ONCE",
            CatchUp::Skip => "SKIP",
            CatchUp::All => "ALL",
        }
    }

    /// The stored value (anything unknown reads as the default).
    pub fn parse(stored: &str) -> CatchUp {
        match stored {
            "SKIP" => CatchUp::Skip,
            "ALL" => CatchUp::All,
            _ => CatchUp::LatestOnce,
        }
    }
}

/// The slots from `first` (a slot) up to `now`, oldest first: at most the latest
/// [`MAX_REPLAYED`] (and at most the job's runs left), and whether older ones were left
/// out. Walks back from `now`, so a long gap of a frequent job costs no more than the
/// slots kept.
pub fn missed(
    schedule: &Timing<'_>,
    first: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (Vec<DateTime<Utc>>, bool) {
    let since = first - chrono::TimeDelta::milliseconds(1);
    let mut slots = Vec::new();
    let mut at = now;
    let most = schedule.runs_left().map_or(MAX_REPLAYED, |left| {
        MAX_REPLAYED.min(usize::try_from(left).unwrap_or(0))
    });
    while slots.len() < most {
        let Some(slot) = schedule.latest_between(since, at) else {
            break;
        };
        slots.push(slot);
        at = slot - chrono::TimeDelta::milliseconds(1);
    }
    let dropped = slots.len() == most && schedule.latest_between(since, at).is_some();
    slots.reverse();
    (slots, dropped)
}
