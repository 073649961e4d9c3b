//! When the next attempt of a failed run goes: exponential backoff with full jitter.

use std::time::Duration;

use rand::Rng;

/// First backoff step.
pub const BASE: Duration = Duration::from_secs(1);
/// Longest wait between attempts.
pub const CAP: Duration = Duration::from_secs(300);

/// The wait before attempt `next_attempt` (2 for the first retry): uniform in
/// `0..=min(CAP, BASE * 2^(next_attempt - 2))`, so retries of many failing jobs spread
/// out instead of hitting a recovering target together.
pub fn backoff(next_attempt: i32) -> Duration {
    rand::rng().random_range(Duration::ZERO..=ceiling(next_attempt))
}

/// The upper bound of [`backoff`] for an attempt.
pub fn ceiling(next_attempt: i32) -> Duration {
    let exponent = u32::try_from(next_attempt.saturating_sub(2))
        .unwrap_or(0)
        .min(20);
    BASE.saturating_mul(1 << exponent).min(CAP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_up_to_the_cap() {
        assert_eq!(ceiling(2), Duration::from_secs(1));
        assert_eq!(ceiling(3), Duration::from_secs(2));
        assert_eq!(ceiling(6), Duration::from_secs(16));
        assert_eq!(ceiling(10), Duration::from_secs(256));
        assert_eq!(ceiling(11), CAP);
        assert_eq!(ceiling(1000), CAP);
        for attempt in 2..15 {
            for _ in 0..100 {
                assert!(backoff(attempt) <= ceiling(attempt));
            }
        }
    }

    #[test]
    fn jitter_spreads_the_waits() {
        let waits: std::collections::HashSet<_> = (0..50).map(|_| backoff(8).as_millis()).collect();
        assert!(
            waits.len() > 40,
            "full jitter gives distinct waits: {waits:?}"
        );
    }
}
