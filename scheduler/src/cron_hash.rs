//! `H` in a cron field, as Jenkins has it: a value derived from the job's id, so that
//! many jobs written `H * * * *` spread over the hour instead of all firing at minute 0,
//! and each job keeps its minute for good.
//!
//! Forms, in any field: `H` (one value in the field's range), `H(a-b)` (one value in
//! `a..=b`), `H/n` and `H(a-b)/n` (every `n` from an offset below `n`). The day-of-month
//! range is 1-28, so that `H` fires in every month. The value for field `i` of job `id`
//! is `splitmix64(low ^ high ^ i)` of the id's two halves, modulo the range: stable
//! across versions and instances.

use std::borrow::Cow;

use uuid::Uuid;

use crate::cron::ScheduleError;

/// Each field's range for `H`, for 5 fields (minute first) and for 6 (seconds first).
const RANGES_5: [(u32, u32); 5] = [(0, 59), (0, 23), (1, 28), (1, 12), (0, 6)];
const RANGES_6: [(u32, u32); 6] = [(0, 59), (0, 59), (0, 23), (1, 28), (1, 12), (0, 6)];

/// Whether an expression uses `H` anywhere (a part of a field starting with `H`).
pub fn uses_hash(expression: &str) -> bool {
    expression
        .split_whitespace()
        .flat_map(|field| field.split(','))
        .any(|part| part.starts_with('H') || part.starts_with('h'))
}

/// `expression` with every `H` replaced by the job's values; unchanged without `H`.
pub fn resolve(expression: &str, job_id: Uuid) -> Result<Cow<'_, str>, ScheduleError> {
    if !uses_hash(expression) {
        return Ok(Cow::Borrowed(expression));
    }
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let ranges: &[(u32, u32)] = match fields.len() {
        5 => &RANGES_5,
        6 => &RANGES_6,
        n => {
            return Err(ScheduleError::Expression(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (with a leading seconds field), got {n}"
            )));
        }
    };
    let resolved: Vec<String> = fields
        .iter()
        .zip(ranges)
        .enumerate()
        .map(|(index, (field, range))| {
            field
                .split(',')
                .map(|part| part_value(part, *range, seed(job_id, index)))
                .collect::<Result<Vec<_>, _>>()
                .map(|parts| parts.join(","))
        })
        .collect::<Result<_, _>>()?;
    Ok(Cow::Owned(resolved.join(" ")))
}

/// A stable pseudo-random number for field `index` of a job.
fn seed(job_id: Uuid, index: usize) -> u64 {
    let (high, low) = job_id.as_u64_pair();
    splitmix64(low ^ high ^ (index as u64))
}

/// The splitmix64 finaliser: spreads nearby inputs (consecutive indexes, slots) over the
/// whole range.
pub(crate) fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One part of a field: an `H` form resolved, anything else as it is.
fn part_value(part: &str, field: (u32, u32), seed: u64) -> Result<String, ScheduleError> {
    let Some(rest) = part.strip_prefix('H').or_else(|| part.strip_prefix('h')) else {
        return Ok(part.to_owned());
    };
    let bad = || ScheduleError::Expression(format!("`{part}`: use H, H(a-b), H/n or H(a-b)/n"));
    let (range, step) = match rest.split_once('/') {
        Some((range, step)) => (range, Some(step.parse::<u32>().map_err(|_| bad())?)),
        None => (rest, None),
    };
    let (lo, hi) = if range.is_empty() {
        field
    } else {
        let inner = range
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(bad)?;
        let (a, b) = inner.split_once('-').ok_or_else(bad)?;
        let (a, b) = (
            a.trim().parse::<u32>().map_err(|_| bad())?,
            b.trim().parse::<u32>().map_err(|_| bad())?,
        );
        if a > b || a < field.0 || b > field.1 {
            return Err(ScheduleError::Expression(format!(
                "`{part}`: the range must lie within {}-{}",
                field.0, field.1
            )));
        }
        (a, b)
    };
    let width = u64::from(hi - lo + 1);
    Ok(match step {
        Some(0) => return Err(bad()),
        Some(step) => {
            let offset = (seed % u64::from(step).min(width)) as u32;
            format!("{}-{hi}/{step}", lo + offset)
        }
        None => (lo + (seed % width) as u32).to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn expressions_without_h_are_untouched() {
        assert!(matches!(
            resolve("*/5 * * * THU", id(1)),
            Ok(Cow::Borrowed(_))
        ));
        assert!(!uses_hash("0 9 * * THU,SUN"));
    }

    #[test]
    fn h_is_stable_per_job_and_spread_across_jobs() {
        let a = resolve("H * * * *", id(7)).unwrap().into_owned();
        assert_eq!(a, resolve("H * * * *", id(7)).unwrap());
        let minutes: std::collections::HashSet<String> = (0..200u128)
            .map(|n| resolve("H * * * *", id(n * 7919)).unwrap().into_owned())
            .collect();
        assert!(
            minutes.len() > 40,
            "spread over the hour: {}",
            minutes.len()
        );
        for m in &minutes {
            let minute: u32 = m.split(' ').next().unwrap().parse().unwrap();
            assert!(minute < 60);
        }
    }

    #[test]
    fn ranges_and_steps_stay_within_bounds() {
        for n in 0..500u128 {
            let r = resolve("H(0-29)/10 H(2-5) H * H", id(n)).unwrap();
            let f: Vec<&str> = r.split(' ').collect();
            let (start, step) = f[0].split_once('/').unwrap();
            assert_eq!(step, "10");
            let (first, last) = start.split_once('-').unwrap();
            assert!(first.parse::<u32>().unwrap() < 10 && last == "29", "{r}");
            assert!((2..=5).contains(&f[1].parse::<u32>().unwrap()), "{r}");
            assert!((1..=28).contains(&f[2].parse::<u32>().unwrap()), "{r}");
            assert!((0..=6).contains(&f[4].parse::<u32>().unwrap()), "{r}");
        }
        // Six fields: seconds first.
        let six = resolve("H H * * * *", id(3)).unwrap();
        assert!(six.split(' ').next().unwrap().parse::<u32>().unwrap() < 60);
    }

    #[test]
    fn malformed_forms_are_refused_with_the_syntax() {
        for bad in [
            "H(5) * * * *",
            "H(30-70) * * * *",
            "H/0 * * * *",
            "Hx * * * *",
            "H(9-3) * * * *",
        ] {
            assert!(resolve(bad, id(1)).is_err(), "{bad}");
        }
    }
}
