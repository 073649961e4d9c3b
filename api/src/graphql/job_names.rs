//! Job names for runs, kept per process. A live feed shows each run's job by name, and
//! reading the job for every event would cost a database read per event and subscriber,
//! which a busy feed turns into thousands a second. A name is kept for [`TTL`] (a renamed
//! job shows its old name that long at most), for at most [`CAPACITY`] jobs.

use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lru::LruCache;
use tokio::time::Instant;
use uuid::Uuid;

pub const TTL: Duration = Duration::from_secs(30);
pub const CAPACITY: usize = 10_000;

/// The names most recently asked for, with when each was read.
pub struct JobNames {
    entries: Mutex<LruCache<Uuid, (Arc<str>, Instant)>>,
    ttl: Duration,
}

impl Default for JobNames {
    fn default() -> JobNames {
        JobNames::new(CAPACITY, TTL)
    }
}

impl JobNames {
    pub fn new(capacity: usize, ttl: Duration) -> JobNames {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        JobNames {
            entries: Mutex::new(LruCache::new(capacity)),
            ttl,
        }
    }

    /// The name of job `id`: kept, or read with `load` (`None`: no such job, not kept).
    pub async fn name<F, Fut, E>(&self, id: Uuid, load: F) -> Result<Option<Arc<str>>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<String>, E>>,
    {
        if let Some((name, read)) = self.lock().get(&id)
            && read.elapsed() < self.ttl
        {
            return Ok(Some(name.clone()));
        }
        let Some(name) = load().await? else {
            return Ok(None);
        };
        let name: Arc<str> = name.into();
        self.lock().put(id, (name.clone(), Instant::now()));
        Ok(Some(name))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<Uuid, (Arc<str>, Instant)>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    async fn ask(names: &JobNames, id: Uuid, loads: &AtomicUsize) -> Option<String> {
        let found = names
            .name(id, || async {
                loads.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(Some(format!("job {}", loads.load(Ordering::SeqCst))))
            })
            .await
            .unwrap();
        found.map(|n| n.to_string())
    }

    #[tokio::test(start_paused = true)]
    async fn a_name_is_read_once_per_period_and_again_after_it() {
        let names = JobNames::new(10, Duration::from_secs(30));
        let loads = AtomicUsize::new(0);
        let id = Uuid::new_v4();
        assert_eq!(ask(&names, id, &loads).await.as_deref(), Some("job 1"));
        for _ in 0..100 {
            assert_eq!(ask(&names, id, &loads).await.as_deref(), Some("job 1"));
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(ask(&names, id, &loads).await.as_deref(), Some("job 2"));
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_least_recent_name_makes_room_and_a_missing_job_is_not_kept() {
        let names = JobNames::new(2, Duration::from_secs(30));
        let loads = AtomicUsize::new(0);
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        ask(&names, a, &loads).await;
        ask(&names, b, &loads).await;
        ask(&names, c, &loads).await; // a goes
        ask(&names, a, &loads).await; // read again
        assert_eq!(loads.load(Ordering::SeqCst), 4);

        let missing = Uuid::new_v4();
        for _ in 0..2 {
            let found = names.name(missing, || async { Ok::<_, ()>(None) }).await;
            assert_eq!(found, Ok(None));
        }
    }
}
