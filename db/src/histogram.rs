//! Percentiles from the duration histogram PostgreSQL keeps (`run_duration_counts`).
//!
//! A bin is the `duration_bin` of the migration `runs_are_counted_as_they_change`: the
//! exact millisecond below 100 ms, then bins 2 % wide. A bin stands for its midpoint, so
//! a percentile is within 1 % of the one computed from the runs themselves.

/// Run counts per bin, in bin order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    bins: Vec<(i16, i64)>,
    runs: i64,
}

/// Bins below this hold one exact millisecond each.
const EXACT_BELOW: i16 = 100;

/// Relative width of the wider bins (the SQL's `ln(1.02)`).
const GROWTH: f64 = 1.02;

impl Histogram {
    /// From (bin, runs) pairs; bins without runs are left out.
    pub fn new(bins: impl IntoIterator<Item = (i16, i64)>) -> Histogram {
        let mut bins: Vec<(i16, i64)> = bins.into_iter().filter(|(_, n)| *n > 0).collect();
        bins.sort_unstable();
        let runs = bins.iter().map(|(_, n)| n).sum();
        Histogram { bins, runs }
    }

    /// The duration a bin stands for, in milliseconds.
    pub fn value(bin: i16) -> f64 {
        if bin < EXACT_BELOW {
            return f64::from(bin.max(0));
        }
        let low = 100.0 * GROWTH.powi(i32::from(bin - EXACT_BELOW));
        // The midpoint of [low, low × GROWTH), to a tenth of a millisecond.
        (low * (1.0 + GROWTH) / 2.0 * 10.0).round() / 10.0
    }

    /// The `q` quantile (0 to 1) as PostgreSQL's `percentile_cont` reckons it (linear
    /// between the two nearest runs), each run at its bin's value; `None` without runs.
    pub fn percentile(&self, q: f64) -> Option<f64> {
        if self.runs == 0 {
            return None;
        }
        let position = q.clamp(0.0, 1.0) * (self.runs - 1) as f64;
        let below = position.floor() as i64;
        let fraction = position - below as f64;
        let low = self.nth(below);
        let high = self.nth((below + 1).min(self.runs - 1));
        Some(low + fraction * (high - low))
    }

    /// The value of the `n`-th run (from 0) in duration order.
    fn nth(&self, n: i64) -> f64 {
        let mut seen = 0;
        for &(bin, runs) in &self.bins {
            seen += runs;
            if n < seen {
                return Histogram::value(bin);
            }
        }
        self.bins
            .last()
            .map_or(0.0, |(bin, _)| Histogram::value(*bin))
    }
}

#[cfg(test)]
mod tests {
    use super::Histogram;

    /// The SQL `duration_bin`, for the tests.
    fn bin(ms: i32) -> i16 {
        if ms < 100 {
            ms.max(0) as i16
        } else {
            (100.0 + ((f64::from(ms) / 100.0).ln() / 1.02f64.ln()).floor()) as i16
        }
    }

    #[test]
    fn short_durations_are_exact_and_long_ones_within_one_percent() {
        assert_eq!(Histogram::value(bin(0)), 0.0);
        assert_eq!(Histogram::value(bin(42)), 42.0);
        for ms in [100, 101, 250, 999, 1_000, 30_000, 120_000, 2_000_000_000] {
            let value = Histogram::value(bin(ms));
            let error = (value - f64::from(ms)).abs() / f64::from(ms);
            assert!(error <= 0.0101, "{ms} ms stands as {value} ({error})");
        }
    }

    #[test]
    fn percentiles_interpolate_between_runs_like_percentile_cont() {
        // Runs of 10, 20, 30 and 40 ms: percentile_cont gives 25, 38.5 and 39.7.
        let histogram = Histogram::new([(40, 1), (10, 1), (30, 1), (20, 1), (50, 0)]);
        let p = |q| histogram.percentile(q).unwrap();
        assert_eq!(p(0.5), 25.0);
        assert!((p(0.95) - 38.5).abs() < 1e-9, "{}", p(0.95));
        assert!((p(0.99) - 39.7).abs() < 1e-9, "{}", p(0.99));
        assert_eq!(p(0.0), 10.0);
        assert_eq!(p(1.0), 40.0);
        assert_eq!(Histogram::new([(5, 3)]).percentile(0.99), Some(5.0));
        assert_eq!(Histogram::default().percentile(0.5), None);
    }
}
