//! A small log-linear latency histogram (microseconds, under 0.8% error), so a
//! million samples cost a few KiB and histograms from many clients merge exactly.

/// Values below this are stored exactly.
const LINEAR: u64 = 256;
/// Sub-buckets per power of two above `LINEAR`.
const SUB: u64 = 128;
/// Covers up to 2^40 µs (about 12 days).
const BUCKETS: usize = (LINEAR + 33 * SUB) as usize;

#[derive(Clone, Debug, Default)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
    sum: u128,
}

fn index(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    // shift >= 1 puts `v >> shift` in [SUB, 2 * SUB).
    let shift = 63 - v.leading_zeros() as u64 - 7;
    let i = LINEAR + (shift - 1) * SUB + ((v >> shift) - SUB);
    (i as usize).min(BUCKETS - 1)
}

/// The middle of a bucket.
fn value(i: usize) -> u64 {
    let i = i as u64;
    if i < LINEAR {
        return i;
    }
    let rel = i - LINEAR;
    let shift = rel / SUB + 1;
    let low = (SUB + rel % SUB) << shift;
    low + (1 << shift) / 2
}

impl Histogram {
    pub fn record(&mut self, micros: u64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        self.counts[index(micros)] += 1;
        self.total += 1;
        self.max = self.max.max(micros);
        self.sum += u128::from(micros);
    }

    pub fn merge(&mut self, other: &Histogram) {
        if other.total == 0 {
            return;
        }
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }

    /// The value at quantile `q` (0..=1), in µs; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return value(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_precise() {
        let mut last = 0;
        for v in (0..5_000_000u64).step_by(997) {
            let i = index(v);
            assert!(i >= last);
            last = i;
            let back = value(i) as f64;
            let err = (back - v as f64).abs() / (v.max(1) as f64);
            assert!(err < 0.008, "{v} -> {back}");
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        for v in 1..=1000 {
            h.record(v);
        }
        assert!(h.quantile(0.5).abs_diff(500) <= 2);
        let p99 = h.quantile(0.99) as f64;
        assert!((p99 - 990.0).abs() < 8.0, "{p99}");
        assert_eq!(h.quantile(1.0), 1000);
        assert_eq!(h.max(), 1000);
    }
}
