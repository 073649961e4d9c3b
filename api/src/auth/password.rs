//! Password hashing with argon2id at OWASP's parameters, on a bounded pool.
//!
//! One hash is 19 MiB and tens of milliseconds of a core. Hashes run on the blocking
//! pool (never on the async runtime's threads), at most one per core at once; a few more
//! wait their turn, and past that a request is refused with RATE_LIMITED at once rather
//! than queued without end, so a flood of logins costs the flood, not everyone else.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::{ApiError, ApiResult};

/// Requests that may wait for a hashing slot, per core.
const WAITING_PER_CORE: usize = 16;

/// The slots, and how many requests hold or wait for one.
struct Pool {
    slots: Semaphore,
    queued: AtomicUsize,
    max_queued: usize,
}

static POOL: LazyLock<Pool> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    Pool {
        slots: Semaphore::new(cores),
        queued: AtomicUsize::new(0),
        max_queued: cores * (1 + WAITING_PER_CORE),
    }
});

/// Decrements the queue count however the caller leaves (an abandoned request too).
struct InQueue;

impl Drop for InQueue {
    fn drop(&mut self) {
        POOL.queued.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs `work` on a hashing slot; RATE_LIMITED when too many wait already.
async fn on_pool<T: Send + 'static>(
    kind: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> ApiResult<T> {
    if POOL.queued.fetch_add(1, Ordering::AcqRel) >= POOL.max_queued {
        POOL.queued.fetch_sub(1, Ordering::AcqRel);
        metrics::counter!("cronops_password_hashes_refused_total").increment(1);
        return Err(ApiError::RateLimited { retry_after: 1 });
    }
    let _queued = InQueue;
    let _slot = POOL
        .slots
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    metrics::counter!("cronops_password_hashes_total", "kind" => kind).increment(1);
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(e.into()))
}

/// OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string with a fresh salt.
pub async fn hash(password: String) -> ApiResult<String> {
    on_pool("hash", move || {
        hasher()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("password hashing failed: {e}")))
    })
    .await?
}

/// Whether `password` matches the stored PHC string. A malformed hash never matches.
pub async fn verify(password: String, phc: String) -> ApiResult<bool> {
    on_pool("verify", move || {
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return false;
        };
        hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ_per_call() {
        let first = hash("Password123!".into()).await.unwrap();
        let second = hash("Password123!".into()).await.unwrap();
        assert_ne!(first, second, "each hash has its own salt");
        assert!(first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("Password123!".into(), first.clone()).await.unwrap());
        assert!(!verify("password123!".into(), first).await.unwrap());
        assert!(!verify("x".into(), "not a hash".into()).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_is_refused_past_the_queue_instead_of_waiting() {
        let flood = POOL.max_queued + 20;
        let tasks: Vec<_> = (0..flood)
            .map(|_| tokio::spawn(hash("Password123!".into())))
            .collect();
        let mut refused = 0;
        let mut hashed = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => hashed += 1,
                Err(ApiError::RateLimited { retry_after: 1 }) => refused += 1,
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert!(refused >= 20, "{refused} refused, {hashed} hashed");
        assert!(hashed >= POOL.slots.available_permits(), "{hashed} hashed");
        // Every place in the queue is given back (another test of this process may still
        // hold one for a moment).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while POOL.queued.load(Ordering::Acquire) != 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the queue never emptied"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}
