//! Exponential backoff with jitter, for the retries SPIFFE_Workload_Endpoint.md 6 allows.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Exponential backoff with full-range jitter: the n-th delay is drawn from
/// `[base * (1 - jitter), base]`, where `base = min(initial * multiplier^n, max)`.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    multiplier: u32,
    jitter: f64,
    current: Duration,
}

impl Default for Backoff {
    /// 1 s doubling to 30 s, with 20 % jitter (go-spiffe's shape).
    fn default() -> Self {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(30))
    }
}

impl Backoff {
    /// A backoff from `initial` doubling up to `max`, with 20 % jitter.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            multiplier: 2,
            jitter: 0.2,
            current: initial,
        }
    }

    /// The same with another growth factor (at least 1).
    pub fn with_multiplier(mut self, multiplier: u32) -> Self {
        self.multiplier = multiplier.max(1);
        self
    }

    /// The same with another jitter fraction, clamped to `0.0..=1.0`.
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        self
    }

    /// The next delay to wait; each call grows the base.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.current;
        self.current = base
            .saturating_mul(self.multiplier)
            .min(self.max)
            .max(self.initial);
        let spread = base.mul_f64(self.jitter);
        base.saturating_sub(spread.mul_f64(random_unit()))
    }

    /// Starts again from the initial delay (after a success).
    pub fn reset(&mut self) {
        self.current = self.initial;
    }
}

/// A pseudo-random number in `[0, 1)`, from the standard library's per-instance random keys
/// (jitter needs spread, not cryptographic quality).
fn random_unit() -> f64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0x5eed);
    let bits = hasher.finish() >> 11;
    // 53 bits of mantissa.
    #[allow(clippy::cast_precision_loss)]
    let unit = bits as f64 / (1u64 << 53) as f64;
    unit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_caps_jitters_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let d: Vec<_> = (0..5).map(|_| b.next_delay()).collect();
        let bases = [100, 200, 350, 350, 350];
        for (delay, base) in d.iter().zip(bases) {
            let base = Duration::from_millis(base);
            assert!(
                *delay <= base && *delay >= base.mul_f64(0.8),
                "{delay:?} vs {base:?}"
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
        let mut exact =
            Backoff::new(Duration::from_millis(10), Duration::from_secs(1)).with_jitter(0.0);
        assert_eq!(exact.next_delay(), Duration::from_millis(10));
        assert_eq!(exact.next_delay(), Duration::from_millis(20));
    }

    #[test]
    fn jitter_spreads() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            seen.insert(Backoff::new(Duration::from_secs(1), Duration::from_secs(1)).next_delay());
        }
        assert!(seen.len() > 1);
    }
}
